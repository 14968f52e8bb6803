//! `tandem doctor`: checks everything a session depends on — git, the repository, the config and
//! prompts, the model endpoint, and the model's streaming and tool calling — and says what to fix.
//!
//! Invariants: it only reads (one tiny chat request is the only thing it sends, and it writes
//! nothing anywhere); every check prints one line, `ok`, `FAIL` or `skip`, and a FAIL line ends
//! with a sentence saying how to fix it. The exit code is 1 when any check failed. The API key is
//! never printed: only the name of the variable that holds it.

use crate::infra::config::{self, Config};
use crate::infra::gitops;
use crate::infra::model::openai::{OpenAiModel, OpenAiSettings};
use crate::infra::model::{ChatRequest, Delta, Message, ModelError, RetryPolicy, ToolSchema};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    /// Not checked because something it depends on failed.
    Skip,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: &'static str,
    pub detail: String,
    /// For a FAIL: one sentence on what to do.
    pub fix: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            status: Status::Ok,
            name,
            detail: detail.into(),
            fix: String::new(),
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            status: Status::Fail,
            name,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
    fn skip(name: &'static str, why: impl Into<String>) -> Self {
        Check {
            status: Status::Skip,
            name,
            detail: why.into(),
            fix: String::new(),
        }
    }

    pub fn line(&self) -> String {
        match self.status {
            Status::Ok => format!("ok    {}: {}", self.name, self.detail),
            Status::Skip => format!("skip  {}: {}", self.name, self.detail),
            Status::Fail => format!("FAIL  {}: {} Fix: {}", self.name, self.detail, self.fix),
        }
    }
}

/// Run every check, print one line each, and return the exit code (0 all ok, 1 any FAIL).
pub async fn run(dir: &Path, cli_model: Option<&str>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut failed = false;
    let mut emit = |c: Check, out: &mut dyn Write| -> std::io::Result<()> {
        failed |= c.status == Status::Fail;
        // Server text in a check passes the same redaction and control-character filter as
        // everything exec prints.
        let line = crate::infra::model::redact::Redactor::global().redact(&c.line());
        writeln!(out, "{}", crate::infra::tools::clean_text(&line))
    };
    for c in local_checks(dir) {
        emit(c, out)?;
    }
    for c in model_checks(cli_model).await {
        emit(c, out)?;
    }
    Ok(i32::from(failed))
}

fn one_sentence(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("").trim().to_string();
    if first.ends_with('.') {
        first
    } else {
        format!("{first}.")
    }
}

