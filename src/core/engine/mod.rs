//! The engine: runs one session — plan, draft, review, commit or restore — driven by `Op`s and
//! reporting through `Event`s.
//!
//! Invariants: domain state changes only by recording a journal event (`Recorder::record`:
//! append + fsync, then apply, then announce). Before the agent first writes a path in a task,
//! its old content is journaled, and before every write the content it will leave, so any crash
//! can be undone and the agent's bytes told from the user's. Accept commits the iteration's
//! proposal (see `gitops::review`), never the disk; a put-back (reject, undo) writes nothing
//! over content tandem did not leave without the user's answer to `Event::Conflict`. One engine
//! per repository holds `lock::RepoLock`. What happens next is always `state.next_step()`, so
//! a resumed session continues at exactly the step it was killed in.
//! It is started with `start` and driven through a `CoreHandle` (handle.rs): it runs on its own
//! thread and runtime, so its sequential git and file work never runs on a driver's runtime;
//! the heavy git work (snapshots, accept, put-backs) goes to the blocking pool with `blocking`,
//! and diffs for a driver with `spawn_diff`. `create`/`resume` run on the caller's thread
//! (the lock, a few git reads and the first fsynced journal lines).

use crate::core::journal::{
    ConflictChoice, Entry, JournalError, JournalEvent, JournalWriter, PlanSource, Purpose,
};
use crate::core::plan::TaskSpec;
use crate::core::protocol::{
    DiffBase, DiffRequest, Event, NewComment, Op, ReviewSubmission, Submission,
};
use crate::core::sessions;
use crate::core::state::{NextStep, SESSION_LESSONS, SessionState, TaskStatus};
use crate::infra::diff;
use crate::infra::gitops::{self, Content};
use crate::infra::model::{ChatRequest, Delta, Message, ModelClient, ModelError};
use crate::infra::prompts::{PromptError, Prompts};
use crate::infra::tools::{self, Outcome, Workspace};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::sync::mpsc;

mod abandon;
mod agent;
mod checker;
mod commands;
mod git_side;
mod handle;
mod knowledge;
mod lessons;
mod ops;
mod replies;
mod text_protocol;
mod verify;

pub use abandon::{Abandoned, LeftFile, abandon};
use agent::touch;
pub use checker::CANCEL_SKIPS_CHECK;
pub use commands::allowed_by;
pub use git_side::spawn_diff;
use git_side::{file_stats, last_left, snapshot_blocking};
pub use handle::{CoreHandle, start};

pub type OpTx = mpsc::UnboundedSender<Submission>;
pub type OpRx = mpsc::UnboundedReceiver<Submission>;
pub type EventRx = mpsc::UnboundedReceiver<Event>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Git(#[from] gitops::GitError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(
        "the working tree has uncommitted changes to tracked files:\n{}\nCommit or stash them first, or pass --allow-dirty (tandem then keeps them exactly as they are).",
        .0.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
    )]
    DirtyTree(Vec<String>),
    #[error("no session to resume in this repository{0}")]
    NoSession(String),
    #[error(
        "session {0} in this repository is unfinished, and starting another would leave it behind. Continue it with `tandem exec --resume {0}`, or drop it with `tandem sessions abandon {0}` and start again"
    )]
    Unfinished(String),
    #[error(
        "session {0} was abandoned (`tandem sessions abandon`), so it cannot be resumed; start a new one with --brief FILE or --plan FILE (`tandem replay {0}` and `tandem report {0}` still show it)"
    )]
    Abandoned(String),
    #[error("session {0} is finished; there is nothing to abandon")]
    AlreadyFinished(String),
    #[error(
        "session {0} is only stored in git refs (fetched from another clone); it cannot be resumed here, so there is nothing to abandon"
    )]
    NotLocal(String),
    #[error(
        "session {id} still has the agent's uncommitted changes in the working tree (task {task}): {}. Abandoning leaves them there, and no tandem command would put them back afterwards. To have them put back, continue the session (`tandem exec --resume {id}`) and reject task {task}; to abandon it and keep the files as they are, add --force",
        .paths.join(", ")
    )]
    AgentChanges {
        id: String,
        task: usize,
        paths: Vec<String>,
    },
    #[error("the session needs a plan: give a brief (--brief FILE) or a plan (--plan FILE)")]
    NoBrief,
    #[error(
        "session {0} has a plan already, so --plan cannot replace it; --plan with --resume is for a session whose planning failed"
    )]
    HasPlan(String),
    #[error(
        "the planner gave no valid plan after {attempts} attempts; last problem: {last}. You can write the plan yourself (TOML [[task]] tables with title, instructions and acceptance; see the README) and continue with `tandem exec --resume --plan FILE`"
    )]
    PlanFailed { attempts: u32, last: String },
    #[error("the plan has no task {0}")]
    NoTask(usize),
    #[error("background work failed: {0}")]
    Join(String),
    #[error(transparent)]
    Lock(#[from] crate::infra::lock::LockError),
}

