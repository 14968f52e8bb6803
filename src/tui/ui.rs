//! Drawing: one function per screen and popup, all reading `App` and writing a ratatui frame.
//!
//! Invariant: drawing never changes domain state; it only records the sizes it found
//! (`diff_height`, `width`) so keys like page-down and the highlighter know what is visible.

use crate::core::protocol::DiffBase;
use crate::core::state::TaskStatus;
use crate::tui::app::{App, Awaiting, Confirm, Field, Pane, Popup, Screen};
use crate::tui::keymap::Action;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Wrap};

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn draw(app: &mut App, f: &mut Frame) {
    let area = f.area();
    app.width = area.width;
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
    if app.plan_overlay {
        draw_plan(app, f, body);
    } else {
        match app.screen {
            Screen::Brief(_) => draw_brief(app, f, body),
            Screen::Plan => draw_plan(app, f, body),
            Screen::Drafting => draw_drafting(app, f, body),
            Screen::Review(_) => draw_review(app, f, body),
            Screen::Summary => draw_summary(app, f, body),
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
        Screen::Plan => format!(
            " plan · {}",
            crate::tui::app::plural(app.state.tasks.len(), "task", "tasks")
        ),
        Screen::Drafting => " drafting".into(),
        Screen::Summary => " session summary".into(),
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

fn draw_brief(app: &App, f: &mut Frame, area: Rect) {
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
    f.render_widget(
        Paragraph::new(brief.text.as_str()).wrap(Wrap { trim: false }),
        inner,
    );
    let (line, col) = brief.cursor_pos();
    f.set_cursor_position((inner.x + col as u16, inner.y + line as u16));
}

fn status_mark(app: &App, n: usize) -> (&'static str, Style) {
    let ui = &app.theme.ui;
    match app.state.task(n).map(|t| t.status) {
        Some(TaskStatus::Accepted) => ("✓", Style::default().fg(ui.ok)),
        Some(TaskStatus::Rejected) => ("✗", Style::default().fg(ui.error)),
        Some(TaskStatus::Human) => ("☺", Style::default().fg(ui.dim)),
        Some(TaskStatus::Drafting) => (
            SPINNER[app.spinner % SPINNER.len()],
            Style::default().fg(ui.spinner),
        ),
        Some(TaskStatus::InReview) => ("●", Style::default().fg(ui.warn)),
        _ => ("·", Style::default().fg(ui.dim)),
    }
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

fn draw_plan(app: &App, f: &mut Frame, area: Rect) {
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
    let mut lines = task_list(app, app.plan_sel, true);
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(
                " {} the planner is splitting the brief into tasks…",
                SPINNER[app.spinner % SPINNER.len()]
            ),
            Style::default().fg(ui.dim),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(app, title, true)),
        cols[0],
    );
    let mut detail = task_detail(app, app.plan_sel);
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

fn draw_drafting(app: &App, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(30), Constraint::Percentage(70)])
        .split(area);
    f.render_widget(
        Paragraph::new(task_list(app, app.task_sel, true)).block(block(app, "Tasks", true)),
        cols[0],
    );

    let current = app
        .state
        .tasks
        .iter()
        .find(|t| t.status == TaskStatus::Drafting);
    // Looking at another task while the agent works: show that task, not the activity.
    if current.is_some_and(|t| t.number != app.task_sel + 1) && app.task_sel < app.state.tasks.len()
    {
        f.render_widget(
            Paragraph::new(task_detail(app, app.task_sel))
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
    let elapsed = app
        .draft_started
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
    if let Some(r) = &app.retry {
        lines.push(Line::from(Span::styled(
            r.clone(),
            Style::default().fg(ui.warn),
        )));
    }
    lines.push(Line::raw(""));
    for a in app.activity.iter().skip(app.activity_scroll) {
        let style = if a.starts_with('✗') {
            Style::default().fg(ui.error)
        } else {
            Style::default().fg(ui.fg)
        };
        lines.push(Line::from(Span::styled(format!("  {a}"), style)));
    }
    if !app.live_text.is_empty() {
        lines.push(Line::raw(""));
        for l in app.live_text.lines() {
            lines.push(Line::from(Span::styled(
                format!("  {l}"),
                Style::default().fg(ui.dim).add_modifier(Modifier::ITALIC),
            )));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(app, "Agent", false)),
        cols[1],
    );
}

fn draw_review(app: &mut App, f: &mut Frame, area: Rect) {
    // The side panes take at most 30% (so an 80-column diff keeps 56 columns), or nothing
    // when zoomed.
    let side = if app.zoom {
        0
    } else {
        (area.width * 3 / 10).clamp(22, 36)
    };
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(side), Constraint::Min(20)])
        .split(area);
    let left = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .split(cols[0]);
    let Some(r) = crate::tui::app::review_in(&app.screen) else {
        return;
    };
    let ui = app.theme.ui;
    // Files.
    let files: Vec<Line> = r
        .view
        .files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let sel = i == r.file_sel;
            let base = if sel && r.focus == Pane::Files {
                Style::default().bg(ui.selection_bg)
            } else {
                Style::default()
            };
            let by_command = app
                .state
                .iteration(r.task, r.iteration)
                .is_some_and(|it| it.commands.iter().any(|c| c.changed.contains(&file.path)));
            Line::from(vec![
                Span::styled(format!(" {} ", file.status), base.fg(ui.dim)),
                Span::styled(file.path.clone(), base.fg(ui.fg)),
                Span::styled(format!(" +{}", file.added), base.fg(ui.added_fg)),
                Span::styled(format!(" −{}", file.removed), base.fg(ui.removed_fg)),
                Span::styled(if by_command { " $" } else { "" }, base.fg(ui.dim)),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(files).block(block(app, "Files", r.focus == Pane::Files)),
        left[0],
    );
    // Criteria, note, summary.
    let mut crit: Vec<Line> = Vec::new();
    if let Some(t) = app.state.task(r.task) {
        for (i, c) in t.spec.acceptance.iter().enumerate() {
            let met = t.criteria_met.get(i).copied().unwrap_or(false);
            let sel = i == r.crit_sel && r.focus == Pane::Criteria;
            let style = if sel {
                Style::default().bg(ui.selection_bg)
            } else {
                Style::default()
            };
            crit.push(Line::from(vec![
                Span::styled(
                    if met { " [x] " } else { " [ ] " },
                    style.fg(if met { ui.ok } else { ui.dim }),
                ),
                Span::styled(c.clone(), style.fg(ui.fg)),
            ]));
            let inner = usize::from(left[1].width.saturating_sub(2));
            if let Some(line) = verdict_line(t, (r.iteration, i + 1), inner, &ui) {
                crit.push(line);
            }
        }
        if let Some(it) = app.state.iteration(r.task, r.iteration) {
            if it.verdicts.is_empty()
                && let Some(p) = &it.checker_problem
            {
                crit.push(Line::from(Span::styled(
                    format!(" checker: {p}"),
                    Style::default().fg(ui.dim),
                )));
            }
            crit.push(Line::raw(""));
            for flag in it.flags() {
                crit.push(Line::from(Span::styled(
                    match flag {
                        "no changes" => " NO CHANGES: the draft changed no file",
                        "cut off" => " CUT OFF: the model's last answer hit the output cap",
                        "checks failing" => " CHECKS FAILING:",
                        _ => " INCOMPLETE: the draft did not finish",
                    },
                    Style::default().fg(ui.error),
                )));
            }
            crit.extend(checks_lines(it, &ui));
            crit.push(Line::from(Span::styled(
                format!(" {}", it.summary),
                Style::default().fg(ui.dim),
            )));
            if let Some(note) = &it.note {
                crit.push(Line::from(Span::styled(
                    format!(" note: {note}"),
                    Style::default().fg(ui.comment_fg),
                )));
            }
            if !it.comments.is_empty() {
                crit.push(Line::from(Span::styled(
                    format!(" {} comment(s)", it.comments.len()),
                    Style::default().fg(ui.comment_fg),
                )));
            }
        }
    }
    let judged = app
        .state
        .iteration(r.task, r.iteration)
        .is_some_and(|it| !it.verdicts.is_empty());
    f.render_widget(
        Paragraph::new(crit).wrap(Wrap { trim: false }).block(block(
            app,
            if judged {
                "Criteria ✓✗? checker"
            } else {
                "Criteria"
            },
            r.focus == Pane::Criteria,
        )),
        left[1],
    );
    // Diff.
    let title = if r.loading {
        "Diff (loading…)"
    } else {
        "Diff"
    };
    let b = block(app, title, r.focus == Pane::Diff);
    let inner = b.inner(cols[1]);
    f.render_widget(b, cols[1]);
    app.diff_height = inner.height as usize;
    let focused = r.focus == Pane::Diff;
    let theme = app.theme.clone();
    if let Some(r) = app.review_mut() {
        r.view.follow(inner.height as usize, inner.width, &theme);
        if r.view.rows.is_empty() && !r.loading {
            f.render_widget(
                Paragraph::new(Span::styled(" no changes", Style::default().fg(ui.dim))),
                inner,
            );
        } else {
            r.view.render(inner, f.buffer_mut(), &theme, focused);
        }
    }
}

/// The checker's verdict under a criterion: advice beside the reviewer's own tick, in words
/// and a mark so it reads without colour; a regression (met before, not now) stands out.
/// The checker's verdict under a criterion, on one row of `width` columns: long evidence is cut
/// (with …) so one chatty verdict cannot push the rest of the pane out of view; `i` shows it
/// whole.
fn verdict_line(
    t: &crate::core::state::TaskState,
    (iteration, criterion): (u32, usize),
    width: usize,
    ui: &crate::infra::theme::Ui,
) -> Option<Line<'static>> {
    use crate::core::journal::Judgement;
    use unicode_width::UnicodeWidthStr;
    let v = t.verdict(iteration, criterion)?;
    let regressed = t.regressed(iteration).contains(&criterion);
    let (words, color) = match v.verdict {
        _ if regressed => ("REGRESSED", ui.error),
        Judgement::Met => ("met", ui.ok),
        Judgement::NotMet => ("not met", ui.error),
        Judgement::Unclear => ("unclear", ui.warn),
    };
    let head = format!("    {} {words}", v.verdict.mark());
    let room = width.saturating_sub(head.width() + 2);
    let evidence = if v.evidence.is_empty() || room < 2 {
        String::new()
    } else {
        format!(": {}", clip(&v.evidence, room).trim_end())
    };
    // The pane's title says these are the checker's (narrow panes have no room to repeat it).
    Some(Line::from(vec![
        Span::styled(head, Style::default().fg(color)),
        Span::styled(evidence, Style::default().fg(ui.dim)),
    ]))
}

/// The checks row (✓ passed, ✗ each failure with its first line, – not run) and the commands
/// the drafter ran, for the review's criteria pane.
fn checks_lines(
    it: &crate::core::state::Iteration,
    ui: &crate::infra::theme::Ui,
) -> Vec<Line<'static>> {
    use crate::core::journal::CheckStatus;
    let mut out = Vec::new();
    if !it.checks.is_empty() {
        let passed = it
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Passed)
            .count();
        let mut head = format!(" ✓ {passed} passed");
        if it.fix_rounds > 0 {
            head.push_str(&format!(" · {} fix round(s)", it.fix_rounds));
        }
        out.push(Line::from(Span::styled(head, Style::default().fg(ui.ok))));
        for c in &it.checks {
            let what = c.kind.word();
            let first = c.detail.lines().next().unwrap_or("").to_string();
            match c.status {
                CheckStatus::Passed => {}
                CheckStatus::Failed => out.push(Line::from(Span::styled(
                    format!(" ✗ {first}"),
                    Style::default().fg(ui.error),
                ))),
                CheckStatus::NotRun => out.push(Line::from(Span::styled(
                    format!(" – {what} `{}` not run: {first}", c.name),
                    Style::default().fg(ui.dim),
                ))),
            }
        }
    }
    for c in &it.commands {
        let mut line = format!(
            " $ {} → {}",
            c.command.lines().next().unwrap_or(""),
            c.ending
        );
        if !c.changed.is_empty() {
            line.push_str(&format!(" (changed {})", c.changed.join(", ")));
        }
        out.push(Line::from(Span::styled(line, Style::default().fg(ui.dim))));
    }
    out
}

