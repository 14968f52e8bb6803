//! The replay view: a session's timeline on the left, and on the right what the reviewer saw at
//! that moment — the iteration's diff with the comments as they stood, or the interdiff — with
//! review and agent time per cycle. Steps by event, iteration or task, or plays as a time-lapse.
//!
//! Invariants: read-only. The state shown is `History::state_after(cursor + 1)`, the same reducer
//! the live session uses, so replay cannot tell a different story than the journal. Diffs come
//! from the replay core as `Event::Diff` answers to `Op::DiffCommits`; an answer for an older
//! request is dropped.

use crate::core::history::{self, History};
use crate::core::journal::{JournalEvent, TimeKind};
use crate::core::protocol::{DiffBase, Event, Op};
use crate::core::state::SessionState;
use crate::infra::theme::Theme;
use crate::tui::app::Effect;
use crate::tui::clock::TimeSource;
use crate::tui::diff_view::{DiffView, HunkHighlight, pins_for};
use crate::tui::keymap::{Action, Keymap};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use std::time::{Duration, Instant};

const SPEEDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
/// A long wait in the session takes at most this long in the time-lapse.
const MAX_GAP: Duration = Duration::from_millis(1500);

struct ShownDiff {
    task: usize,
    iteration: u32,
    against: DiffBase,
    snapshot: String,
    request: u64,
    loading: bool,
    view: DiffView,
}

use crate::tui::keymap::REPLAY_KEYS;

pub struct Replay {
    pub history: History,
    lines: Vec<String>,
    pub cursor: usize,
    pub state: SessionState,
    list_scroll: usize,
    pub playing: bool,
    speed: usize,
    next_at: Option<Instant>,
    against: DiffBase,
    diff: Option<ShownDiff>,
    focus_diff: bool,
    help: bool,
    pub theme: Theme,
    keymap: Keymap,
    time: Box<dyn TimeSource>,
    next_request: u64,
    diff_height: usize,
    status: Option<String>,
    quitting: bool,
}

impl Replay {
    pub fn new(
        history: History,
        theme: Theme,
        keymap: Keymap,
        time: Box<dyn TimeSource>,
    ) -> (Replay, Vec<Effect>) {
        let lines = history
            .entries
            .iter()
            .map(|e| crate::core::describe::event(&e.event))
            .collect();
        let mut r = Replay {
            history,
            lines,
            cursor: 0,
            state: SessionState::default(),
            list_scroll: 0,
            playing: false,
            speed: 2,
            next_at: None,
            against: DiffBase::TaskBase,
            diff: None,
            focus_diff: false,
            help: false,
            theme,
            keymap,
            time,
            next_request: 1,
            diff_height: 20,
            status: None,
            quitting: false,
        };
        let fx = r.seek(0);
        (r, fx)
    }

    /// A diff was asked of the core and has not come back yet.
    pub fn diff_loading(&self) -> bool {
        self.diff.as_ref().is_some_and(|d| d.loading)
    }

    pub fn len(&self) -> usize {
        self.history.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.history.entries.is_empty()
    }

    /// Move to event `i` and ask for the diff that moment shows.
    pub fn seek(&mut self, i: usize) -> Vec<Effect> {
        if self.is_empty() {
            return vec![];
        }
        self.cursor = i.min(self.len() - 1);
        self.state = self.history.state_after(self.cursor + 1);
        self.refresh_diff()
    }

    /// The iteration the cursor's moment is about: the event's own, or the latest one before.
    fn moment(&self) -> Option<(usize, u32)> {
        for e in self.history.entries[..=self.cursor].iter().rev() {
            if let Some((task, Some(iteration))) = crate::core::describe::context(&e.event) {
                return Some((task, iteration));
            }
            if let Some((task, None)) = crate::core::describe::context(&e.event) {
                return self
                    .state
                    .task(task)
                    .and_then(|t| t.current())
                    .map(|i| (task, i.number));
            }
        }
        None
    }

