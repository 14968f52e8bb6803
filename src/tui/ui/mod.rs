//! Drawing: one function per screen and popup, all reading `App` and writing a ratatui frame.
//!
//! Invariant: drawing never changes domain state; it only records the sizes it found
//! (`diff_height`, `width`) so keys like page-down and the highlighter know what is visible.

mod plan;
mod popups;
mod review;

use crate::core::protocol::DiffBase;
use crate::core::state::TaskStatus;
use crate::tui::app::{App, Popup, Screen};
use plan::{draw_brief, draw_drafting, draw_plan};
use popups::draw_popup;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use review::{draw_review, draw_summary};

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Text being typed, drawn in `area` unwrapped and scrolled so the cursor stays in view: down
/// to its line, sideways along a line longer than the box; the terminal's cursor is put on it.
fn draw_input(f: &mut Frame, input: &crate::tui::editor::TextInput, area: Rect) {
    let (line, col) = input.cursor_pos();
    let rows = usize::from(area.height.max(1));
    let cols = usize::from(area.width.max(1));
    let down = (line + 1).saturating_sub(rows);
    let across = (col + 1).saturating_sub(cols);
    f.render_widget(
        Paragraph::new(input.text.as_str()).scroll((down as u16, across as u16)),
        area,
    );
    f.set_cursor_position((
        area.x + (col - across) as u16,
        area.y + (line - down) as u16,
    ));
}

/// Rows to scroll a pane `area` (borders included) showing `lines`, wrapped or not, so that
/// lines `from..=to` are in view: the least scroll that shows `to`'s end, and never past `from`.
/// A pane whose lines fit is not scrolled.
fn scroll_for(lines: &[Line<'_>], (from, to): (usize, usize), area: Rect, wrap: bool) -> u16 {
    let height = usize::from(area.height.saturating_sub(2));
    let width = area.width.saturating_sub(2);
    // Unwrapped, a line is a row: no need to lay the lines out to count them.
    let rows = |ls: &[Line<'_>]| {
        if wrap {
            Paragraph::new(ls.to_vec())
                .wrap(Wrap { trim: false })
                .line_count(width)
        } else {
            ls.len()
        }
    };
    if height == 0 || lines.is_empty() {
        return 0;
    }
    let to = to.min(lines.len() - 1);
    let from = from.min(to);
    let end = rows(&lines[..=to]);
    let start = rows(&lines[..from]);
    end.saturating_sub(height).min(start) as u16
}

pub fn draw(app: &mut App, f: &mut Frame) {
    let area = f.area();
    app.width = area.width;
    // The terminal shrank below what side by side needs: back to one column, said once.
    if area.width < crate::tui::app::SIDE_BY_SIDE_COLUMNS
        && let Some(r) = app.review_mut()
        && r.view.side_by_side
    {
        r.view.toggle_side_by_side();
        app.status = Some(format!(
            "side by side is off: the terminal is narrower than {} columns",
            crate::tui::app::SIDE_BY_SIDE_COLUMNS
        ));
    }
    let bg = Style::default().fg(app.theme.ui.fg).bg(app.theme.ui.bg);
    f.render_widget(Block::default().style(bg), area);
    let tip = app.tutor_tip();
    let mut constraints = vec![
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ];
    if tip.is_some() {
        constraints.insert(1, Constraint::Length(2));
    }
    let chunks = Layout::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(area);
    let (title, body, status, hints) = if let Some(tip) = tip {
        let t = app.theme.ui.accent;
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    " tutor ",
                    Style::default()
                        .fg(app.theme.ui.bg)
                        .bg(t)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!(" {tip}"), Style::default().fg(t)),
            ]))
            .wrap(Wrap { trim: true }),
            chunks[1],
        );
        (chunks[0], chunks[2], chunks[3], chunks[4])
    } else {
        (chunks[0], chunks[1], chunks[2], chunks[3])
    };
    draw_title(app, f, title);
    if let Some(plan) = app.plan_view() {
        draw_plan(app, plan, f, body);
    } else {
        match &app.screen {
            Screen::Brief(_) => draw_brief(app, f, body),
            Screen::Plan(_) => {}
            Screen::Drafting(d) => draw_drafting(app, d, f, body),
            Screen::Review(_) => draw_review(app, f, body),
            Screen::Summary(v) => draw_summary(app, *v, f, body),
        }
    }
    draw_status(app, f, status);
    draw_hints(app, f, hints);
    if let Some(popup) = &app.popup
        && let Some(shown) = draw_popup(app, popup, f, area)
    {
        // Keys scroll freely; the draw knows how many rows there are, so it clamps here and
        // the next ↑ moves at once, however far ↓ was pressed past the end.
        if let Some(
            Popup::Help { scroll } | Popup::Output { scroll, .. } | Popup::Command { scroll, .. },
        ) = &mut app.popup
        {
            *scroll = shown;
        }
    }
}

