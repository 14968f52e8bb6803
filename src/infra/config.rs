//! User configuration: `config.toml` in the config dir, environment variables, and CLI flags, in
//! that order of increasing precedence; plus how to reach the model.
//!
//! Invariants: an API key is read from the environment only, never from a file tandem writes,
//! and never appears in a `Debug` or `Display` of anything here. A malformed config file is an
//! error naming the file, line and field; a missing one is fine.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4.1-mini";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Name of the environment variable that holds the key (default OPENAI_API_KEY).
    pub api_key_env: Option<String>,
    /// Model calls one draft may make before it goes to review as incomplete.
    pub max_steps: Option<u32>,
    /// Tokens one task's drafts may use before the draft goes to review as incomplete.
    pub max_task_tokens: Option<u64>,
    pub retries: Option<u32>,
    /// Seconds a stream may stay silent between tokens before it counts as stalled.
    #[serde(default, deserialize_with = "seconds")]
    pub stream_idle_timeout: Option<u64>,
    /// Seconds to wait for an answer's first token: a local server reads the whole prompt
    /// first (default 300).
    #[serde(default, deserialize_with = "seconds")]
    pub first_token_timeout: Option<u64>,
    /// The most tokens one answer may have, per role (`[max_output_tokens]`).
    #[serde(default)]
    pub max_output_tokens: OutputTokens,
    /// Always use the text protocol (for a model known not to call tools); otherwise tandem
    /// switches to it when the server or model turns out not to take tools.
    pub text_protocol: Option<bool>,
    /// Tokens of file contents a text-protocol prompt may carry (default 6000, about 24,000
    /// characters); the names of the files left out are listed.
    pub text_context_tokens: Option<u32>,
    /// Run the repository's `pre-commit` and `commit-msg` hooks on accept, as `git commit`
    /// would (default false: accept commits without running them).
    pub accept_runs_hooks: Option<bool>,
    /// Bytes one model answer may take on the wire (default 8 MiB).
    pub max_answer_bytes: Option<u64>,
    /// Seconds one model answer may take in all, however steadily it trickles (default 600).
    #[serde(default, deserialize_with = "seconds")]
    pub max_answer_seconds: Option<u64>,
    pub theme: Option<String>,
    /// Seconds without input after which the review clock pauses.
    #[serde(default, deserialize_with = "seconds")]
    pub review_idle_seconds: Option<u64>,
    /// What the drafter may run (`[commands]`).
    #[serde(default)]
    pub commands: Commands,
    /// Check commands every task must pass before review (besides the plan's own).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Rounds a draft gets to fix failing checks and deliverables before it goes to review
    /// marked (default 2).
    pub fix_rounds: Option<u32>,
    /// Before review, a checker (the same model, read-only) judges each acceptance criterion
    /// against the diff and the checks (default true; `TANDEM_CHECKER=off` for one run).
    pub checker: Option<bool>,
    /// After an accept, propose lessons from the review for the reviewer to keep (default
    /// true; `TANDEM_LESSONS=off` for one run).
    pub lessons: Option<bool>,
    /// What of the project's knowledge a request may carry (`[knowledge]`).
    #[serde(default)]
    pub knowledge: KnowledgeBudget,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Who does the work, for timesheets and client reports (`[me]`).
    #[serde(default)]
    pub me: Me,
    /// How timesheets are laid out (`[timesheet]`).
    #[serde(default)]
    pub timesheet: TimesheetSettings,
}

/// The freelancer, as timesheets and client reports name them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Me {
    /// Full name, e.g. "Ada Lovelace" (first word = first name for Harvest, unless
    /// `first_name`/`last_name` say otherwise).
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The email of your account in the time tracker (Toggl Track and Clockify need it).
    pub email: Option<String>,
}

