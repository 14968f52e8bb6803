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
use crate::tui::diff_view::{DiffView, HighlightJob, HunkHighlight, pins_for};
use crate::tui::editor::{EditResult, TextInput};
use crate::tui::keymap::{Action, Keymap};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEventKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod core_events;
mod hints;
mod keys;
mod popup_keys;
mod review_keys;
pub use keys::plural;

pub const FLUSH_EVERY: Duration = Duration::from_secs(15);
/// The narrowest terminal side by side is drawn in.
pub const SIDE_BY_SIDE_COLUMNS: u16 = 120;
const LIVE_TEXT_MAX: usize = 8_000;

/// What is on screen, with the state only that screen has: a review exists exactly while the
/// review screen is up, the brief being written only on the brief screen.
pub enum Screen {
    Brief(TextInput),
    Plan(PlanView),
    Drafting(Box<Drafting>),
    Review(Box<Review>),
    Summary(SummaryView),
}

/// The session's summary: which task row is selected (the table scrolls to it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryView {
    pub sel: usize,
}

/// The plan as a screen or as the overlay over another one: which task is selected, and the
/// planner's retry while it is asked again.
#[derive(Debug, Clone, Default)]
pub struct PlanView {
    pub sel: usize,
    pub retry: Option<String>,
}

/// The drafting screen: the agent's activity and what it is saying now. Made new when a draft
/// starts, so nothing of an earlier draft (a retry, a check, a scroll) shows in the next one.
#[derive(Debug, Clone, Default)]
pub struct Drafting {
    /// The task list's selection: the drafted task, until the user looks at another.
    pub task_sel: usize,
    /// The draft's log: its tool calls, what the agent said before each, how it ended.
    pub activity: Vec<String>,
    /// Rows scrolled up from the newest activity (0: follow it as it comes).
    pub activity_scroll: usize,
    /// What the model is saying now, until its next tool call moves it to the log.
    pub live_text: String,
    /// When the draft started; `None` once it is ready for review (or when not known, as
    /// on resume), and then a cancel has nothing to cancel.
    pub started: Option<Instant>,
    /// The checker judges a finished draft: a cancel now skips the check (the core says so).
    pub checking: bool,
    /// The model server failed and is asked again; gone when the model answers.
    pub retry: Option<String>,
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
    /// An answer to a thread from an earlier iteration.
    Answer {
        task: usize,
        iteration: u32,
        thread: crate::core::threads::ThreadRef,
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
    Reject {
        task: usize,
        iteration: u32,
    },
    /// Accept although criteria are unticked or threads open; `why` says which.
    Accept {
        task: usize,
        iteration: u32,
        why: String,
    },
    CancelDraft,
    DeleteTask(usize),
}

/// Lessons drawn from an accepted task's review, each kept, edited or discarded before the
/// session goes on (nothing is stored unless kept).
#[derive(Debug, Clone)]
pub struct LessonsReview {
    pub task: usize,
    pub items: Vec<LessonItem>,
    pub sel: usize,
    /// The selected lesson's text being edited.
    pub editing: Option<TextInput>,
    /// The client whose file a lesson may go to (None: only the repository's).
    pub client: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LessonItem {
    pub text: String,
    pub from: Vec<String>,
    /// None: not answered yet (discarded if left so).
    pub keep: Option<bool>,
    /// To the client's file instead of the repository's.
    pub for_client: bool,
}

pub enum Popup {
    /// The keys, this screen's first; `scroll`: rows scrolled down.
    Help {
        scroll: usize,
    },
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
    /// The draft's verification in full (`i` in the review), scrolled by `scroll` rows.
    Output {
        lines: Vec<String>,
        scroll: usize,
    },
    /// The drafter wants to run a command and the policy asks: y run · a always · n decline.
    /// A command longer than the screen scrolls (`scroll` rows); the keys stay in view.
    Command {
        task: usize,
        command: String,
        sandboxed: bool,
        /// What confines it here, in one sentence (from the core).
        confinement: String,
        check: bool,
        scroll: usize,
    },
    Lessons(LessonsReview),
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
    /// Where the cursor goes when the diff arrives: the line it was on when this review was
    /// reopened (a hand edit, the interdiff), else the first change.
    pub start_at: Option<(String, u32)>,
}

/// The review app's state. Public: what drivers and tests read or set (the folded state, the
/// screen and its popup, what the core waits for); the rest is the screens' own bookkeeping,
/// crate-visible for the drawing code in `tui::ui`.
pub struct App {
    pub state: SessionState,
    /// The review's side panes are hidden: the diff takes the whole width.
    pub(crate) zoom: bool,
    pub screen: Screen,
    /// The plan shown over the drafting, review or summary screen (`p`).
    pub(crate) plan_overlay: Option<PlanView>,
    pub popup: Option<Popup>,
    /// Questions from the core that came while another popup was open: shown one after the
    /// other, so a key meant for the open one never answers a new one put in its place.
    pub(crate) queued: std::collections::VecDeque<Popup>,
    pub(crate) keymap: Keymap,
    pub(crate) theme: Theme,
    pub(crate) time: Box<dyn TimeSource>,
    pub(crate) clock: ReviewClock,
    pub awaiting: Awaiting,
    pub status: Option<String>,
    pub(crate) spinner: usize,
    pub(crate) tutor: bool,
    pub(crate) quitting: bool,
    pub stopped: bool,
    pub editor_available: bool,
    /// Rows of the diff area at the last draw, for paging and highlighting what is visible.
    pub(crate) diff_height: usize,
    pub width: u16,
    next_request: u64,
    last_flush: Instant,
    hand_edit: Option<(Instant, chrono::DateTime<chrono::Utc>)>,
}

impl App {
    /// The model answered (or the request ended): no longer "reading the prompt".
    fn stop_waiting(&mut self) {
        if self
            .status
            .as_deref()
            .is_some_and(|s| s.starts_with("reading the prompt"))
        {
            self.status = None;
        }
    }

