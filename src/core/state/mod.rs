//! Domain state of a session, rebuilt only by folding journal entries through `apply`.
//!
//! Invariants: `apply` is pure and total — it never does I/O, never fails, and the same entries
//! always give the same state — so resume, replay and the TUI agree on what happened. What to do
//! next (`next_step`) is a function of the state alone.

use crate::core::Decision;
use crate::core::journal::{
    ConflictChoice, Entry, Excluded, FileStat, JournalEvent, PlanSource, TimeKind,
};
use crate::core::plan::TaskSpec;
use crate::core::threads::{Thread, ThreadRef};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Drafting,
    InReview,
    /// Accepted by the reviewer; the commit may still be pending.
    Accepting,
    Accepted,
    Rejecting,
    Rejected,
    Human,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub id: u32,
    pub path: String,
    pub line: u32,
    pub text: String,
    pub quote: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Iteration {
    pub number: u32,
    pub started: DateTime<Utc>,
    pub ready: Option<DateTime<Utc>>,
    /// The commit the reviewer sees and accept commits (the proposal; in journals of older
    /// versions the worktree snapshot).
    pub snapshot: Option<String>,
    /// The commit the review diff starts from.
    pub base: Option<String>,
    /// The touched paths byte for byte as tandem left them on disk.
    pub worktree: Option<String>,
    /// Touched paths accept leaves out of the commit.
    pub excluded: Vec<Excluded>,
    pub summary: String,
    pub agent_ms: u64,
    pub incomplete: bool,
    /// The draft's last answer was cut off at the output cap.
    pub cut_off: bool,
    pub files: Vec<FileStat>,
    pub comments: Vec<Comment>,
    pub note: Option<String>,
    pub review_ms: u64,
    pub hand_edit_ms: u64,
    pub decision: Option<Decision>,
    pub decided: Option<DateTime<Utc>>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub model_calls: u32,
    pub tool_calls: u32,
    pub aborted_attempts: u32,
    /// A draft attempt began and has neither finished nor been aborted.
    pub in_progress: bool,
    /// Files the reviewer changed by hand in this iteration.
    pub hand_edits: u32,
    /// Commands the drafter ran in this iteration, in order.
    pub commands: Vec<CommandRecord>,
    /// The last verification of checks and deliverables (empty: none ran).
    pub checks: Vec<crate::core::journal::CheckResult>,
    /// Verification rounds that failed and sent the draft back to the drafter.
    pub fix_rounds: u32,
    /// Failed checks and deliverables in those rounds: structural failures caught before review.
    pub caught: u32,
    /// The checker's verdicts on the acceptance criteria (empty: it did not judge).
    pub verdicts: Vec<crate::core::journal::CriterionVerdict>,
    /// The project's knowledge this iteration's drafter was given (latest attempt).
    pub knowledge: Vec<crate::core::journal::KnowledgeRef>,
    /// The approved lessons this iteration's drafter was given, word for word.
    pub lessons: Vec<String>,
    /// Criteria (1-based) the reviewer had ticked met when this iteration's review ended (or
    /// now, while it goes on): ticks carry over from the iteration before, as on screen.
    pub ticked: BTreeSet<usize>,
    /// Why the checker judged nothing, or not every criterion.
    pub checker_problem: Option<String>,
}

/// One command the drafter ran, as the review, replay and reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    pub command: String,
    pub exit_code: Option<i32>,
    pub ending: String,
    pub duration_ms: u64,
    pub output: String,
    pub sandboxed: bool,
    pub changed: Vec<String>,
    pub reverted: Vec<String>,
}

impl CommandRecord {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A command that started and has not been seen to end (a crash during it): what the tree
/// held before it, so its changes can still be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingCommand {
    pub task: usize,
    pub iteration: u32,
    pub step: u32,
    pub command: String,
    pub before: String,
    pub sandboxed: bool,
}

