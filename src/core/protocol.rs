//! The one interface between the core and its drivers (TUI, `exec`, replay): `Op`s go in,
//! `Event`s come out, both plain serde data.
//!
//! Invariants: a driver never touches git, the model or the journal directly; everything it
//! learns arrives as an `Event`, and every durable change it wants is an `Op`. `Recorded` carries
//! each journal entry exactly once, in order, after it is on disk, so a driver that folds them
//! through `SessionState::apply` holds the same state as the core.

use crate::core::Decision;
use crate::core::journal::{ConflictChoice, Entry, TimeKind};
use crate::core::plan::TaskSpec;
use crate::core::threads::ThreadRef;
use crate::infra::diff::FileDiff;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffBase {
    /// Task base → this iteration: everything the task changes.
    TaskBase,
    /// Previous iteration → this one: what changed in answer to feedback.
    PreviousIteration,
}

/// Which diff to compute: the iteration it belongs to, and the two commits it compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRequest {
    /// Echoed in the answer, so a driver can drop answers to requests it no longer wants.
    pub request: u64,
    pub task: usize,
    pub iteration: u32,
    pub against: DiffBase,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewComment {
    pub path: String,
    pub line: u32,
    pub text: String,
}

/// A whole review cycle at once, validated before anything is recorded (used by `exec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewSubmission {
    pub task: usize,
    pub iteration: u32,
    pub action: Decision,
    pub note: Option<String>,
    pub comments: Vec<NewComment>,
    pub criteria_met: Vec<usize>,
    pub review_ms: u64,
    /// Threads from earlier iterations to resolve.
    #[serde(default)]
    pub resolve: Vec<ThreadRef>,
    /// Answers to threads from earlier iterations.
    #[serde(default)]
    pub answers: Vec<(ThreadRef, String)>,
}

