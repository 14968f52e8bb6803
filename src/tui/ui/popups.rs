//! Popups drawn over any screen: keys, messages, verification output, lessons, a command
//! to allow, a restore conflict, confirmations and text input.

use super::block;
use crate::tui::app::{App, Confirm, Field, Popup};
use crate::tui::editor::TextInput;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Clear, Paragraph, Wrap};

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
pub(super) fn draw_popup(app: &App, popup: &Popup, f: &mut Frame, area: Rect) -> Option<usize> {
    let ui = &app.theme.ui;
    match popup {
        Popup::Help { scroll } => {
            return Some(draw_help_popup(app, f, area, *scroll));
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
            return Some(draw_output_popup(app, f, area, lines, *scroll));
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
            draw_conflict_popup(app, f, area, *task, doing, paths, saved);
        }
        Popup::Confirm(what) => draw_confirm_popup(app, f, area, what),
        Popup::Input {
            field,
            input,
            error,
        } => {
            draw_input_popup(app, f, area, field, input, error);
        }
    }
    None
}

/// The keys, this screen's first. Returns the scroll drawn.
fn draw_help_popup(app: &App, f: &mut Frame, area: Rect, scroll: usize) -> usize {
    let ui = &app.theme.ui;
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
    scrolled_popup(app, f, area, (60, scroll, false), "Keys", lines)
}

/// The draft's verification in full, coloured by line. Returns the scroll drawn.
fn draw_output_popup(
    app: &App,
    f: &mut Frame,
    area: Rect,
    lines: &[String],
    scroll: usize,
) -> usize {
    let ui = &app.theme.ui;
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
    scrolled_popup(app, f, area, (76, scroll, true), "Verification", text)
}

/// A restore would write over files the user changed: the files, the saved commit and the
/// three choices.
fn draw_conflict_popup(
    app: &App,
    f: &mut Frame,
    area: Rect,
    task: usize,
    doing: &str,
    paths: &[String],
    saved: &str,
) {
    let ui = &app.theme.ui;
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

/// A yes/no question before a reject, a cancel, a delete or an accept.
fn draw_confirm_popup(app: &App, f: &mut Frame, area: Rect, what: &Confirm) {
    let text = match what {
        Confirm::Reject { task, .. } => {
            format!("Reject task {task}? Its files go back to how they were before the task. (y/n)")
        }
        // While the checker judges, the draft is finished: a cancel skips the check.
        Confirm::CancelDraft if app.drafting().is_some_and(|d| d.checking) => {
            "Skip the check? The finished draft goes to review without verdicts. (y/n)".into()
        }
        Confirm::CancelDraft => {
            "Cancel the running draft? Its changes are undone; enter starts it again. (y/n)".into()
        }
        Confirm::DeleteTask(i) => format!("Delete task {} from the plan? (y/n)", i + 1),
        Confirm::Accept {
            task,
            iteration,
            why,
        } => {
            let nothing = app
                .state
                .iteration(*task, *iteration)
                .is_some_and(|it| it.files.is_empty());
            format!(
                "Accept task {task} with {why}? {} (y/n)",
                if nothing {
                    "Nothing is committed: the draft changed no file."
                } else {
                    "It is committed as reviewed."
                }
            )
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

/// A text field (comment, note, answer, re-plan, task) with its error under it and the cursor.
fn draw_input_popup(
    app: &App,
    f: &mut Frame,
    area: Rect,
    field: &Field,
    input: &TextInput,
    error: &Option<String>,
) {
    let ui = &app.theme.ui;
    let (title, height) = match field {
        Field::Comment { path, line, .. } => (
            format!("Comment on {path}:{line} (enter saves, esc cancels)"),
            3,
        ),
        Field::EditComment { .. } => ("Edit comment (empty deletes; enter saves)".to_string(), 3),
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
    // The error under the text, wrapped whole; the text scrolls above it.
    let (typed, said) = match error {
        Some(_) => {
            let parts = ratatui::layout::Layout::default()
                .direction(ratatui::layout::Direction::Vertical)
                .constraints([
                    ratatui::layout::Constraint::Min(1),
                    ratatui::layout::Constraint::Length(2),
                ])
                .split(inner);
            (parts[0], Some(parts[1]))
        }
        None => (inner, None),
    };
    if let (Some(e), Some(at)) = (error, said) {
        f.render_widget(
            Paragraph::new(Span::styled(e.clone(), Style::default().fg(ui.error)))
                .wrap(Wrap { trim: false }),
            at,
        );
    }
    super::draw_input(f, input, typed);
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

// Long: one row group per lesson (mark, text, where it goes), then the keys; split up it would
// only pass the same `wrap` and styles around.
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