impl Iteration {
    /// What is wrong with the draft as a draft, for every surface that shows it: it changed
    /// nothing, its last answer was cut off, or it stopped before the agent said it was done.
    /// Nothing while the draft runs.
    pub fn flags(&self) -> Vec<&'static str> {
        if self.ready.is_none() {
            return Vec::new();
        }
        let mut flags = draft_flags(self.files.is_empty(), self.cut_off, self.incomplete);
        if self.failing_checks() > 0 {
            flags.push("checks failing");
        }
        flags
    }

    /// Checks and deliverables that failed in the last verification.
    pub fn failing_checks(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == crate::core::journal::CheckStatus::Failed)
            .count()
    }
}

/// See [`Iteration::flags`]; for places that only have the journal event.
pub fn draft_flags(no_files: bool, cut_off: bool, incomplete: bool) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if no_files {
        flags.push("no changes");
    }
    if cut_off {
        flags.push("cut off");
    }
    if incomplete {
        flags.push("incomplete");
    }
    flags
}

/// A file the agent wrote during a task and how it was before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Touched {
    pub preimage: Option<String>,
    /// Whether the pre-task file was executable (None: not recorded).
    pub exec: Option<bool>,
    pub created_dirs: Vec<String>,
    pub first_iteration: u32,
    /// Raw blob ids tandem wrote to the path in the running draft attempt (None: deleted).
    pub written: Vec<Option<String>>,
    /// Someone else changed the file while a draft ran: its content is partly theirs, so a
    /// restore always asks before writing it.
    pub foreign: bool,
    /// `foreign` as of the last iteration that became ready: what a dropped attempt falls back
    /// to (its own marks go with it; earlier iterations' stay).
    pub foreign_when_ready: bool,
}