    fn refresh_diff(&mut self) -> Vec<Effect> {
        let Some((task, iteration)) = self.moment() else {
            self.diff = None;
            self.focus_diff = false;
            return vec![];
        };
        let against = if iteration < 2 {
            DiffBase::TaskBase
        } else {
            self.against
        };
        let Some((from, to)) = self.state.diff_endpoints(task, iteration, against) else {
            self.diff = None;
            self.focus_diff = false;
            return vec![];
        };
        let pins = self
            .state
            .task(task)
            .map(|t| pins_for(t, iteration))
            .unwrap_or_default();
        if let Some(d) = self.diff.as_mut().filter(|d| {
            d.task == task && d.iteration == iteration && d.against == against && d.snapshot == to
        }) {
            d.view.set_pins(pins);
            return vec![];
        }
        let request = self.next_request;
        self.next_request += 1;
        self.diff = Some(ShownDiff {
            task,
            iteration,
            against,
            snapshot: to.clone(),
            request,
            loading: true,
            view: DiffView::default(),
        });
        vec![Effect::Op(Op::DiffCommits(
            crate::core::protocol::DiffRequest {
                request,
                task,
                iteration,
                against,
                from,
                to,
            },
        ))]
    }

    fn find(&self, forward: bool, pred: impl Fn(&JournalEvent) -> bool) -> Option<usize> {
        let entries = &self.history.entries;
        if forward {
            (self.cursor + 1..entries.len()).find(|&i| pred(&entries[i].event))
        } else {
            (0..self.cursor).rev().find(|&i| pred(&entries[i].event))
        }
    }

    fn step_gap(&self) -> Duration {
        let e = &self.history.entries;
        if self.cursor + 1 >= e.len() {
            return Duration::ZERO;
        }
        let gap = (e[self.cursor + 1].at - e[self.cursor].at)
            .to_std()
            .unwrap_or_default();
        gap.div_f64(SPEEDS[self.speed])
            .clamp(Duration::from_millis(60), MAX_GAP)
    }

    fn highlight_visible(&mut self) -> Vec<Effect> {
        match self.diff.as_mut() {
            Some(d) if !d.loading => d
                .view
                .highlight_jobs(self.diff_height, &self.theme)
                .into_iter()
                .map(Effect::Highlight)
                .collect(),
            _ => vec![],
        }
    }

    /// Time of the cycle the moment is in: (agent ms, review ms, hand-edit ms) so far.
    fn cycle_times(&self, task: usize, iteration: u32) -> (u64, u64, u64) {
        let it = self.state.iteration(task, iteration);
        let agent = it.map(|i| i.agent_ms).unwrap_or(0);
        let mut review = 0;
        let mut hand = 0;
        for e in &self.history.entries[..=self.cursor] {
            if let JournalEvent::HumanTime {
                task: t,
                iteration: k,
                kind,
                ms,
                ..
            } = &e.event
                && *t == task
                && *k == iteration
            {
                match kind {
                    TimeKind::Review => review += ms,
                    TimeKind::HandEdit => hand += ms,
                }
            }
        }
        (agent, review, hand)
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        if self.help {
            self.help = false;
            return vec![];
        }
        let Some(action) = self.keymap.lookup(&key, REPLAY_KEYS) else {
            return vec![];
        };
        if action != Play && action != Faster && action != Slower {
            self.playing = false;
        }
        let is_ready = |e: &JournalEvent| matches!(e, JournalEvent::IterationReady { .. });
        let is_task =
            |e: &JournalEvent| matches!(e, JournalEvent::DraftStarted { iteration: 1, .. });
        match action {
            Quit => {
                self.quitting = true;
                return vec![Effect::Op(Op::Shutdown)];
            }
            Help => self.help = true,
            Close => self.focus_diff = false,
            Play => {
                self.playing = !self.playing;
                if self.playing && self.cursor + 1 >= self.len() {
                    return self.seek(0);
                }
                self.next_at = Some(self.time.now() + self.step_gap());
            }
            Faster => self.speed = (self.speed + 1).min(SPEEDS.len() - 1),
            Slower => self.speed = self.speed.saturating_sub(1),
            NextIteration | PrevIteration | NextTask | PrevTask => {
                let forward = matches!(action, NextIteration | NextTask);
                let target = if matches!(action, NextIteration | PrevIteration) {
                    self.find(forward, is_ready)
                } else {
                    self.find(forward, is_task)
                };
                match target {
                    Some(i) => return self.seek(i),
                    None => self.status = Some("no more in that direction".into()),
                }
            }
            Interdiff => {
                self.against = match self.against {
                    DiffBase::TaskBase => DiffBase::PreviousIteration,
                    DiffBase::PreviousIteration => DiffBase::TaskBase,
                };
                return self.refresh_diff();
            }
            SwitchPane => self.focus_diff = !self.focus_diff && self.diff.is_some(),
            // The diff pane has focus only while there is a diff: a moment without one (the
            // plan, say) gives the keys back to the timeline.
            _ if self.focus_diff && self.diff.is_some() => {
                if let Some(d) = self.diff.as_mut() {
                    let page = self.diff_height.max(2) as isize - 1;
                    let rows = d.view.rows.len() as isize;
                    d.view.move_by(match action {
                        Down => 1,
                        Up => -1,
                        PageDown => page,
                        PageUp => -page,
                        Top => -rows,
                        _ => rows,
                    });
                }
                return self.highlight_visible();
            }
            Down => return self.seek(self.cursor + 1),
            Up => return self.seek(self.cursor.saturating_sub(1)),
            PageDown => return self.seek(self.cursor + 20),
            PageUp => return self.seek(self.cursor.saturating_sub(20)),
            Top => return self.seek(0),
            Bottom => return self.seek(self.len().saturating_sub(1)),
            _ => {}
        }
        vec![]
    }

