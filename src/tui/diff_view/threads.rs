//! Review threads as rows: a thread's head or one of its posts as a line, wrapped under its
//! margin bar.

use super::Pin;
use crate::core::threads::{Author, ThreadStatus};
use crate::infra::theme::Theme;
use crate::tui::diff_text::{self, Fit};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// A thread's row wrapped to `width`: its first span is the prefix, continuation rows are
/// indented to the text under it, keeping the thread's margin bar.
pub(super) fn thread_rows(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let mut spans = line.spans;
    if spans.is_empty() {
        return vec![Line::default()];
    }
    let prefix = spans.remove(0);
    let indent = prefix.width().min(width);
    let fill = spans.last().map_or(prefix.style, |s| s.style);
    let body = diff_text::layout(
        &spans,
        width - indent,
        Fit::Wrap,
        fill.remove_modifier(Modifier::all()),
        Style::default(),
    );
    body.into_iter()
        .enumerate()
        .map(|(k, row)| {
            let head = if k == 0 {
                prefix.clone()
            } else {
                let bar = "            ┆";
                Span::styled(
                    format!("{bar}{}", " ".repeat(indent.saturating_sub(13))),
                    prefix.style,
                )
            };
            let mut v = vec![head];
            v.extend(row);
            Line::from(v)
        })
        .collect()
}

/// One row of a thread: its head (label, status, where) or one of its posts.
pub(super) fn thread_line(pin: &Pin, part: usize, theme: &Theme) -> Line<'static> {
    let ui = &theme.ui;
    let style = Style::default().fg(ui.comment_fg).bg(ui.comment_bg);
    let bold = style.add_modifier(Modifier::BOLD);
    let flat = |t: &str| t.replace('\n', " ⏎ ");
    let opening = pin.posts.first().map_or(String::new(), |p| flat(&p.2));
    let place = match (&pin.path, pin.line) {
        (None, _) => format!("note of iteration {}", pin.key.iteration),
        (Some(p), 0) => format!("{p} (the file is gone)"),
        (Some(p), n) => format!("{p}:{n}"),
    };
    if pin.mine {
        return Line::from(vec![
            Span::styled("            ┆ ✎ ", bold),
            Span::styled(opening, style),
        ]);
    }
    if pin.status == ThreadStatus::Resolved {
        return Line::from(vec![
            Span::styled(format!("            ┆ ✓ {} resolved ", pin.key), bold),
            Span::styled(opening, style.add_modifier(Modifier::DIM)),
        ]);
    }
    if part == 0 {
        let mark = match pin.status {
            ThreadStatus::Open => "●",
            ThreadStatus::NoReply => "!",
            ThreadStatus::Replied(_) => "◆",
            ThreadStatus::Resolved => "✓",
        };
        let mut spans = vec![
            Span::styled(format!("            ┆ {mark} {} ", pin.key), bold),
            Span::styled(
                format!("{} ", pin.status.label()),
                status_style(pin.status, theme),
            ),
            Span::styled(format!("· {place}"), style),
        ];
        if pin.outdated {
            spans.push(Span::styled(
                " · outdated: the line changed",
                style.add_modifier(Modifier::ITALIC),
            ));
        }
        return Line::from(spans);
    }
    let Some((by, iteration, text)) = pin.posts.get(part - 1) else {
        return Line::default();
    };
    let who = match by {
        Author::Reviewer => format!("you (it. {iteration})"),
        Author::Reopened => format!("you re-opened (it. {iteration})"),
        Author::Resolved => format!("you resolved (it. {iteration})"),
        Author::Agent(r) => format!("agent, {} (it. {iteration})", r.label()),
    };
    Line::from(vec![
        Span::styled("            ┆   ", style),
        Span::styled(format!("{who}: "), bold),
        Span::styled(flat(text), style),
    ])
}

fn status_style(status: ThreadStatus, theme: &Theme) -> Style {
    let ui = &theme.ui;
    let base = Style::default()
        .bg(ui.comment_bg)
        .add_modifier(Modifier::BOLD);
    if theme.monochrome {
        return base;
    }
    match status {
        ThreadStatus::Open | ThreadStatus::NoReply => base.fg(ui.removed_fg),
        ThreadStatus::Replied(crate::core::threads::AgentReply::Addressed)
        | ThreadStatus::Resolved => base.fg(ui.added_fg),
        ThreadStatus::Replied(_) => base.fg(ui.hunk_header),
    }
}
