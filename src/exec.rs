//! `tandem exec`: the headless driver. It answers the core's questions from a review script (or
//! `--auto-accept`) and prints progress; with `--json` it prints every core `Event` as a line.
//!
//! Invariants: it only talks to the core through `Op`/`Event`. Everything that can be wrong with
//! the input (files, config, model setup, repository state) is reported before any work starts.
//! When the script has no decision for an iteration, it stops and the session stays resumable at
//! exactly that review.

use crate::config::{self, Config};
use crate::engine::{self, Engine, EngineSettings, RunEnd, SessionSetup};
use crate::journal::JournalEvent;
use crate::model::openai::{OpenAiModel, OpenAiSettings};
use crate::model::{ModelClient, RetryPolicy};
use crate::plan::{self, TaskSpec};
use crate::prompts::Prompts;
use crate::protocol::{Event, NewComment, Op, ReviewSubmission};
use crate::review_script::{Action, ReviewScript};
use crate::state::SessionState;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit code when exec stopped at a review the script does not answer.
pub const EXIT_NEEDS_DECISION: i32 = 3;

#[derive(Debug, Clone, Default)]
pub struct ExecArgs {
    pub dir: PathBuf,
    pub brief: Option<PathBuf>,
    pub plan: Option<PathBuf>,
    pub review: Option<PathBuf>,
    pub auto_accept: bool,
    /// Some(None): resume the newest unfinished session; Some(Some(id)): that one.
    pub resume: Option<Option<String>>,
    pub allow_dirty: bool,
    pub init: bool,
    pub json: bool,
    pub model: Option<String>,
    /// The answer to a conflict with the user's changes; None: stop and list them.
    pub on_conflict: Option<crate::journal::ConflictChoice>,
}

/// Find the working directory root, or explain how to make one. `init` creates a repository.
pub fn open_repo(dir: &Path, init: bool) -> anyhow::Result<PathBuf> {
    match crate::gitops::discover(dir) {
        Ok((_, root)) => Ok(root),
        Err(crate::gitops::GitError::NotARepo { .. }) if init => {
            crate::gitops::init(dir)?;
            Ok(dir.canonicalize()?)
        }
        Err(crate::gitops::GitError::NotARepo { .. }) => bail!(
            "{} is not a git repository. tandem commits accepted work with git, so it needs one:\n  git init        (or `tandem exec --init ...` runs it for you)",
            dir.display()
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn settings_from(cfg: &Config) -> EngineSettings {
    EngineSettings {
        max_steps: cfg.max_steps.unwrap_or(40),
        max_task_tokens: cfg.max_task_tokens,
        run_hooks: cfg.accept_runs_hooks.unwrap_or(false),
        ..EngineSettings::default()
    }
}

pub fn openai_model(cfg: &Config, cli_model: Option<&str>) -> anyhow::Result<ModelClient> {
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
            limits: answer_limits(cfg),
        },
    ))))
}

/// The bounds on one model answer, from the config file (defaults otherwise).
pub fn answer_limits(cfg: &Config) -> crate::model::openai::AnswerLimits {
    let d = crate::model::openai::AnswerLimits::default();
    crate::model::openai::AnswerLimits {
        max_bytes: cfg.max_answer_bytes.unwrap_or(d.max_bytes),
        max_time: cfg
            .max_answer_seconds
            .map(Duration::from_secs)
            .unwrap_or(d.max_time),
    }
}

pub fn load_prompts() -> anyhow::Result<Prompts> {
    Ok(Prompts::load(
        config::config_dir().map(|d| d.join("prompts")).as_deref(),
    )?)
}

