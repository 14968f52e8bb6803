//! The TUI's state machine: folds core `Event`s into what is on screen, turns keys into `Op`s,
//! and asks its host for side work (`Effect`s) — it never touches git, the model or the terminal.
//!
//! Invariants: domain state is only `state`, folded from `Recorded` events with the core's own
//! reducer, so the screen can never disagree with the journal. Review time is counted by
//! `clock` and sent to the core as spans at least every `FLUSH_EVERY`, before every decision and
//! on quit, so a crash loses at most one flush interval of review time.

use crate::core::Decision;
use crate::core::journal::{JournalEvent, TimeKind};
use crate::core::plan::TaskSpec;
use crate::core::protocol::{DiffBase, Event, NewComment, Op};
use crate::core::state::{NextStep, SessionState, TaskStatus};
use crate::infra::theme::Theme;
use crate::tui::clock::{ReviewClock, TimeSource};
use crate::tui::diff_view::{DiffView, HighlightJob, HunkHighlight};
use crate::tui::editor::{EditResult, TextInput};
use crate::tui::keymap::{Action, Keymap};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEventKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const FLUSH_EVERY: Duration = Duration::from_secs(15);
const LIVE_TEXT_MAX: usize = 8_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Brief,
    Plan,
    Drafting,
    Review,
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Files,
    Diff,
    Criteria,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Awaiting {
    Nothing,
    PlanApproval,
    Review {
        task: usize,
        iteration: u32,
    },
    Paused {
        task: usize,
        iteration: u32,
        reason: String,
    },
}

/// What an open text field is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Comment {
        task: usize,
        iteration: u32,
        path: String,
        line: u32,
    },
    EditComment {
        task: usize,
        iteration: u32,
        id: u32,
    },
    Note {
        task: usize,
        iteration: u32,
    },
    Task {
        index: Option<usize>,
    },
    Replan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Reject { task: usize, iteration: u32 },
    CancelDraft,
    DeleteTask(usize),
}

pub enum Popup {
    Help,
    Message {
        title: String,
        text: String,
    },
    Input {
        field: Field,
        input: TextInput,
        error: Option<String>,
    },
    Confirm(Confirm),
    /// A restore would write over files the user changed: keep mine / take tandem's / both.
    Conflict {
        task: usize,
        iteration: u32,
        doing: String,
        paths: Vec<String>,
        saved: String,
    },
}

/// Side work the host does for the app.
#[derive(Debug, Clone)]
pub enum Effect {
    Op(Op),
    Highlight(HighlightJob),
    /// Suspend the UI and run `$EDITOR` on a file; report back with `editor_closed`.
    Editor {
        path: PathBuf,
        line: Option<u32>,
        task: usize,
        iteration: u32,
        rel: String,
    },
    /// Start a session with this brief (the brief screen).
    StartSession {
        brief: String,
    },
    Quit,
}

pub struct Review {
    pub task: usize,
    pub iteration: u32,
    pub against: DiffBase,
    pub view: DiffView,
    pub request: u64,
    pub loading: bool,
    pub focus: Pane,
    pub file_sel: usize,
    pub crit_sel: usize,
    /// A comment or note was sent for this iteration; the core records ops in order, so a
    /// revision requested right after it carries it even before it comes back as an event.
    pub feedback_sent: bool,
}

pub struct App {
    pub state: SessionState,
    pub screen: Screen,
    pub plan_overlay: bool,
    pub popup: Option<Popup>,
    pub keymap: Keymap,
    pub theme: Theme,
    pub time: Box<dyn TimeSource>,
    pub clock: ReviewClock,
    pub awaiting: Awaiting,
    pub review: Option<Review>,
    pub plan_sel: usize,
    pub task_sel: usize,
    pub activity: Vec<String>,
    pub activity_scroll: usize,
    pub live_text: String,
    pub draft_started: Option<Instant>,
    pub retry: Option<String>,
    pub status: Option<String>,
    pub spinner: usize,
    pub tutor: bool,
    pub quitting: bool,
    pub stopped: bool,
    pub brief: TextInput,
    pub editor_available: bool,
    /// Rows of the diff area at the last draw, for paging and highlighting what is visible.
    pub diff_height: usize,
    pub width: u16,
    next_request: u64,
    last_flush: Instant,
    hand_edit: Option<(Instant, chrono::DateTime<chrono::Utc>)>,
}