fn draw_summary(app: &App, f: &mut Frame, area: Rect) {
    let ui = &app.theme.ui;
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(app.state.tasks.len() as u16 + 4),
            Constraint::Min(6),
        ])
        .split(area);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:<4}{:<36}{:<11}{:>6}{:>10}{:>10}  commit",
            "", "task", "status", "iter", "review", "agent"
        ),
        Style::default().fg(ui.dim),
    ))];
    for t in &app.state.tasks {
        let status: &str = t.status.into();
        let (mark, st) = status_mark(app, t.number);
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark}  "), st),
            Span::raw(format!(
                "{} {:<11}{:>6}{:>10}{:>10}  {}",
                clip(&format!("{}. {}", t.number, t.spec.title), 35),
                status,
                t.iterations.len(),
                mmss(t.review_ms()),
                mmss(t.agent_ms()),
                t.commit
                    .as_deref()
                    .map(|c| &c[..c.len().min(10)])
                    .unwrap_or("")
            )),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(app, "Tasks", false)),
        rows[0],
    );
    let bars: Vec<Bar> = app
        .state
        .tasks
        .iter()
        .map(|t| {
            let minutes = t.review_ms() as f64 / 60_000.0;
            Bar::default()
                .value((minutes * 10.0).round() as u64)
                .text_value(format!("{minutes:.1}m"))
                .label(Line::from(format!("task {}", t.number)))
                .style(Style::default().fg(ui.accent))
        })
        .collect();
    let chart = BarChart::default()
        .block(block(app, "Review minutes per task", false))
        .data(BarGroup::default().bars(&bars))
        .bar_width(9)
        .bar_gap(2)
        .value_style(Style::default().fg(ui.bg).bg(ui.accent));
    f.render_widget(chart, rows[1]);
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

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Draw `popup`; for a scrolled one, the scroll it was drawn at (clamped to its rows).
fn draw_popup(app: &App, popup: &Popup, f: &mut Frame, area: Rect) -> Option<usize> {
    let ui = &app.theme.ui;
    match popup {
        Popup::Help { scroll } => {
            let key_line = |keys: &str, what: &str| {
                Line::from(vec![
                    Span::styled(
                        format!("{keys:>16}  "),
                        Style::default()
                            .fg(ui.hint_key)
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(what.to_string(), Style::default().fg(ui.fg)),
                ])
            };
            let (here, mut rest) = app.keymap.help(&app.screen_actions());
            // Replay's keys belong to `tandem replay`, not to this program's screens.
            rest.retain(|(_, what)| !what.starts_with("replay:"));
            let mut lines: Vec<Line> = here.iter().map(|(k, w)| key_line(k, w)).collect();
            lines.push(Line::from(Span::styled(
                "  other screens",
                Style::default().fg(ui.dim).add_modifier(Modifier::ITALIC),
            )));
            lines.extend(rest.iter().map(|(k, w)| key_line(k, w)));
            return Some(scrolled_popup(
                app,
                f,
                area,
                (60, *scroll, false),
                "Keys",
                lines,
            ));
        }
        Popup::Message { title, text } => {
            let r = centered(area, 70, (text.lines().count() as u16 + 4).min(20));
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(Text::from(text.clone()))
                    .wrap(Wrap { trim: false })
                    .style(Style::default().fg(ui.fg))
                    .block(block(app, title, true)),
                r,
            );
        }
        Popup::Output { lines, scroll } => {
            let text: Vec<Line> = lines
                .iter()
                .map(|l| {
                    let color = if l.starts_with(" ✗") || l.contains("REGRESSED") {
                        ui.error
                    } else if l.starts_with(" ✓") {
                        ui.ok
                    } else if l.starts_with("     ") {
                        ui.dim
                    } else {
                        ui.fg
                    };
                    Line::from(Span::styled(l.clone(), Style::default().fg(color)))
                })
                .collect();
            return Some(scrolled_popup(
                app,
                f,
                area,
                (76, *scroll, true),
                "Verification",
                text,
            ));
        }
        Popup::Lessons(l) => draw_lessons_popup(app, f, area, l),
        Popup::Command {
            task,
            command,
            sandboxed,
            confinement,
            check,
            scroll,
        } => {
            return Some(draw_command_popup(
                app,
                f,
                area,
                (*task, *check, *scroll),
                command,
                (*sandboxed, confinement),
            ));
        }
        Popup::Conflict {
            task,
            doing,
            paths,
            saved,
            ..
        } => {
            let mut text = format!(
                "To {doing} (task {task}), tandem would write over files you changed since it last wrote them:\n"
            );
            for p in paths.iter().take(8) {
                text.push_str(&format!("  {p}\n"));
            }
            if paths.len() > 8 {
                text.push_str(&format!("  … and {} more\n", paths.len() - 8));
            }
            text.push_str(&format!(
                "Your versions are saved in commit {}. Nothing is written until you choose:\n\n  m keep mine · t take tandem's · b keep both (yours as FILE.mine)",
                &saved[..saved.len().min(10)]
            ));
            // Height after wrapping at the popup's inner width, so the choices always show.
            let inner = usize::from(area.width.min(76).saturating_sub(2)).max(1);
            let rows: usize = text
                .lines()
                .map(|l| match Line::from(l).width() {
                    // Word wrap can leave a row short: one spare row per wrapped line.
                    w if w > inner => w / inner + 2,
                    _ => 1,
                })
                .sum();
            let r = centered(area, 76, (rows as u16 + 2).min(area.height));
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(Text::from(text))
                    .wrap(Wrap { trim: false })
                    .style(Style::default().fg(ui.fg))
                    .block(block(app, "Your changes", true)),
                r,
            );
        }
        Popup::Confirm(what) => {
            let text = match what {
                Confirm::Reject { task, .. } => format!(
                    "Reject task {task}? Its files go back to how they were before the task. (y/n)"
                ),
                // While the checker judges, the draft is finished: a cancel skips the check.
                Confirm::CancelDraft if app.checking => {
                    "Skip the check? The finished draft goes to review without verdicts. (y/n)"
                        .into()
                }
                Confirm::CancelDraft => {
                    "Cancel the running draft? Its changes are undone; enter starts it again. (y/n)"
                        .into()
                }
                Confirm::DeleteTask(i) => format!("Delete task {} from the plan? (y/n)", i + 1),
                Confirm::Accept { task, why, .. } => {
                    format!("Accept task {task} with {why}? It is committed as reviewed. (y/n)")
                }
            };
            let r = centered(area, 60, 4);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(block(app, "Confirm", true)),
                r,
            );
        }
        Popup::Input {
            field,
            input,
            error,
        } => {
            let (title, height) = match field {
                Field::Comment { path, line, .. } => (
                    format!("Comment on {path}:{line} (enter saves, esc cancels)"),
                    3,
                ),
                Field::EditComment { .. } => {
                    ("Edit comment (empty deletes; enter saves)".to_string(), 3)
                }
                Field::Note { .. } => ("Note for this iteration (enter saves)".to_string(), 3),
                Field::Answer { thread, .. } => (
                    format!("Answer {thread} (it opens again and goes to the agent; enter saves)"),
                    3,
                ),
                Field::Replan => (
                    "Re-plan: what should change? (enter sends to the planner)".to_string(),
                    3,
                ),
                Field::Task { index } => (
                    format!(
                        "{} (ctrl-s saves, esc cancels)",
                        if index.is_some() {
                            "Edit task"
                        } else {
                            "New task"
                        }
                    ),
                    12,
                ),
            };
            let extra = if error.is_some() { 2 } else { 0 };
            let r = centered(area, 76, height + 2 + extra);
            f.render_widget(Clear, r);
            let b = block(app, &title, true);
            let inner = b.inner(r);
            f.render_widget(b, r);
            let mut text = Text::from(input.text.clone());
            if let Some(e) = error {
                text.lines.push(Line::raw(""));
                text.lines.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(ui.error),
                )));
            }
            f.render_widget(Paragraph::new(text), inner);
            let (line, col) = input.cursor_pos();
            f.set_cursor_position((inner.x + col as u16, inner.y + line as u16));
        }
    }
    None
}