    // Long: the replay screen's layout from top to bottom, in one place.
    fn draw_frame(&mut self, f: &mut Frame) {
        let ui = self.theme.ui;
        let area = f.area();
        f.render_widget(
            Block::default().style(Style::default().fg(ui.fg).bg(ui.bg)),
            area,
        );
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .split(area);
        let at = self
            .history
            .entries
            .get(self.cursor)
            .map(|e| {
                e.at.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        let play = if self.playing {
            format!("▶ {}×", SPEEDS[self.speed])
        } else {
            format!("⏸ {}×", SPEEDS[self.speed])
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    " tandem replay ",
                    Style::default()
                        .fg(ui.bg)
                        .bg(ui.accent)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!(
                        " {}{} · event {}/{} · {at} · {play}",
                        self.history.session,
                        if self.history.from_git {
                            " (from git refs)"
                        } else {
                            ""
                        },
                        self.cursor + 1,
                        self.len()
                    ),
                    Style::default().fg(ui.title),
                ),
            ])),
            rows[0],
        );
        let cols = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
            .split(rows[1]);
        self.draw_timeline(f, cols[0]);
        self.draw_moment(f, cols[1]);
        let status = self.status.take().unwrap_or_default();
        f.render_widget(
            Paragraph::new(Span::styled(
                format!(" {status}"),
                Style::default().fg(ui.dim),
            )),
            rows[2],
        );
        let mut hints = Vec::new();
        for (key, what) in self.keymap.hints(&[
            Action::Down,
            Action::Up,
            Action::NextIteration,
            Action::NextTask,
            Action::Play,
            Action::Faster,
            Action::Interdiff,
            Action::SwitchPane,
            Action::Quit,
        ]) {
            hints.push(Span::styled(
                format!(" {key}"),
                Style::default()
                    .fg(ui.hint_key)
                    .add_modifier(Modifier::BOLD),
            ));
            hints.push(Span::styled(
                format!(" {} ", what.trim_start_matches("replay: ")),
                Style::default().fg(ui.hint_text),
            ));
        }
        f.render_widget(Paragraph::new(Line::from(hints)), rows[3]);
        if self.help {
            let mut lines = Vec::new();
            for (keys, what) in self.keymap.help(REPLAY_KEYS).0 {
                let what = what.trim_start_matches("replay: ");
                lines.push(Line::from(vec![
                    Span::styled(format!("{keys:>16}  "), Style::default().fg(ui.hint_key)),
                    Span::raw(what),
                ]));
            }
            let r = Rect {
                x: area.x + area.width.saturating_sub(62) / 2,
                y: area.y + 1,
                width: area.width.min(62),
                height: (lines.len() as u16 + 2).min(area.height.saturating_sub(2)),
            };
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" Keys (any key closes) "),
                ),
                r,
            );
        }
    }

    fn draw_timeline(&mut self, f: &mut Frame, area: Rect) {
        let ui = self.theme.ui;
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(if self.focus_diff {
                ui.border
            } else {
                ui.border_focused
            }))
            .title(" Timeline ");
        let inner = b.inner(area);
        f.render_widget(b, area);
        let h = inner.height as usize;
        if self.cursor < self.list_scroll {
            self.list_scroll = self.cursor;
        } else if self.cursor >= self.list_scroll + h {
            self.list_scroll = self.cursor + 1 - h;
        }
        let start = self.history.entries.first().map(|e| e.at);
        let mut lines = Vec::new();
        for i in self.list_scroll..(self.list_scroll + h).min(self.len()) {
            let e = &self.history.entries[i];
            let offset = start.map(|s| (e.at - s).num_seconds()).unwrap_or(0);
            let stamp = format!("{:>3}:{:02} ", offset / 60, offset % 60);
            let mut style = Style::default().fg(ui.fg);
            if matches!(
                e.event,
                JournalEvent::DraftStarted { .. }
                    | JournalEvent::IterationReady { .. }
                    | JournalEvent::Decision { .. }
            ) {
                style = style.add_modifier(Modifier::BOLD);
            }
            if i == self.cursor {
                style = if self.theme.monochrome {
                    style.add_modifier(Modifier::REVERSED)
                } else {
                    style.bg(ui.selection_bg)
                };
            }
            lines.push(Line::from(vec![
                Span::styled(stamp, Style::default().fg(ui.line_number)),
                Span::styled(self.lines[i].clone(), style),
            ]));
        }
        f.render_widget(Paragraph::new(lines), inner);
    }

    // Long: the moment's layout from top to bottom, in one place.
    fn draw_moment(&mut self, f: &mut Frame, area: Rect) {
        let ui = self.theme.ui;
        let Some((task, iteration)) = self.diff.as_ref().map(|d| (d.task, d.iteration)) else {
            // Before any draft: the brief and the plan as they stood.
            let mut lines = Vec::new();
            for t in &self.state.tasks {
                lines.push(Line::from(Span::styled(
                    format!("{}. {}", t.number, t.spec.title),
                    Style::default().fg(ui.title),
                )));
                for c in &t.spec.acceptance {
                    lines.push(Line::raw(format!("   - {c}")));
                }
            }
            if let Some(b) = &self.state.brief {
                lines.push(Line::raw(""));
                for l in b.lines() {
                    lines.push(Line::from(Span::styled(
                        l.to_string(),
                        Style::default().fg(ui.dim),
                    )));
                }
            }
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(" Plan ")),
                area,
            );
            return;
        };
        let (agent, review, hand) = self.cycle_times(task, iteration);
        let it = self.state.iteration(task, iteration);
        let decision = it.and_then(|i| i.decision).map(|a| match a {
            crate::core::Decision::Accept => "accepted",
            crate::core::Decision::Revise => "revision requested",
            crate::core::Decision::Reject => "rejected",
        });
        let title = self
            .state
            .task(task)
            .map(|t| t.spec.title.clone())
            .unwrap_or_default();
        let d = self.diff.as_mut().map(|d| (d.against, d.loading));
        let (against, loading) = d.unwrap_or((DiffBase::TaskBase, true));
        let header = format!(
            " task {task} «{title}» · iteration {iteration} · {} ",
            match against {
                DiffBase::TaskBase => "task base → iteration",
                DiffBase::PreviousIteration => "previous → this iteration",
            },
        );
        let times = format!(
            " agent {} · review {}{}{} ",
            mmss(agent),
            mmss(review),
            if hand > 0 {
                format!(" · hand edit {}", mmss(hand))
            } else {
                String::new()
            },
            decision.map(|d| format!(" · {d}")).unwrap_or_default()
        );
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(if self.focus_diff {
                ui.border_focused
            } else {
                ui.border
            }))
            .title(Span::styled(header, Style::default().fg(ui.title)))
            .title_bottom(Span::styled(times, Style::default().fg(ui.accent)));
        let inner = b.inner(area);
        f.render_widget(b, area);
        self.diff_height = inner.height as usize;
        let theme = self.theme.clone();
        let focus = self.focus_diff;
        if let Some(d) = self.diff.as_mut() {
            if loading {
                f.render_widget(
                    Paragraph::new(Span::styled(" loading…", Style::default().fg(ui.dim))),
                    inner,
                );
            } else {
                d.view.follow(inner.height as usize, inner.width, &theme);
                d.view.render(inner, f.buffer_mut(), &theme, focus);
            }
        }
    }
}

