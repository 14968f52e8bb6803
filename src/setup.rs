//! Start-up, written once for every driver: find or create the repository, read the brief and
//! plan, build the model client, load prompts and settings from the user's config. `exec`, the
//! TUI, the demo, `doctor`, `report` and replay all start here, so they cannot disagree about
//! what a valid brief is or which settings apply.
//!
//! Invariants: every input is read and checked before anything is written, so a typo costs
//! nothing; errors name the file (and line) at fault. The repository checks that need git
//! (identity, a dirty tree) are the core's (`engine::preflight`), not repeated here.

use crate::core::engine::{CommandSettings, Engine, EngineSettings, SessionSetup};
use crate::core::protocol::Event;
use crate::infra::config::{self, Config};
use crate::infra::gitops::{self, GitError};
use crate::infra::model::openai::{AnswerLimits, OpenAiModel, OpenAiSettings};
use crate::infra::model::scripted::{DEMO_BRIEF, DEMO_FILES, ScriptedModel};
use crate::infra::model::{ModelClient, RetryPolicy};
use crate::infra::prompts::Prompts;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The root of the working directory at or above `dir`; None when there is no repository.
pub fn find_repo(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    match gitops::discover(dir) {
        Ok((_, root)) => Ok(Some(root)),
        Err(GitError::NotARepo { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Find the working directory root, or explain how to make one. `init` creates a repository.
pub fn open_repo(dir: &Path, init: bool) -> anyhow::Result<PathBuf> {
    match find_repo(dir)? {
        Some(root) => Ok(root),
        None if init => {
            gitops::init(dir)?;
            Ok(dir.canonicalize()?)
        }
        None => bail!(
            "{} is not a git repository. tandem commits accepted work with git, so it needs one:\n  git init        (or `tandem exec --init ...` runs it for you)",
            dir.display()
        ),
    }
}

/// The brief as text: UTF-8 (else the line of the first bad byte is named, since the model
/// could not read it) and not empty.
pub fn read_brief(p: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read brief {}", p.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            bail!(
                "the brief {}, line {line}: not UTF-8 text (byte {at}); save it as UTF-8",
                p.display()
            )
        }
    };
    if text.trim().is_empty() {
        bail!("the brief {} is empty", p.display());
    }
    Ok(text)
}

/// The session limits from the user's config file and the repository's (`.tandem/config.toml`,
/// which adds checks and may set the fix rounds).
pub fn settings(cfg: &Config, root: &Path) -> anyhow::Result<EngineSettings> {
    let repo = config::RepoConfig::load(root)?;
    let mut s = user_settings(cfg);
    s.checker = cfg.checker_enabled()?;
    s.lessons = cfg.lessons_enabled()?;
    s.checks.extend(repo.checks.clone());
    if let Some(n) = repo.fix_rounds {
        s.fix_rounds = n;
    }
    s.knowledge = knowledge_sources(cfg, &repo)?;
    Ok(s)
}

/// Where a session's knowledge comes from: the repository, and the client's folder in the
/// config dir when the repository's config (or `TANDEM_CLIENT`) names a client.
pub fn knowledge_sources(
    cfg: &Config,
    repo: &config::RepoConfig,
) -> anyhow::Result<crate::infra::knowledge::Sources> {
    let client = config::client_name(repo)?;
    let client_dir = client
        .as_ref()
        .and_then(|c| config::config_dir().map(|d| d.join("clients").join(c)));
    Ok(crate::infra::knowledge::Sources {
        client,
        client_dir,
        limits: cfg.knowledge.limits(),
    })
}

/// The session limits from the user's config file alone.
pub fn user_settings(cfg: &Config) -> EngineSettings {
    EngineSettings {
        max_steps: cfg.max_steps.unwrap_or(40),
        max_task_tokens: cfg.max_task_tokens,
        run_hooks: cfg.accept_runs_hooks.unwrap_or(false),
        planner_max_tokens: cfg.max_output_tokens.planner(),
        drafter_max_tokens: cfg.max_output_tokens.drafter(),
        text_protocol: cfg.text_protocol.unwrap_or(false),
        text_context_chars: cfg.text_context_tokens.unwrap_or(6000) as usize * 4,
        commands: command_settings(&cfg.commands),
        checks: cfg.checks.clone(),
        fix_rounds: cfg.fix_rounds.unwrap_or(2),
        checker_max_tokens: cfg.max_output_tokens.checker(),
        ..EngineSettings::default()
    }
}

/// The `[commands]` table as the engine applies it (a driver that can ask sets `can_ask`).
pub fn command_settings(c: &config::Commands) -> CommandSettings {
    let d = CommandSettings::default();
    CommandSettings {
        policy: c.policy.unwrap_or(d.policy),
        allow: c.allow.clone(),
        limits: crate::infra::sandbox::Limits {
            timeout: c
                .timeout_seconds
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(d.limits.timeout),
            max_output: c.max_output_bytes.unwrap_or(d.limits.max_output).max(256),
        },
        ask_without_sandbox: c.without_sandbox == Some(config::WithoutSandbox::Ask),
        env: c.env.clone(),
        ..d
    }
}

/// The bounds on one model answer, from the config file (defaults otherwise).
pub fn answer_limits(cfg: &Config) -> AnswerLimits {
    let d = AnswerLimits::default();
    AnswerLimits {
        max_bytes: cfg.max_answer_bytes.unwrap_or(d.max_bytes),
        max_time: cfg
            .max_answer_seconds
            .map(Duration::from_secs)
            .unwrap_or(d.max_time),
    }
}

/// The wait for an answer's first token (prompt processing on a local server).
pub fn first_token_timeout(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.first_token_timeout.unwrap_or(300))
}