/// Minutes and seconds, rounded to the second as the commit trailers round.
fn mmss(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// `s` cut to `n` display columns (with … when cut), padded to exactly `n`, so columns after
/// it line up whatever the script.
fn clip(s: &str, n: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let mut out = String::new();
    let mut used = 0;
    if s.width() <= n {
        out.push_str(s);
        used = s.width();
    } else {
        for c in s.chars() {
            let w = c.width().unwrap_or(0);
            if used + w + 1 > n {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.push_str(&" ".repeat(n.saturating_sub(used)));
    out
}

/// Wraps one styled text into the rows of a 76-column popup on `area` (as drawn, so rows can
/// be counted before drawing).
fn popup_wrapper(area: Rect) -> impl Fn(String, Style) -> Vec<Line<'static>> {
    use crate::tui::diff_text::{Fit, layout};
    let inner = usize::from(76.min(area.width.saturating_sub(2)).saturating_sub(2)).max(1);
    move |text: String, style: Style| {
        layout(&[Span::styled(text, style)], inner, Fit::Wrap, style, style)
            .into_iter()
            .map(Line::from)
            .collect()
    }
}

/// Lessons from an accepted task's review: each with its mark (kept, discarded, not yet
/// answered), the threads it came from and the file it would go to; the selected one can be
/// edited in place.
fn draw_lessons_popup(app: &App, f: &mut Frame, area: Rect, l: &crate::tui::app::LessonsReview) {
    let ui = &app.theme.ui;
    let wrap = popup_wrapper(area);
    let mut lines = wrap(
        "Keep what you said for later tasks and sessions? Nothing is stored unless you keep it."
            .into(),
        Style::default().fg(ui.dim),
    );
    lines.push(Line::raw(""));
    for (i, it) in l.items.iter().enumerate() {
        let sel = i == l.sel;
        let (mark, color) = match it.keep {
            Some(true) => ("[✓]", ui.ok),
            Some(false) => ("[✗]", ui.error),
            None => ("[ ]", ui.dim),
        };
        let base = if sel {
            Style::default().bg(ui.selection_bg)
        } else {
            Style::default()
        };
        let from = if it.from.is_empty() {
            String::new()
        } else {
            format!(" ({})", it.from.join(", "))
        };
        let text = match (&l.editing, sel) {
            (Some(input), true) => format!("{}▏", input.text),
            _ => it.text.clone(),
        };
        let row = format!("{} {}. {text}{from}", mark, i + 1);
        let mut rows = wrap(
            row,
            base.fg(if it.keep == Some(false) {
                ui.dim
            } else {
                ui.fg
            }),
        );
        if let Some(first) = rows.first_mut()
            && let Some(span) = first.spans.first_mut()
        {
            // The mark in its colour: split it off the first span.
            let rest = span.content.chars().skip(3).collect::<String>();
            let style = span.style;
            *first = Line::from(vec![
                Span::styled(mark.to_string(), base.fg(color)),
                Span::styled(rest, style),
            ]);
        }
        lines.extend(rows);
        if it.keep == Some(true) {
            let to = match (&l.client, it.for_client) {
                (Some(c), true) => format!("      → client {c}'s lessons.md"),
                _ => format!("      → {}", crate::infra::knowledge::REPO_LESSONS),
            };
            lines.push(Line::from(Span::styled(to, Style::default().fg(ui.dim))));
        }
    }
    lines.push(Line::raw(""));
    let keys = if l.editing.is_some() {
        "  enter keep this text · esc stop editing".to_string()
    } else if l.client.is_some() {
        "  y keep · n discard · e edit · c client's file · ↓↑ move · enter done".to_string()
    } else {
        "  y keep · n discard · e edit · ↓↑ move · enter done".to_string()
    };
    lines.extend(wrap(keys, Style::default().fg(ui.fg)));
    let r = centered(area, 76, (lines.len() as u16 + 2).min(area.height));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(Style::default().fg(ui.fg))
            .block(block(
                app,
                &if l.task == crate::core::state::SESSION_LESSONS {
                    "Lessons from the whole session's reviews".to_string()
                } else {
                    format!("Lessons from task {}'s review", l.task)
                },
                true,
            )),
        r,
    );
}

/// The question before a command runs. Every line of the command can be seen (wrapped, and
/// scrolled when it is taller than the screen allows, with a line saying which rows show), and
/// the sentence on its confinement and the keys always stay in view. Returns the scroll drawn.
fn draw_command_popup(
    app: &App,
    f: &mut Frame,
    area: Rect,
    (task, check, scroll): (usize, bool, usize),
    command: &str,
    (sandboxed, confinement): (bool, &str),
) -> usize {
    let ui = &app.theme.ui;
    let wrap = popup_wrapper(area);
    let cmd_style = Style::default().fg(ui.accent).add_modifier(Modifier::BOLD);
    let cmd: Vec<Line> = command
        .lines()
        .flat_map(|l| wrap(format!("  $ {l}"), cmd_style))
        .collect();
    let who = if check {
        format!("Task {task}'s check wants to run:")
    } else {
        format!("The drafter of task {task} wants to run:")
    };
    let conf = wrap(
        confinement.to_string(),
        Style::default().fg(if sandboxed { ui.dim } else { ui.error }),
    );
    let keys = wrap(
        "  y run it · a always run this command · n decline".into(),
        Style::default().fg(ui.fg),
    );
    // Rows besides the command: who, a blank, (the command), a blank or the scroll line, the
    // confinement, a blank, the keys; and the two borders.
    let fixed = 1 + 1 + 1 + conf.len() + 1 + keys.len() + 2;
    let room = usize::from(area.height.saturating_sub(2))
        .saturating_sub(fixed)
        .max(1);
    let shown = cmd.len().min(room);
    let scroll = scroll.min(cmd.len() - shown);
    let mut lines = vec![Line::raw(who), Line::raw("")];
    lines.extend(cmd.iter().skip(scroll).take(shown).cloned());
    lines.push(if shown < cmd.len() {
        Line::from(Span::styled(
            format!(
                "  (rows {}–{} of {} of the command: ↓↑ scroll)",
                scroll + 1,
                scroll + shown,
                cmd.len()
            ),
            Style::default().fg(ui.warn).add_modifier(Modifier::ITALIC),
        ))
    } else {
        Line::raw("")
    });
    lines.extend(conf);
    lines.push(Line::raw(""));
    lines.extend(keys);
    let r = centered(area, 76, (lines.len() as u16 + 2).min(area.height));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .style(Style::default().fg(ui.fg))
            .block(block(app, "Run a command?", true)),
        r,
    );
    scroll
}

/// A popup of `lines` scrolled down `scroll` rows (clamped to what is left), `width` wide and as
/// tall as it needs up to the screen; its title says how to scroll when it does not all fit.
/// With `wrap`, long lines are wrapped first, so rows (what scrolls) are counted as drawn.
/// Returns the scroll it was drawn at.
fn scrolled_popup(
    app: &App,
    f: &mut Frame,
    area: Rect,
    (width, scroll, wrap): (u16, usize, bool),
    name: &str,
    lines: Vec<Line<'static>>,
) -> usize {
    let inner = usize::from(width.min(area.width.saturating_sub(2)).saturating_sub(2));
    let lines: Vec<Line> = if wrap {
        lines
            .into_iter()
            .flat_map(|l| {
                let style = l.style;
                crate::tui::diff_text::layout(
                    &l.spans,
                    inner,
                    crate::tui::diff_text::Fit::Wrap,
                    style,
                    style,
                )
                .into_iter()
                .map(Line::from)
            })
            .collect()
    } else {
        lines
    };
    let r = centered(area, width, (lines.len() as u16 + 2).min(area.height));
    let visible = r.height.saturating_sub(2) as usize;
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let title = if lines.len() > visible {
        format!("{name} (↓↑ scroll, esc closes)")
    } else {
        format!("{name} (esc closes)")
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll as u16, 0))
            .block(block(app, &title, true)),
        r,
    );
    scroll
}