impl crate::tui::View for Replay {
    fn draw(&mut self, f: &mut Frame) {
        self.draw_frame(f)
    }
    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return vec![];
        }
        self.key(key)
    }
    fn on_mouse(&mut self, kind: MouseEventKind) -> Vec<Effect> {
        match kind {
            MouseEventKind::ScrollDown => self.seek(self.cursor + 3),
            MouseEventKind::ScrollUp => self.seek(self.cursor.saturating_sub(3)),
            _ => vec![],
        }
    }
    fn on_core_event(&mut self, ev: Event) -> Vec<Effect> {
        match ev {
            Event::Diff { request, files, .. } => {
                let pins = self
                    .diff
                    .as_ref()
                    .and_then(|d| Some(pins_for(self.state.task(d.task)?, d.iteration)))
                    .unwrap_or_default();
                if let Some(d) = self.diff.as_mut().filter(|d| d.request == request) {
                    d.view.set_files(files);
                    d.view.set_pins(pins);
                    d.loading = false;
                }
                self.highlight_visible()
            }
            Event::Error { message } => {
                self.status = Some(message);
                vec![]
            }
            Event::Stopped => {
                if self.quitting {
                    vec![Effect::Quit]
                } else {
                    vec![]
                }
            }
            _ => vec![],
        }
    }
    fn on_tick(&mut self) -> Vec<Effect> {
        let Some(at) = self.next_at else {
            return vec![];
        };
        if !self.playing || self.time.now() < at {
            return vec![];
        }
        if self.cursor + 1 >= self.len() {
            self.playing = false;
            return vec![];
        }
        let fx = self.seek(self.cursor + 1);
        self.next_at = Some(self.time.now() + self.step_gap());
        fx
    }
    fn needs_tick(&self) -> bool {
        self.playing
    }
    fn highlight_visible(&mut self) -> Vec<Effect> {
        Replay::highlight_visible(self)
    }
    fn on_highlight(&mut self, hl: HunkHighlight) {
        if let Some(d) = self.diff.as_mut() {
            d.view.set_highlight(hl);
        }
    }
    fn show_problem(&mut self, _title: &str, text: String) {
        self.status = Some(text);
    }
    fn set_status(&mut self, text: String) {
        self.status = Some(text);
    }
    fn core_stopped(&mut self) -> bool {
        self.quitting
    }
}