/// Timesheet layout: how spans become rows, and what the import presets write.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimesheetSettings {
    /// Spans of the same task and activity less than this many minutes apart become one row
    /// (default 10).
    pub merge_gap_minutes: Option<u64>,
    /// Whether the rows are billable in Toggl Track and Clockify (default true).
    pub billable: Option<bool>,
    /// The task name Harvest books the time to (default "Development"); it must exist in the
    /// Harvest project.
    pub harvest_task: Option<String>,
    /// Clockify's date format as the workspace shows it: MM/DD/YYYY (default), DD/MM/YYYY,
    /// YYYY-MM-DD, DD-MM-YYYY, MM-DD-YYYY, DD.MM.YYYY or YYYY/MM/DD.
    pub clockify_date: Option<String>,
    /// Clockify's time format: "12h" (default) or "24h".
    pub clockify_time: Option<String>,
    /// Clockify's duration format: "h:mm" (default), "hh:mm:ss" or "decimal".
    pub clockify_duration: Option<String>,
}

impl TimesheetSettings {
    pub const MERGE_GAP_MINUTES: u64 = 10;
    pub const HARVEST_TASK: &'static str = "Development";
}

/// `client` in `.tandem/config.toml`: the client's id alone (`client = "acme"`), or a table
/// `[client]` with `id`, `name` and `project`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientSetting {
    /// The folder under the config dir's `clients/` (knowledge, lessons).
    pub id: Option<String>,
    /// The client's name as a report and a timesheet show it.
    pub name: Option<String>,
    /// The project this repository's work belongs to.
    pub project: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientTable {
    id: Option<String>,
    name: Option<String>,
    project: Option<String>,
}

