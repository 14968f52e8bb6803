//! The screens before review: the brief, the plan (task list and task detail) and the
//! drafting screen with the agent's activity.

use super::{SPINNER, block, draw_input, mmss, scroll_for, status_mark};
use crate::core::state::TaskStatus;
use crate::tui::app::{App, Awaiting, Drafting, PlanView, Screen};
use crate::tui::keymap::Action;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub(super) fn draw_brief(app: &App, f: &mut Frame, area: Rect) {
    let b = block(
        app,
        "Brief — what does the client want? (ctrl-s: plan it · esc: quit)",
        true,
    );
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Screen::Brief(brief) = &app.screen else {
        return;
    };
    draw_input(f, brief, inner);
}

fn task_list(app: &App, selected: usize, focused: bool) -> Vec<Line<'static>> {
    let ui = &app.theme.ui;
    app.state
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (mark, st) = status_mark(app, t.number);
            let mut style = Style::default().fg(ui.fg);
            if i == selected {
                style = if app.theme.monochrome {
                    style.add_modifier(Modifier::REVERSED)
                } else if focused {
                    style.bg(ui.selection_bg)
                } else {
                    style.add_modifier(Modifier::UNDERLINED)
                };
            }
            Line::from(vec![
                Span::styled(format!(" {mark} "), st),
                Span::styled(
                    format!(
                        "{}. {}{}",
                        t.number,
                        t.spec.title,
                        if t.spec.human { " (human)" } else { "" }
                    ),
                    style,
                ),
            ])
        })
        .collect()
}

pub(super) fn draw_plan(app: &App, plan: &PlanView, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
        .split(area);
    let title = if app.state.plan_approved {
        "Plan (approved)"
    } else {
        "Plan"
    };
    let mut lines = task_list(app, plan.sel, true);
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                " {} the planner is splitting the brief into tasks…",
                SPINNER[app.spinner % SPINNER.len()]
            ),
            Style::default().fg(ui.dim),
        )));
    }

    let scroll = scroll_for(&lines, (plan.sel, plan.sel), cols[0], false);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(block(app, title, true)),
        cols[0],
    );
    let mut detail = task_detail(app, plan.sel);
    // The planner's retry heads the wide pane, where it wraps whole.
    if let Some(r) = &plan.retry {
        detail.splice(
            0..0,
            [
                Line::from(Span::styled(r.clone(), Style::default().fg(ui.warn))),
                Line::raw(""),
            ],
        );
    }
    if let Some(brief) = &app.state.brief {
        detail.push(Line::raw(""));
        detail.push(Line::from(Span::styled(
            "Brief",
            Style::default().fg(ui.accent),
        )));
        for l in brief.lines().take(12) {
            detail.push(Line::from(Span::styled(
                l.to_string(),
                Style::default().fg(ui.dim),
            )));
        }
    }
    f.render_widget(
        Paragraph::new(detail)
            .wrap(Wrap { trim: false })
            .block(block(app, "Task", false)),
        cols[1],
    );
}

/// A task's title, instructions, criteria with ticks, and its history so far.
fn task_detail(app: &App, index: usize) -> Vec<Line<'static>> {
    let ui = &app.theme.ui;
    let mut detail: Vec<Line<'static>> = Vec::new();
    if let Some(t) = app.state.tasks.get(index) {
        detail.push(Line::from(Span::styled(
            t.spec.title.clone(),
            Style::default().fg(ui.title).add_modifier(Modifier::BOLD),
        )));
        detail.push(Line::raw(""));
        for l in t.spec.instructions.lines() {
            detail.push(Line::raw(l.to_string()));
        }
        detail.push(Line::raw(""));
        detail.push(Line::from(Span::styled(
            "Acceptance criteria",
            Style::default().fg(ui.accent),
        )));
        for (i, c) in t.spec.acceptance.iter().enumerate() {
            let met = t.criteria_met.get(i).copied().unwrap_or(false);
            detail.push(Line::raw(format!(
                " [{}] {}. {c}",
                if met { "x" } else { " " },
                i + 1
            )));
        }
        if !t.iterations.is_empty() {
            detail.push(Line::raw(""));
            detail.push(Line::from(Span::styled(
                format!(
                    "{} iteration(s) · review {} · agent {}{}",
                    t.iterations.len(),
                    mmss(t.review_ms()),
                    mmss(t.agent_ms()),
                    t.commit
                        .as_deref()
                        .map(|c| format!(" · commit {}", &c[..c.len().min(10)]))
                        .unwrap_or_default()
                ),
                Style::default().fg(ui.dim),
            )));
        }
    }
    detail
}