/// An op as a driver sends it: with an id that the core's answer to it (`Event::Refused`)
/// carries back. Ids are the driver's; the core only echoes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub id: u64,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    SetPlan {
        tasks: Vec<TaskSpec>,
    },
    Replan {
        note: String,
    },
    ApprovePlan,
    AddComment {
        task: usize,
        iteration: u32,
        comment: NewComment,
    },
    EditComment {
        task: usize,
        iteration: u32,
        id: u32,
        text: String,
    },
    DeleteComment {
        task: usize,
        iteration: u32,
        id: u32,
    },
    /// Resolve a thread from an earlier iteration, or re-open it, while reviewing `iteration`.
    ResolveThread {
        task: usize,
        iteration: u32,
        thread: ThreadRef,
        resolved: bool,
    },
    /// Answer a thread from an earlier iteration (it opens again and goes to the agent).
    AnswerThread {
        task: usize,
        iteration: u32,
        thread: ThreadRef,
        text: String,
    },
    SetNote {
        task: usize,
        iteration: u32,
        text: String,
    },
    TickCriterion {
        task: usize,
        criterion: usize,
        met: bool,
    },
    AddHumanTime {
        task: usize,
        iteration: u32,
        kind: TimeKind,
        ms: u64,
        started: chrono::DateTime<chrono::Utc>,
    },
    Decide {
        task: usize,
        iteration: u32,
        action: Decision,
    },
    SubmitReview(ReviewSubmission),
    RequestDiff {
        request: u64,
        task: usize,
        iteration: u32,
        against: DiffBase,
    },
    /// A diff between two stored commits, as replay needs it for a past moment.
    DiffCommits(DiffRequest),
    /// The reviewer wants to edit a file of the iteration by hand; answered by `HandEditReady`.
    BeginHandEdit {
        task: usize,
        iteration: u32,
        path: String,
        line: Option<u32>,
    },
    /// The editor closed: fold the file into the iteration and record the time spent.
    EndHandEdit {
        task: usize,
        iteration: u32,
        path: String,
        ms: u64,
        started: chrono::DateTime<chrono::Utc>,
    },
    /// The answer to `Conflict`: what to do with the user's versions of the files it listed
    /// (`paths`, echoed back; a later conflict over other files asks again).
    ResolveConflict {
        task: usize,
        iteration: u32,
        choice: ConflictChoice,
        paths: Vec<String>,
    },
    /// The reviewer's answers to `Event::LessonsProposed`: each lesson kept (with its final
    /// text and file) or discarded; a lesson left out is discarded.
    DecideLessons {
        task: usize,
        choices: Vec<crate::core::journal::LessonChoice>,
    },
    /// The answer to `CommandApproval`: run the command or not; `always` allows this exact
    /// command for the rest of the session.
    AnswerCommand {
        approve: bool,
        #[serde(default)]
        always: bool,
    },
    /// Stop the running draft; its files are put back and the session waits for `ResumeDraft`.
    CancelDraft,
    ResumeDraft,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Sent first: the session and everything already in its journal.
    SessionLoaded {
        session: String,
        entries: Vec<Entry>,
    },
    Recorded(Entry),
    Status {
        message: String,
    },
    /// Something the user should know once (e.g. whether commands run sandboxed).
    Notice {
        message: String,
    },
    ModelText {
        text: String,
    },
    ToolStarted {
        name: String,
    },
    /// A request went out and nothing came back yet: the server reads the prompt (about this
    /// many tokens), which takes minutes for a large local model on a CPU.
    ModelWaiting {
        prompt_tokens: u64,
    },
    Retrying {
        attempt: u32,
        max: u32,
        delay_ms: u64,
        reason: String,
    },
    AwaitingPlanApproval,
    AwaitingReview {
        task: usize,
        iteration: u32,
    },
    /// A draft stopped (cancelled, or the model failed); `ResumeDraft` starts it again.
    DraftPaused {
        task: usize,
        iteration: u32,
        reason: String,
    },
    Diff {
        request: u64,
        task: usize,
        iteration: u32,
        against: DiffBase,
        files: Vec<FileDiff>,
    },
    /// The file may be edited now (its old content is journaled); `abs_path` is where it is.
    HandEditReady {
        task: usize,
        iteration: u32,
        path: String,
        abs_path: std::path::PathBuf,
        line: Option<u32>,
    },
    /// tandem must put files back (`doing`: a reject, an interrupted draft) but the user changed
    /// them since tandem last wrote them. Their bytes are saved in `saved` (a commit under
    /// refs/tandem-local/); nothing was written. The core waits for `ResolveConflict`.
    Conflict {
        task: usize,
        iteration: u32,
        doing: String,
        paths: Vec<String>,
        saved: String,
    },
    /// Lessons drawn from an accepted task's review wait for the reviewer: answer with
    /// `Op::DecideLessons` (nothing is stored until then). `client`: the client whose file a
    /// lesson may go to instead of the repository's (None: only the repository's).
    LessonsProposed {
        task: usize,
        lessons: Vec<crate::core::journal::ProposedLesson>,
        client: Option<String>,
    },
    /// The drafter (or a check) wants to run a command and the policy says ask: the draft
    /// waits for `Op::AnswerCommand`. Nothing has run yet.
    CommandApproval {
        task: usize,
        iteration: u32,
        command: String,
        /// It would run in the sandbox; false: unconfined.
        sandboxed: bool,
        /// One sentence on what confines it on this machine (`Support::confinement`).
        confinement: String,
        /// A check from the plan or config, not the drafter's own command.
        check: bool,
    },
    /// Something the user should read; the session goes on.
    Error {
        message: String,
    },
    /// The core refused an op and recorded nothing: the op comes back with the reason, so a
    /// driver can give the user back what they typed (a comment, a note) to fix.
    Refused {
        submission: u64,
        op: Op,
        reason: String,
    },
    SessionComplete,
    /// The core stopped; the session can be resumed where it was.
    Stopped,
}
