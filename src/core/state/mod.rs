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

    /// Fold one entry in. Events that name a task or iteration that does not exist are ignored:
    /// the engine never writes them, and a reader must not crash on a hand-edited journal.
    /// One arm per journal event, so the whole reducer reads in one place; long by design.
    pub fn apply(&mut self, entry: &Entry) {
        self.events = entry.seq;
        self.last_event = Some(entry.at);
        self.fold_thread(&entry.event);
        match &entry.event {
            JournalEvent::SessionStarted {
                session,
                model,
                branch,
                head,
                brief,
                allow_dirty,
                ..
            } => {
                self.session = session.clone();
                self.model = model.clone();
                self.branch = branch.clone();
                self.head = head.clone();
                self.brief = brief.clone();
                self.allow_dirty = *allow_dirty;
                self.started = Some(entry.at);
            }
            JournalEvent::PlanSet { tasks, source } => {
                self.plan_source = Some(*source);
                self.plan_approved = false;
                self.tasks = tasks
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| TaskState {
                        number: i + 1,
                        spec: spec.clone(),
                        status: if spec.human {
                            TaskStatus::Human
                        } else {
                            TaskStatus::Pending
                        },
                        base: None,
                        iterations: Vec::new(),
                        criteria_met: vec![false; spec.acceptance.len()],
                        touched: BTreeMap::new(),
                        commit: None,
                        conflict_choice: None,
                        threads: Vec::new(),
                        lessons: None,
                    })
                    .collect();
            }
            JournalEvent::PlanApproved => self.plan_approved = true,
            JournalEvent::ModelCall {
                purpose,
                task,
                iteration,
                prompt_tokens,
                completion_tokens,
                ..
            } => match (purpose, task, iteration) {
                // The checker's calls are part of the draft's cost.
                (
                    crate::core::journal::Purpose::Draft | crate::core::journal::Purpose::Check,
                    Some(t),
                    Some(k),
                ) => {
                    if let Some(it) = self.iteration_mut(*t, *k) {
                        it.prompt_tokens += prompt_tokens;
                        it.completion_tokens += completion_tokens;
                        it.model_calls += 1;
                    }
                }
                (crate::core::journal::Purpose::Lessons, _, _) => {
                    self.lessons_prompt_tokens += prompt_tokens;
                    self.lessons_completion_tokens += completion_tokens;
                }
                _ => {
                    self.planner_prompt_tokens += prompt_tokens;
                    self.planner_completion_tokens += completion_tokens;
                }
            },
            JournalEvent::ToolCall {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.tool_calls += 1;
                }
            }
            JournalEvent::DraftStarted {
                task,
                iteration,
                base,
            } => {
                let at = entry.at;
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Drafting;
                    if t.base.is_none() {
                        t.base = base.clone();
                    }
                    if let Some(existing) = t.iterations.iter_mut().find(|i| i.number == *iteration)
                    {
                        // A new attempt at the same iteration: what the checker said about the
                        // dropped one does not describe this one.
                        existing.started = at;
                        existing.in_progress = true;
                        existing.verdicts.clear();
                        existing.checker_problem = None;
                    } else {
                        let ticked = t.iterations.last().map(|i| i.ticked.clone());
                        t.iterations.push(Iteration {
                            number: *iteration,
                            started: at,
                            ready: None,
                            snapshot: None,
                            base: None,
                            worktree: None,
                            excluded: Vec::new(),
                            summary: String::new(),
                            agent_ms: 0,
                            incomplete: false,
                            cut_off: false,
                            files: Vec::new(),
                            comments: Vec::new(),
                            note: None,
                            review_ms: 0,
                            hand_edit_ms: 0,
                            decision: None,
                            decided: None,
                            prompt_tokens: 0,
                            completion_tokens: 0,
                            model_calls: 0,
                            tool_calls: 0,
                            aborted_attempts: 0,
                            in_progress: true,
                            hand_edits: 0,
                            commands: Vec::new(),
                            checks: Vec::new(),
                            fix_rounds: 0,
                            caught: 0,
                            verdicts: Vec::new(),
                            checker_problem: None,
                            knowledge: Vec::new(),
                            lessons: Vec::new(),
                            ticked: ticked.unwrap_or_default(),
                        });
                    }
                }
            }
            JournalEvent::FileTouched {
                task,
                iteration,
                path,
                preimage,
                created_dirs,
                exec,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    t.touched.entry(path.clone()).or_insert(Touched {
                        preimage: preimage.clone(),
                        exec: *exec,
                        created_dirs: created_dirs.clone(),
                        first_iteration: *iteration,
                        written: Vec::new(),
                        foreign: false,
                    });
                }
            }
            JournalEvent::FileWritten {
                task,
                path,
                blob,
                foreign,
                ..
            } => {
                if let Some(f) = self.task_mut(*task).and_then(|t| t.touched.get_mut(path)) {
                    f.written.push(blob.clone());
                    f.foreign |= *foreign;
                }
            }
            JournalEvent::UserBytesSaved { .. } => {}
            JournalEvent::ConflictResolved {
                task,
                iteration,
                choice,
                paths,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    t.conflict_choice = Some((*iteration, *choice, paths.clone()));
                }
            }
            JournalEvent::AcceptFailed {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.decision = None;
                    it.decided = None;
                }
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::InReview;
                }
            }
            JournalEvent::AcceptedEmpty { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.conflict_choice = None;
                }
            }
            JournalEvent::DraftAborted {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.aborted_attempts += 1;
                    it.in_progress = false;
                }
                // The abort put the attempt's new paths back to their preimages, so they are
                // untouched again: a restart journals them afresh, and the journal of every
                // attempt stands on its own.
                if let Some(t) = self.task_mut(*task) {
                    t.touched.retain(|_, f| f.first_iteration != *iteration);
                    t.touched.values_mut().for_each(|f| {
                        f.written.clear();
                        f.foreign = false;
                    });
                    t.conflict_choice = None;
                }
            }
            JournalEvent::IterationReady {
                task,
                iteration,
                snapshot,
                base,
                summary,
                agent_ms,
                incomplete,
                cut_off,
                files,
                proposal,
                review_base,
                excluded,
                foreign,
                ..
            } => {
                let at = entry.at;
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::InReview;
                    for (path, f) in t.touched.iter_mut() {
                        f.written.clear();
                        f.foreign |= foreign.contains(path);
                    }
                }
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.ready = Some(at);
                    it.in_progress = false;
                    it.snapshot = Some(proposal.clone().unwrap_or_else(|| snapshot.clone()));
                    it.base = Some(review_base.clone().unwrap_or_else(|| base.clone()));
                    it.worktree = Some(snapshot.clone());
                    it.excluded = excluded.clone();
                    it.summary = summary.clone();
                    it.agent_ms += agent_ms;
                    it.incomplete = *incomplete;
                    it.cut_off = *cut_off;
                    it.files = files.clone();
                }
            }
            JournalEvent::CommentAdded {
                task,
                iteration,
                id,
                path,
                line,
                text,
                quote,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.comments.push(Comment {
                        id: *id,
                        path: path.clone(),
                        line: *line,
                        text: text.clone(),
                        quote: quote.clone(),
                    });
                }
            }
            JournalEvent::CommentEdited {
                task,
                iteration,
                id,
                text,
            } => {
                if let Some(c) = self
                    .iteration_mut(*task, *iteration)
                    .and_then(|it| it.comments.iter_mut().find(|c| c.id == *id))
                {
                    c.text = text.clone();
                }
            }
            JournalEvent::CommentDeleted {
                task,
                iteration,
                id,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.comments.retain(|c| c.id != *id);
                }
            }
            JournalEvent::NoteSet {
                task,
                iteration,
                text,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.note = (!text.trim().is_empty()).then(|| text.clone());
                }
            }
            // Threads are folded by `fold_thread`, above.
            JournalEvent::ThreadReply { .. }
            | JournalEvent::ThreadResolved { .. }
            | JournalEvent::ThreadAnswered { .. }
            | JournalEvent::ThreadsAnchored { .. } => {}
            JournalEvent::CriterionTicked {
                task,
                iteration,
                criterion,
                met,
            } => {
                if let Some(slot) = self
                    .task_mut(*task)
                    .and_then(|t| t.criteria_met.get_mut(criterion.wrapping_sub(1)))
                {
                    *slot = *met;
                }
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    match met {
                        true => it.ticked.insert(*criterion),
                        false => it.ticked.remove(criterion),
                    };
                }
            }
            JournalEvent::HumanTime {
                task,
                iteration,
                kind,
                ms,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    match kind {
                        TimeKind::Review => it.review_ms += ms,
                        TimeKind::HandEdit => it.hand_edit_ms += ms,
                    }
                }
            }
            JournalEvent::Decision {
                task,
                iteration,
                action,
            } => {
                let at = entry.at;
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.decision = Some(*action);
                    it.decided = Some(at);
                }
                if let Some(t) = self.task_mut(*task) {
                    t.status = match action {
                        Decision::Accept => TaskStatus::Accepting,
                        Decision::Reject => TaskStatus::Rejecting,
                        Decision::Revise => TaskStatus::Drafting,
                    };
                }
            }
            JournalEvent::HandEdited {
                task,
                iteration,
                snapshot,
                files,
                proposal,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.snapshot = Some(proposal.clone().unwrap_or_else(|| snapshot.clone()));
                    it.worktree = Some(snapshot.clone());
                    it.files = files.clone();
                    it.hand_edits += 1;
                }
            }
            JournalEvent::Committed { task, commit, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.commit = Some(commit.clone());
                }
            }
            JournalEvent::Restored { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Rejected;
                    t.conflict_choice = None;
                }
            }
            JournalEvent::SessionFinished => self.finished = true,
            JournalEvent::SessionAbandoned { .. } => self.user_abandoned = true,
            JournalEvent::TextProtocol { reason } => self.text_protocol = Some(reason.clone()),
            JournalEvent::CommandAnswered {
                command,
                approved: true,
                always: true,
                sandboxed,
                ..
            } => {
                match sandboxed {
                    true => &mut self.always_allowed,
                    false => &mut self.always_unsandboxed,
                }
                .insert(command.clone());
            }
            JournalEvent::CommandAnswered { .. } => {}
            JournalEvent::KnowledgeUsed {
                purpose: crate::core::journal::Purpose::Draft,
                task: Some(task),
                iteration: Some(iteration),
                sources,
                lessons,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.knowledge = sources.clone();
                    it.lessons = lessons.clone();
                }
            }
            JournalEvent::KnowledgeUsed { .. } => {}
            JournalEvent::LessonsProposed {
                task,
                lessons,
                problem,
            } => {
                let proposal = TaskLessons {
                    proposed: lessons.clone(),
                    problem: problem.clone(),
                    decided: None,
                };
                if *task == SESSION_LESSONS {
                    self.session_lessons = Some(proposal);
                } else if let Some(t) = self.task_mut(*task) {
                    t.lessons = Some(proposal);
                }
            }
            JournalEvent::LessonsDecided { task, choices, .. } => {
                if let Some(l) = self.lessons_mut(*task) {
                    l.decided = Some(choices.clone());
                }
            }
            JournalEvent::CriteriaJudged {
                task,
                iteration,
                verdicts,
                problem,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.verdicts = verdicts.clone();
                    it.checker_problem = problem.clone();
                }
            }
            JournalEvent::ChecksRun {
                task,
                iteration,
                results,
                sent_back,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.checks = results.clone();
                    it.fix_rounds += u32::from(*sent_back);
                    if *sent_back {
                        it.caught += results
                            .iter()
                            .filter(|r| r.status == crate::core::journal::CheckStatus::Failed)
                            .count() as u32;
                    }
                }
            }
            JournalEvent::CommandStarted {
                task,
                iteration,
                step,
                command,
                before,
                sandboxed,
            } => {
                self.pending_command = Some(PendingCommand {
                    task: *task,
                    iteration: *iteration,
                    step: *step,
                    command: command.clone(),
                    before: before.clone(),
                    sandboxed: *sandboxed,
                })
            }
            JournalEvent::CommandRan {
                task,
                iteration,
                command,
                exit_code,
                ending,
                duration_ms,
                output,
                sandboxed,
                changed,
                reverted,
                ..
            } => {
                self.pending_command = None;
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.commands.push(CommandRecord {
                        command: command.clone(),
                        exit_code: *exit_code,
                        ending: ending.clone(),
                        duration_ms: *duration_ms,
                        output: output.clone(),
                        sandboxed: *sandboxed,
                        changed: changed.clone(),
                        reverted: reverted.clone(),
                    });
                }
            }
        }
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

mod threads;

#[cfg(test)]
mod tests;