impl<'de> Deserialize<'de> for ClientSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ClientSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a client id such as \"acme\", or a [client] table with id, name and project",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClientSetting, E> {
                Ok(ClientSetting {
                    id: Some(v.to_string()),
                    ..ClientSetting::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ClientSetting, A::Error> {
                let t =
                    ClientTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ClientSetting {
                    id: t.id,
                    name: t.name,
                    project: t.project,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Token budgets for the knowledge a planner or drafter request carries.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBudget {
    /// The AGENTS.md files' text (default 4000; cut with a note beyond).
    pub instructions_tokens: Option<usize>,
    /// The index of knowledge files (default 1500; files beyond are counted, not listed).
    pub index_tokens: Option<usize>,
}

impl KnowledgeBudget {
    pub fn limits(&self) -> crate::infra::knowledge::Limits {
        let d = crate::infra::knowledge::Limits::default();
        crate::infra::knowledge::Limits {
            instructions_tokens: self.instructions_tokens.unwrap_or(d.instructions_tokens),
            index_tokens: self.index_tokens.unwrap_or(d.index_tokens),
        }
    }
}

/// Output caps in tokens. Defaults leave room for a whole file in one `write_file` while
/// keeping a rambling small model from filling its context.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputTokens {
    pub planner: Option<u32>,
    pub drafter: Option<u32>,
    pub checker: Option<u32>,
}

impl OutputTokens {
    pub const PLANNER: u32 = 4096;
    pub const DRAFTER: u32 = 8192;
    /// A verdict per criterion, one line each: short.
    pub const CHECKER: u32 = 2048;

    pub fn checker(&self) -> u32 {
        self.checker.unwrap_or(Self::CHECKER).max(64)
    }

    pub fn planner(&self) -> u32 {
        self.planner.unwrap_or(Self::PLANNER).max(64)
    }

    pub fn drafter(&self) -> u32 {
        self.drafter.unwrap_or(Self::DRAFTER).max(64)
    }
}

/// The drafter's `run_command` tool: whether it exists, and its bounds.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// never / ask / allow (default ask: offered only where someone can answer).
    pub policy: Option<CommandPolicy>,
    /// Under `allow`: only commands that start with one of these (empty: any command).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Seconds one command may run before its process group is killed (default 120).
    pub timeout_seconds: Option<u64>,
    /// Bytes of a command's output kept for the model and the journal (default 16000).
    pub max_output_bytes: Option<usize>,
    /// When the kernel cannot sandbox: refuse every command (default) or ask each time.
    pub without_sandbox: Option<WithoutSandbox>,
    /// More environment variables a command inherits (besides PATH, HOME, LANG and a few).
    #[serde(default)]
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CommandPolicy {
    /// The drafter cannot run commands.
    Never,
    /// Each command is shown to the reviewer, who allows or refuses it.
    Ask,
    /// Commands run (sandboxed) without asking; `allow` may narrow them to prefixes.
    Allow,
}

impl std::str::FromStr for CommandPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(CommandPolicy::Never),
            "ask" => Ok(CommandPolicy::Ask),
            "allow" => Ok(CommandPolicy::Allow),
            other => Err(format!(
                "`{other}` is not a command policy; use never, ask or allow"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WithoutSandbox {
    Refuse,
    Ask,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Currency units per million prompt tokens.
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    NoModel(String),
    #[error("{0}")]
    Invalid(String),
}

/// The longest wait a setting in seconds may name: 30 days. Longer is surely a typo, and an
/// instant that far ahead may not exist on this machine's clock.
pub const MAX_SECONDS: u64 = 30 * 24 * 3600;

/// A setting in seconds, refused (with its line, through the TOML error) above `MAX_SECONDS`.
pub fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = <Option<u64> as Deserialize>::deserialize(d)?;
    match v {
        Some(n) if n > MAX_SECONDS => Err(serde::de::Error::custom(format!(
            "{n} seconds is more than 30 days ({MAX_SECONDS}); give a shorter time"
        ))),
        other => Ok(other),
    }
}

/// The user's config directory: `TANDEM_CONFIG_DIR` if set (tests, portable installs), else the
/// platform's (e.g. ~/.config/tandem).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TANDEM_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "tandem").map(|d| d.config_dir().to_path_buf())
}

pub fn config_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.toml"))
}

/// An on/off environment variable over `otherwise`; anything else is an error naming it.
fn switch(var: &str, otherwise: bool) -> Result<bool, ConfigError> {
    match std::env::var(var) {
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "on" | "1" | "true" | "yes" => Ok(true),
            "off" | "0" | "false" | "no" => Ok(false),
            _ => Err(ConfigError::Parse {
                path: var.into(),
                message: format!("`{v}` is not on or off"),
            }),
        },
        Err(_) => Ok(otherwise),
    }
}

impl Config {
    /// Whether the checker runs: `TANDEM_CHECKER` (on/off, for one run) over the file's
    /// `checker`, default on.
    pub fn checker_enabled(&self) -> Result<bool, ConfigError> {
        switch("TANDEM_CHECKER", self.checker.unwrap_or(true))
    }

    /// Whether lessons are drawn from review: `TANDEM_LESSONS` (on/off, for one run) over the
    /// file's `lessons`, default on.
    pub fn lessons_enabled(&self) -> Result<bool, ConfigError> {
        switch("TANDEM_LESSONS", self.lessons.unwrap_or(true))
    }

    pub fn load() -> Result<Self, ConfigError> {
        match config_file() {
            Some(path) if path.is_file() => Self::load_from(&path),
            _ => Ok(Config::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<Self, ConfigError> {
        load_toml(path)
    }
}

/// The repository's own settings, `.tandem/config.toml`, which a team can commit: default
/// checks and fix rounds. Nothing in it can widen what commands may do (that is the user's
/// config), so a cloned repository cannot give itself more power.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    #[serde(default)]
    pub checks: Vec<String>,
    pub fix_rounds: Option<u32>,
    /// The client this repository's work is for: their knowledge folder is
    /// `<config dir>/clients/<id>/knowledge/` (`TANDEM_CLIENT` overrides the id for one run);
    /// reports and timesheets show the name and project.
    pub client: Option<ClientSetting>,
}

/// The client a session works for: `TANDEM_CLIENT` for one run, else the repository's config.
/// A name that could leave the clients folder is an error naming the setting.
pub fn client_name(repo: &RepoConfig) -> Result<Option<String>, ConfigError> {
    let (name, setting) = match std::env::var("TANDEM_CLIENT") {
        Ok(v) if !v.trim().is_empty() => (v.trim().to_string(), "TANDEM_CLIENT".to_string()),
        _ => match repo.client.as_ref().and_then(|c| c.id.as_ref()) {
            Some(c) => (
                c.trim().to_string(),
                format!("`client` in {}", RepoConfig::PATH),
            ),
            None => return Ok(None),
        },
    };
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(ConfigError::Invalid(format!(
            "{setting}: `{name}` is not a client name (a folder name under the config dir's clients/, without / or a leading dot)"
        )));
    }
    Ok(Some(name))
}

impl RepoConfig {
    pub const PATH: &'static str = ".tandem/config.toml";

    /// The repository's config at `root`, if any; an error names the file and line.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let path = root.join(Self::PATH);
        if !path.is_file() {
            return Ok(RepoConfig::default());
        }
        load_toml(&path)
    }
}

/// Read and parse a TOML config file; errors name the file, line and field.
fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: toml_error_sentence(&text, &e),
    })
}