fn mmss(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// `tandem replay` on a terminal.
pub async fn run(
    workdir: &std::path::Path,
    session: Option<&str>,
    theme: Option<&str>,
) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let history = history::load(workdir, session)?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "replay is interactive and needs a terminal; `tandem replay --print` lists the timeline, `tandem report` summarises"
        );
    }
    let cfg = crate::infra::config::Config::load()?;
    let theme = crate::tui::load_theme(&cfg, theme)?;
    let keymap = Keymap::with_overrides(&cfg.keys)?;
    let mut handle = history::spawn_core(workdir);
    let (mut view, fx) = Replay::new(
        history,
        theme,
        keymap,
        Box::new(crate::tui::clock::SystemTime),
    );
    for e in fx {
        if let Effect::Op(op) = e {
            handle.submit(op);
        }
    }
    let guard = crate::tui::TerminalGuard::enter()?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend)?;
    terminal.clear()?;
    let core = crate::tui::Core::Running(handle);
    let result = crate::tui::event_loop(
        &mut terminal,
        &mut view,
        core,
        &mut crate::tui::TerminalHost::default(),
    )
    .await;
    drop(guard);
    result.map(|_| 0)
}

/// `tandem replay --print`: the timeline as text, for scripts and for reading without a terminal.
pub fn print(
    workdir: &std::path::Path,
    session: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<i32> {
    use std::io::Write as _;
    // Journal text came from a model server: no escape sequence reaches the terminal.
    let out = &mut crate::infra::model::redact::Sanitized(out);
    let history = history::load(workdir, session)?;
    writeln!(
        out,
        "session {}{}",
        history.session,
        if history.from_git {
            " (from git refs)"
        } else {
            ""
        }
    )?;
    let start = history.entries.first().map(|e| e.at);
    for e in &history.entries {
        let offset = start.map(|s| (e.at - s).num_milliseconds()).unwrap_or(0);
        writeln!(
            out,
            "{:>4} +{:>7.1}s  {}",
            e.seq,
            offset as f64 / 1000.0,
            crate::core::describe::event(&e.event)
        )?;
    }
    let state = history.state_after(history.entries.len());
    writeln!(out, "state: {}", state.describe())?;
    Ok(0)
}