/// Git, the repository, the config file and the prompt templates.
// Long: one check after another in the order doctor prints them; each adds its line.
pub fn local_checks(dir: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let repo = match gitops::discover(dir) {
        Ok((repo, root)) => {
            checks.push(Check::ok("repository", root.display().to_string()));
            Some(repo)
        }
        Err(e) => {
            checks.push(Check::fail(
                "repository",
                one_sentence(&e),
                "run `git init` there (or `tandem exec --init`), or pass -C with your project's directory.",
            ));
            None
        }
    };
    let identity = match &repo {
        Some(r) => gitops::signature(r)
            .ok()
            .map(|s| format!("{} <{}>", s.name().unwrap_or(""), s.email().unwrap_or(""))),
        None => git2::Config::open_default().ok().and_then(|c| {
            let name = c.get_string("user.name").ok()?;
            let email = c.get_string("user.email").ok()?;
            Some(format!("{name} <{email}>"))
        }),
    };
    checks.push(match identity {
        Some(who) => Check::ok("git identity", who),
        None => Check::fail(
            "git identity",
            "git has no user.name and user.email, and tandem commits in your name.",
            "git config --global user.name \"Your Name\" && git config --global user.email you@example.com",
        ),
    });
    match &repo {
        Some(r) => checks.push(match gitops::dirty_tracked_files(r) {
            Ok(dirty) if dirty.is_empty() => Check::ok("working tree", "no uncommitted changes to tracked files"),
            Ok(dirty) => Check::fail(
                "working tree",
                format!(
                    "{} tracked file(s) have uncommitted changes ({}{}).",
                    dirty.len(),
                    dirty.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                    if dirty.len() > 5 { ", …" } else { "" }
                ),
                "commit or stash them, or run exec with --allow-dirty (tandem then keeps them as they are).",
            ),
            Err(e) => Check::fail(
                "working tree",
                one_sentence(&e),
                "run `git status` and repair what it reports.",
            ),
        }),
        None => checks.push(Check::skip("working tree", "no repository")),
    }
    let where_cfg = config::config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no config directory)".into());
    checks.push(match Config::load() {
        Ok(_) if config::config_file().is_some_and(|p| p.is_file()) => {
            Check::ok("config", where_cfg)
        }
        Ok(_) => Check::ok(
            "config",
            format!("{where_cfg} does not exist; defaults apply"),
        ),
        Err(e) => Check::fail(
            "config",
            one_sentence(&e),
            "correct that line of the file (the README lists every key).",
        ),
    });
    let theme = Config::load().ok().and_then(|c| c.theme);
    let dir = config::config_dir();
    checks.push(
        match crate::infra::theme::Theme::load(theme.as_deref(), dir.as_deref()) {
            Ok(_) => Check::ok("theme", theme.unwrap_or_else(|| "the default".into())),
            Err(e) => Check::fail(
                "theme",
                one_sentence(&e),
                "correct the theme file at that line, or set `theme` to a shipped theme.",
            ),
        },
    );
    checks.push(sandbox_check());
    if let Some(r) = &repo
        && let Some(root) = r.workdir()
    {
        checks.push(knowledge_check(root));
    }
    checks.push(match crate::setup::prompts() {
        Ok(_) => Check::ok("prompts", "every template parses"),
        Err(e) => Check::fail(
            "prompts",
            one_sentence(&e),
            "correct the template at that line, or delete the file to use the built-in one.",
        ),
    });
    checks
}

/// What knowledge a session here would load (AGENTS.md, the repository's and the client's
/// knowledge folders) and what it costs a request.
fn knowledge_check(root: &Path) -> Check {
    let sources = config::RepoConfig::load(root)
        .map_err(|e| e.to_string())
        .and_then(|repo| {
            crate::setup::knowledge_sources(&Config::load().unwrap_or_default(), &repo)
                .map_err(|e| e.to_string())
        });
    match sources {
        Ok(sources) => {
            let k = crate::infra::knowledge::load(root, &sources);
            Check::ok(
                "knowledge",
                k.describe(sources.client.as_deref()).join("; "),
            )
        }
        Err(e) => Check::fail(
            "knowledge",
            format!("{e}."),
            "correct that setting (a client is a folder name under the config dir's clients/).",
        ),
    }
}

/// Whether the drafter's commands (and checks) can run sandboxed here, and what the policy is.
fn sandbox_check() -> Check {
    use crate::infra::config::CommandPolicy;
    let policy = Config::load()
        .ok()
        .and_then(|c| c.commands.policy)
        .unwrap_or(CommandPolicy::Ask);
    if policy == CommandPolicy::Never {
        return Check::skip("commands", "off (commands.policy = \"never\")");
    }
    let support = crate::infra::sandbox::probe();
    if support.sandboxed() {
        Check::ok("commands", support.describe())
    } else {
        Check::fail(
            "commands",
            support.describe(),
            "commands and checks will be refused; run tandem on Linux 5.13 or later with Landlock enabled, set commands.without_sandbox = \"ask\" to be asked each time, or commands.policy = \"never\".",
        )
    }
}