impl Touched {
    pub fn preimage(&self) -> crate::infra::gitops::Preimage {
        crate::infra::gitops::Preimage {
            blob: self.preimage.clone(),
            exec: self.exec,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskState {
    pub number: usize,
    pub spec: TaskSpec,
    pub status: TaskStatus,
    pub base: Option<String>,
    pub iterations: Vec<Iteration>,
    pub criteria_met: Vec<bool>,
    pub touched: BTreeMap<String, Touched>,
    pub commit: Option<String>,
    /// The user's answer to a conflict in the pending restore: iteration, choice, and the
    /// paths it was given for.
    pub conflict_choice: Option<(u32, ConflictChoice, Vec<String>)>,
    /// Review threads (comments and notes) across the task's iterations, oldest first.
    pub threads: Vec<Thread>,
    /// Lessons drawn from the task's review after it was accepted, and the reviewer's answers.
    pub lessons: Option<TaskLessons>,
}

/// A task's lessons: proposed, then decided (None: the reviewer has not answered yet).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TaskLessons {
    pub proposed: Vec<crate::core::journal::ProposedLesson>,
    pub problem: Option<String>,
    pub decided: Option<Vec<crate::core::journal::LessonChoice>>,
}

impl TaskLessons {
    /// Proposed and waiting for the reviewer.
    pub fn waiting(&self) -> bool {
        !self.proposed.is_empty() && self.decided.is_none()
    }
}

impl TaskState {
    /// The checker's verdict on criterion `criterion` (1-based) in `iteration`.
    pub fn verdict(
        &self,
        iteration: u32,
        criterion: usize,
    ) -> Option<&crate::core::journal::CriterionVerdict> {
        self.iterations
            .iter()
            .find(|i| i.number == iteration)?
            .verdicts
            .iter()
            .find(|v| v.criterion == criterion)
    }

    /// Criteria (1-based) judged not met in `iteration` that an earlier iteration had met: the
    /// checker said so then, or the reviewer had ticked it by the end of that iteration's
    /// review. A tick given while reviewing `iteration` itself is the reviewer disagreeing with
    /// the checker, not a regression. A revision that breaks what worked is flagged, not left
    /// for the reviewer to notice.
    pub fn regressed(&self, iteration: u32) -> Vec<usize> {
        match self.iterations.iter().find(|i| i.number == iteration) {
            Some(now) => self.regressed_among(iteration, &now.verdicts),
            None => Vec::new(),
        }
    }

    /// [`Self::regressed`] for verdicts not folded in yet (a driver narrating the event).
    pub fn regressed_among(
        &self,
        iteration: u32,
        verdicts: &[crate::core::journal::CriterionVerdict],
    ) -> Vec<usize> {
        use crate::core::journal::Judgement;
        verdicts
            .iter()
            .filter(|v| v.verdict == Judgement::NotMet)
            .map(|v| v.criterion)
            .filter(|&c| {
                self.iterations
                    .iter()
                    .filter(|i| i.number < iteration)
                    .any(|i| {
                        i.ticked.contains(&c)
                            || i.verdicts
                                .iter()
                                .any(|v| v.criterion == c && v.verdict == Judgement::Met)
                    })
            })
            .collect()
    }

    pub fn review_ms(&self) -> u64 {
        self.iterations.iter().map(|i| i.review_ms).sum()
    }
    pub fn agent_ms(&self) -> u64 {
        self.iterations.iter().map(|i| i.agent_ms).sum()
    }
    pub fn current(&self) -> Option<&Iteration> {
        self.iterations.last()
    }
    /// The newest iteration whose draft finished (0: none yet).
    pub fn latest_ready(&self) -> u32 {
        self.iterations
            .iter()
            .rev()
            .find(|i| i.ready.is_some())
            .map_or(0, |i| i.number)
    }
    pub fn thread(&self, key: ThreadRef) -> Option<&Thread> {
        self.threads.iter().find(|t| t.key == key)
    }
    /// Threads not resolved yet.
    pub fn unresolved(&self) -> impl Iterator<Item = &Thread> {
        self.threads.iter().filter(|t| !t.resolved)
    }

    /// The drafter's summaries of the task's finished drafts up to iteration `upto`, oldest
    /// first, as (iteration, summary); a draft that gave no summary is left out.
    pub fn summaries(&self, upto: u32) -> Vec<(u32, &str)> {
        self.iterations
            .iter()
            .filter(|i| i.ready.is_some() && i.number <= upto)
            .map(|i| (i.number, i.summary.trim()))
            .filter(|(_, s)| !s.is_empty())
            .collect()
    }

    /// The whole task in the drafter's words, up to iteration `upto`: with one draft its summary
    /// as it is; with several, every draft's summary in order as "Iteration k: …", one paragraph
    /// each, because the last round alone says only what changed in answer to the last review.
    pub fn summary_text(&self, upto: u32) -> String {
        let drafts = self
            .iterations
            .iter()
            .filter(|i| i.ready.is_some() && i.number <= upto)
            .count();
        let summaries = self.summaries(upto);
        if drafts <= 1 {
            return summaries
                .first()
                .map(|(_, s)| s.to_string())
                .unwrap_or_default();
        }
        summaries
            .iter()
            .map(|(k, s)| format!("Iteration {k}: {s}"))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Paths the agent changed in this task whose content is on disk and in no commit: a draft
    /// running or cut short, a draft in review or sent back for revision, or an accept or reject
    /// not carried out yet. Only tandem (a reject) knows how to put these back.
    pub fn uncommitted_agent_paths(&self) -> Vec<&str> {
        match self.status {
            TaskStatus::Drafting
            | TaskStatus::InReview
            | TaskStatus::Accepting
            | TaskStatus::Rejecting => self.touched.keys().map(String::as_str).collect(),
            TaskStatus::Pending
            | TaskStatus::Accepted
            | TaskStatus::Rejected
            | TaskStatus::Human => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SessionState {
    pub session: String,
    /// The git author's email when the session began (None: an older journal).
    pub author: Option<String>,
    pub model: String,
    pub branch: Option<String>,
    pub head: Option<String>,
    pub brief: Option<String>,
    pub allow_dirty: bool,
    pub started: Option<DateTime<Utc>>,
    pub last_event: Option<DateTime<Utc>>,
    pub plan_source: Option<PlanSource>,
    pub plan_approved: bool,
    pub tasks: Vec<TaskState>,
    pub planner_prompt_tokens: u64,
    pub planner_completion_tokens: u64,
    /// Tokens of the calls that drew lessons from reviews (after accepts, at the session's end).
    pub lessons_prompt_tokens: u64,
    pub lessons_completion_tokens: u64,
    pub finished: bool,
    /// The user abandoned it (`tandem sessions abandon`): nothing continues it.
    pub user_abandoned: bool,
    /// Why the session talks to the model in the text protocol (None: it calls tools).
    pub text_protocol: Option<String>,
    /// Commands the reviewer allowed for the rest of the session (answered "always") when they
    /// run sandboxed.
    pub always_allowed: BTreeSet<String>,
    /// Commands the reviewer allowed for the rest of the session to run unconfined.
    pub always_unsandboxed: BTreeSet<String>,
    /// A drafter's command is running (or was, when tandem stopped).
    pub pending_command: Option<PendingCommand>,
    pub events: u64,
    /// Lessons drawn at the end of the session from the reviews of every task (journaled as
    /// `lessons_proposed`/`lessons_decided` for task 0), and the reviewer's answers.
    pub session_lessons: Option<TaskLessons>,
}

/// The task number that stands for the whole session in `lessons_proposed`/`lessons_decided`.
pub const SESSION_LESSONS: usize = 0;

/// What the session needs next. Human steps wait for an `Op`; the rest the engine does itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum NextStep {
    Plan,
    ApprovePlan,
    /// Draft this iteration; `restart` when an earlier attempt was cut short.
    Draft {
        task: usize,
        iteration: u32,
        restart: bool,
    },
    Review {
        task: usize,
        iteration: u32,
    },
    Commit {
        task: usize,
        iteration: u32,
    },
    Restore {
        task: usize,
        iteration: u32,
    },
    /// Lessons from this accepted task's review (task 0: from the whole session's) wait for
    /// the reviewer.
    Lessons {
        task: usize,
    },
    Finish,
    Done,
}

impl SessionState {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut s = SessionState::default();
        for e in entries {
            s.apply(e);
        }
        s
    }

    pub fn task(&self, n: usize) -> Option<&TaskState> {
        n.checked_sub(1).and_then(|i| self.tasks.get(i))
    }

    fn task_mut(&mut self, n: usize) -> Option<&mut TaskState> {
        n.checked_sub(1).and_then(|i| self.tasks.get_mut(i))
    }

    fn iteration_mut(&mut self, task: usize, iteration: u32) -> Option<&mut Iteration> {
        self.task_mut(task)?
            .iterations
            .iter_mut()
            .find(|i| i.number == iteration)
    }

    pub fn iteration(&self, task: usize, iteration: u32) -> Option<&Iteration> {
        self.task(task)?
            .iterations
            .iter()
            .find(|i| i.number == iteration)
    }

    /// The lessons proposed for `task`, or for the whole session when it is `SESSION_LESSONS`.
    pub fn lessons(&self, task: usize) -> Option<&TaskLessons> {
        if task == SESSION_LESSONS {
            self.session_lessons.as_ref()
        } else {
            self.task(task).and_then(|t| t.lessons.as_ref())
        }
    }

    fn lessons_mut(&mut self, task: usize) -> Option<&mut TaskLessons> {
        if task == SESSION_LESSONS {
            self.session_lessons.as_mut()
        } else {
            self.task_mut(task).and_then(|t| t.lessons.as_mut())
        }
    }

    /// The one place that decides what a session does next. An abandoned session is done:
    /// nothing may continue it.
    pub fn next_step(&self) -> NextStep {
        if self.user_abandoned {
            return NextStep::Done;
        }
        self.step()
    }

    /// Where the session stands, abandoned or not.
    fn step(&self) -> NextStep {
        if self.finished {
            return NextStep::Done;
        }
        if self.tasks.is_empty() {
            return NextStep::Plan;
        }
        if !self.plan_approved {
            return NextStep::ApprovePlan;
        }
        if let Some(t) = self
            .tasks
            .iter()
            .find(|t| t.lessons.as_ref().is_some_and(TaskLessons::waiting))
        {
            return NextStep::Lessons { task: t.number };
        }
        if self
            .session_lessons
            .as_ref()
            .is_some_and(TaskLessons::waiting)
        {
            return NextStep::Lessons {
                task: SESSION_LESSONS,
            };
        }
        for t in &self.tasks {
            let task = t.number;
            match t.status {
                TaskStatus::Accepted | TaskStatus::Rejected | TaskStatus::Human => continue,
                TaskStatus::Pending => {
                    return NextStep::Draft {
                        task,
                        iteration: 1,
                        restart: false,
                    };
                }
                _ => {}
            }
            let Some(it) = t.current() else {
                return NextStep::Draft {
                    task,
                    iteration: 1,
                    restart: false,
                };
            };
            let iteration = it.number;
            return match (it.snapshot.is_some(), it.decision) {
                (false, _) => NextStep::Draft {
                    task,
                    iteration,
                    restart: it.in_progress,
                },
                (true, None) => NextStep::Review { task, iteration },
                (true, Some(Decision::Revise)) => NextStep::Draft {
                    task,
                    iteration: iteration + 1,
                    restart: false,
                },
                (true, Some(Decision::Accept)) => NextStep::Commit { task, iteration },
                (true, Some(Decision::Reject)) => NextStep::Restore { task, iteration },
            };
        }
        NextStep::Finish
    }

    /// The commits a diff of this iteration compares: its base (or the previous iteration's
    /// snapshot, for an interdiff) and its snapshot.
    pub fn diff_endpoints(
        &self,
        task: usize,
        iteration: u32,
        against: crate::core::protocol::DiffBase,
    ) -> Option<(String, String)> {
        let it = self.iteration(task, iteration)?;
        let to = it.snapshot.clone()?;
        let from = match against {
            crate::core::protocol::DiffBase::TaskBase => it.base.clone(),
            crate::core::protocol::DiffBase::PreviousIteration => self
                .iteration(task, iteration.saturating_sub(1))
                .and_then(|p| p.snapshot.clone())
                .or(it.base.clone()),
        }?;
        Some((from, to))
    }

    /// Nothing to resume, only to start over: the user abandoned it, or it was killed between
    /// its first line and its plan (a `--plan` run has no brief to plan from again).
    pub fn abandoned(&self) -> bool {
        self.user_abandoned || self.killed_before_plan()
    }

    fn killed_before_plan(&self) -> bool {
        !self.finished && self.tasks.is_empty() && self.brief.is_none()
    }

    /// A one-line state for `tandem sessions`.
    pub fn describe(&self) -> String {
        // Killed before its plan, it says "abandoned" already.
        if self.user_abandoned && !self.killed_before_plan() {
            return format!("abandoned at: {}", self.describe_step());
        }
        self.describe_step()
    }

    /// Where the session stands, in words, abandoned or not.
    fn describe_step(&self) -> String {
        match self.step() {
            NextStep::Done => {
                let accepted = self
                    .tasks
                    .iter()
                    .filter(|t| t.status == TaskStatus::Accepted)
                    .count();
                format!("finished: {accepted}/{} tasks accepted", self.tasks.len())
            }
            NextStep::Plan if self.killed_before_plan() => {
                "abandoned: stopped before its plan was recorded".into()
            }
            NextStep::Plan => "planning".into(),
            NextStep::ApprovePlan => "plan awaiting approval".into(),
            NextStep::Draft {
                task, iteration, ..
            } => format!("drafting task {task}, iteration {iteration}"),
            NextStep::Review { task, iteration } => {
                format!("awaiting review of task {task}, iteration {iteration}")
            }
            NextStep::Commit { task, .. } => format!("committing task {task}"),
            NextStep::Restore { task, .. } => format!("restoring after reject of task {task}"),
            NextStep::Lessons {
                task: SESSION_LESSONS,
            } => "lessons from the whole session await the reviewer".to_string(),
            NextStep::Lessons { task } => format!("lessons from task {task} await the reviewer"),
            NextStep::Finish => "all tasks decided".into(),
        }
    }
}

mod reduce;
mod threads;

#[cfg(test)]
mod tests;
