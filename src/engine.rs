//! The core: runs one session — plan, draft, review, commit or restore — driven by `Op`s and
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
//! Git work runs on the blocking pool; the engine task itself never holds a `Repository` across
//! an await.

use crate::diff;
use crate::gitops::{self, Content};
use crate::journal::{
    ConflictChoice, Entry, JournalError, JournalEvent, JournalWriter, PlanSource, Purpose,
};
use crate::model::{ChatRequest, Delta, Message, ModelClient, ModelError};
use crate::plan::TaskSpec;
use crate::prompts::{PromptError, Prompts};
use crate::protocol::{DiffBase, DiffRequest, Event, NewComment, Op, ReviewSubmission};
use crate::state::{NextStep, SessionState, TaskStatus};
use crate::tools::{self, Outcome, Workspace};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio::sync::mpsc;

pub type OpTx = mpsc::UnboundedSender<Op>;
pub type OpRx = mpsc::UnboundedReceiver<Op>;
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
    #[error("the session needs a plan: give a brief (--brief FILE) or a plan (--plan FILE)")]
    NoBrief,
    #[error("the planner gave no valid plan after {attempts} attempts; last problem: {last}")]
    PlanFailed { attempts: u32, last: String },
    #[error("the plan has no task {0}")]
    NoTask(usize),
    #[error("background work failed: {0}")]
    Join(String),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// Limits for one session's agent work.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub max_steps: u32,
    pub max_task_tokens: Option<u64>,
    pub planner_attempts: u32,
    /// Run the repository's pre-commit and commit-msg hooks on accept.
    pub run_hooks: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_steps: 40,
            max_task_tokens: None,
            planner_attempts: 3,
            run_hooks: false,
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
    _lock: crate::lock::RepoLock,
    rec: Recorder,
    model: ModelClient,
    prompts: Prompts,
    settings: EngineSettings,
}

/// Where a repository's sessions live: inside its git dir, so they never show in `git status`.
pub fn sessions_dir(repo: &git2::Repository) -> PathBuf {
    repo.path().join("tandem").join("sessions")
}

pub fn journal_path(repo: &git2::Repository, session: &str) -> PathBuf {
    sessions_dir(repo).join(session).join("journal.jsonl")
}

fn new_session_id() -> String {
    format!(
        "{}-{:04x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        fastrand::u16(..)
    )
}

/// One-line summaries of a repository's sessions, newest first: local journals, plus any only
/// stored in git (fetched from elsewhere).
pub fn list_sessions(workdir: &Path) -> Result<Vec<(String, SessionState, bool)>, CoreError> {
    let repo = gitops::open(workdir)?;
    let mut out: BTreeMap<String, (SessionState, bool)> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(sessions_dir(&repo)) {
        for d in dir.flatten() {
            let id = d.file_name().to_string_lossy().to_string();
            let path = d.path().join("journal.jsonl");
            if let Ok(read) = crate::journal::read_file(&path) {
                out.insert(id, (SessionState::from_entries(&read.entries), true));
            }
        }
    }
    for id in gitops::stored_journal_ids(&repo)? {
        if out.contains_key(&id) {
            continue;
        }
        let Some(bytes) = gitops::stored_journal(&repo, &id)? else {
            continue;
        };
        if let Ok(read) = crate::journal::parse(&bytes, &id) {
            out.insert(id, (SessionState::from_entries(&read.entries), false));
        }
    }
    let mut v: Vec<_> = out
        .into_iter()
        .map(|(id, (s, local))| (id, s, local))
        .collect();
    v.sort_by(|a, b| b.1.started.cmp(&a.1.started).then(b.0.cmp(&a.0)));
    Ok(v)
}