fn retry_base() -> Duration {
    std::env::var("TANDEM_RETRY_BASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(1))
}

/// What to do about a model error, in one sentence.
fn fix_for(e: &ModelError, key_env: &str) -> String {
    match e {
        ModelError::Unauthorized { .. } => format!(
            "put a valid key in {key_env} (local servers accept any key, so check that base_url names the right server)."
        ),
        ModelError::ModelNotFound { .. } => {
            "set TANDEM_MODEL (or `model` in the config) to a model the server offers, or pull it (e.g. `ollama pull NAME`).".into()
        }
        ModelError::EndpointNotFound { .. } => {
            "set OPENAI_BASE_URL (or `base_url`) to the server's API root, usually ending in /v1.".into()
        }
        ModelError::Quota { .. } => "add credit to the account or use another key.".into(),
        ModelError::Unreachable { .. } => {
            "start the model server, or point OPENAI_BASE_URL (or `base_url`) at the one that runs.".into()
        }
        ModelError::ContextLength(_) => {
            "the server's context is tiny: raise it (llama-server -c 16384, Ollama num_ctx).".into()
        }
        ModelError::ToolsUnsupported { fix, .. } => format!("{fix}."),
        _ => "look at the model server's log.".into(),
    }
}

/// What a local server says about itself: llama-server's `/props`, Ollama's `/api/show`.
#[derive(Debug, Default, PartialEq)]
pub struct ServerInfo {
    pub kind: &'static str,
    /// Tokens of context a request gets (llama-server: per slot).
    pub context: Option<u64>,
    /// Whether the chat template (llama-server) or the model (Ollama) supports tools.
    pub tools: Option<bool>,
    /// Build, template or model details worth a mention.
    pub detail: String,
    /// The server answers to any model name (llama-server serves one model).
    pub any_name: bool,
}

/// LM Studio's `GET /api/v0/models/{id}`: the loaded context (else the largest it could
/// load) and `capabilities` (`tool_use`; missing or empty: not advertised).
fn lm_studio_info(v: &Value) -> Option<ServerInfo> {
    v.get("max_context_length")?;
    let loaded = v.get("loaded_context_length").and_then(Value::as_u64);
    let tools = v
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|c| c.iter().any(|x| x.as_str() == Some("tool_use")))
        .unwrap_or(false);
    Some(ServerInfo {
        kind: "LM Studio",
        context: loaded,
        tools: Some(tools),
        detail: match (loaded, v.get("max_context_length").and_then(Value::as_u64)) {
            (None, Some(max)) => {
                format!("not loaded yet; it can take up to {max} tokens when loaded")
            }
            _ => String::new(),
        },
        any_name: false,
    })
}

/// Read llama-server's `/props` (or, failing that, Ollama's `/api/show`). None: neither.
pub fn server_info_from(props: Option<&Value>, show: Option<&Value>) -> Option<ServerInfo> {
    if let Some(v) = props.filter(|v| v.get("default_generation_settings").is_some()) {
        let caps = v.get("chat_template_caps");
        let tools = caps
            .and_then(|c| {
                c.get("supports_tools")
                    .or_else(|| c.get("supports_tool_calls"))
            })
            .and_then(Value::as_bool);
        let mut detail = Vec::new();
        if let Some(b) = v.get("build_info").and_then(Value::as_str) {
            detail.push(format!("build {b}"));
        }
        if let Some(slots) = v.get("total_slots").and_then(Value::as_u64)
            && slots > 1
        {
            detail.push(format!("{slots} slots share the context"));
        }
        return Some(ServerInfo {
            kind: "llama-server",
            context: v
                .pointer("/default_generation_settings/n_ctx")
                .and_then(Value::as_u64),
            tools,
            detail: detail.join(", "),
            any_name: true,
        });
    }
    let v = show.filter(|v| v.get("capabilities").is_some() || v.get("model_info").is_some())?;
    let tools = v
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|c| c.iter().any(|x| x.as_str() == Some("tools")));
    // num_ctx set in the Modelfile wins; else Ollama's default applies, not the trained size.
    let num_ctx = v.get("parameters").and_then(Value::as_str).and_then(|p| {
        p.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("num_ctx")).then(|| w.next()?.parse().ok())?
        })
    });
    let trained = v
        .get("model_info")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.ends_with(".context_length"))
                .and_then(|(_, v)| v.as_u64())
        });
    Some(ServerInfo {
        kind: "Ollama",
        context: num_ctx,
        tools,
        detail: match (num_ctx, trained) {
            (None, Some(t)) => format!(
                "trained for {t} tokens; Ollama's default num_ctx applies unless the model sets one"
            ),
            _ => String::new(),
        },
        any_name: false,
    })
}