/// The OpenAI-compatible client for the model named on the command line, in TANDEM_MODEL or in
/// the config file.
pub fn model(cfg: &Config, cli_model: Option<&str>) -> anyhow::Result<ModelClient> {
    let ep = config::resolve_endpoint(cli_model, cfg)?;
    let retry = RetryPolicy {
        max_attempts: cfg.retries.unwrap_or(4).max(1),
        base_delay: std::env::var("TANDEM_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(1)),
        ..RetryPolicy::default()
    };
    Ok(ModelClient::OpenAi(Box::new(OpenAiModel::new(
        OpenAiSettings {
            base_url: ep.base_url,
            api_key: ep.api_key,
            key_env: ep.key_env,
            model: ep.model,
            retry,
            idle_timeout: Duration::from_secs(cfg.stream_idle_timeout.unwrap_or(120)),
            first_token_timeout: first_token_timeout(cfg),
            limits: answer_limits(cfg),
        },
    ))))
}

/// The shipped prompts, each overridable from the config dir's `prompts/`.
pub fn prompts() -> anyhow::Result<Prompts> {
    Ok(Prompts::load(
        config::config_dir().map(|d| d.join("prompts")).as_deref(),
    )?)
}

/// Create the demo repository under `parent`: the greeter project, committed, with a local
/// identity. Nothing outside the new directory is touched.
pub fn demo_repo(parent: &Path) -> anyhow::Result<PathBuf> {
    let dir = parent.join(format!(
        "tandem-demo-{}-{:04x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        fastrand::u16(..)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let repo = git2::Repository::init(&dir)?;
    {
        let mut cfg = repo.config()?;
        cfg.set_str("user.name", "tandem demo")?;
        cfg.set_str("user.email", "demo@tandem.invalid")?;
    }
    for (path, content) in DEMO_FILES {
        std::fs::write(dir.join(path), content)?;
    }
    let mut index = repo.index()?;
    for (path, _) in DEMO_FILES {
        index.add_path(Path::new(path))?;
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = repo.signature()?;
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "The client's greeter, before tandem",
        &tree,
        &[],
    )?;
    Ok(dir)
}

/// The demo's session in `dir`: the demo brief, the built-in scripted model (`pace` between
/// its streamed pieces) and the shipped prompts (the user's are not read).
pub fn demo_engine(
    dir: &Path,
    pace: Duration,
    events: UnboundedSender<Event>,
) -> anyhow::Result<Engine> {
    Ok(Engine::create(
        dir,
        SessionSetup {
            brief: Some(DEMO_BRIEF.to_string()),
            plan: None,
            allow_dirty: false,
        },
        ModelClient::Scripted(ScriptedModel { pace }),
        Prompts::load(None)?,
        // The demo shows the checker's verdicts too.
        EngineSettings {
            checker: true,
            ..EngineSettings::default()
        },
        events,
    )?)
}
