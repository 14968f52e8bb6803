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
mod drive;
mod git_side;
mod handle;
mod knowledge;
mod lessons;
mod open;
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
pub use open::preflight;

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
    /// This process started the pending command and watched it until now. False for a
    /// command found pending in the journal on resume: tandem was not running meanwhile, so
    /// what changed since it started may be the user's as well as the command's.
    watched_command: bool,
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

impl Engine {
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