// Long: the task list, then either another task's detail or the agent's header, activity and
// live text, one after the other in the order they are drawn.
pub(super) fn draw_drafting(app: &App, d: &Drafting, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(30), Constraint::Percentage(70)])
        .split(area);
    let tasks = task_list(app, d.task_sel, true);
    let scroll = scroll_for(&tasks, (d.task_sel, d.task_sel), cols[0], false);
    f.render_widget(
        Paragraph::new(tasks)
            .scroll((scroll, 0))
            .block(block(app, "Tasks", true)),
        cols[0],
    );

    let current = app
        .state
        .tasks
        .iter()
        .find(|t| t.status == TaskStatus::Drafting);
    // Looking at another task while the agent works: show that task, not the activity.
    if current.is_some_and(|t| t.number != d.task_sel + 1) && d.task_sel < app.state.tasks.len() {
        f.render_widget(
            Paragraph::new(task_detail(app, d.task_sel))
                .wrap(Wrap { trim: false })
                .block(block(app, "Task", false)),
            cols[1],
        );
        return;
    }
    let tokens: u64 = current
        .and_then(|t| t.current())
        .map(|i| i.prompt_tokens + i.completion_tokens)
        .unwrap_or(0);
    let elapsed = d
        .started
        .map(|t| app.time.now().saturating_duration_since(t).as_millis() as u64)
        .unwrap_or(0);
    let mut lines: Vec<Line> = Vec::new();
    let header = match (&app.awaiting, current) {
        (Awaiting::Paused { reason, .. }, _) => Line::from(Span::styled(
            format!(
                "⏸ draft stopped: {reason} — {} starts it again",
                app.keymap.label(Action::Confirm)
            ),
            Style::default().fg(ui.warn),
        )),
        (_, Some(t)) => Line::from(vec![
            Span::styled(
                format!("{} ", SPINNER[app.spinner % SPINNER.len()]),
                Style::default().fg(ui.spinner),
            ),
            Span::styled(
                format!(
                    "task {} «{}», iteration {} · {} · {} tokens",
                    t.number,
                    t.spec.title,
                    t.current().map(|i| i.number).unwrap_or(1),
                    mmss(elapsed),
                    tokens
                ),
                Style::default().fg(ui.title),
            ),
        ]),
        _ => Line::from(Span::styled(
            "waiting for the core…",
            Style::default().fg(ui.dim),
        )),
    };
    lines.push(header);
    if let Some(r) = &d.retry {
        lines.push(Line::from(Span::styled(
            r.clone(),
            Style::default().fg(ui.warn),
        )));
    }
    lines.push(Line::raw(""));
    for a in &d.activity {
        let style = if a.starts_with('✗') {
            Style::default().fg(ui.error)
        } else {
            Style::default().fg(ui.fg)
        };
        lines.push(Line::from(Span::styled(format!("  {a}"), style)));
    }
    if !d.live_text.is_empty() {
        lines.push(Line::raw(""));
        for l in d.live_text.lines() {
            lines.push(Line::from(Span::styled(
                format!("  {l}"),
                Style::default().fg(ui.dim).add_modifier(Modifier::ITALIC),
            )));
        }
    }
    // The newest activity stays in view; `activity_scroll` rows up from there (page up, the
    // mouse) show what came before, the header and the first lines last.
    let log = Paragraph::new(lines).wrap(Wrap { trim: false });
    let height = usize::from(cols[1].height.saturating_sub(2));
    let total = log.line_count(cols[1].width.saturating_sub(2));
    let scroll = total
        .saturating_sub(height)
        .saturating_sub(d.activity_scroll);
    f.render_widget(
        log.scroll((scroll as u16, 0))
            .block(block(app, "Agent", false)),
        cols[1],
    );
}