/// Limits for one session's agent work.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub max_steps: u32,
    pub max_task_tokens: Option<u64>,
    pub planner_attempts: u32,
    /// Run the repository's pre-commit and commit-msg hooks on accept.
    pub run_hooks: bool,
    /// Output caps (tokens) of the planner's and the drafter's answers.
    pub planner_max_tokens: u32,
    pub drafter_max_tokens: u32,
    /// Use the text protocol from the start (the model is known not to call tools).
    pub text_protocol: bool,
    /// Characters of file contents a text-protocol prompt may carry.
    pub text_context_chars: usize,
    pub commands: CommandSettings,
    /// Checks every task runs before review (the configs'), besides the plan's own.
    pub checks: Vec<String>,
    /// Rounds a draft gets to fix failing checks and deliverables before it goes to review.
    pub fix_rounds: u32,
    /// Judge each acceptance criterion with the checker before review.
    pub checker: bool,
    /// Output cap (tokens) of one checker answer.
    pub checker_max_tokens: u32,
    /// Where the project's knowledge is, and how much of it a request may carry.
    pub knowledge: crate::infra::knowledge::Sources,
    /// After an accept, propose lessons from the task's review for the reviewer to keep.
    pub lessons: bool,
}

/// The drafter's commands: the policy as the driver can apply it, and the bounds.
#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub policy: crate::infra::config::CommandPolicy,
    /// The driver can show a command to a person and return the answer (`Op::AnswerCommand`).
    pub can_ask: bool,
    /// Prefixes an allowed command must start with (empty: any).
    pub allow: Vec<String>,
    pub limits: crate::infra::sandbox::Limits,
    /// Without a sandbox, ask each time (else refuse).
    pub ask_without_sandbox: bool,
    pub env: Vec<String>,
}

impl Default for CommandSettings {
    fn default() -> Self {
        CommandSettings {
            policy: crate::infra::config::CommandPolicy::Ask,
            can_ask: false,
            allow: Vec::new(),
            limits: crate::infra::sandbox::Limits {
                timeout: std::time::Duration::from_secs(120),
                max_output: 16_000,
            },
            ask_without_sandbox: false,
            env: Vec::new(),
        }
    }
}

impl CommandSettings {
    /// Whether the drafter is offered `run_command` at all.
    pub fn offered(&self) -> bool {
        use crate::infra::config::CommandPolicy::*;
        match self.policy {
            Never => false,
            Ask => self.can_ask,
            Allow => true,
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_steps: 40,
            max_task_tokens: None,
            planner_attempts: 3,
            run_hooks: false,
            planner_max_tokens: crate::infra::config::OutputTokens::PLANNER,
            drafter_max_tokens: crate::infra::config::OutputTokens::DRAFTER,
            text_protocol: false,
            text_context_chars: 24_000,
            commands: CommandSettings::default(),
            checks: Vec::new(),
            fix_rounds: 2,
            checker: false,
            checker_max_tokens: crate::infra::config::OutputTokens::CHECKER,
            knowledge: Default::default(),
            lessons: false,
        }
    }
}

