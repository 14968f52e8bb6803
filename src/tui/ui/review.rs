//! The review screen (files, criteria with the checker's verdicts and checks, the diff) and
//! the session summary.

use super::{block, mmss, scroll_for, status_mark};
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Wrap};

// Long: the three panes share one layout and one borrow of the review (the diff pane then
// needs `app` mutably), so they are drawn in turn here, each under its own comment.
pub(super) fn draw_review(app: &mut App, f: &mut Frame, area: Rect) {
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
            let counts = format!(" +{} −{}", file.added, file.removed);
            let mark = if by_command { " $" } else { "" };
            // A path longer than the pane keeps its end (the file's name) and loses its start.
            let room = usize::from(left[0].width.saturating_sub(2))
                .saturating_sub(3 + counts.chars().count() + mark.len());
            Line::from(vec![
                Span::styled(format!(" {} ", file.status), base.fg(ui.dim)),
                Span::styled(path_tail(&file.path, room), base.fg(ui.fg)),
                Span::styled(format!(" +{}", file.added), base.fg(ui.added_fg)),
                Span::styled(format!(" −{}", file.removed), base.fg(ui.removed_fg)),
                Span::styled(mark, base.fg(ui.dim)),
            ])
        })
        .collect();
    let scroll = scroll_for(&files, (r.file_sel, r.file_sel), left[0], false);
    f.render_widget(
        Paragraph::new(files).scroll((scroll, 0)).block(block(
            app,
            "Files",
            r.focus == Pane::Files,
        )),
        left[0],
    );
    // Criteria, note, summary.
    let mut crit: Vec<Line> = Vec::new();
    // The selected criterion's lines, to keep in view.
    let mut shown = (0, 0);
    let criteria = app
        .state
        .task(r.task)
        .map_or(0, |t| t.spec.acceptance.len());
    if let Some(t) = app.state.task(r.task) {
        for (i, c) in t.spec.acceptance.iter().enumerate() {
            if i == r.crit_sel {
                shown = (crit.len(), crit.len() + 1);
            }
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
    // On the last criterion, what follows it (the summary, the note, the checks) scrolls
    // into view as far as the criterion itself stays.
    let shown = match r.focus {
        Pane::Criteria if r.crit_sel + 1 >= criteria => (shown.0, crit.len()),
        Pane::Criteria => shown,
        _ => (0, 0),
    };
    let scroll = scroll_for(&crit, shown, left[1], true);
    f.render_widget(
        Paragraph::new(crit)
            .scroll((scroll, 0))
            .wrap(Wrap { trim: false })
            .block(block(
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

pub(super) fn draw_summary(
    app: &App,
    view: crate::tui::app::SummaryView,
    f: &mut Frame,
    area: Rect,
) {
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
    // The header row, then the selected task's row (1 + sel), kept in view.
    let sel = view.sel.min(app.state.tasks.len().saturating_sub(1)) + 1;
    if let Some(l) = lines.get_mut(sel) {
        *l = l.clone().patch_style(Style::default().bg(ui.selection_bg));
    }
    let scroll = scroll_for(&lines, (sel, sel), rows[0], false);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(block(app, "Tasks", false)),
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

/// `path` in at most `room` display columns: whole when it fits, else `…` and as much of its end
/// as fits, so the file's name shows (at least its last part).
fn path_tail(path: &str, room: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if path.width() <= room || room < 2 {
        return path.to_string();
    }
    let mut tail = Vec::new();
    let mut used = 1;
    for c in path.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        tail.push(c);
    }
    std::iter::once('…').chain(tail.into_iter().rev()).collect()
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