pub async fn exec(args: ExecArgs) -> anyhow::Result<i32> {
    let cfg = Config::load()?;
    // Read every input before touching anything, so a typo costs nothing.
    let brief = match &args.brief {
        Some(p) => Some(read_brief(p)?),
        None => None,
    };
    if brief.as_deref().is_some_and(|b| b.trim().is_empty()) {
        bail!(
            "the brief {} is empty",
            args.brief
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let plan: Option<Vec<TaskSpec>> = args.plan.as_deref().map(plan::load).transpose()?;
    let script = args.review.as_deref().map(ReviewScript::load).transpose()?;
    if args.resume.is_none() && brief.is_none() && plan.is_none() {
        bail!(
            "give the job as --brief FILE (tandem plans it) or --plan FILE (your plan), or continue one with --resume"
        );
    }
    let root = open_repo(&args.dir, args.init)?;
    let model = openai_model(&cfg, args.model.as_deref())?;
    let prompts = load_prompts()?;
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = match &args.resume {
        Some(id) => Engine::resume(
            &root,
            id.as_deref(),
            model,
            prompts,
            settings_from(&cfg),
            ev_tx,
        )?,
        None => Engine::create(
            &root,
            SessionSetup {
                brief,
                plan,
                allow_dirty: args.allow_dirty,
            },
            model,
            prompts,
            settings_from(&cfg),
            ev_tx,
        )?,
    };
    let mut out = std::io::stdout();
    drive(
        engine,
        ev_rx,
        script.as_ref(),
        args.auto_accept,
        args.on_conflict,
        args.json,
        &mut out,
    )
    .await
}

/// The brief as text. Not UTF-8 is named with its line, since the model could not read it.
fn read_brief(p: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read brief {}", p.display()))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            bail!(
                "the brief {}, line {line}: not UTF-8 text (byte {at}); save it as UTF-8",
                p.display()
            )
        }
    }
}

/// Run a session to completion (or to a review nobody answers), printing as it goes.
pub async fn drive(
    engine: Engine,
    mut events: engine::EventRx,
    script: Option<&ReviewScript>,
    auto_accept: bool,
    on_conflict: Option<crate::journal::ConflictChoice>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let journal = engine.journal_path().to_path_buf();
    let (ops, handle) = engine::spawn(engine);
    let mut state = SessionState::default();
    let mut code = 0;
    // Model and server text can carry terminal escapes: none reaches the terminal raw.
    let mut safe = Sanitized(out);
    let mut printer = Printer {
        out: &mut safe,
        json,
        text_open: false,
    };
    while let Some(ev) = events.recv().await {
        printer.event(&ev, &state)?;
        match &ev {
            Event::SessionLoaded { entries, session } => {
                state = SessionState::from_entries(entries);
                if !json {
                    let verb = if entries.len() > 1 {
                        "resuming"
                    } else {
                        "session"
                    };
                    writeln!(printer.out, "{verb} {session} ({})", journal.display())?;
                }
            }
            Event::Recorded(entry) => state.apply(entry),
            Event::AwaitingPlanApproval => {
                let _ = ops.send(Op::ApprovePlan);
            }
            Event::AwaitingReview { task, iteration } => {
                let decision = script.and_then(|s| s.decision_for(*task, *iteration));
                let op = match decision {
                    Some(d) => Op::SubmitReview(ReviewSubmission {
                        task: *task,
                        iteration: *iteration,
                        action: d.action,
                        note: d.note.clone(),
                        comments: d
                            .comment
                            .iter()
                            .map(|c| NewComment {
                                path: c.path.clone(),
                                line: c.line,
                                text: c.text.clone(),
                            })
                            .collect(),
                        criteria_met: d.criteria_met.clone(),
                        review_ms: d.review_seconds.unwrap_or(0) * 1000,
                    }),
                    None if auto_accept && *iteration == 1 => Op::Decide {
                        task: *task,
                        iteration: *iteration,
                        action: Action::Accept,
                    },
                    None => {
                        if !json {
                            writeln!(
                                printer.out,
                                "\nstopped: the review script has no decision for task {task}, iteration {iteration}.\n\
                                 Add a [[decision]] for task {task} (its decision number {iteration} for that task) and run:\n  tandem exec --resume {} --review FILE",
                                state.session
                            )?;
                        }
                        code = EXIT_NEEDS_DECISION;
                        Op::Shutdown
                    }
                };
                let _ = ops.send(op);
            }
            Event::Conflict {
                task,
                iteration,
                doing,
                paths,
                saved,
            } => {
                let op = match on_conflict {
                    Some(choice) => Op::ResolveConflict {
                        task: *task,
                        iteration: *iteration,
                        choice,
                        paths: paths.clone(),
                    },
                    None => {
                        if !json {
                            writeln!(
                                printer.out,
                                "stopped: to {doing} (task {task}), tandem would write over files you changed since it last wrote them:\n{}\nNothing was written; your versions are also saved in commit {saved}.\nDecide and run: tandem exec --resume {} --on-conflict keep-mine|take|keep-both",
                                paths
                                    .iter()
                                    .map(|p| format!("  {p}"))
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                                state.session
                            )?;
                        }
                        code = 1;
                        Op::Shutdown
                    }
                };
                let _ = ops.send(op);
            }
            Event::Error { .. } | Event::DraftPaused { .. } => {
                // Headless: nobody is there to fix it now; stop resumably and say so.
                code = 1;
                let _ = ops.send(Op::Shutdown);
            }
            Event::SessionComplete | Event::Stopped => break,
            _ => {}
        }
    }
    match handle.await {
        Ok(Ok(RunEnd::Complete)) => {
            if !json {
                print_summary(printer.out, &state)?;
            }
            Ok(code)
        }
        Ok(Ok(RunEnd::Stopped)) => Ok(if code == 0 { 1 } else { code }),
        // Planning failed: the session exists and resumes at the plan step.
        Ok(Err(e @ (engine::CoreError::Model(_) | engine::CoreError::PlanFailed { .. }))) => {
            bail!("{e}\nThe session is saved; fix this and continue with: tandem exec --resume")
        }
        Ok(Err(e)) => Err(e.into()),
        Err(e) => bail!("the core stopped unexpectedly: {e}"),
    }
}