/// How a new session starts.
#[derive(Debug, Clone, Default)]
pub struct SessionSetup {
    pub brief: Option<String>,
    pub plan: Option<Vec<TaskSpec>>,
    pub allow_dirty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Complete,
    Stopped,
}

#[derive(Clone)]
pub struct EventTx(pub mpsc::UnboundedSender<Event>);

impl EventTx {
    /// A driver that went away is not the core's problem: events are best-effort, the journal
    /// is the record.
    pub fn send(&self, e: Event) {
        let _ = self.0.send(e);
    }
}

/// Append, apply, announce — the only way state changes.
struct Recorder {
    journal: JournalWriter,
    state: SessionState,
    events: EventTx,
    history: Vec<Entry>,
}

impl Recorder {
    fn record(&mut self, ev: JournalEvent) -> Result<(), JournalError> {
        let entry = self.journal.append(ev)?;
        self.state.apply(&entry);
        self.history.push(entry.clone());
        self.events.send(Event::Recorded(entry));
        Ok(())
    }
}

pub struct Engine {
    workdir: PathBuf,
    ws: Workspace,
    /// Held for the engine's life: no second process writes this working tree meanwhile.
    _lock: crate::infra::lock::RepoLock,
    rec: Recorder,
    model: ModelClient,
    prompts: Prompts,
    settings: EngineSettings,
    /// What the kernel can sandbox, once probed (the first command asks).
    sandbox: Option<crate::infra::sandbox::Support>,
    /// Answers to `Event::CommandApproval`: `race` forwards `Op::AnswerCommand` here while the
    /// draft waits (the draft holds the engine, the driver's ops are read beside it).
    answers: Answers,
    /// Time the running draft waited for the reviewer's answers: not agent time.
    waited: std::time::Duration,
    /// The project's knowledge as loaded for the running conversation (its tools read it).
    knowledge: Option<crate::infra::knowledge::Knowledge>,
}

/// (approve, always) answers to command approvals, and the checker's state: a cancel while the
/// checker judges a finished draft skips the check instead of throwing the draft away.
struct Answers {
    tx: mpsc::UnboundedSender<(bool, bool)>,
    rx: mpsc::UnboundedReceiver<(bool, bool)>,
    checking: std::sync::Arc<std::sync::atomic::AtomicBool>,
    skip_check: std::sync::Arc<tokio::sync::Notify>,
}

impl Answers {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Answers {
            tx,
            rx,
            checking: Default::default(),
            skip_check: Default::default(),
        }
    }

    /// What `race` needs to pass ops on to the running draft.
    fn forward(&self) -> Forward {
        Forward {
            answers: self.tx.clone(),
            checking: self.checking.clone(),
            skip_check: self.skip_check.clone(),
        }
    }
}

/// `race`'s side of [`Answers`].
struct Forward {
    answers: mpsc::UnboundedSender<(bool, bool)>,
    checking: std::sync::Arc<std::sync::atomic::AtomicBool>,
    skip_check: std::sync::Arc<tokio::sync::Notify>,
}

/// What must hold before a session starts in `workdir`: a repository with a commit identity
/// and, unless `allow_dirty`, no uncommitted changes to tracked files. The brief screen calls
/// it before asking for a brief, and `Engine::create` again before starting.
pub fn preflight(workdir: &Path, allow_dirty: bool) -> Result<(), CoreError> {
    let repo = gitops::open(workdir)?;
    gitops::signature(&repo)?;
    if !allow_dirty {
        let dirty = gitops::dirty_tracked_files(&repo)?;
        if !dirty.is_empty() {
            return Err(CoreError::DirtyTree(dirty));
        }
    }
    Ok(())
}