/// How to reach the model. Deliberately not `Debug`: it holds the key.
#[derive(Clone)]
pub struct ModelEndpoint {
    pub base_url: String,
    pub model: String,
    pub key_env: String,
    pub api_key: Option<String>,
}

/// Pick the model from flag, `TANDEM_MODEL`, config; the server from `OPENAI_BASE_URL` or config.
/// Without enough to go on, the error says exactly how to configure OpenAI or a local server.
pub fn resolve_endpoint(
    cli_model: Option<&str>,
    cfg: &Config,
) -> Result<ModelEndpoint, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let key_env = cfg
        .api_key_env
        .clone()
        .unwrap_or_else(|| "OPENAI_API_KEY".to_string());
    let api_key = env(&key_env);
    let base_url = env("OPENAI_BASE_URL")
        .or_else(|| cfg.base_url.clone())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    let is_openai = base_url.trim_end_matches('/') == DEFAULT_BASE_URL;
    let model = cli_model
        .map(str::to_string)
        .or_else(|| env("TANDEM_MODEL"))
        .or_else(|| cfg.model.clone())
        .or_else(|| (is_openai && api_key.is_some()).then(|| DEFAULT_OPENAI_MODEL.to_string()));
    match model {
        Some(model) if !(is_openai && api_key.is_none()) => Ok(ModelEndpoint {
            base_url,
            model,
            key_env,
            api_key,
        }),
        _ => Err(ConfigError::NoModel(no_model_help(
            &key_env,
            is_openai,
            api_key.is_some(),
        ))),
    }
}

pub fn no_model_help(key_env: &str, is_openai: bool, has_key: bool) -> String {
    let file = config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/tandem/config.toml".into());
    let why = if is_openai && !has_key {
        format!("no model is configured: {key_env} is not set and no local server is named.")
    } else {
        "no model is configured: name one with --model, TANDEM_MODEL or the config file."
            .to_string()
    };
    format!(
        "tandem needs a chat model, and {why}\n\
         \n\
         OpenAI:\n  export {key_env}=sk-...\n  export TANDEM_MODEL={DEFAULT_OPENAI_MODEL}   # optional, this is the default\n\
         Ollama (local):\n  export OPENAI_BASE_URL=http://localhost:11434/v1\n  export TANDEM_MODEL=qwen2.5-coder:7b\n\
         llama.cpp server (local):\n  export OPENAI_BASE_URL=http://localhost:8080/v1\n  export TANDEM_MODEL=local\n\
         \n\
         Or put `model = \"...\"` and `base_url = \"...\"` in {file}.\n\
         To see tandem work without any model: tandem demo"
    )
}