/// The first local session journal that cannot be read, with the reason.
fn unreadable_journal(repo: &git2::Repository) -> Option<JournalError> {
    let dir = std::fs::read_dir(sessions_dir(repo)).ok()?;
    dir.flatten()
        .filter_map(|d| crate::journal::read_file(&d.path().join("journal.jsonl")).err())
        .find(|e| !matches!(e, JournalError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound))
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
        let repo = gitops::open(workdir)?;
        gitops::signature(&repo)?;
        let session = new_session_id();
        let lock = crate::lock::RepoLock::acquire(repo.path(), &session)?;
        if !setup.allow_dirty {
            let dirty = gitops::dirty_tracked_files(&repo)?;
            if !dirty.is_empty() {
                return Err(CoreError::DirtyTree(dirty));
            }
        }
        let (journal, _) = JournalWriter::open(&journal_path(&repo, &session))?;
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

    /// Re-open a session: the named one, or the newest unfinished one.
    pub fn resume(
        workdir: &Path,
        session: Option<&str>,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        let repo = gitops::open(workdir)?;
        gitops::signature(&repo)?;
        let id = match session {
            Some(id) => id.to_string(),
            None => match list_sessions(workdir)?
                .into_iter()
                .find(|(_, s, local)| *local && !s.finished && !s.abandoned())
            {
                Some((id, _, _)) => id,
                // A journal that cannot be read (written by a newer tandem, damaged) may be
                // the one meant: say so rather than "nothing to resume".
                None => match unreadable_journal(&repo) {
                    Some(e) => return Err(e.into()),
                    None => {
                        return Err(CoreError::NoSession(
                            ": none is unfinished (see `tandem sessions`)".into(),
                        ));
                    }
                },
            },
        };
        let path = journal_path(&repo, &id);
        if !path.is_file() {
            return Err(CoreError::NoSession(format!(
                " with id {id} (see `tandem sessions`)"
            )));
        }
        let lock = crate::lock::RepoLock::acquire(repo.path(), &id)?;
        let (journal, entries) = JournalWriter::open(&path)?;
        Engine::assemble(
            &repo, lock, workdir, journal, entries, model, prompts, settings, events,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        repo: &git2::Repository,
        lock: crate::lock::RepoLock,
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

    fn emit(&self, e: Event) {
        self.rec.events.send(e);
    }

    /// Drive the session until it is complete or the driver says stop.
    pub async fn run(mut self, mut ops: OpRx) -> Result<RunEnd, CoreError> {
        self.emit(Event::SessionLoaded {
            session: self.session().to_string(),
            entries: self.rec.history.clone(),
        });
        let mut pending: VecDeque<Op> = VecDeque::new();
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
                    match race(self.plan(&brief, None), &mut ops, &mut pending).await {
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
                    if restart {
                        let done = self
                            .abort_draft(task, iteration, "the previous attempt was interrupted")
                            .await?;
                        if !done && !self.wait_for_human(&mut ops, &mut pending).await? {
                            break RunEnd::Stopped;
                        }
                        continue;
                    }
                    if paused {
                        if !self.wait_for_human(&mut ops, &mut pending).await? {
                            break RunEnd::Stopped;
                        }
                        paused = false;
                        continue;
                    }
                    self.emit(Event::Status {
                        message: format!("drafting task {task}, iteration {iteration}"),
                    });
                    let outcome = race(self.draft(task, iteration), &mut ops, &mut pending).await;
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
                            paused = true;
                            if !done && !self.wait_for_human(&mut ops, &mut pending).await? {
                                break RunEnd::Stopped;
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
                            paused = true;
                            if !done && !self.wait_for_human(&mut ops, &mut pending).await? {
                                break RunEnd::Stopped;
                            }
                        }
                        Err(Interrupt::Shutdown) => {
                            self.abort_draft(task, iteration, "stopped by the user")
                                .await?;
                            break RunEnd::Stopped;
                        }
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
                        Ok(()) => {}
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
                NextStep::Finish => {
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

    /// Handle ops until one changes what the session needs next. False: the driver stopped.
    async fn wait_for_human(
        &mut self,
        ops: &mut OpRx,
        pending: &mut VecDeque<Op>,
    ) -> Result<bool, CoreError> {
        let step = self.rec.state.next_step();
        loop {
            let op = match pending.pop_front() {
                Some(op) => op,
                None => match ops.recv().await {
                    Some(op) => op,
                    None => return Ok(false),
                },
            };
            match op {
                Op::Shutdown => return Ok(false),
                Op::ResumeDraft => return Ok(true),
                Op::Replan { note } => {
                    if self.rec.state.plan_approved {
                        self.emit(Event::Error {
                            message: "the plan is approved already; it can no longer be re-planned"
                                .into(),
                        });
                        continue;
                    }
                    let brief = self.rec.state.brief.clone().unwrap_or_default();
                    match race(self.plan(&brief, Some(&note)), ops, pending).await {
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
                    if let Err(message) = self.handle_op(other) {
                        self.emit(Event::Error { message });
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

    /// Ops that only record or read. An `Err` is a sentence for the user; nothing was recorded.
    fn handle_op(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::SetPlan { tasks } => {
                if self.rec.state.plan_approved {
                    return Err("the plan is approved already; it can no longer be changed".into());
                }
                crate::plan::validate(&tasks).map_err(|e| e.to_string())?;
                self.record(JournalEvent::PlanSet {
                    tasks,
                    source: PlanSource::Edited,
                })
            }
            Op::ApprovePlan => {
                if self.rec.state.tasks.is_empty() {
                    return Err("there is no plan to approve yet".into());
                }
                if self.rec.state.plan_approved {
                    return Ok(());
                }
                self.record(JournalEvent::PlanApproved)?;
                self.store_journal().map_err(|e| e.to_string())
            }
            Op::AddComment {
                task,
                iteration,
                comment,
            } => {
                let ev = self.comment_event(task, iteration, &comment, 0)?;
                self.record(ev)
            }
            Op::EditComment {
                task,
                iteration,
                id,
                text,
            } => {
                self.open_iteration(task, iteration)?;
                self.comment_exists(task, iteration, id)?;
                self.record(JournalEvent::CommentEdited {
                    task,
                    iteration,
                    id,
                    text,
                })
            }
            Op::DeleteComment {
                task,
                iteration,
                id,
            } => {
                self.open_iteration(task, iteration)?;
                self.comment_exists(task, iteration, id)?;
                self.record(JournalEvent::CommentDeleted {
                    task,
                    iteration,
                    id,
                })
            }
            Op::SetNote {
                task,
                iteration,
                text,
            } => {
                self.open_iteration(task, iteration)?;
                self.record(JournalEvent::NoteSet {
                    task,
                    iteration,
                    text,
                })
            }
            Op::TickCriterion {
                task,
                criterion,
                met,
            } => {
                let t = self
                    .rec
                    .state
                    .task(task)
                    .ok_or(format!("there is no task {task}"))?;
                if criterion == 0 || criterion > t.spec.acceptance.len() {
                    return Err(format!(
                        "task {task} has {} acceptance criteria; there is no criterion {criterion}",
                        t.spec.acceptance.len()
                    ));
                }
                let iteration = t.current().map(|i| i.number).unwrap_or(0);
                self.record(JournalEvent::CriterionTicked {
                    task,
                    iteration,
                    criterion,
                    met,
                })
            }
            Op::AddHumanTime {
                task,
                iteration,
                kind,
                ms,
                started,
            } => {
                if self.rec.state.iteration(task, iteration).is_none() {
                    return Err(format!("task {task} has no iteration {iteration}"));
                }
                self.record(JournalEvent::HumanTime {
                    task,
                    iteration,
                    kind,
                    ms,
                    started,
                })
            }
            Op::Decide {
                task,
                iteration,
                action,
            } => {
                self.open_iteration(task, iteration)?;
                self.record(JournalEvent::Decision {
                    task,
                    iteration,
                    action,
                })?;
                self.store_journal().map_err(|e| e.to_string())
            }
            Op::SubmitReview(sub) => self.submit_review(sub),
            Op::RequestDiff {
                request,
                task,
                iteration,
                against,
            } => self.request_diff(request, task, iteration, against),
            Op::DiffCommits(req) => {
                spawn_diff(&self.workdir, &self.rec.events, req);
                Ok(())
            }
            Op::BeginHandEdit {
                task,
                iteration,
                path,
                line,
            } => self.begin_hand_edit(task, iteration, &path, line),
            Op::EndHandEdit {
                task,
                iteration,
                path,
                ms,
                started,
            } => self.end_hand_edit(task, iteration, &path, ms, started),
            Op::ResolveConflict {
                task,
                iteration,
                choice,
                paths,
            } => {
                if self.rec.state.iteration(task, iteration).is_none() {
                    return Err(format!("task {task} has no iteration {iteration}"));
                }
                self.record(JournalEvent::ConflictResolved {
                    task,
                    iteration,
                    choice,
                    paths,
                })
            }
            Op::CancelDraft | Op::ResumeDraft | Op::Replan { .. } | Op::Shutdown => Ok(()),
        }
    }

    fn record(&mut self, ev: JournalEvent) -> Result<(), String> {
        self.rec.record(ev).map_err(|e| e.to_string())
    }

    /// The iteration must be ready for review and not decided yet.
    fn open_iteration(&self, task: usize, iteration: u32) -> Result<(), String> {
        let it = self
            .rec
            .state
            .iteration(task, iteration)
            .ok_or(format!("task {task} has no iteration {iteration}"))?;
        if it.snapshot.is_none() {
            return Err(format!(
                "task {task}, iteration {iteration} is still being drafted"
            ));
        }
        if it.decision.is_some() {
            return Err(format!(
                "task {task}, iteration {iteration} is decided already"
            ));
        }
        Ok(())
    }

    fn comment_exists(&self, task: usize, iteration: u32, id: u32) -> Result<(), String> {
        let found = self
            .rec
            .state
            .iteration(task, iteration)
            .is_some_and(|it| it.comments.iter().any(|c| c.id == id));
        if found {
            Ok(())
        } else {
            Err(format!(
                "task {task}, iteration {iteration} has no comment #{id}"
            ))
        }
    }

    /// Validate a comment against the iteration's files and quote the line it is anchored to.
    fn comment_event(
        &self,
        task: usize,
        iteration: u32,
        c: &NewComment,
        offset: u32,
    ) -> Result<JournalEvent, String> {
        self.open_iteration(task, iteration)?;
        let it = self
            .rec
            .state
            .iteration(task, iteration)
            .ok_or("no iteration")?;
        let snapshot = it.snapshot.clone().unwrap_or_default();
        let repo = gitops::open(&self.workdir).map_err(|e| e.to_string())?;
        let bytes = gitops::file_at(&repo, &snapshot, &c.path)
            .map_err(|e| e.to_string())?
            .ok_or(format!(
                "comment on {}: that file is not in task {task}, iteration {iteration}",
                c.path
            ))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        if c.line == 0 || c.line as usize > lines.len() {
            return Err(format!(
                "comment on {} line {}: the file has {} lines in task {task}, iteration {iteration}",
                c.path,
                c.line,
                lines.len()
            ));
        }
        if c.text.trim().is_empty() {
            return Err(format!(
                "comment on {} line {}: the text is empty",
                c.path, c.line
            ));
        }
        let id = it.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1 + offset;
        Ok(JournalEvent::CommentAdded {
            task,
            iteration,
            id,
            path: c.path.clone(),
            line: c.line,
            text: c.text.clone(),
            quote: lines[c.line as usize - 1].to_string(),
        })
    }

    /// A whole review cycle: checked in full first, so a bad comment records nothing.
    fn submit_review(&mut self, sub: ReviewSubmission) -> Result<(), String> {
        let (task, iteration) = (sub.task, sub.iteration);
        self.open_iteration(task, iteration)?;
        let n_criteria = self
            .rec
            .state
            .task(task)
            .map(|t| t.spec.acceptance.len())
            .unwrap_or(0);
        let mut events = Vec::new();
        for (i, c) in sub.comments.iter().enumerate() {
            events.push(self.comment_event(task, iteration, c, i as u32)?);
        }
        for &k in &sub.criteria_met {
            if k == 0 || k > n_criteria {
                return Err(format!(
                    "task {task} has {n_criteria} acceptance criteria; there is no criterion {k}"
                ));
            }
            events.push(JournalEvent::CriterionTicked {
                task,
                iteration,
                criterion: k,
                met: true,
            });
        }
        if let Some(note) = sub.note.filter(|n| !n.trim().is_empty()) {
            events.push(JournalEvent::NoteSet {
                task,
                iteration,
                text: note,
            });
        }
        if sub.review_ms > 0 {
            events.push(JournalEvent::HumanTime {
                task,
                iteration,
                kind: crate::journal::TimeKind::Review,
                ms: sub.review_ms,
                // The span ended now, when the decision came in.
                started: crate::journal::now_ms()
                    - chrono::Duration::milliseconds(sub.review_ms as i64),
            });
        }
        events.push(JournalEvent::Decision {
            task,
            iteration,
            action: sub.action,
        });
        let done = self.review_already_recorded(task, iteration, &events);
        let mut next_id = self
            .rec
            .state
            .iteration(task, iteration)
            .and_then(|it| it.comments.iter().map(|c| c.id).max())
            .unwrap_or(0)
            + 1;
        for mut ev in events.into_iter().skip(done) {
            if let JournalEvent::CommentAdded { id, .. } = &mut ev {
                *id = next_id;
                next_id += 1;
            }
            self.record(ev)?;
        }
        self.store_journal().map_err(|e| e.to_string())
    }

    /// How many of a review's events are on record already because the same submission was cut
    /// short by a crash (it is recorded event by event); resubmitting it on resume completes it
    /// instead of doubling comments and review time. Ids and clock times are not compared.
    fn review_already_recorded(
        &self,
        task: usize,
        iteration: u32,
        events: &[JournalEvent],
    ) -> usize {
        let ready = self.rec.history.iter().rposition(|e| {
            matches!(&e.event, JournalEvent::IterationReady { task: t, iteration: i, .. } if *t == task && *i == iteration)
        });
        let Some(ready) = ready else { return 0 };
        let same = |a: &JournalEvent, b: &JournalEvent| match (a, b) {
            (
                JournalEvent::CommentAdded {
                    path, line, text, ..
                },
                JournalEvent::CommentAdded {
                    path: p,
                    line: l,
                    text: t,
                    ..
                },
            ) => path == p && line == l && text == t,
            (
                JournalEvent::HumanTime { kind, ms, .. },
                JournalEvent::HumanTime { kind: k, ms: m, .. },
            ) => kind == k && ms == m,
            (a, b) => a == b,
        };
        let recorded: Vec<&JournalEvent> = self.rec.history[ready + 1..]
            .iter()
            .map(|e| &e.event)
            .filter(|e| match e {
                JournalEvent::CommentAdded {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::CriterionTicked {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::NoteSet {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::HumanTime {
                    task: t,
                    iteration: i,
                    ..
                } => *t == task && *i == iteration,
                _ => false,
            })
            .collect();
        let n = recorded.len();
        let is_prefix = n < events.len() && recorded.iter().zip(events).all(|(a, b)| same(a, b));
        if is_prefix { n } else { 0 }
    }

    fn request_diff(
        &self,
        request: u64,
        task: usize,
        iteration: u32,
        against: DiffBase,
    ) -> Result<(), String> {
        let (from, to) = self
            .rec
            .state
            .diff_endpoints(task, iteration, against)
            .ok_or(format!(
                "task {task}, iteration {iteration} has no diff yet"
            ))?;
        let req = DiffRequest {
            request,
            task,
            iteration,
            against,
            from,
            to,
        };
        spawn_diff(&self.workdir, &self.rec.events, req);
        Ok(())
    }

    /// Journal the file's pre-task content (if the agent has not already) so a reject can
    /// still undo the reviewer's edit, then tell the driver it may open the editor.
    fn begin_hand_edit(
        &mut self,
        task: usize,
        iteration: u32,
        path: &str,
        line: Option<u32>,
    ) -> Result<(), String> {
        self.open_iteration(task, iteration)?;
        let (abs, rel) = self.ws.confine(path, false).map_err(|e| e.to_string())?;
        let known = self
            .rec
            .state
            .task(task)
            .is_some_and(|t| t.touched.contains_key(&rel));
        if !known {
            let (old, old_exec) = match gitops::read_worktree(&self.workdir, &rel) {
                Ok(Some((b, x))) => (Some(b), x),
                Ok(None) => (None, false),
                Err(e) => return Err(format!("cannot read {rel}: {e}")),
            };
            let mut dirs = Vec::new();
            let mut acc = PathBuf::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                acc.push(part);
                if !self.workdir.join(&acc).exists() {
                    dirs.push(acc.to_string_lossy().to_string());
                }
            }
            touch(
                &mut self.rec,
                &self.workdir,
                task,
                iteration,
                &tools::PendingWrite {
                    rel: &rel,
                    old: old.as_deref(),
                    old_exec,
                    new: &[],
                    created_dirs: &dirs,
                },
            )?;
        }
        self.emit(Event::HandEditReady {
            task,
            iteration,
            path: rel,
            abs_path: abs,
            line,
        });
        Ok(())
    }

    /// Fold a hand edit into the iteration: a new snapshot, and the time as the human's.
    fn end_hand_edit(
        &mut self,
        task: usize,
        iteration: u32,
        path: &str,
        ms: u64,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        self.open_iteration(task, iteration)?;
        if ms > 0 {
            self.record(JournalEvent::HumanTime {
                task,
                iteration,
                kind: crate::journal::TimeKind::HandEdit,
                ms,
                started,
            })?;
        }
        let t = self.rec.state.task(task).ok_or("no such task")?;
        let summary = t.current().map(|i| i.summary.clone()).unwrap_or_default();
        let message = format!(
            "tandem: task {task} iteration {iteration} (hand edit of {path})\n\n{summary}\n"
        );
        let (snap, files) =
            snapshot_blocking(&self.workdir, self.session(), t, iteration, &message)
                .map_err(|e| e.to_string())?;
        let files = file_stats(&files);
        let before = self
            .rec
            .state
            .iteration(task, iteration)
            .and_then(|i| i.worktree.clone());
        // Same files as before (the editor closed without a change): nothing to record.
        let repo = gitops::open(&self.workdir).map_err(|e| e.to_string())?;
        let tree = |c: &str| {
            git2::Oid::from_str(c)
                .and_then(|o| repo.find_commit(o))
                .map(|c| c.tree_id())
                .ok()
        };
        if before.as_deref().and_then(tree).is_some()
            && before.as_deref().and_then(tree) == tree(&snap.snapshot.to_string())
        {
            return Ok(());
        }
        self.record(JournalEvent::HandEdited {
            task,
            iteration,
            path: path.to_string(),
            snapshot: snap.snapshot.to_string(),
            files,
            proposal: Some(snap.proposal.commit.to_string()),
        })
    }

    fn store_journal(&self) -> Result<(), CoreError> {
        let repo = gitops::open(&self.workdir)?;
        gitops::store_journal(&repo, self.session(), self.rec.journal.bytes())?;
        Ok(())
    }

    fn delta_sink(&self) -> impl Fn(Delta) + Send + Sync + use<> {
        let events = self.rec.events.clone();
        move |d: Delta| {
            events.send(match d {
                Delta::Text(text) => Event::ModelText { text },
                Delta::ToolStarted(name) => Event::ToolStarted { name },
                Delta::Retrying {
                    attempt,
                    max,
                    delay,
                    reason,
                } => Event::Retrying {
                    attempt,
                    max,
                    delay_ms: delay.as_millis() as u64,
                    reason,
                },
            })
        }
    }

    async fn plan(&mut self, brief: &str, note: Option<&str>) -> Result<(), CoreError> {
        let system = self.prompts.render("planner", json!({ "note": note }))?;
        let mut messages = vec![Message::system(system), Message::user(brief)];
        let tools = vec![tools::plan_tool_schema()];
        let sink = self.delta_sink();
        let mut last = String::from("the model did not call submit_plan");
        for step in 1..=self.settings.planner_attempts {
            let started = Instant::now();
            let resp = self
                .model
                .chat(
                    &ChatRequest {
                        messages: messages.clone(),
                        tools: tools.clone(),
                    },
                    &sink,
                )
                .await?;
            self.record_model_call(Purpose::Plan, None, None, step, &resp, started)?;
            messages.push(resp.as_message());
            if resp.tool_calls.is_empty() {
                last = "the model answered in text instead of calling submit_plan".into();
                messages.push(Message::user(
                    "Answer by calling the submit_plan tool with the plan; do not write it as text.",
                ));
                continue;
            }
            let mut no_write = |_: &tools::PendingWrite<'_>| -> Result<(), String> {
                Err("planning does not write files".into())
            };
            for call in &resp.tool_calls {
                let outcome = if call.name == "submit_plan" {
                    self.ws.run(&call.name, &call.arguments, &mut no_write)
                } else {
                    Outcome::Continue {
                        ok: false,
                        text: format!(
                            "error: only submit_plan can be called while planning, not `{}`",
                            call.name
                        ),
                    }
                };
                match outcome {
                    Outcome::Plan { tasks } => {
                        self.rec.record(JournalEvent::PlanSet {
                            tasks,
                            source: PlanSource::Planner,
                        })?;
                        return Ok(());
                    }
                    Outcome::Continue { text, .. } => {
                        last = text.trim_start_matches("error: ").to_string();
                        messages.push(Message::tool(&call.id, text));
                    }
                    Outcome::Finish { .. } => {}
                }
            }
        }
        Err(CoreError::PlanFailed {
            attempts: self.settings.planner_attempts,
            last,
        })
    }

    fn record_model_call(
        &mut self,
        purpose: Purpose,
        task: Option<usize>,
        iteration: Option<u32>,
        step: u32,
        resp: &crate::model::ChatResponse,
        started: Instant,
    ) -> Result<(), CoreError> {
        self.rec.record(JournalEvent::ModelCall {
            purpose,
            task,
            iteration,
            step,
            prompt_tokens: resp.usage.prompt_tokens,
            completion_tokens: resp.usage.completion_tokens,
            duration_ms: started.elapsed().as_millis() as u64,
            finish_reason: resp.finish_reason.clone(),
            text: clip(&resp.content, 2000),
            tool_calls: resp.tool_calls.iter().map(|c| c.name.clone()).collect(),
        })?;
        Ok(())
    }

    fn draft_prompt(&self, task: usize, iteration: u32) -> Result<String, CoreError> {
        let st = &self.rec.state;
        let t = st.task(task).ok_or(CoreError::NoTask(task))?;
        let total = st.tasks.len();
        if iteration == 1 {
            return Ok(self.prompts.render(
                "task",
                json!({
                    "number": task, "total": total, "title": t.spec.title,
                    "instructions": t.spec.instructions, "acceptance": t.spec.acceptance,
                }),
            )?);
        }
        let prev = st.iteration(task, iteration - 1);
        let comments: Vec<_> = prev
            .map(|p| {
                p.comments
                    .iter()
                    .map(|c| json!({"path": c.path, "line": c.line, "quote": c.quote, "text": c.text}))
                    .collect()
            })
            .unwrap_or_default();
        Ok(self.prompts.render(
            "revision",
            json!({
                "number": task, "total": total, "title": t.spec.title,
                "instructions": t.spec.instructions, "acceptance": t.spec.acceptance,
                "met": t.criteria_met, "iteration": iteration,
                "summary": prev.map(|p| p.summary.clone()).unwrap_or_default(),
                "incomplete": prev.is_some_and(|p| p.incomplete),
                "note": prev.and_then(|p| p.note.clone()),
                "comments": comments,
            }),
        )?)
    }

    async fn draft(&mut self, task: usize, iteration: u32) -> Result<(), CoreError> {
        let started = Instant::now();
        let base = match self.rec.state.task(task) {
            Some(t) if t.base.is_none() && iteration == 1 => {
                let repo = gitops::open(&self.workdir)?;
                gitops::head(&repo).map(|o| o.to_string())
            }
            _ => None,
        };
        self.rec.record(JournalEvent::DraftStarted {
            task,
            iteration,
            base,
        })?;
        let system = self.prompts.render("drafter", json!({}))?;
        let mut messages = vec![
            Message::system(system),
            Message::user(self.draft_prompt(task, iteration)?),
        ];
        let tools = tools::draft_tool_schemas();
        let sink = self.delta_sink();
        let mut summary: Option<String> = None;
        let mut incomplete = false;
        let mut nudged = false;
        let tokens_before: u64 = self
            .rec
            .state
            .task(task)
            .map(|t| {
                t.iterations
                    .iter()
                    .map(|i| i.prompt_tokens + i.completion_tokens)
                    .sum()
            })
            .unwrap_or(0);
        let mut step = 0;
        while summary.is_none() {
            if step >= self.settings.max_steps {
                incomplete = true;
                break;
            }
            if let Some(limit) = self.settings.max_task_tokens {
                let used: u64 = self
                    .rec
                    .state
                    .task(task)
                    .map(|t| {
                        t.iterations
                            .iter()
                            .map(|i| i.prompt_tokens + i.completion_tokens)
                            .sum()
                    })
                    .unwrap_or(tokens_before);
                if used >= limit {
                    incomplete = true;
                    break;
                }
            }
            step += 1;
            let t0 = Instant::now();
            let resp = self
                .model
                .chat(
                    &ChatRequest {
                        messages: messages.clone(),
                        tools: tools.clone(),
                    },
                    &sink,
                )
                .await?;
            self.record_model_call(Purpose::Draft, Some(task), Some(iteration), step, &resp, t0)?;
            messages.push(resp.as_message());
            // A model that will not call tools may write its change as text blocks
            // (model::text_edits); after the one re-ask, those are applied as the tool calls
            // they stand for, through the same workspace and journaling.
            let mut text_prose: Option<String> = None;
            let calls = if resp.tool_calls.is_empty() {
                let parsed = if nudged {
                    crate::model::text_edits::parse(&resp.content)
                } else {
                    Default::default()
                };
                if parsed.edits.is_empty() {
                    if !nudged {
                        nudged = true;
                        messages.push(Message::user(
                            "You answered in text. Make the change with the tools (edit_file or write_file), then call finish. If you cannot call tools, write each change as a SEARCH/REPLACE block or a whole file in a fence headed by its path, as the system prompt shows.",
                        ));
                        continue;
                    }
                    // Twice in text, and no change in it: stop and let the reviewer see.
                    summary = Some(resp.content.clone());
                    incomplete = true;
                    break;
                }
                text_prose = Some(parsed.prose);
                crate::model::text_edits::to_calls(step, parsed.edits)
            } else {
                resp.tool_calls.iter().map(|c| (c.clone(), None)).collect()
            };
            let mut text_results: Vec<(bool, String)> = Vec::new();
            for (call, problem) in &calls {
                let outcome = match problem {
                    Some(p) => Outcome::Continue {
                        ok: false,
                        text: format!("error: {p}"),
                    },
                    None => {
                        let rec = &mut self.rec;
                        let workdir = &self.workdir;
                        let mut hook = |w: &tools::PendingWrite<'_>| {
                            touch(rec, workdir, task, iteration, w)?;
                            written(rec, workdir, task, iteration, w)
                        };
                        self.ws.run(&call.name, &call.arguments, &mut hook)
                    }
                };
                let (ok, text) = match outcome {
                    Outcome::Continue { ok, text } => (ok, text),
                    Outcome::Finish { summary: s } => {
                        summary = Some(s);
                        (true, "ok: the draft goes to review".to_string())
                    }
                    Outcome::Plan { .. } => {
                        (false, "error: submit_plan is only for planning".to_string())
                    }
                };
                self.rec.record(JournalEvent::ToolCall {
                    task,
                    iteration,
                    step,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    args: shorten_args(&call.arguments),
                    ok,
                    result: clip(&text, 2000),
                })?;
                if text_prose.is_some() {
                    text_results.push((ok, text));
                } else {
                    messages.push(Message::tool(&call.id, text));
                }
            }
            if let Some(prose) = text_prose {
                if text_results.iter().all(|(ok, _)| *ok) {
                    // Every change applied: a text-only model has no finish call, so this is it.
                    summary = Some(if prose.is_empty() {
                        "(changes written as text blocks)".to_string()
                    } else {
                        prose
                    });
                } else {
                    let report: Vec<String> = text_results
                        .iter()
                        .enumerate()
                        .map(|(i, (_, t))| format!("{}. {t}", i + 1))
                        .collect();
                    messages.push(Message::user(format!(
                        "Results of the changes in your answer:\n{}\nThe failed ones were not applied; send them again, corrected.",
                        report.join("\n")
                    )));
                }
            }
        }
        let summary = summary.unwrap_or_else(|| {
            format!("(the draft stopped after {step} steps without calling finish)")
        });
        self.snapshot(task, iteration, summary, incomplete, started)
            .await
    }

    async fn snapshot(
        &mut self,
        task: usize,
        iteration: u32,
        summary: String,
        incomplete: bool,
        started: Instant,
    ) -> Result<(), CoreError> {
        // Model text goes into commit messages and onto terminals: no NUL, no escapes.
        let summary = tools::clean_text(&summary);
        let t = self
            .rec
            .state
            .task(task)
            .ok_or(CoreError::NoTask(task))?
            .clone();
        let workdir = self.workdir.clone();
        let session = self.session().to_string();
        let message = format!(
            "tandem: task {task} iteration {iteration}: {}\n\n{summary}\n",
            t.spec.title
        );
        let (snap, files, foreign) = blocking(move || {
            // Files someone else changed since tandem last wrote them in this draft.
            let repo = gitops::open(&workdir)?;
            let mut foreign = Vec::new();
            for path in t.touched.keys() {
                let now = match gitops::on_disk(&workdir, path)? {
                    gitops::OnDisk::File(id, _) => Some(id),
                    gitops::OnDisk::Absent => None,
                    gitops::OnDisk::Other => Some(git2::Oid::ZERO_SHA1),
                };
                if last_left(&repo, &t, iteration, path)?.is_some_and(|left| left != now) {
                    foreign.push(path.clone());
                }
            }
            let (snap, files) = snapshot_blocking(&workdir, &session, &t, iteration, &message)?;
            Ok::<_, CoreError>((snap, files, foreign))
        })
        .await??;
        self.rec.record(JournalEvent::IterationReady {
            task,
            iteration,
            snapshot: snap.snapshot.to_string(),
            base: snap.base.to_string(),
            summary,
            agent_ms: started.elapsed().as_millis() as u64,
            incomplete,
            files: file_stats(&files),
            proposal: Some(snap.proposal.commit.to_string()),
            review_base: Some(snap.proposal.base.to_string()),
            excluded: snap
                .proposal
                .excluded
                .iter()
                .map(|(path, reason)| crate::journal::Excluded {
                    path: path.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            foreign,
        })?;
        Ok(())
    }

    /// Undo a draft that did not finish: put every path it may have written back to how it was
    /// when this iteration began, then record that the attempt was dropped. False: the user
    /// changed some of those files meanwhile; nothing was written and `Event::Conflict` asks.
    async fn abort_draft(
        &mut self,
        task: usize,
        iteration: u32,
        reason: &str,
    ) -> Result<bool, CoreError> {
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let prev_worktree = t
            .iterations
            .iter()
            .find(|i| i.number + 1 == iteration)
            .and_then(|i| i.worktree.clone());
        let touched = t.touched.clone();
        let base = t.base.clone();
        let workdir = self.workdir.clone();
        let plan = blocking(move || -> Result<PutBack, CoreError> {
            let repo = gitops::open(&workdir)?;
            let base = base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
            let mut targets: BTreeMap<String, Content> = BTreeMap::new();
            let mut dirs = Vec::new();
            let mut preimages = BTreeMap::new();
            for (path, t) in &touched {
                match (&prev_worktree, t.first_iteration < iteration) {
                    (Some(snap), true) => {
                        let bytes = gitops::file_at(&repo, snap, path)?;
                        let exec = gitops::read_worktree(&workdir, path)?.is_some_and(|(_, x)| x);
                        targets.insert(path.clone(), bytes.map(|b| (b, exec)));
                    }
                    _ => {
                        preimages.insert(path.clone(), t.preimage());
                        dirs.extend(t.created_dirs.iter().cloned());
                    }
                }
            }
            targets.extend(gitops::preimage_contents(&repo, base, &preimages)?);
            // What the disk may hold: the content the attempt started from, or anything the
            // agent wrote in it.
            let mut expected = BTreeMap::new();
            for (path, t) in &touched {
                if t.foreign {
                    // Partly the user's: nothing on disk counts as only tandem's.
                    expected.insert(path.clone(), BTreeSet::new());
                    continue;
                }
                let mut ok: BTreeSet<Option<git2::Oid>> = t
                    .written
                    .iter()
                    .map(|w| w.as_deref().and_then(|b| git2::Oid::from_str(b).ok()))
                    .collect();
                ok.insert(
                    targets
                        .get(path)
                        .and_then(|c| c.as_ref())
                        .map(|(b, _)| gitops::raw_id(b)),
                );
                expected.insert(path.clone(), ok);
            }
            Ok(PutBack {
                targets,
                dirs,
                expected,
                unstage: None,
            })
        })
        .await??;
        if !self
            .put_back(task, iteration, "undo the interrupted draft", plan)
            .await?
        {
            return Ok(false);
        }
        self.rec.record(JournalEvent::DraftAborted {
            task,
            iteration,
            reason: reason.to_string(),
        })?;
        Ok(true)
    }

    /// Write `plan.targets` back, unless a path holds content tandem did not leave there: then
    /// the user's bytes are saved under refs/tandem/ first and the recorded choice decides
    /// (none yet: `Event::Conflict`, and false).
    async fn put_back(
        &mut self,
        task: usize,
        iteration: u32,
        doing: &str,
        mut plan: PutBack,
    ) -> Result<bool, CoreError> {
        let workdir = self.workdir.clone();
        let check = (plan.expected.clone(), plan.targets.clone());
        let found = blocking(move || -> Result<Vec<String>, CoreError> {
            let (expected, targets) = check;
            let mut found = gitops::conflicts(&workdir, &expected)?;
            // Already what tandem would write: nothing to overwrite.
            found.retain(|p| {
                let want = match targets.get(p) {
                    Some(Some((b, x))) => gitops::OnDisk::File(gitops::raw_id(b), *x),
                    _ => gitops::OnDisk::Absent,
                };
                gitops::on_disk(&workdir, p).ok() != Some(want)
            });
            Ok(found)
        })
        .await??;
        if !found.is_empty() {
            // Saved already when the conflict was first met, unless the files changed since.
            let earlier = self.rec.history.iter().rev().find_map(|e| match &e.event {
                JournalEvent::UserBytesSaved {
                    task: t,
                    iteration: i,
                    paths,
                    commit,
                } if *t == task && *i == iteration && *paths == found => Some(commit.clone()),
                _ => None,
            });
            let workdir = self.workdir.clone();
            let session = self.session().to_string();
            let paths = found.clone();
            let (saved, fresh) = blocking(move || -> Result<(git2::Oid, bool), CoreError> {
                let repo = gitops::open(&workdir)?;
                if let Some(c) = earlier
                    && gitops::still_saved(&repo, &workdir, &c, &paths)?
                {
                    return Ok((
                        git2::Oid::from_str(&c).unwrap_or(git2::Oid::ZERO_SHA1),
                        false,
                    ));
                }
                Ok((
                    gitops::rescue(&repo, &workdir, &session, task, &paths)?,
                    true,
                ))
            })
            .await??;
            if fresh {
                self.rec.record(JournalEvent::UserBytesSaved {
                    task,
                    iteration,
                    paths: found.clone(),
                    commit: saved.to_string(),
                })?;
            }
            // An answer holds only for the files it was given for.
            let choice = self
                .rec
                .state
                .task(task)
                .and_then(|t| t.conflict_choice.as_ref())
                .filter(|(i, _, paths)| *i == iteration && found.iter().all(|p| paths.contains(p)))
                .map(|(_, c, _)| *c);
            match choice {
                None => {
                    self.store_journal()?;
                    self.emit(Event::Conflict {
                        task,
                        iteration,
                        doing: doing.to_string(),
                        paths: found,
                        saved: saved.to_string(),
                    });
                    return Ok(false);
                }
                Some(ConflictChoice::KeepMine) => {
                    for p in &found {
                        plan.targets.remove(p);
                    }
                }
                Some(ConflictChoice::Take) => {}
                Some(ConflictChoice::KeepBoth) => {
                    let workdir = self.workdir.clone();
                    let paths = found.clone();
                    blocking(move || keep_beside(&workdir, &paths)).await??;
                }
            }
        }
        let workdir = self.workdir.clone();
        blocking(move || -> Result<(), CoreError> {
            gitops::restore_paths(&workdir, &plan.targets, &plan.dirs)?;
            if let Some((base, commits)) = plan.unstage {
                let repo = gitops::open(&workdir)?;
                let paths: Vec<String> = plan.expected.keys().cloned().collect();
                let agent = gitops::blobs_in(&repo, &commits, &paths);
                gitops::unstage_agent_content(&repo, &workdir, base, &paths, &agent)?;
            }
            Ok(())
        })
        .await??;
        Ok(true)
    }

    async fn commit(&mut self, task: usize, iteration: u32) -> Result<(), CoreError> {
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let it = t.iterations.iter().find(|i| i.number == iteration);
        let summary = it.map(|i| i.summary.clone()).unwrap_or_default();
        let (Some(review_base), Some(proposal)) = (
            it.and_then(|i| i.base.clone()),
            it.and_then(|i| i.snapshot.clone()),
        ) else {
            return Err(CoreError::NoTask(task));
        };
        let mut message = format!("{}\n\n", t.spec.title.trim());
        if !summary.trim().is_empty() {
            message.push_str(summary.trim());
            message.push_str("\n\n");
        }
        message.push_str("Acceptance criteria:\n");
        for (i, c) in t.spec.acceptance.iter().enumerate() {
            let mark = if t.criteria_met.get(i).copied().unwrap_or(false) {
                "x"
            } else {
                " "
            };
            message.push_str(&format!("- [{mark}] {c}\n"));
        }
        message.push_str(&format!(
            "\nTandem-Session: {}\nTandem-Task: {task}\nTandem-Iteration: {iteration}\nTandem-Review-Seconds: {}\nTandem-Agent-Seconds: {}\nTandem-Model: {}\n",
            self.session(),
            (t.review_ms() + 500) / 1000,
            (t.agent_ms() + 500) / 1000,
            self.rec.state.model,
        ));
        let message = crate::tools::clean_text(&message);
        let task_base = t.base.clone();
        let workdir = self.workdir.clone();
        let session = self.session().to_string();
        let run_hooks = self.settings.run_hooks;
        let done = blocking(move || -> Result<gitops::Accepted, CoreError> {
            let repo = gitops::open(&workdir)?;
            let oid = |s: &str| {
                git2::Oid::from_str(s).map_err(|e| gitops::GitError::Op {
                    context: "read the review".into(),
                    message: e.message().to_string(),
                })
            };
            let task_base = task_base
                .as_deref()
                .and_then(|b| git2::Oid::from_str(b).ok());
            if let Some(done) =
                gitops::find_accepted_commit(&repo, &session, task, iteration, task_base)
            {
                // Committed before a crash; only the journal line (and maybe the index) is
                // missing.
                gitops::stage_reviewed(&repo, &workdir, oid(&review_base)?, oid(&proposal)?)?;
                return Ok(gitops::Accepted::Committed(done));
            }
            Ok(gitops::commit_reviewed(
                &repo,
                &workdir,
                oid(&review_base)?,
                oid(&proposal)?,
                &message,
                run_hooks,
            )?)
        })
        .await??;
        match done {
            gitops::Accepted::Committed(oid) => self.rec.record(JournalEvent::Committed {
                task,
                iteration,
                commit: oid.to_string(),
            })?,
            gitops::Accepted::Nothing => {
                self.rec
                    .record(JournalEvent::AcceptedEmpty { task, iteration })?;
                self.emit(Event::Status {
                    message: format!(
                        "task {task} was accepted, but its reviewed change is empty: nothing was committed"
                    ),
                });
            }
        }
        self.store_journal()?;
        Ok(())
    }

    /// Put a rejected task's files back as they were before it. False: the user changed some of
    /// them since tandem last wrote them; `Event::Conflict` asks what to do.
    async fn restore(&mut self, task: usize, iteration: u32) -> Result<bool, CoreError> {
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let preimages: BTreeMap<String, gitops::Preimage> = t
            .touched
            .iter()
            .map(|(p, t)| (p.clone(), t.preimage()))
            .collect();
        let dirs: Vec<String> = t
            .touched
            .values()
            .flat_map(|t| t.created_dirs.clone())
            .collect();
        let base = t.base.clone();
        let worktree = t.current().and_then(|i| i.worktree.clone());
        let foreign: BTreeSet<String> = t
            .touched
            .iter()
            .filter(|(_, f)| f.foreign)
            .map(|(p, _)| p.clone())
            .collect();
        // Every object the agent's content lives in, to find it in the index.
        let commits: Vec<String> = t
            .iterations
            .iter()
            .flat_map(|i| [i.snapshot.clone(), i.worktree.clone()])
            .flatten()
            .collect();
        let workdir = self.workdir.clone();
        let plan = blocking(move || -> Result<PutBack, CoreError> {
            let repo = gitops::open(&workdir)?;
            let base = base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
            let targets = gitops::preimage_contents(&repo, base, &preimages)?;
            let mut expected = BTreeMap::new();
            for path in preimages.keys() {
                if foreign.contains(path) {
                    // Partly the user's (changed during the draft): always ask.
                    expected.insert(path.clone(), BTreeSet::new());
                    continue;
                }
                let left = match &worktree {
                    Some(w) => gitops::file_at(&repo, w, path)?.map(|b| gitops::raw_id(&b)),
                    None => None,
                };
                expected.insert(path.clone(), BTreeSet::from([left]));
            }
            Ok(PutBack {
                targets,
                dirs,
                expected,
                unstage: Some((base, commits)),
            })
        })
        .await??;
        if !self
            .put_back(task, iteration, "reject the task", plan)
            .await?
        {
            return Ok(false);
        }
        self.rec
            .record(JournalEvent::Restored { task, iteration })?;
        self.store_journal()?;
        Ok(true)
    }
}

/// What a put-back writes and what it may find on disk first.
struct PutBack {
    targets: BTreeMap<String, Content>,
    dirs: Vec<String>,
    /// Per path, the raw contents tandem may find there (None: absent).
    expected: BTreeMap<String, BTreeSet<Option<git2::Oid>>>,
    /// After a reject: the task base and the commits whose content to take out of the index.
    unstage: Option<(Option<git2::Oid>, Vec<String>)>,
}

/// "Keep both": the user's version of each path is copied beside it as `<path>.mine` (or
/// `.mine.2`, …) before tandem's version is written.
fn keep_beside(workdir: &Path, paths: &[String]) -> Result<(), CoreError> {
    for rel in paths {
        let path = workdir.join(rel);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mut k = 1;
        let dest = loop {
            let name = if k == 1 {
                format!("{rel}.mine")
            } else {
                format!("{rel}.mine.{k}")
            };
            match std::fs::read(workdir.join(&name)) {
                // Kept already (a crash came after it): once is enough.
                Ok(kept) if kept == bytes => return Ok(()),
                Ok(_) => k += 1,
                Err(_) => break workdir.join(name),
            }
        };
        crate::tools::write_atomic(&dest, &bytes).map_err(|source| gitops::GitError::Io {
            path: dest.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Compute a diff on the blocking pool and send it as an event: a 20,000-line diff must not
/// hold up whatever asked for it.
pub fn spawn_diff(workdir: &Path, events: &EventTx, req: DiffRequest) {
    let workdir = workdir.to_path_buf();
    let events = events.clone();
    tokio::task::spawn_blocking(move || {
        let result = gitops::open(&workdir)
            .map_err(|e| e.to_string())
            .and_then(|repo| {
                diff::between(&repo, &req.from, &req.to).map_err(|e| e.message().to_string())
            });
        match result {
            Ok(files) => events.send(Event::Diff {
                request: req.request,
                task: req.task,
                iteration: req.iteration,
                against: req.against,
                files,
            }),
            Err(message) => events.send(Event::Error {
                message: format!("cannot compute the diff: {message}"),
            }),
        }
    });
}

/// Store the task's touched files as the iteration's snapshot and diff it against its base.
fn snapshot_blocking(
    workdir: &Path,
    session: &str,
    t: &crate::state::TaskState,
    iteration: u32,
    message: &str,
) -> Result<(gitops::Snapshot, Vec<diff::FileDiff>), CoreError> {
    let repo = gitops::open(workdir)?;
    let preimages: BTreeMap<String, gitops::Preimage> = t
        .touched
        .iter()
        .map(|(p, t)| (p.clone(), t.preimage()))
        .collect();
    let base = t.base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
    let snap = gitops::snapshot_iteration(
        &repo, workdir, session, t.number, iteration, base, &preimages, message,
    )?;
    // The stats describe what the reviewer sees: the proposal against its base.
    let files = diff::between(
        &repo,
        &snap.proposal.base.to_string(),
        &snap.proposal.commit.to_string(),
    )
    .map_err(|e| gitops::GitError::Op {
        context: "diff".into(),
        message: e.message().to_string(),
    })?;
    Ok((snap, files))
}

fn file_stats(files: &[diff::FileDiff]) -> Vec<crate::journal::FileStat> {
    files
        .iter()
        .map(|f| crate::journal::FileStat {
            path: f.path.clone(),
            added: f.added,
            removed: f.removed,
            binary: f.binary,
        })
        .collect()
}

/// The write hook: journal a path's pre-task content (and mode) the first time it is written in
/// a task.
fn touch(
    rec: &mut Recorder,
    workdir: &Path,
    task: usize,
    iteration: u32,
    w: &tools::PendingWrite<'_>,
) -> Result<(), String> {
    if rec
        .state
        .task(task)
        .is_some_and(|t| t.touched.contains_key(w.rel))
    {
        return Ok(());
    }
    let preimage = match w.old {
        Some(bytes) => {
            let repo = gitops::open(workdir).map_err(|e| e.to_string())?;
            Some(
                gitops::write_blob(&repo, bytes)
                    .map_err(|e| e.to_string())?
                    .to_string(),
            )
        }
        None => None,
    };
    rec.record(JournalEvent::FileTouched {
        task,
        iteration,
        path: w.rel.to_string(),
        preimage,
        created_dirs: w.created_dirs.to_vec(),
        exec: w.old.map(|_| w.old_exec),
    })
    .map_err(|e| format!("cannot record the write: {e}"))
}

/// Journal the content an agent write is about to leave, before it is written: a restore can
/// then tell the agent's bytes on disk from the user's.
fn written(
    rec: &mut Recorder,
    workdir: &Path,
    task: usize,
    iteration: u32,
    w: &tools::PendingWrite<'_>,
) -> Result<(), String> {
    let repo = gitops::open(workdir).map_err(|e| e.to_string())?;
    let blob = gitops::write_blob(&repo, w.new).map_err(|e| e.to_string())?;
    // Not what tandem left there: the user changed it while the agent worked.
    let foreign = match rec.state.task(task) {
        Some(t) => {
            let left = last_left(&repo, t, iteration, w.rel).map_err(|e| e.to_string())?;
            left.is_some_and(|left| left != w.old.map(gitops::raw_id))
        }
        None => false,
    };
    rec.record(JournalEvent::FileWritten {
        task,
        iteration,
        path: w.rel.to_string(),
        blob: Some(blob.to_string()),
        foreign,
    })
    .map_err(|e| format!("cannot record the write: {e}"))
}

/// What tandem last left at `path` in this draft of `t` (the raw blob id; None inside: absent),
/// or None when tandem has not touched it yet in this task.
fn last_left(
    repo: &git2::Repository,
    t: &crate::state::TaskState,
    iteration: u32,
    path: &str,
) -> Result<Option<Option<git2::Oid>>, CoreError> {
    let Some(f) = t.touched.get(path) else {
        return Ok(None);
    };
    let oid = |b: &Option<String>| b.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
    if let Some(last) = f.written.last() {
        return Ok(Some(oid(last)));
    }
    if f.first_iteration < iteration {
        let prev = t
            .iterations
            .iter()
            .find(|i| i.number + 1 == iteration)
            .and_then(|i| i.worktree.clone());
        if let Some(w) = prev {
            return Ok(Some(
                gitops::file_at(repo, &w, path)?.map(|b| gitops::raw_id(&b)),
            ));
        }
    }
    Ok(Some(oid(&f.preimage)))
}

enum Interrupt {
    Cancel,
    Shutdown,
}

/// Run `fut` while still listening to the driver: cancel and shutdown interrupt it (dropping it
/// at its next await), anything else waits in `pending` until the engine is free.
async fn race<T>(
    fut: impl Future<Output = T>,
    ops: &mut OpRx,
    pending: &mut VecDeque<Op>,
) -> Result<T, Interrupt> {
    tokio::pin!(fut);
    let mut open = true;
    loop {
        tokio::select! {
            res = &mut fut => return Ok(res),
            op = ops.recv(), if open => match op {
                None => open = false,
                Some(Op::Shutdown) => return Err(Interrupt::Shutdown),
                Some(Op::CancelDraft) => return Err(Interrupt::Cancel),
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

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// Tool arguments for the journal: long strings (file contents) are cut, since the iteration
/// snapshot in git holds the real content.
fn shorten_args(raw: &str) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.len() > 400 => *s = clip(s, 400),
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    match tools::parse_arguments(raw) {
        Ok(mut v) => {
            walk(&mut v);
            v
        }
        Err(_) => serde_json::Value::String(clip(raw, 400)),
    }
}

/// Convenience for drivers: channels and a spawned engine.
pub fn spawn(engine: Engine) -> (OpTx, tokio::task::JoinHandle<Result<RunEnd, CoreError>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(engine.run(rx));
    (tx, handle)
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