async fn server_info(model: &OpenAiModel, name: &str) -> Option<ServerInfo> {
    let root = model.server_root();
    let props = model.fetch_json(&format!("{root}/props"), None).await.ok();
    if let Some(info) = server_info_from(props.as_ref(), None) {
        return Some(info);
    }
    let show = model
        .fetch_json(&format!("{root}/api/show"), Some(&json!({ "model": name })))
        .await
        .ok();
    if let Some(info) = server_info_from(None, show.as_ref()) {
        return Some(info);
    }
    let lms = model
        .fetch_json(&format!("{root}/api/v0/models/{name}"), None)
        .await
        .ok()?;
    lm_studio_info(&lms)
}

/// Tokens of a first draft request before the task's own text: the drafter's system prompt
/// and the tool definitions (characters / 4, the usual rule of thumb), plus a typical task.
fn first_request_tokens() -> u64 {
    let system = crate::setup::prompts()
        .ok()
        .and_then(|p| p.render("drafter", json!({})).ok())
        .unwrap_or_default();
    let tools =
        serde_json::to_string(&crate::infra::tools::draft_tool_schemas(false)).unwrap_or_default();
    ((system.len() + tools.len()) / 4) as u64 + 500
}

/// The context check: does a first request, and some answer, fit the server's context?
fn context_check(info: &ServerInfo, cap: u32) -> Check {
    let first = first_request_tokens();
    match info.context {
        Some(ctx) if ctx < first + 1024 => Check::fail(
            "context",
            format!(
                "{} gives a request {ctx} tokens of context; a first draft request takes about {first}, which leaves no room for files and an answer.",
                info.kind
            ),
            match info.kind {
                "llama-server" => {
                    "start llama-server with a larger context, e.g. -c 16384 (with -np N, each slot gets 1/N of it)."
                }
                _ => {
                    "raise the model's num_ctx (e.g. `PARAMETER num_ctx 16384` in a Modelfile, or OLLAMA_CONTEXT_LENGTH)."
                }
            },
        ),
        Some(ctx) => Check::ok(
            "context",
            format!(
                "{ctx} tokens; a first draft request takes about {first}{}",
                if ctx < first + u64::from(cap) {
                    format!(
                        ", so answers longer than about {} tokens hit the context's end before the output cap ({cap})",
                        ctx - first
                    )
                } else {
                    String::new()
                }
            ),
        ),
        None => Check::ok(
            "context",
            format!(
                "{} did not say its context size; a first draft request takes about {first} tokens",
                info.kind
            ),
        ),
    }
}

/// The probe's output cap: the answer is one tiny tool call.
const PROBE_TOKENS: u32 = 64;

/// The probe's time: the first-token wait (capped at 3 minutes) and a minute to answer.
fn probe_time(cfg: &Config) -> Duration {
    crate::setup::first_token_timeout(cfg).min(Duration::from_secs(180)) + Duration::from_secs(60)
}

fn plural_models(ids: &[String]) -> String {
    match ids {
        [] => "no models listed".into(),
        [one] => format!("1 model, `{one}`"),
        many => format!("{} models", many.len()),
    }
}