/// A TOML error as one sentence with its line and column, e.g.
/// "line 3, column 10: unknown variant `acept`, expected one of ...".
pub fn toml_error_sentence(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = start - line_start + 1;
    // toml names the offending key for unknown fields but not for wrong types; the line does.
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let field = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !message.contains(&format!("`{k}`")));
    match field {
        Some(k) => format!("line {line}, column {column}, field `{k}`: {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_config_names_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "model = \"x\"\nmax_steps = \"many\"\n").unwrap();
        let err = Config::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("config.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("max_steps"), "{err}");
    }

    /// A wait far beyond any real one (a typo, u64::MAX) is refused with its line and field,
    /// not taken and then panicking when an instant that far ahead is computed.
    #[test]
    fn absurd_waits_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        for field in [
            "first_token_timeout",
            "stream_idle_timeout",
            "max_answer_seconds",
            "review_idle_seconds",
        ] {
            std::fs::write(
                &path,
                format!("model = \"x\"\n{field} = 18446744073709551615\n"),
            )
            .unwrap();
            let err = Config::load_from(&path).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains(field), "{err}");
            assert!(err.contains("more than 30 days"), "{err}");
            std::fs::write(&path, format!("{field} = 86400\n")).unwrap();
            assert!(Config::load_from(&path).is_ok());
        }
    }

    #[test]
    fn client_is_an_id_or_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            std::fs::create_dir_all(dir.path().join(".tandem")).unwrap();
            std::fs::write(dir.path().join(RepoConfig::PATH), text).unwrap();
            RepoConfig::load(dir.path())
        };
        let id = write("client = \"acme\"\n").unwrap();
        assert_eq!(id.client.unwrap().id.as_deref(), Some("acme"));
        let table =
            write("[client]\nid = \"acme\"\nname = \"Acme GmbH\"\nproject = \"Site\"\n").unwrap();
        let c = table.client.clone().unwrap();
        assert_eq!(
            (c.id.as_deref(), c.name.as_deref(), c.project.as_deref()),
            (Some("acme"), Some("Acme GmbH"), Some("Site"))
        );
        // The knowledge folder follows the id only; a name alone names no folder.
        assert_eq!(client_name(&table).unwrap().as_deref(), Some("acme"));
        let named = write("[client]\nname = \"A/B Corp\"\n").unwrap();
        assert_eq!(client_name(&named).unwrap(), None);
        let err = write("[client]\nname = \"x\"\nemail = \"y\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.toml") && err.contains("line 3"),
            "{err}"
        );
        assert!(err.contains("email"), "{err}");
        let err = write("client = 3\n").unwrap_err().to_string();
        assert!(err.contains("a client id such as"), "{err}");
    }

    #[test]
    fn local_server_needs_no_key() {
        let cfg = Config {
            model: Some("m".into()),
            base_url: Some("http://localhost:11434/v1".into()),
            api_key_env: Some("TANDEM_TEST_UNSET_KEY_VAR".into()),
            ..Config::default()
        };
        let ep = resolve_endpoint(None, &cfg).unwrap();
        assert_eq!(ep.model, "m");
        assert!(ep.api_key.is_none());
    }

    #[test]
    fn openai_without_key_explains_setup() {
        let cfg = Config {
            api_key_env: Some("TANDEM_TEST_UNSET_KEY_VAR".into()),
            ..Config::default()
        };
        // OPENAI_BASE_URL from the developer's shell would change the answer; only check when unset.
        if std::env::var_os("OPENAI_BASE_URL").is_none()
            && std::env::var_os("TANDEM_MODEL").is_none()
        {
            let err = resolve_endpoint(None, &cfg).err().unwrap().to_string();
            assert!(err.contains("TANDEM_TEST_UNSET_KEY_VAR"), "{err}");
            assert!(
                err.contains("OPENAI_BASE_URL=http://localhost:11434/v1"),
                "{err}"
            );
            assert!(err.contains("tandem demo"), "{err}");
        }
    }
}