fn draw_title(app: &App, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let mut spans = vec![Span::styled(
        " tandem ",
        Style::default()
            .fg(ui.bg)
            .bg(ui.accent)
            .add_modifier(Modifier::BOLD),
    )];
    let what = match &app.screen {
        Screen::Review(r) => {
            let t = app.state.task(r.task);
            format!(
                " task {}/{} · {} · iteration {} · {}",
                r.task,
                app.state.tasks.len(),
                t.map(|t| t.spec.title.as_str()).unwrap_or(""),
                r.iteration,
                match r.against {
                    DiffBase::TaskBase => "task base → this iteration",
                    DiffBase::PreviousIteration => "previous iteration → this one",
                }
            )
        }
        Screen::Brief(_) => " new job: write the brief".into(),
        Screen::Plan(_) => format!(
            " plan · {}",
            crate::tui::app::plural(app.state.tasks.len(), "task", "tasks")
        ),
        Screen::Drafting(_) => " drafting".into(),
        Screen::Summary(_) => " session summary".into(),
    };
    spans.push(Span::styled(
        what,
        Style::default().fg(ui.title).add_modifier(Modifier::BOLD),
    ));
    if !app.state.session.is_empty() {
        spans.push(Span::styled(
            format!("  {}", app.state.session),
            Style::default().fg(ui.dim),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn block<'a>(app: &App, title: &'a str, focused: bool) -> Block<'a> {
    let ui = &app.theme.ui;
    let style = if focused {
        Style::default().fg(ui.border_focused)
    } else {
        Style::default().fg(ui.border)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            format!(" {title} "),
            Style::default().fg(ui.title).add_modifier(Modifier::BOLD),
        ))
}

fn status_mark(app: &App, n: usize) -> (&'static str, Style) {
    let ui = &app.theme.ui;
    match app.state.task(n).map(|t| t.status) {
        Some(TaskStatus::Accepted) => ("✓", Style::default().fg(ui.ok)),
        Some(TaskStatus::Rejected) => ("✗", Style::default().fg(ui.error)),
        Some(TaskStatus::Human) => ("☺", Style::default().fg(ui.dim)),
        // A stopped draft is not at work: no spinner for it.
        Some(TaskStatus::Drafting) if matches!(app.awaiting, crate::tui::app::Awaiting::Paused { task, .. } if task == n) => {
            ("⏸", Style::default().fg(ui.warn))
        }
        Some(TaskStatus::Drafting) => (
            SPINNER[app.spinner % SPINNER.len()],
            Style::default().fg(ui.spinner),
        ),
        Some(TaskStatus::InReview) => ("●", Style::default().fg(ui.warn)),
        _ => ("·", Style::default().fg(ui.dim)),
    }
}

fn draw_status(app: &App, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let now = app.time.now();
    let mut spans = Vec::new();
    if matches!(app.screen, Screen::Review(_)) {
        let running = app.clock.is_running(now);
        spans.push(Span::styled(
            format!(
                " review {} {} ",
                mmss(app.clock.cycle_elapsed(now).as_millis() as u64),
                if running { "▶" } else { "⏸" }
            ),
            Style::default()
                .fg(ui.status_fg)
                .bg(ui.status_bg)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(r) = app.review() {
        let open = app.state.task(r.task).map_or(0, |t| t.unresolved().count());
        if open > 0 {
            spans.push(Span::styled(
                format!(
                    " {} ",
                    crate::tui::app::plural(open, "thread open", "threads open")
                ),
                Style::default().fg(ui.status_fg).bg(ui.comment_bg),
            ));
        }
    }
    if let Some(s) = &app.status {
        spans.push(Span::styled(format!(" {s}"), Style::default().fg(ui.dim)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_hints(app: &App, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let mut spans = Vec::new();
    // Too wide for the terminal: drop the hints a reviewer needs least first (moving keys
    // before feedback, feedback before decisions; `?` lists them all).
    use crate::tui::keymap::Action::*;
    const DROP_FIRST: &[crate::tui::keymap::Action] = &[
        Down,
        Up,
        NextChange,
        SwitchPane,
        MoveTaskDown,
        ToggleHuman,
        DeleteTask,
        NextThread,
        Editor,
        Output,
        Note,
        AddTask,
        Replan,
        Resolve,
    ];
    let mut actions = app.hint_actions();
    let width = |acts: &[crate::tui::keymap::Action]| -> usize {
        app.keymap
            .hints(acts)
            .iter()
            .map(|(k, w)| Span::raw(format!(" {k} {w} ")).width())
            .sum()
    };
    for drop in DROP_FIRST {
        if width(&actions) <= area.width as usize {
            break;
        }
        actions.retain(|a| a != drop);
    }
    let hints = app.keymap.hints(&actions);
    for (key, what) in hints {
        spans.push(Span::styled(
            format!(" {key}"),
            Style::default()
                .fg(ui.hint_key)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(
            format!(" {what} "),
            Style::default().fg(ui.hint_text),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Minutes and seconds, rounded to the second as the commit trailers round.
fn mmss(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    format!("{:02}:{:02}", s / 60, s % 60)
}