    pub fn new(
        keymap: Keymap,
        theme: Theme,
        time: Box<dyn TimeSource>,
        idle_limit: Duration,
    ) -> Self {
        let now = time.now();
        App {
            state: SessionState::default(),
            screen: Screen::Plan(PlanView::default()),
            plan_overlay: None,
            zoom: false,
            popup: None,
            queued: std::collections::VecDeque::new(),
            keymap,
            theme,
            time,
            clock: ReviewClock::new(idle_limit),
            awaiting: Awaiting::Nothing,
            status: None,
            spinner: 0,
            tutor: false,
            quitting: false,
            stopped: false,
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
        self.screen = Screen::Brief(TextInput::new("", true));
    }

    fn now(&self) -> (Instant, chrono::DateTime<chrono::Utc>) {
        (self.time.now(), self.time.wall())
    }

    /// The popups waiting behind the open one.
    pub fn queued_popups(&self) -> &std::collections::VecDeque<Popup> {
        &self.queued
    }

    /// Show `popup` now, or after the one open (and any queued before it) is closed.
    pub(crate) fn offer(&mut self, popup: Popup) {
        if self.popup.is_some() {
            self.queued.push_back(popup);
        } else {
            self.popup = Some(popup);
        }
    }

    /// The open popup was closed: the next queued one, if any, takes its place.
    fn next_popup(&mut self) {
        if self.popup.is_none() {
            self.popup = self.queued.pop_front();
        }
    }

    /// A draft of `task` ended: its command questions, open or queued, have no one to answer.
    fn drop_command_questions(&mut self, task: usize) {
        let stale = |p: &Popup| matches!(p, Popup::Command { task: t, .. } if *t == task);
        self.queued.retain(|p| !stale(p));
        if self.popup.as_ref().is_some_and(stale) {
            self.popup = None;
        }
    }

    /// The review on screen, if the review screen is up.
    pub fn review(&self) -> Option<&Review> {
        review_in(&self.screen)
    }

    pub fn review_mut(&mut self) -> Option<&mut Review> {
        review_in_mut(&mut self.screen)
    }

    /// The drafting screen's state, if it is up.
    pub fn drafting(&self) -> Option<&Drafting> {
        match &self.screen {
            Screen::Drafting(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn drafting_mut(&mut self) -> Option<&mut Drafting> {
        match &mut self.screen {
            Screen::Drafting(d) => Some(d),
            _ => None,
        }
    }

    /// The retry shown beside the spinner that waits for the model (planner or drafter).
    pub fn retrying(&self) -> Option<&str> {
        match &self.screen {
            Screen::Drafting(d) => d.retry.as_deref(),
            Screen::Plan(p) => p.retry.as_deref(),
            _ => None,
        }
    }

    /// The running draft's log (empty when no drafting screen is up).
    pub fn activity(&self) -> &[String] {
        self.drafting().map_or(&[], |d| &d.activity)
    }

    /// The index of the task the screen is about: the one under review, or the one selected
    /// while drafting; else the first.
    pub(crate) fn current_task_index(&self) -> usize {
        match &self.screen {
            Screen::Review(r) => r.task - 1,
            Screen::Drafting(d) => d.task_sel,
            _ => 0,
        }
    }

    /// The plan being looked at: the overlay if it is up, else the plan screen.
    pub(crate) fn plan_view(&self) -> Option<&PlanView> {
        match (&self.plan_overlay, &self.screen) {
            (Some(p), _) | (None, Screen::Plan(p)) => Some(p),
            _ => None,
        }
    }

    pub(crate) fn plan_view_mut(&mut self) -> Option<&mut PlanView> {
        match (&mut self.plan_overlay, &mut self.screen) {
            (Some(p), _) | (None, Screen::Plan(p)) => Some(p),
            _ => None,
        }
    }

    /// The reviewer can see the diff: the review clock runs only then.
    fn review_visible(&self) -> bool {
        self.plan_overlay.is_none()
            && self.hand_edit.is_none()
            && matches!(self.awaiting, Awaiting::Review { .. })
            && review_in(&self.screen).is_some_and(|r| !r.loading)
            && !matches!(self.popup, Some(Popup::Help { .. }))
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
        let Some(r) = review_in(&self.screen) else {
            return vec![];
        };
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
        // The spinners: the agent at work, the planner at work or waiting to retry.
        let planning = matches!(&self.screen, Screen::Plan(p)
            if p.retry.is_some() || self.state.tasks.is_empty());
        matches!(self.screen, Screen::Drafting(_))
            || planning
            || self.clock.is_running(self.time.now())
    }

    pub fn on_tick(&mut self) -> Vec<Effect> {
        self.spinner = self.spinner.wrapping_add(1);
        let now = self.time.now();
        if now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            return self.flush_time();
        }
        vec![]
    }

    /// Highlight jobs for what is on screen now.
    pub fn highlight_visible(&mut self) -> Vec<Effect> {
        let (height, theme) = (self.diff_height, &self.theme);
        match &mut self.screen {
            Screen::Review(r) if !r.loading => r
                .view
                .highlight_jobs(height, theme)
                .into_iter()
                .map(Effect::Highlight)
                .collect(),
            _ => vec![],
        }
    }

    pub fn on_highlight(&mut self, hl: HunkHighlight) {
        if let Some(r) = review_in_mut(&mut self.screen) {
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

    pub fn current_task_status(&self, n: usize) -> &'static str {
        self.state.task(n).map(|t| t.status.into()).unwrap_or("")
    }

    pub fn is_task_done(&self, n: usize) -> bool {
        self.state
            .task(n)
            .is_some_and(|t| matches!(t.status, TaskStatus::Accepted | TaskStatus::Rejected))
    }
}

/// The review on `screen`; free functions so a caller can still use the app's other fields
/// while it holds the review.
pub fn review_in(screen: &Screen) -> Option<&Review> {
    match screen {
        Screen::Review(r) => Some(r),
        _ => None,
    }
}

fn review_in_mut(screen: &mut Screen) -> Option<&mut Review> {
    match screen {
        Screen::Review(r) => Some(r),
        _ => None,
    }
}

/// The iteration's verification in full, for the output popup: the last checks round with each
/// failure's whole detail, the checker's verdicts with their evidence, and every command with
/// how it ended and its (capped) output. Empty: nothing was verified or run.
pub(super) fn verification_text(t: &crate::core::state::TaskState, iteration: u32) -> Vec<String> {
    use crate::core::journal::CheckStatus;
    let Some(it) = t.iterations.iter().find(|i| i.number == iteration) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !it.checks.is_empty() {
        out.push(format!(
            "Checks before review ({} fix round(s))",
            it.fix_rounds
        ));
        for c in &it.checks {
            let what = c.kind.word();
            let mark = match c.status {
                CheckStatus::Passed => "✓",
                CheckStatus::Failed => "✗",
                CheckStatus::NotRun => "–",
            };
            out.push(format!(" {mark} {what} `{}`", c.name));
            out.extend(c.detail.lines().map(|l| format!("     {l}")));
        }
        out.push(String::new());
    }
    if !it.verdicts.is_empty() || it.checker_problem.is_some() {
        out.push("The checker's verdicts (advice: you tick)".into());
        let regressed = t.regressed(iteration);
        for v in &it.verdicts {
            let text = t
                .spec
                .acceptance
                .get(v.criterion.wrapping_sub(1))
                .map_or("", String::as_str);
            out.push(format!(
                " {} {}. {text}: {}{}",
                v.verdict.mark(),
                v.criterion,
                v.verdict.words(),
                if regressed.contains(&v.criterion) {
                    " (REGRESSED: met before)"
                } else {
                    ""
                }
            ));
            if !v.evidence.is_empty() {
                out.push(format!("     {}", v.evidence));
            }
        }
        if let Some(p) = &it.checker_problem {
            out.push(format!(" ({p})"));
        }
        out.push(String::new());
    }
    if !it.commands.is_empty() {
        out.push("Commands the drafter ran".into());
        for c in &it.commands {
            out.push(format!(
                " $ {} → {}, {:.1} s{}",
                c.command.lines().next().unwrap_or(""),
                c.ending,
                c.duration_ms as f64 / 1000.0,
                if c.sandboxed { "" } else { " (not sandboxed)" }
            ));
            if !c.changed.is_empty() {
                out.push(format!("     changed {}", c.changed.join(", ")));
            }
            out.extend(c.output.lines().map(|l| format!("     {l}")));
        }
        out.push(String::new());
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}