impl App {
    pub fn new(
        keymap: Keymap,
        theme: Theme,
        time: Box<dyn TimeSource>,
        idle_limit: Duration,
    ) -> Self {
        let now = time.now();
        App {
            state: SessionState::default(),
            screen: Screen::Plan,
            plan_overlay: false,
            popup: None,
            keymap,
            theme,
            time,
            clock: ReviewClock::new(idle_limit),
            awaiting: Awaiting::Nothing,
            review: None,
            plan_sel: 0,
            task_sel: 0,
            activity: Vec::new(),
            activity_scroll: 0,
            live_text: String::new(),
            draft_started: None,
            retry: None,
            status: None,
            spinner: 0,
            tutor: false,
            quitting: false,
            stopped: false,
            brief: TextInput::new("", true),
            editor_available: false,
            diff_height: 20,
            width: 100,
            next_request: 1,
            last_flush: now,
            hand_edit: None,
        }
    }

    /// Start on the brief screen: no session yet, the user writes the job here.
    pub fn ask_for_brief(&mut self) {
        self.screen = Screen::Brief;
    }

    fn now(&self) -> (Instant, chrono::DateTime<chrono::Utc>) {
        (self.time.now(), self.time.wall())
    }

    /// Is a diff under review on screen with nothing else taking the reviewer's attention?
    fn review_visible(&self) -> bool {
        self.screen == Screen::Review
            && !self.plan_overlay
            && self.hand_edit.is_none()
            && matches!(self.awaiting, Awaiting::Review { .. })
            && self.review.as_ref().is_some_and(|r| !r.loading)
            && !matches!(self.popup, Some(Popup::Help))
    }

    fn sync_clock(&mut self) {
        let (now, wall) = self.now();
        let visible = self.review_visible();
        self.clock.set_visible(visible, now, wall);
    }

    /// Journal the review time counted so far.
    fn flush_time(&mut self) -> Vec<Effect> {
        let (now, wall) = self.now();
        self.last_flush = now;
        let Some(r) = &self.review else { return vec![] };
        match self.clock.take_span(now, wall) {
            Some((started, ms)) => vec![Effect::Op(Op::AddHumanTime {
                task: r.task,
                iteration: r.iteration,
                kind: TimeKind::Review,
                ms,
                started,
            })],
            None => vec![],
        }
    }

    pub fn needs_tick(&self) -> bool {
        self.screen == Screen::Drafting
            || self.clock.is_running(self.time.now())
            || self.retry.is_some()
    }