/// A writer that drops control characters other than newline and tab (escape sequences
/// among them) and redacts the API key. Every write is whole UTF-8 text: `write!` hands over
/// `&str` pieces.
struct Sanitized<'a>(&'a mut dyn Write);

impl Write for Sanitized<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean =
            crate::model::redact::Redactor::global().redact(&crate::tools::clean_text(&text));
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    json: bool,
    text_open: bool,
}

impl Printer<'_> {
    fn event(&mut self, ev: &Event, state: &SessionState) -> std::io::Result<()> {
        if self.json {
            let line = serde_json::to_string(ev).map_err(std::io::Error::other)?;
            return writeln!(self.out, "{line}");
        }
        match ev {
            Event::Recorded(entry) => self.recorded(&entry.event, state),
            Event::Retrying {
                attempt,
                max,
                delay_ms,
                reason,
            } => writeln!(
                self.out,
                "  retrying in {}s (attempt {attempt}/{max}): {reason}",
                delay_ms.div_ceil(1000)
            ),
            Event::Error { message } => writeln!(self.out, "error: {message}"),
            Event::DraftPaused { reason, .. } => writeln!(
                self.out,
                "draft stopped: {reason}\nresume with: tandem exec --resume"
            ),
            _ => Ok(()),
        }
    }

    fn recorded(&mut self, ev: &JournalEvent, state: &SessionState) -> std::io::Result<()> {
        let title = |n: usize| {
            state
                .task(n)
                .map(|t| t.spec.title.clone())
                .unwrap_or_default()
        };
        let _ = self.text_open;
        match ev {
            JournalEvent::PlanSet { tasks, source } => {
                writeln!(
                    self.out,
                    "plan ({}):",
                    serde_json::to_string(source)
                        .unwrap_or_default()
                        .trim_matches('"')
                )?;
                for (i, t) in tasks.iter().enumerate() {
                    writeln!(
                        self.out,
                        "  {}. {}{}",
                        i + 1,
                        t.title,
                        if t.human { " (human)" } else { "" }
                    )?;
                    for c in &t.acceptance {
                        writeln!(self.out, "       - {c}")?;
                    }
                }
                Ok(())
            }
            JournalEvent::DraftStarted {
                task, iteration, ..
            } => {
                writeln!(
                    self.out,
                    "\n▸ task {task} «{}», iteration {iteration}: drafting",
                    title(*task)
                )
            }
            JournalEvent::ToolCall {
                name,
                args,
                ok,
                result,
                ..
            } => {
                let path = args.get("path").and_then(|p| p.as_str()).unwrap_or("");
                let mark = if *ok { " " } else { "!" };
                let what = match name.as_str() {
                    "finish" => "finish".to_string(),
                    _ => format!("{name} {path}").trim_end().to_string(),
                };
                if *ok {
                    writeln!(self.out, "  {mark} {what}")
                } else {
                    writeln!(
                        self.out,
                        "  {mark} {what}: {}",
                        result.lines().next().unwrap_or("")
                    )
                }
            }
            JournalEvent::DraftAborted {
                task,
                iteration,
                reason,
            } => {
                writeln!(
                    self.out,
                    "  task {task}, iteration {iteration}: attempt dropped ({reason}); files put back"
                )
            }
            JournalEvent::IterationReady {
                files,
                summary,
                incomplete,
                excluded,
                ..
            } => {
                let (a, r) = files
                    .iter()
                    .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
                writeln!(
                    self.out,
                    "  ready for review{}: {} file(s), +{a} −{r}\n  summary: {summary}",
                    if *incomplete { " (INCOMPLETE)" } else { "" },
                    files.len()
                )?;
                for f in files {
                    writeln!(self.out, "    {} +{} −{}", f.path, f.added, f.removed)?;
                }
                for x in excluded {
                    writeln!(self.out, "    {} — {}", x.path, x.reason)?;
                }
                Ok(())
            }
            JournalEvent::CommentAdded {
                path, line, text, ..
            } => {
                writeln!(self.out, "  comment {path}:{line}: {text}")
            }
            JournalEvent::NoteSet { text, .. } => writeln!(self.out, "  note: {text}"),
            JournalEvent::Decision { action, .. } => {
                writeln!(
                    self.out,
                    "  decision: {}",
                    match action {
                        Action::Accept => "accept",
                        Action::Revise => "revise",
                        Action::Reject => "reject",
                    }
                )
            }
            JournalEvent::Committed { commit, .. } => {
                writeln!(
                    self.out,
                    "  ✓ committed {}",
                    &commit[..commit.len().min(10)]
                )
            }
            JournalEvent::Restored { .. } => writeln!(
                self.out,
                "  ✗ rejected: the task's files are back as they were"
            ),
            JournalEvent::AcceptFailed { .. } => writeln!(
                self.out,
                "  ✗ accept failed: nothing was committed; the task is back in review"
            ),
            JournalEvent::AcceptedEmpty { .. } => writeln!(
                self.out,
                "  ✓ accepted, but the reviewed change is empty: nothing was committed"
            ),
            JournalEvent::UserBytesSaved { paths, commit, .. } => writeln!(
                self.out,
                "  your changes to {} saved in commit {}",
                paths.join(", "),
                &commit[..commit.len().min(10)]
            ),
            JournalEvent::ConflictResolved { choice, .. } => writeln!(
                self.out,
                "  conflict: {}",
                match choice {
                    crate::journal::ConflictChoice::KeepMine => "keeping your versions",
                    crate::journal::ConflictChoice::Take => "taking tandem's versions",
                    crate::journal::ConflictChoice::KeepBoth =>
                        "taking tandem's versions, yours beside them as .mine",
                }
            ),
            _ => Ok(()),
        }
    }
}

fn print_summary(out: &mut dyn Write, state: &SessionState) -> std::io::Result<()> {
    writeln!(out, "\nsession {} finished", state.session)?;
    for t in &state.tasks {
        let status: &str = t.status.into();
        writeln!(
            out,
            "  {}. {:<40} {:<9} iterations {}  review {}s  agent {}s{}",
            t.number,
            t.spec.title,
            status,
            t.iterations.len(),
            (t.review_ms() + 500) / 1000,
            (t.agent_ms() + 500) / 1000,
            t.commit
                .as_deref()
                .map(|c| format!("  {}", &c[..c.len().min(10)]))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