impl Engine {
    /// Start a new session in `workdir` (the root of a git working directory).
    pub fn create(
        workdir: &Path,
        setup: SessionSetup,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        if setup.brief.is_none() && setup.plan.is_none() {
            return Err(CoreError::NoBrief);
        }
        // The handle goes back to the pool before the checks below open it again: one handle
        // that has read the index serves the whole start (see `gitops::open`).
        let git_dir = gitops::open(workdir)?.path().to_path_buf();
        let session = sessions::new_id();
        let lock = crate::infra::lock::RepoLock::acquire(&git_dir, &session)?;
        // Under the lock: no other tandem is writing this tree while it is checked. An
        // unfinished session is named first: its drafts are what would make the tree dirty,
        // and a second session would leave it behind unseen.
        if let Some(id) = sessions::newest_unfinished(workdir)? {
            return Err(CoreError::Unfinished(id));
        }
        preflight(workdir, setup.allow_dirty)?;
        let repo = gitops::open(workdir)?;
        let (journal, _) = JournalWriter::open(&sessions::journal_path(&repo, &session))?;
        let mut engine = Engine::assemble(
            &repo,
            lock,
            workdir,
            journal,
            Vec::new(),
            model,
            prompts,
            settings,
            events,
        )?;
        engine.rec.record(JournalEvent::SessionStarted {
            session,
            tandem_version: env!("CARGO_PKG_VERSION").to_string(),
            model: engine.model.name().to_string(),
            branch: gitops::branch(&repo),
            head: gitops::head(&repo).map(|o| o.to_string()),
            brief: setup.brief,
            allow_dirty: setup.allow_dirty,
        })?;
        if let Some(tasks) = setup.plan {
            engine.rec.record(JournalEvent::PlanSet {
                tasks,
                source: PlanSource::File,
            })?;
        }
        Ok(engine)
    }

    /// Give a resumed session whose planning failed (it has no plan yet) the user's own plan;
    /// a session with a plan keeps it (`HasPlan`), so nothing is silently replaced.
    pub fn supply_plan(&mut self, tasks: Vec<TaskSpec>) -> Result<(), CoreError> {
        if !self.rec.state.tasks.is_empty() {
            return Err(CoreError::HasPlan(self.session().to_string()));
        }
        self.rec.record(JournalEvent::PlanSet {
            tasks,
            source: PlanSource::File,
        })?;
        Ok(())
    }