/// The endpoint, the model, and one tiny streamed request with a tool.
// Long: the checks in the order a user reads them (key, endpoint, model list, one streamed tool
// call), each adding its line; split up, the story would scatter.
pub async fn model_checks(cli_model: Option<&str>) -> Vec<Check> {
    let mut checks = Vec::new();
    let cfg = Config::load().unwrap_or_default();
    let ep = match config::resolve_endpoint(cli_model, &cfg) {
        Ok(ep) => ep,
        Err(e) => {
            checks.push(Check::fail(
                "model",
                one_sentence(&e),
                "export TANDEM_MODEL (and OPENAI_BASE_URL for a local server, or OPENAI_API_KEY for OpenAI); `tandem exec` prints a full example.",
            ));
            for name in ["endpoint", "tool calling", "streaming"] {
                checks.push(Check::skip(name, "no model configured"));
            }
            return checks;
        }
    };
    let key_note = if let Some(key) = &ep.api_key {
        let short = !crate::infra::model::redact::Redactor::new(Some(key)).is_active();
        format!(
            "key from {}{}",
            ep.key_env,
            if short {
                "; shorter than 16 characters, so taken for a local server's placeholder and not hidden from output — use a longer key if it is a secret"
            } else {
                ""
            }
        )
    } else {
        format!("no key ({} is not set)", ep.key_env)
    };
    checks.push(Check::ok(
        "model",
        format!("{} at {} ({key_note})", ep.model, ep.base_url),
    ));
    let key_env = ep.key_env.clone();
    let model = OpenAiModel::new(OpenAiSettings {
        base_url: ep.base_url.clone(),
        api_key: ep.api_key.clone(),
        key_env: ep.key_env.clone(),
        model: ep.model.clone(),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: retry_base(),
            ..RetryPolicy::default()
        },
        idle_timeout: Duration::from_secs(cfg.stream_idle_timeout.unwrap_or(120).min(60)),
        first_token_timeout: crate::setup::first_token_timeout(&cfg).min(Duration::from_secs(180)),
        limits: crate::infra::model::openai::AnswerLimits {
            max_time: Duration::from_secs(60),
            ..crate::setup::answer_limits(&cfg)
        },
    });
    let listed = model.list_models().await;
    if let Err(e @ (ModelError::Unreachable { .. } | ModelError::Unauthorized { .. })) = &listed {
        checks.push(Check::fail(
            "endpoint",
            one_sentence(e),
            fix_for(e, &key_env),
        ));
        for name in ["tool calling", "streaming"] {
            checks.push(Check::skip(name, "the endpoint failed"));
        }
        return checks;
    }
    let info = if ep.base_url.contains("api.openai.com") {
        None
    } else {
        server_info(&model, &ep.model).await
    };
    let root = ep.base_url.trim_end_matches('/');
    match listed {
        Ok(ids) if ids.is_empty() || ids.iter().any(|id| id == &ep.model) => {
            checks.push(Check::ok(
                "endpoint",
                format!("{root}/models answers ({})", plural_models(&ids)),
            ))
        }
        // llama-server serves one model and answers to any name.
        Ok(ids) if ids.len() == 1 && info.as_ref().is_some_and(|i| i.any_name) => {
            checks.push(Check::ok(
                "endpoint",
                format!(
                    "{root} serves one model, `{}`, and answers to any name (`{}` is fine)",
                    ids[0], ep.model
                ),
            ))
        }
        Ok(ids) => checks.push(Check::fail(
            "endpoint",
            format!(
                "the server does not offer `{}`; it offers: {}.",
                ep.model,
                ids.join(", ")
            ),
            "set TANDEM_MODEL (or `model` in the config) to one of those, or pull the model first.",
        )),
        // Some servers have no model list; the chat request below is the real test.
        Err(e) => checks.push(Check::fail(
            "endpoint",
            one_sentence(&e),
            fix_for(&e, &key_env),
        )),
    }
    if let Some(info) = &info {
        let tools = match info.tools {
            Some(true) => ", tools supported",
            Some(false) => ", no tool support",
            None => "",
        };
        let detail = if info.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", info.detail)
        };
        checks.push(Check::ok("server", format!("{}{tools}{detail}", info.kind)));
        checks.push(context_check(info, cfg.max_output_tokens.drafter()));
    }
    if cfg.text_protocol == Some(true) {
        checks.push(Check::skip(
            "tool calling",
            "text_protocol = true in the config: tandem writes changes as text blocks",
        ));
        return checks;
    }
    let req = ChatRequest {
        messages: vec![
            Message::system("This is a connectivity check. Answer only by calling the tool."),
            Message::user("Call the tool `ping` with {\"ok\": true}. Do not write any text."),
        ],
        tools: vec![ToolSchema::new(
            "ping",
            "Answer the connectivity check.",
            json!({"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}),
        )],
        max_tokens: Some(PROBE_TOKENS),
    };
    // Progress on stderr: a CPU-bound server may take minutes over even this small request.
    eprintln!(
        "… asking the model to call a test tool ({PROBE_TOKENS} tokens at most, up to {}s)",
        probe_time(&cfg).as_secs()
    );
    let sink = |_d: Delta| {};
    let no_tools_fix = || {
        match info.as_ref() {
        Some(i) if i.tools == Some(false) && i.kind == "llama-server" => "this model's chat template cannot call tools (llama-server's /props says so). tandem falls back to its text protocol (set text_protocol = true to use it from the start); for tool calls, use a model whose template supports them (e.g. qwen2.5-coder, llama3.1).".to_string(),
        Some(i) if i.tools == Some(false) && i.kind == "LM Studio" => "LM Studio does not list tool use for this model. tandem falls back to its text protocol (set text_protocol = true to use it from the start); for tool calls, load a model trained for them (e.g. qwen2.5-coder-instruct).".to_string(),
        Some(i) if i.tools == Some(false) => "this model does not support tools (Ollama says so). tandem falls back to its text protocol (set text_protocol = true to use it from the start); for tool calls, pull a model with tools (e.g. qwen2.5-coder).".to_string(),
        Some(i) if i.kind == "llama-server" => "the template says it supports tools, but the model did not call one: small models often cannot; use a larger model, or set text_protocol = true.".to_string(),
        _ => "use a model with tool calling; otherwise tandem falls back to its text protocol (search/replace blocks), which is less reliable.".to_string(),
    }
    };
    match model.chat_with_retries(&req, &sink).await {
        Ok(resp) => {
            let called = match resp.tool_calls.first() {
                Some(c)
                    if c.name == "ping"
                        && crate::infra::tools::parse_arguments(&c.arguments).is_ok() =>
                {
                    checks.push(Check::ok("tool calling", "the model called the test tool"));
                    true
                }
                Some(c) => {
                    checks.push(Check::fail(
                        "tool calling",
                        format!("the model called `{}` with arguments tandem cannot read.", c.name),
                        "use a model trained for tool calling (e.g. qwen2.5-coder, llama3.1, gpt-4.1-mini).",
                    ));
                    false
                }
                None => {
                    checks.push(Check::fail(
                        "tool calling",
                        "the model answered in text instead of calling the tool.",
                        no_tools_fix(),
                    ));
                    false
                }
            };
            checks.push(match (model.streams(), called) {
                (true, true) => Check::ok("streaming", "tool calls arrive streamed"),
                (true, false) => Check::ok("streaming", "answers arrive streamed"),
                (false, _) => Check::ok(
                    "streaming",
                    "the server refuses streamed tool calls; tandem sends plain requests instead (no live text while drafting)",
                ),
            });
        }
        Err(e) => {
            checks.push(Check::fail(
                "tool calling",
                one_sentence(&e),
                fix_for(&e, &key_env),
            ));
            checks.push(Check::skip("streaming", "the test request failed"));
        }
    }
    checks
}