    pub fn on_tick(&mut self) -> Vec<Effect> {
        self.spinner = self.spinner.wrapping_add(1);
        let now = self.time.now();
        if now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            return self.flush_time();
        }
        vec![]
    }

    pub fn on_core_event(&mut self, ev: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            Event::SessionLoaded { entries, .. } => {
                self.state = SessionState::from_entries(&entries);
                self.screen = match self.state.next_step() {
                    NextStep::Plan | NextStep::ApprovePlan => Screen::Plan,
                    NextStep::Done | NextStep::Finish => Screen::Summary,
                    _ => Screen::Drafting,
                };
            }
            Event::Recorded(entry) => {
                self.state.apply(&entry);
                fx.extend(self.recorded(&entry.event));
            }
            Event::Status { message } => self.status = Some(message),
            Event::ModelText { text } => {
                self.live_text.push_str(&text);
                if self.live_text.len() > LIVE_TEXT_MAX {
                    let mut cut = self.live_text.len() - LIVE_TEXT_MAX / 2;
                    while !self.live_text.is_char_boundary(cut) {
                        cut += 1;
                    }
                    self.live_text.drain(..cut);
                }
            }
            Event::ToolStarted { name } => self.status = Some(format!("calling {name}…")),
            Event::Retrying {
                attempt,
                max,
                delay_ms,
                reason,
            } => {
                self.retry = Some(format!(
                    "retrying in {}s (attempt {attempt}/{max}): {reason}",
                    delay_ms.div_ceil(1000)
                ));
            }
            Event::AwaitingPlanApproval => {
                self.awaiting = Awaiting::PlanApproval;
                self.status = None;
                self.screen = Screen::Plan;
            }
            Event::AwaitingReview { task, iteration } => {
                self.awaiting = Awaiting::Review { task, iteration };
                self.retry = None;
                self.status = None;
                fx.extend(self.open_review(task, iteration, DiffBase::TaskBase));
            }
            Event::DraftPaused {
                task,
                iteration,
                reason,
            } => {
                self.awaiting = Awaiting::Paused {
                    task,
                    iteration,
                    reason,
                };
                self.retry = None;
            }
            Event::Diff { request, files, .. } => {
                if let Some(r) = self.review.as_mut().filter(|r| r.request == request) {
                    r.view.set_files(files);
                    r.loading = false;
                    let comments = self
                        .state
                        .iteration(r.task, r.iteration)
                        .map(|i| i.comments.clone())
                        .unwrap_or_default();
                    r.view.set_comments(&comments);
                }
                fx.extend(self.highlight_visible());
            }
            Event::HandEditReady {
                task,
                iteration,
                path,
                abs_path,
                line,
            } => {
                fx.extend(self.flush_time());
                self.hand_edit = Some(self.now());
                fx.push(Effect::Editor {
                    path: abs_path,
                    line,
                    task,
                    iteration,
                    rel: path,
                });
            }
            Event::Conflict {
                task,
                iteration,
                doing,
                paths,
                saved,
            } => {
                self.popup = Some(Popup::Conflict {
                    task,
                    iteration,
                    doing,
                    paths,
                    saved,
                });
            }
            Event::Error { message } => {
                self.popup = Some(Popup::Message {
                    title: "Problem".into(),
                    text: message,
                });
            }
            Event::Refused { op, reason, .. } => self.refused(op, reason),
            Event::SessionComplete => {
                self.awaiting = Awaiting::Nothing;
                self.screen = Screen::Summary;
                self.review = None;
            }
            Event::Stopped => {
                self.stopped = true;
                if self.quitting {
                    fx.push(Effect::Quit);
                }
            }
        }
        self.sync_clock();
        fx
    }

    fn recorded(&mut self, ev: &JournalEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            JournalEvent::PlanSet { tasks, .. } => {
                self.plan_sel = self.plan_sel.min(tasks.len().saturating_sub(1));
            }
            JournalEvent::DraftStarted {
                task, iteration, ..
            } => {
                self.screen = Screen::Drafting;
                self.plan_overlay = false;
                self.awaiting = Awaiting::Nothing;
                self.review = None;
                self.activity.clear();
                self.activity_scroll = 0;
                self.live_text.clear();
                self.draft_started = Some(self.time.now());
                self.task_sel = task - 1;
                self.activity
                    .push(format!("task {task}, iteration {iteration}: drafting"));
            }
            JournalEvent::ToolCall {
                name,
                args,
                ok,
                result,
                lines,
                ..
            } => {
                let line = crate::core::describe::tool_call(name, args, *ok, result, *lines);
                self.activity.push(line);
                self.live_text.clear();
            }
            JournalEvent::DraftAborted { reason, .. } => {
                self.activity.push(format!("attempt dropped: {reason}"));
            }
            JournalEvent::IterationReady {
                files, incomplete, ..
            } => {
                let (a, r) = files
                    .iter()
                    .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
                self.activity.push(format!(
                    "ready for review{}: {} file(s) +{a} −{r}",
                    if *incomplete { " (incomplete)" } else { "" },
                    files.len()
                ));
                self.draft_started = None;
            }
            JournalEvent::CommentAdded {
                task, iteration, ..
            }
            | JournalEvent::CommentEdited {
                task, iteration, ..
            }
            | JournalEvent::CommentDeleted {
                task, iteration, ..
            } => {
                let comments = self
                    .state
                    .iteration(*task, *iteration)
                    .map(|i| i.comments.clone())
                    .unwrap_or_default();
                if let Some(r) = self
                    .review
                    .as_mut()
                    .filter(|r| r.task == *task && r.iteration == *iteration)
                {
                    r.view.set_comments(&comments);
                }
            }
            JournalEvent::HandEdited {
                task, iteration, ..
            } => {
                if let Some(r) = &self.review
                    && r.task == *task
                    && r.iteration == *iteration
                {
                    let against = r.against;
                    fx.extend(self.open_review(*task, *iteration, against));
                }
            }
            JournalEvent::Committed { task, commit, .. } => {
                self.status = Some(format!(
                    "task {task} committed as {}",
                    &commit[..commit.len().min(10)]
                ));
            }
            JournalEvent::Restored { task, .. } => {
                self.status = Some(format!(
                    "task {task} rejected; its files are back as they were"
                ));
            }
            _ => {}
        }
        fx
    }

    fn open_review(&mut self, task: usize, iteration: u32, against: DiffBase) -> Vec<Effect> {
        let request = self.next_request;
        self.next_request += 1;
        let keep = self
            .review
            .as_ref()
            .filter(|r| r.task == task && r.iteration == iteration);
        let (focus, crit_sel, side, feedback_sent) = keep
            .map(|r| (r.focus, r.crit_sel, r.view.side_by_side, r.feedback_sent))
            .unwrap_or((Pane::Diff, 0, false, false));
        if keep.is_none() {
            self.clock.reset_cycle();
        }
        let mut view = DiffView::default();
        if side {
            view.toggle_side_by_side();
        }
        self.review = Some(Review {
            task,
            iteration,
            against,
            view,
            request,
            loading: true,
            focus,
            file_sel: 0,
            crit_sel,
            feedback_sent,
        });
        self.screen = Screen::Review;
        self.plan_overlay = false;
        vec![Effect::Op(Op::RequestDiff {
            request,
            task,
            iteration,
            against,
        })]
    }

    /// Highlight jobs for what is on screen now.
    pub fn highlight_visible(&mut self) -> Vec<Effect> {
        match self.review.as_mut() {
            Some(r) if !r.loading => r
                .view
                .highlight_jobs(self.diff_height, &self.theme)
                .into_iter()
                .map(Effect::Highlight)
                .collect(),
            _ => vec![],
        }
    }

    pub fn on_highlight(&mut self, hl: HunkHighlight) {
        if let Some(r) = self.review.as_mut() {
            r.view.set_highlight(hl);
        }
    }

    /// The editor closed (hand edit): tell the core, resume the clock.
    pub fn editor_closed(&mut self, task: usize, iteration: u32, rel: String) -> Vec<Effect> {
        let (now, wall) = self.now();
        let (ms, started) = match self.hand_edit.take() {
            Some((t0, w0)) => (now.saturating_duration_since(t0).as_millis() as u64, w0),
            None => (0, wall),
        };
        self.sync_clock();
        vec![Effect::Op(Op::EndHandEdit {
            task,
            iteration,
            path: rel,
            ms,
            started,
        })]
    }

    pub fn on_mouse(&mut self, kind: MouseEventKind) -> Vec<Effect> {
        let (now, wall) = self.now();
        self.clock.input(now, wall);
        let delta = match kind {
            MouseEventKind::ScrollDown => 3,
            MouseEventKind::ScrollUp => -3,
            _ => return vec![],
        };
        match self.screen {
            Screen::Review => {
                if let Some(r) = self.review.as_mut() {
                    r.view.move_by(delta);
                }
                self.highlight_visible()
            }
            Screen::Drafting => {
                self.activity_scroll = (self.activity_scroll as isize + delta).max(0) as usize;
                vec![]
            }
            _ => vec![],
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return vec![];
        }
        let (now, wall) = self.now();
        self.clock.input(now, wall);
        let fx = if self.popup.is_some() {
            self.popup_key(key)
        } else if self.screen == Screen::Brief {
            self.brief_key(key)
        } else {
            self.screen_key(key)
        };
        self.sync_clock();
        fx
    }

    fn brief_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match self.brief.key(key) {
            EditResult::Submit if !self.brief.text.trim().is_empty() => {
                self.screen = Screen::Plan;
                self.status = Some("planning the job…".into());
                vec![Effect::StartSession {
                    brief: self.brief.text.clone(),
                }]
            }
            EditResult::Submit => {
                self.status = Some("the brief is empty".into());
                vec![]
            }
            EditResult::Cancel => {
                self.quitting = true;
                vec![Effect::Quit]
            }
            EditResult::Editing => vec![],
        }
    }

    fn popup_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(popup) = self.popup.take() else {
            return vec![];
        };
        match popup {
            Popup::Help | Popup::Message { .. } => {
                if !(self.keymap.is(Action::Close, &key)
                    || self.keymap.is(Action::Confirm, &key)
                    || self.keymap.is(Action::Help, &key)
                    || self.keymap.is(Action::Quit, &key))
                {
                    self.popup = Some(popup);
                }
                vec![]
            }
            Popup::Conflict {
                task,
                iteration,
                ref paths,
                ..
            } => {
                use crate::core::journal::ConflictChoice;
                let choice = match key.code {
                    crossterm::event::KeyCode::Char('m') => ConflictChoice::KeepMine,
                    crossterm::event::KeyCode::Char('t') => ConflictChoice::Take,
                    crossterm::event::KeyCode::Char('b') => ConflictChoice::KeepBoth,
                    _ if self.keymap.is(Action::Quit, &key) => {
                        // Quit without answering: nothing is written; resume asks again.
                        return self.screen_key(key);
                    }
                    _ => {
                        self.popup = Some(popup);
                        return vec![];
                    }
                };
                vec![Effect::Op(Op::ResolveConflict {
                    task,
                    iteration,
                    choice,
                    paths: paths.clone(),
                })]
            }
            Popup::Confirm(what) => {
                let yes = matches!(
                    key.code,
                    crossterm::event::KeyCode::Char('y') | crossterm::event::KeyCode::Enter
                );
                if !yes {
                    return vec![];
                }
                match what {
                    Confirm::Reject { task, iteration } => {
                        self.decide(task, iteration, Decision::Reject)
                    }
                    Confirm::CancelDraft => vec![Effect::Op(Op::CancelDraft)],
                    Confirm::DeleteTask(i) => {
                        let mut tasks = self.plan_tasks();
                        if i < tasks.len() {
                            tasks.remove(i);
                        }
                        self.set_plan(tasks)
                    }
                }
            }
            Popup::Input {
                field, mut input, ..
            } => match input.key(key) {
                EditResult::Editing => {
                    self.popup = Some(Popup::Input {
                        field,
                        input,
                        error: None,
                    });
                    vec![]
                }
                EditResult::Cancel => vec![],
                EditResult::Submit => self.submit_field(field, input),
            },
        }
    }

    /// The core refused an op. What the user typed for it comes back in its field with the
    /// reason, to fix and send again; anything else is shown as a problem.
    fn refused(&mut self, op: Op, reason: String) {
        let (field, text) = match op {
            Op::AddComment {
                task,
                iteration,
                comment,
            } => (
                Field::Comment {
                    task,
                    iteration,
                    path: comment.path,
                    line: comment.line,
                },
                comment.text,
            ),
            Op::EditComment {
                task,
                iteration,
                id,
                text,
            } => (
                Field::EditComment {
                    task,
                    iteration,
                    id,
                },
                text,
            ),
            Op::SetNote {
                task,
                iteration,
                text,
            } => (Field::Note { task, iteration }, text),
            _ => {
                self.popup = Some(Popup::Message {
                    title: "Problem".into(),
                    text: reason,
                });
                return;
            }
        };
        self.popup = Some(Popup::Input {
            field,
            input: TextInput::new(&text, false),
            error: Some(reason),
        });
    }

    fn submit_field(&mut self, field: Field, input: TextInput) -> Vec<Effect> {
        let text = input.text.trim().to_string();
        match field {
            Field::Comment {
                task,
                iteration,
                path,
                line,
            } => {
                if text.is_empty() {
                    return vec![];
                }
                self.note_feedback();
                vec![Effect::Op(Op::AddComment {
                    task,
                    iteration,
                    comment: NewComment { path, line, text },
                })]
            }
            Field::EditComment {
                task,
                iteration,
                id,
            } => {
                if text.is_empty() {
                    return vec![Effect::Op(Op::DeleteComment {
                        task,
                        iteration,
                        id,
                    })];
                }
                vec![Effect::Op(Op::EditComment {
                    task,
                    iteration,
                    id,
                    text,
                })]
            }
            Field::Note { task, iteration } => {
                if !text.is_empty() {
                    self.note_feedback();
                }
                vec![Effect::Op(Op::SetNote {
                    task,
                    iteration,
                    text,
                })]
            }
            Field::Replan => vec![Effect::Op(Op::Replan { note: text })],
            Field::Task { index } => {
                let toml_text = format!("[[task]]\n{}", input.text);
                match crate::core::plan::parse(&toml_text, "task") {
                    Ok(mut parsed) if parsed.len() == 1 => {
                        let task = parsed.remove(0);
                        let mut tasks = self.plan_tasks();
                        match index {
                            Some(i) if i < tasks.len() => {
                                tasks[i] = TaskSpec {
                                    human: tasks[i].human,
                                    ..task
                                }
                            }
                            _ => {
                                tasks.push(task);
                                self.plan_sel = tasks.len() - 1;
                            }
                        }
                        self.set_plan(tasks)
                    }
                    Ok(_) => vec![],
                    Err(e) => {
                        // Keep what was typed; say what is wrong.
                        // Line numbers count the `[[task]]` header added above; the user never saw it.
                        let message = e.to_string().replace("task: ", "");
                        let message = regex::Regex::new(r"line (\d+)")
                            .map(|re| {
                                re.replace(&message, |c: &regex::Captures<'_>| {
                                    let n: usize = c[1].parse().unwrap_or(1);
                                    format!("line {}", n.saturating_sub(1).max(1))
                                })
                                .to_string()
                            })
                            .unwrap_or(message);
                        self.popup = Some(Popup::Input {
                            field: Field::Task { index },
                            input,
                            error: Some(message),
                        });
                        vec![]
                    }
                }
            }
        }
    }

    fn note_feedback(&mut self) {
        if let Some(r) = self.review.as_mut() {
            r.feedback_sent = true;
        }
    }

    fn plan_tasks(&self) -> Vec<TaskSpec> {
        self.state.tasks.iter().map(|t| t.spec.clone()).collect()
    }

    fn set_plan(&mut self, tasks: Vec<TaskSpec>) -> Vec<Effect> {
        if tasks.is_empty() {
            self.status = Some("a plan needs at least one task".into());
            return vec![];
        }
        vec![Effect::Op(Op::SetPlan { tasks })]
    }

    fn decide(&mut self, task: usize, iteration: u32, action: Decision) -> Vec<Effect> {
        let mut fx = self.flush_time();
        fx.push(Effect::Op(Op::Decide {
            task,
            iteration,
            action,
        }));
        self.awaiting = Awaiting::Nothing;
        fx
    }

    fn screen_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.keymap.is(Action::Help, &key) {
            self.popup = Some(Popup::Help);
            return vec![];
        }
        if self.keymap.is(Action::Quit, &key) {
            let mut fx = self.flush_time();
            self.quitting = true;
            if self.stopped {
                fx.push(Effect::Quit);
            } else {
                fx.push(Effect::Op(Op::Shutdown));
            }
            return fx;
        }
        if self.keymap.is(Action::Plan, &key) && self.screen != Screen::Plan {
            self.plan_overlay = !self.plan_overlay;
            return vec![];
        }
        if self.plan_overlay || self.screen == Screen::Plan {
            if self.plan_overlay && self.keymap.is(Action::Close, &key) {
                self.plan_overlay = false;
                return vec![];
            }
            return self.plan_key(key);
        }
        match self.screen {
            Screen::Drafting => self.drafting_key(key),
            Screen::Review => self.review_key(key),
            _ => vec![],
        }
    }

    fn plan_editable(&self) -> bool {
        !self.state.plan_approved && matches!(self.awaiting, Awaiting::PlanApproval)
    }

    fn plan_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let n = self.state.tasks.len();
        let Some(action) = self.keymap.lookup(
            &key,
            &[
                Down,
                Up,
                Top,
                Bottom,
                Confirm,
                AddTask,
                Editor,
                DeleteTask,
                MoveTaskDown,
                MoveTaskUp,
                ToggleHuman,
                Replan,
            ],
        ) else {
            return vec![];
        };
        match action {
            Down => self.plan_sel = (self.plan_sel + 1).min(n.saturating_sub(1)),
            Up => self.plan_sel = self.plan_sel.saturating_sub(1),
            Top => self.plan_sel = 0,
            Bottom => self.plan_sel = n.saturating_sub(1),
            _ if !self.plan_editable() => {
                self.status = Some("the plan is approved; it can be viewed, not changed".into());
            }
            Confirm => return vec![Effect::Op(Op::ApprovePlan)],
            AddTask => {
                self.popup = Some(Popup::Input {
                    field: Field::Task { index: None },
                    input: TextInput::new(
                        "title = \"\"\ninstructions = \"\"\nacceptance = [\"\"]\n",
                        true,
                    ),
                    error: None,
                });
            }
            Editor => {
                if let Some(t) = self.state.tasks.get(self.plan_sel) {
                    let text = crate::core::plan::to_toml(std::slice::from_ref(&t.spec))
                        .trim_start_matches("[[task]]\n")
                        .to_string();
                    self.popup = Some(Popup::Input {
                        field: Field::Task {
                            index: Some(self.plan_sel),
                        },
                        input: TextInput::new(&text, true),
                        error: None,
                    });
                }
            }
            DeleteTask if n > 0 => {
                self.popup = Some(Popup::Confirm(self::Confirm::DeleteTask(self.plan_sel)))
            }
            MoveTaskDown | MoveTaskUp => {
                let mut tasks = self.plan_tasks();
                let i = self.plan_sel;
                let j = if action == MoveTaskDown {
                    i + 1
                } else {
                    i.wrapping_sub(1)
                };
                if j < tasks.len() {
                    tasks.swap(i, j);
                    self.plan_sel = j;
                    return self.set_plan(tasks);
                }
            }
            ToggleHuman => {
                let mut tasks = self.plan_tasks();
                if let Some(t) = tasks.get_mut(self.plan_sel) {
                    t.human = !t.human;
                    return self.set_plan(tasks);
                }
            }
            Replan => {
                self.popup = Some(Popup::Input {
                    field: Field::Replan,
                    input: TextInput::new("", false),
                    error: None,
                });
            }
            _ => {}
        }
        vec![]
    }

    fn drafting_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let n = self.state.tasks.len();
        match self.keymap.lookup(
            &key,
            &[Down, Up, Top, Bottom, PageDown, PageUp, Reject, Confirm],
        ) {
            Some(Down) => self.task_sel = (self.task_sel + 1).min(n.saturating_sub(1)),
            Some(Up) => self.task_sel = self.task_sel.saturating_sub(1),
            Some(Top) => self.task_sel = 0,
            Some(Bottom) => self.task_sel = n.saturating_sub(1),
            Some(PageDown) => self.activity_scroll += 10,
            Some(PageUp) => self.activity_scroll = self.activity_scroll.saturating_sub(10),
            Some(Reject) if self.draft_started.is_some() => {
                self.popup = Some(Popup::Confirm(self::Confirm::CancelDraft));
            }
            Some(Confirm) if matches!(self.awaiting, Awaiting::Paused { .. }) => {
                self.awaiting = Awaiting::Nothing;
                return vec![Effect::Op(Op::ResumeDraft)];
            }
            _ => {}
        }
        vec![]
    }

    fn review_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let Some(r) = self.review.as_ref() else {
            return vec![];
        };
        let (task, iteration) = (r.task, r.iteration);
        let decidable = matches!(self.awaiting, Awaiting::Review { task: t, iteration: i } if t == task && i == iteration);
        let page = self.diff_height.max(2) as isize - 1;
        let Some(action) = self.keymap.lookup(
            &key,
            &[
                Down,
                Up,
                PageDown,
                PageUp,
                Top,
                Bottom,
                SwitchPane,
                Confirm,
                DeleteComment,
                Comment,
                Note,
                Tick,
                Revise,
                Accept,
                Reject,
                Editor,
                Interdiff,
                SideBySide,
            ],
        ) else {
            return vec![];
        };
        let n_criteria = self
            .state
            .task(task)
            .map(|t| t.spec.acceptance.len())
            .unwrap_or(0);
        let Some(r) = self.review.as_mut() else {
            return vec![];
        };
        let n_files = r.view.files.len();
        match (action, r.focus) {
            (Down | Up | PageDown | PageUp | Top | Bottom, Pane::Diff) => {
                let rows = r.view.rows.len() as isize;
                let delta = match action {
                    Down => 1,
                    Up => -1,
                    PageDown => page,
                    PageUp => -page,
                    Top => -rows,
                    _ => rows,
                };
                r.view.move_by(delta);
                return self.highlight_visible();
            }
            (Down | Up | Top | Bottom, Pane::Files) => {
                r.file_sel = step(r.file_sel, action, n_files);
                r.view.jump_to_file(r.file_sel);
                return self.highlight_visible();
            }
            (Down | Up | Top | Bottom, Pane::Criteria) => {
                r.crit_sel = step(r.crit_sel, action, n_criteria)
            }
            (SwitchPane, _) => {
                r.focus = match r.focus {
                    Pane::Diff => Pane::Files,
                    Pane::Files => Pane::Criteria,
                    Pane::Criteria => Pane::Diff,
                };
            }
            (Confirm, Pane::Files) => {
                r.view.jump_to_file(r.file_sel);
                r.focus = Pane::Diff;
                return self.highlight_visible();
            }
            (Tick, _) | (Confirm, Pane::Criteria) if decidable => {
                let met = self
                    .state
                    .task(task)
                    .and_then(|t| t.criteria_met.get(r.crit_sel).copied())
                    .unwrap_or(false);
                if r.crit_sel < n_criteria {
                    return vec![Effect::Op(Op::TickCriterion {
                        task,
                        criterion: r.crit_sel + 1,
                        met: !met,
                    })];
                }
            }
            (Comment | Confirm, Pane::Diff) if decidable => {
                if let Some(id) = r.view.cursor_comment() {
                    let text = self
                        .state
                        .iteration(task, iteration)
                        .and_then(|it| it.comments.iter().find(|c| c.id == id))
                        .map(|c| c.text.clone())
                        .unwrap_or_default();
                    self.popup = Some(Popup::Input {
                        field: Field::EditComment {
                            task,
                            iteration,
                            id,
                        },
                        input: TextInput::new(&text, false),
                        error: None,
                    });
                } else if let Some((path, line)) = r.view.cursor_anchor() {
                    self.popup = Some(Popup::Input {
                        field: Field::Comment {
                            task,
                            iteration,
                            path,
                            line,
                        },
                        input: TextInput::new("", false),
                        error: None,
                    });
                } else if action == Comment {
                    self.status = Some(
                        "put the cursor on an added or unchanged line to comment on it".into(),
                    );
                }
            }
            (DeleteComment, Pane::Diff) if decidable => {
                if let Some(id) = r.view.cursor_comment() {
                    return vec![Effect::Op(Op::DeleteComment {
                        task,
                        iteration,
                        id,
                    })];
                }
            }
            (Note, _) if decidable => {
                let note = self
                    .state
                    .iteration(task, iteration)
                    .and_then(|i| i.note.clone())
                    .unwrap_or_default();
                self.popup = Some(Popup::Input {
                    field: Field::Note { task, iteration },
                    input: TextInput::new(&note, false),
                    error: None,
                });
            }
            (Revise, _) if decidable => {
                let it = self.state.iteration(task, iteration);
                let has_feedback = r.feedback_sent
                    || it.is_some_and(|i| !i.comments.is_empty() || i.note.is_some());
                if !has_feedback {
                    self.status = Some(
                        "add a comment (c) or a note (n) first: the revision request carries them"
                            .into(),
                    );
                    return vec![];
                }
                return self.decide(task, iteration, Decision::Revise);
            }
            (Accept, _) if decidable => return self.decide(task, iteration, Decision::Accept),
            (Reject, _) if decidable => {
                self.popup = Some(Popup::Confirm(self::Confirm::Reject { task, iteration }));
            }
            (Editor, _) if decidable => {
                let anchor = r.view.cursor_anchor().or_else(|| {
                    r.view
                        .cursor_file()
                        .map(|f| (r.view.files[f].path.clone(), 1))
                });
                if let Some((path, line)) = anchor {
                    if !self.editor_available {
                        self.status = Some("set $EDITOR (or $VISUAL) to edit files by hand".into());
                        return vec![];
                    }
                    return vec![Effect::Op(Op::BeginHandEdit {
                        task,
                        iteration,
                        path,
                        line: Some(line),
                    })];
                }
            }
            (Interdiff, _) => {
                if iteration < 2 {
                    self.status = Some(
                        "this is the first iteration: there is no earlier one to compare with"
                            .into(),
                    );
                    return vec![];
                }
                let against = match r.against {
                    DiffBase::TaskBase => DiffBase::PreviousIteration,
                    DiffBase::PreviousIteration => DiffBase::TaskBase,
                };
                return self.open_review(task, iteration, against);
            }
            (SideBySide, _) => {
                if !r.view.side_by_side && self.width < 120 {
                    self.status =
                        Some("side by side needs a terminal at least 120 columns wide".into());
                } else {
                    r.view.toggle_side_by_side();
                    return self.highlight_visible();
                }
            }
            (_, _) if !decidable => {
                self.status = Some("this iteration is decided already".into());
            }
            _ => {}
        }
        vec![]
    }

    /// A line of teaching for the demo, tied to where the user is.
    pub fn tutor_tip(&self) -> Option<String> {
        if !self.tutor {
            return None;
        }
        let k = |a| self.keymap.label(a);
        Some(match (&self.awaiting, self.screen) {
            (_, Screen::Summary) => format!(
                "Done: both tasks are committed with your review time in the trailers. {} quits; `git log` in the demo repo shows them.",
                k(Action::Quit)
            ),
            (Awaiting::PlanApproval, _) => format!(
                "The model proposed this plan. {}/{} move, {} edits a task, {} approves it and drafting starts.",
                k(Action::Down),
                k(Action::Up),
                k(Action::Editor),
                k(Action::Confirm)
            ),
            (Awaiting::Review { task: 1, iteration: 1 }, _) => format!(
                "Review the draft. Move to the greeting line ({}/{}), press {} to comment, then {} to request a revision.",
                k(Action::Down),
                k(Action::Up),
                k(Action::Comment),
                k(Action::Revise)
            ),
            (Awaiting::Review { iteration, .. }, _) if *iteration > 1 => format!(
                "{} shows only what changed since your feedback. {} to the criteria, {} ticks them, {} accepts and commits.",
                k(Action::Interdiff),
                k(Action::SwitchPane),
                k(Action::Tick),
                k(Action::Accept)
            ),
            (Awaiting::Review { .. }, _) => format!(
                "Accept with {}, or reject with {} (the files go back as they were).",
                k(Action::Accept),
                k(Action::Reject)
            ),
            (_, Screen::Drafting) => "The agent is drafting: each tool call appears as a line. The clock is paused while it works.".into(),
            _ => return None,
        })
    }

    /// Keys worth showing in the hint bar right now.
    pub fn hint_actions(&self) -> Vec<Action> {
        use Action::*;
        match self.popup {
            // Answered only by its own letters (shown in it); quitting leaves it for later.
            Some(Popup::Conflict { .. }) => return vec![Quit],
            Some(_) => return vec![Close],
            None => {}
        }
        if self.plan_overlay {
            return vec![Down, Up, Close, Help];
        }
        match self.screen {
            Screen::Brief => vec![],
            Screen::Plan if self.plan_editable() => {
                vec![
                    Down,
                    Up,
                    Confirm,
                    Editor,
                    AddTask,
                    DeleteTask,
                    MoveTaskDown,
                    ToggleHuman,
                    Replan,
                    Help,
                    Quit,
                ]
            }
            Screen::Plan => vec![Down, Up, Help, Quit],
            Screen::Drafting => match self.awaiting {
                Awaiting::Paused { .. } => vec![Confirm, Plan, Help, Quit],
                _ => vec![Down, Up, Reject, Plan, Help, Quit],
            },
            Screen::Review => vec![
                Down, Up, SwitchPane, Comment, Note, Tick, Revise, Accept, Reject, Editor,
                Interdiff, SideBySide, Help, Quit,
            ],
            Screen::Summary => vec![Plan, Help, Quit],
        }
    }

    pub fn current_task_status(&self, n: usize) -> &'static str {
        self.state.task(n).map(|t| t.status.into()).unwrap_or("")
    }

    pub fn is_task_done(&self, n: usize) -> bool {
        self.state
            .task(n)
            .is_some_and(|t| matches!(t.status, TaskStatus::Accepted | TaskStatus::Rejected))
    }
}

fn step(sel: usize, action: Action, n: usize) -> usize {
    match action {
        Action::Down => (sel + 1).min(n.saturating_sub(1)),
        Action::Up => sel.saturating_sub(1),
        Action::Top => 0,
        _ => n.saturating_sub(1),
    }
}