    /// Re-open a session: the named one, or the newest unfinished one.
    pub fn resume(
        workdir: &Path,
        session: Option<&str>,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        gitops::signature(&*gitops::open(workdir)?)?;
        let id = match session {
            Some(id) => id.to_string(),
            None => {
                let listed = sessions::list(workdir)?;
                let unfinished = listed.iter().find(|l| l.resumable());
                match unfinished {
                    Some(l) => l.id.clone(),
                    // A journal that cannot be read (written by a newer tandem, damaged) may be
                    // the one meant: say so rather than "nothing to resume".
                    None => match listed
                        .into_iter()
                        .filter(|l| l.local)
                        .find_map(|l| l.summary.err())
                    {
                        Some(e) => return Err(e.into()),
                        None => {
                            return Err(CoreError::NoSession(
                                ": none is unfinished (see `tandem sessions`)".into(),
                            ));
                        }
                    },
                }
            }
        };
        if !sessions::valid_id(&id) {
            return Err(CoreError::NoSession(format!(
                " with id {id} (see `tandem sessions`)"
            )));
        }
        let repo = gitops::open(workdir)?;
        let path = sessions::journal_path(&repo, &id);
        if !path.is_file() {
            return Err(CoreError::NoSession(format!(
                " with id {id} (see `tandem sessions`)"
            )));
        }
        let lock = crate::infra::lock::RepoLock::acquire(repo.path(), &id)?;
        // A tandem killed while moving one of this session's refs left git's lock file behind,
        // and every later update of that ref would fail: under the repository lock, only a
        // tandem of this session writes there.
        gitops::clear_stale_ref_locks(&repo, &id)?;
        let (journal, entries) = JournalWriter::open(&path)?;
        if SessionState::from_entries(&entries).user_abandoned {
            return Err(CoreError::Abandoned(id));
        }
        Engine::assemble(
            &repo, lock, workdir, journal, entries, model, prompts, settings, events,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        repo: &git2::Repository,
        lock: crate::infra::lock::RepoLock,
        workdir: &Path,
        journal: JournalWriter,
        entries: Vec<Entry>,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        let hooks = repo
            .config()
            .ok()
            .and_then(|c| c.get_path("core.hooksPath").ok());
        let ws = Workspace::new(workdir)
            .map_err(|source| gitops::GitError::Io {
                path: workdir.display().to_string(),
                source,
            })?
            .with_hooks_path(hooks.as_deref());
        Ok(Engine {
            workdir: ws.root().to_path_buf(),
            ws,
            _lock: lock,
            rec: Recorder {
                journal,
                state: SessionState::from_entries(&entries),
                events: EventTx(events),
                history: entries,
            },
            model,
            prompts,
            settings,
            sandbox: None,
            answers: Answers::new(),
            waited: std::time::Duration::ZERO,
            knowledge: None,
        })
    }

    pub fn state(&self) -> &SessionState {
        &self.rec.state
    }

    pub fn session(&self) -> &str {
        &self.rec.state.session
    }

    pub fn journal_path(&self) -> &Path {
        self.rec.journal.path()
    }

    /// Send an event to the driver. The sentences the engine writes itself (status, errors, a
    /// command to approve) can quote model output — a command, a server's message — so they
    /// pass the redactor on their way to a terminal, as journal lines do on their way to disk.
    fn emit(&self, mut e: Event) {
        let red = crate::infra::model::redact::Redactor::global();
        if red.is_active() {
            match &mut e {
                Event::Status { message } | Event::Error { message } => {
                    *message = red.redact(message)
                }
                Event::CommandApproval { command, .. } => *command = red.redact(command),
                _ => {}
            }
        }
        self.rec.events.send(e);
    }

    /// Drive the session until it is complete or the driver says stop.
    pub async fn run(mut self, mut ops: OpRx) -> Result<RunEnd, CoreError> {
        self.emit(Event::SessionLoaded {
            session: self.session().to_string(),
            entries: self.rec.history.clone(),
        });
        if self.settings.commands.offered() && !self.rec.state.finished {
            let support = self.sandbox_support().await?;
            let ask = if self.settings.commands.policy == crate::infra::config::CommandPolicy::Ask {
                "; each command is shown for your yes or no first (commands.policy = \"ask\")"
            } else {
                ""
            };
            self.emit(Event::Notice {
                message: format!("{}{ask}", support.describe()),
            });
        }
        let mut pending: VecDeque<Submission> = VecDeque::new();
        let mut paused = false;
        let end = loop {
            match self.rec.state.next_step() {
                NextStep::Plan => {
                    let brief = self.rec.state.brief.clone().ok_or_else(|| {
                        CoreError::NoSession(format!(
                            ": session {} stopped before its plan was recorded; start a new one with --plan or --brief",
                            self.session()
                        ))
                    })?;
                    self.emit(Event::Status {
                        message: "planning the job".into(),
                    });
                    let fwd = self.answers.forward();
                    match race(self.plan(&brief, None), &mut ops, &mut pending, &fwd).await {
                        Ok(r) => r?,
                        Err(_) => break RunEnd::Stopped,
                    }
                }
                NextStep::ApprovePlan => {
                    self.emit(Event::AwaitingPlanApproval);
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Draft {
                    task,
                    iteration,
                    restart,
                } => {
                    let go_on = self
                        .draft_step(
                            task,
                            iteration,
                            restart,
                            &mut paused,
                            &mut ops,
                            &mut pending,
                        )
                        .await?;
                    if !go_on {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Review { task, iteration } => {
                    self.emit(Event::AwaitingReview { task, iteration });
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Commit { task, iteration } => {
                    match self.commit(task, iteration).await {
                        Ok(()) => {
                            // Lessons come after the commit: the accepted work is safe first.
                            // A cancel skips them; a shutdown stops as ever.
                            let fwd = self.answers.forward();
                            match race(self.propose_lessons(task), &mut ops, &mut pending, &fwd)
                                .await
                            {
                                Ok(r) => r?,
                                Err(Interrupt::Cancel) => {}
                                Err(Interrupt::Shutdown) => break RunEnd::Stopped,
                            }
                        }
                        // Nothing was committed and nothing is lost: back to review, where the
                        // user can reject, revise or accept again once the cause is fixed.
                        Err(CoreError::Git(
                            e @ (gitops::GitError::BranchMoved(_)
                            | gitops::GitError::HeadMoved
                            | gitops::GitError::Sign { .. }
                            | gitops::GitError::Hook { .. }),
                        )) => {
                            let reason = e.to_string();
                            self.rec.record(JournalEvent::AcceptFailed {
                                task,
                                iteration,
                                reason: reason.clone(),
                            })?;
                            self.store_journal()?;
                            self.emit(Event::Error { message: reason });
                        }
                        Err(e) => return Err(e),
                    }
                }
                NextStep::Restore { task, iteration } => {
                    if !self.restore(task, iteration).await?
                        && !self.wait_for_human(&mut ops, &mut pending).await?
                    {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Lessons { task } => {
                    let lessons = self
                        .rec
                        .state
                        .lessons(task)
                        .map(|l| l.proposed.clone())
                        .unwrap_or_default();
                    self.emit(Event::LessonsProposed {
                        task,
                        lessons,
                        client: self.settings.knowledge.client.clone(),
                    });
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Finish => {
                    if self.session_lessons_due() {
                        // The end-of-session pass: recurring points across every task's
                        // review. A cancel skips it for good (journaled, so resume does not
                        // ask the model again).
                        let fwd = self.answers.forward();
                        match race(
                            self.propose_lessons(SESSION_LESSONS),
                            &mut ops,
                            &mut pending,
                            &fwd,
                        )
                        .await
                        {
                            Ok(r) => r?,
                            Err(Interrupt::Cancel) => {
                                self.rec.record(JournalEvent::LessonsProposed {
                                    task: SESSION_LESSONS,
                                    lessons: Vec::new(),
                                    problem: Some("skipped: cancelled".into()),
                                })?;
                            }
                            Err(Interrupt::Shutdown) => break RunEnd::Stopped,
                        }
                        continue;
                    }
                    self.rec.record(JournalEvent::SessionFinished)?;
                    self.store_journal()?;
                }
                NextStep::Done => {
                    self.emit(Event::SessionComplete);
                    break RunEnd::Complete;
                }
            }
        };
        self.store_journal()?;
        if end == RunEnd::Stopped {
            self.emit(Event::Stopped);
        }
        Ok(end)
    }

    /// One turn of the draft step: undo an interrupted attempt, wait after a pause, or draft;
    /// a model failure or a cancel puts the files back and pauses. False: the driver stopped.
    async fn draft_step(
        &mut self,
        task: usize,
        iteration: u32,
        restart: bool,
        paused: &mut bool,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        if restart {
            let done = self
                .abort_draft(task, iteration, "the previous attempt was interrupted")
                .await?;
            if !done && !self.wait_for_human(ops, pending).await? {
                return Ok(false);
            }
            return Ok(true);
        }
        if *paused {
            if !self.wait_for_human(ops, pending).await? {
                return Ok(false);
            }
            *paused = false;
            return Ok(true);
        }
        self.emit(Event::Status {
            message: format!("drafting task {task}, iteration {iteration}"),
        });
        let fwd = self.answers.forward();
        let outcome = race(self.draft(task, iteration), ops, pending, &fwd).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(CoreError::Model(e))) => {
                // Said first: a conflict the undo meets must be the last thing shown.
                self.emit(Event::Error {
                    message: e.to_string(),
                });
                let done = self.abort_draft(task, iteration, &e.to_string()).await?;
                self.emit(Event::DraftPaused {
                    task,
                    iteration,
                    reason: e.to_string(),
                });
                *paused = true;
                if !done && !self.wait_for_human(ops, pending).await? {
                    return Ok(false);
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(Interrupt::Cancel) => {
                let done = self
                    .abort_draft(task, iteration, "cancelled by the reviewer")
                    .await?;
                self.emit(Event::DraftPaused {
                    task,
                    iteration,
                    reason: "cancelled".into(),
                });
                *paused = true;
                if !done && !self.wait_for_human(ops, pending).await? {
                    return Ok(false);
                }
            }
            Err(Interrupt::Shutdown) => {
                self.abort_draft(task, iteration, "stopped by the user")
                    .await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Handle ops until one changes what the session needs next. False: the driver stopped.
    async fn wait_for_human(
        &mut self,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        let step = self.rec.state.next_step();
        loop {
            let Submission { id, op } = match pending.pop_front() {
                Some(sub) => sub,
                None => match ops.recv().await {
                    Some(sub) => sub,
                    None => return Ok(false),
                },
            };
            match op {
                Op::Shutdown => return Ok(false),
                Op::ResumeDraft => return Ok(true),
                Op::Replan { note } => {
                    if self.rec.state.plan_approved {
                        self.emit(Event::Refused {
                            submission: id,
                            op: Op::Replan { note },
                            reason: "the plan is approved already; it can no longer be re-planned"
                                .into(),
                        });
                        continue;
                    }
                    let brief = self.rec.state.brief.clone().unwrap_or_default();
                    let fwd = self.answers.forward();
                    match race(self.plan(&brief, Some(&note)), ops, pending, &fwd).await {
                        Ok(Ok(())) => {}
                        Ok(Err(CoreError::Model(e))) => self.emit(Event::Error {
                            message: e.to_string(),
                        }),
                        Ok(Err(CoreError::PlanFailed { attempts, last })) => {
                            self.emit(Event::Error {
                                message: format!(
                                    "re-planning failed after {attempts} attempts: {last}"
                                ),
                            })
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Ok(false),
                    }
                    return Ok(true);
                }
                other => {
                    let resolves = matches!(other, Op::ResolveConflict { .. });
                    // Kept to hand back with a refusal: a driver restores what the user typed.
                    let copy = other.clone();
                    if let Err(reason) = self.handle_op(other) {
                        self.emit(Event::Refused {
                            submission: id,
                            op: copy,
                            reason,
                        });
                    } else if resolves {
                        // The step stays the same; the put-back runs again with the answer.
                        return Ok(true);
                    }
                }
            }
            if self.rec.state.next_step() != step {
                return Ok(true);
            }
        }
    }
}

enum Interrupt {
    Cancel,
    Shutdown,
}

/// Run `fut` while still listening to the driver: cancel and shutdown interrupt it (dropping it
/// at its next await), answers to a command approval go to the waiting draft (`answers`), a
/// cancel while the checker runs skips the check (the draft itself is finished), anything else
/// waits in `pending` until the engine is free.
async fn race<T>(
    fut: impl Future<Output = T>,
    ops: &mut OpRx,
    pending: &mut VecDeque<Submission>,
    fwd: &Forward,
) -> Result<T, Interrupt> {
    tokio::pin!(fut);
    let mut open = true;
    loop {
        tokio::select! {
            res = &mut fut => return Ok(res),
            sub = ops.recv(), if open => match sub {
                None => open = false,
                Some(Submission { op: Op::Shutdown, .. }) => return Err(Interrupt::Shutdown),
                Some(Submission { op: Op::CancelDraft, .. }) => {
                    if fwd.checking.load(std::sync::atomic::Ordering::Relaxed) {
                        fwd.skip_check.notify_one();
                    } else {
                        return Err(Interrupt::Cancel);
                    }
                }
                Some(Submission { op: Op::AnswerCommand { approve, always }, .. }) => {
                    // The receiver lives in the engine, which outlives this call.
                    let _ = fwd.answers.send((approve, always));
                }
                Some(other) => pending.push_back(other),
            },
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Join(e.to_string()))
}

impl From<TaskStatus> for &'static str {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Pending => "pending",
            TaskStatus::Drafting => "drafting",
            TaskStatus::InReview => "in review",
            TaskStatus::Accepting => "accepting",
            TaskStatus::Accepted => "accepted",
            TaskStatus::Rejecting => "rejecting",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Human => "human",
        }
    }
}
