//! Drawing: the rows on screen turned into ratatui lines (file and hunk headers, unified or
//! side-by-side diff lines with syntax colours and changed words) and set into the buffer.

use super::threads::{thread_line, thread_rows};
use super::{DiffView, Row};
use crate::infra::diff::LineKind;
use crate::infra::theme::Theme;
use crate::tui::diff_text::{self, Fit, table_separator};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Columns before a unified line's text: two line numbers and the sign.
const UNIFIED_GUTTER: usize = 14;
/// Columns before a side's text: a line number and the sign.
const SIDE_GUTTER: usize = 7;

impl DiffView {
    /// Draw the rows on screen into `area`.
    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme, focused: bool) {
        let ui = &theme.ui;
        let height = area.height as usize;
        let mut y = 0;
        let mut idx = self.scroll;
        while y < height && idx < self.rows.len() {
            let on_cursor = idx == self.cursor;
            for mut line in self.row_lines(&self.rows[idx], area.width, theme) {
                if y >= height {
                    break;
                }
                let line_area = Rect {
                    x: area.x,
                    y: area.y + y as u16,
                    width: area.width,
                    height: 1,
                };
                if on_cursor {
                    let cursor_style = if theme.monochrome {
                        Style::default().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::default().bg(ui.cursor_bg)
                    };
                    if focused {
                        line = line.patch_style(cursor_style);
                        buf.set_style(line_area, cursor_style);
                    } else {
                        line =
                            line.patch_style(Style::default().add_modifier(Modifier::UNDERLINED));
                    }
                }
                buf.set_line(line_area.x, line_area.y, &line, line_area.width);
                y += 1;
            }
            idx += 1;
        }
    }

    /// The screen rows of one row: one, or several when its text wraps.
    pub(super) fn row_lines(&self, row: &Row, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let ui = &theme.ui;
        let width = width as usize;
        match row {
            Row::File { file } => self.file_row_lines(*file, width, theme),
            Row::Hunk { file, hunk } => vec![Line::from(Span::styled(
                self.files[*file].hunks[*hunk].header.clone(),
                Style::default().fg(ui.hunk_header),
            ))],
            Row::Binary { .. } => vec![Line::from(Span::styled(
                "  binary file — not shown",
                Style::default().fg(ui.dim).add_modifier(Modifier::ITALIC),
            ))],
            Row::Thread { pin, part, .. } => {
                thread_rows(thread_line(&self.pins[*pin], *part, theme), width)
            }
            Row::Line {
                file,
                hunk,
                left,
                right,
            } => self.line_row_lines(*file, *hunk, *left, *right, width, theme),
        }
    }

    /// A file header row: its path, what happened to it and its counts, ruled to `width`.
    fn file_row_lines(&self, file: usize, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let ui = &theme.ui;
        let f = &self.files[file];
        let status = match f.status {
            'A' => "new file",
            'D' => "deleted",
            'R' => "renamed",
            _ => "modified",
        };
        let title = match &f.old_path {
            Some(old) => format!("{old} → {}", f.path),
            None => f.path.clone(),
        };
        let head = Span::styled(
            format!("── {title}  "),
            Style::default().fg(ui.title).add_modifier(Modifier::BOLD),
        );
        let tail = Span::styled(
            match &f.mode {
                Some(m) => format!("  {status} ({m}) +{} −{} ", f.added, f.removed),
                None => format!("  {status} +{} −{} ", f.added, f.removed),
            },
            Style::default().fg(ui.dim),
        );
        let fill = width.saturating_sub(head.width() + tail.width());
        vec![Line::from(vec![
            head,
            Span::styled("─".repeat(fill), Style::default().fg(ui.border)),
            tail,
        ])]
    }

    // Long: both layouts share `fit` and the line's place; split apart, each takes 8 arguments.
    /// A diff line's row: side by side or unified, wrapped or scrolled sideways.
    fn line_row_lines(
        &self,
        file: usize,
        hunk: usize,
        left: Option<usize>,
        right: Option<usize>,
        width: usize,
        theme: &Theme,
    ) -> Vec<Line<'static>> {
        let ui = &theme.ui;
        let fit = if self.wraps(file) {
            Fit::Wrap
        } else {
            Fit::Window {
                offset: self.hscroll,
            }
        };
        if self.side_by_side {
            let half = width / 2;
            let l = self.side_rows(file, hunk, left, half, fit, theme, true);
            let r = self.side_rows(
                file,
                hunk,
                right,
                width.saturating_sub(half + 1),
                fit,
                theme,
                false,
            );
            let (lb, rb) = (l.blank.clone(), r.blank.clone());
            let n = l.rows.len().max(r.rows.len());
            let sep = Span::styled("│", Style::default().fg(ui.border));
            (0..n)
                .map(|k| {
                    let mut spans = l.rows.get(k).cloned().unwrap_or_else(|| lb.clone());
                    spans.push(sep.clone());
                    spans.extend(r.rows.get(k).cloned().unwrap_or_else(|| rb.clone()));
                    Line::from(spans)
                })
                .collect()
        } else {
            let i = right.or(left).unwrap_or(0);
            let l = &self.files[file].hunks[hunk].lines[i];
            let num = |n: Option<u32>| {
                n.map(|n| format!("{n:>5}"))
                    .unwrap_or_else(|| "     ".into())
            };
            let (sign, line_style) = line_style(l.kind, theme);
            let gutter = Span::styled(
                format!("{} {} ", num(l.old), num(l.new)),
                Style::default().fg(ui.line_number),
            );
            let text = self.line_text(file, hunk, i, line_style, theme);
            let rows = diff_text::layout(
                &text,
                width.saturating_sub(UNIFIED_GUTTER),
                fit,
                line_style,
                cut_mark(theme),
            );
            rows.into_iter()
                .enumerate()
                .map(|(k, row)| {
                    let mark = if k == 0 {
                        Span::styled(format!("{sign} "), line_style.add_modifier(Modifier::BOLD))
                    } else {
                        Span::styled("↪ ", cut_mark(theme))
                    };
                    let g = if k == 0 {
                        gutter.clone()
                    } else {
                        Span::styled(" ".repeat(12), gutter.style)
                    };
                    let mut spans = vec![g, mark];
                    spans.extend(row);
                    Line::from(spans)
                })
                .collect()
        }
    }

    /// The text of hunk line `i` styled: syntax colours over the line's background, the words
    /// that changed against its paired line emphasised, tabs expanded, a cut line marked.
    fn line_text(
        &self,
        file: usize,
        hunk: usize,
        i: usize,
        base: Style,
        theme: &Theme,
    ) -> Vec<Span<'static>> {
        let f = &self.files[file];
        let l = &f.hunks[hunk].lines[i];
        let styled = self
            .highlights
            .get(&(file, hunk))
            .and_then(|h| h.get(i))
            .and_then(|x| x.as_ref());
        let mut spans: Vec<Span<'static>> = match styled {
            Some(pieces) if !theme.monochrome => pieces
                .iter()
                .map(|(st, t)| {
                    let mut s = base.patch(*st);
                    s.bg = base.bg;
                    Span::styled(t.clone(), s)
                })
                .collect(),
            _ => vec![Span::styled(l.text.clone(), base)],
        };
        let partner = self
            .partners
            .get(file)
            .and_then(|h| h.get(hunk))
            .and_then(|p| p.get(i).copied().flatten());
        if let Some(j) = partner {
            let other = &f.hunks[hunk].lines[j];
            let (old, new) = match l.kind {
                LineKind::Removed => (&l.text, &other.text),
                _ => (&other.text, &l.text),
            };
            if let Some((ro, rn)) = diff_text::changed_ranges(old, new, table_separator(&f.path)) {
                let ranges = if l.kind == LineKind::Removed { ro } else { rn };
                let emph = base.add_modifier(Modifier::REVERSED | Modifier::BOLD);
                spans = diff_text::emphasise(spans, &ranges, |_| emph);
            }
        }
        let mut spans = diff_text::expand_tabs(spans);
        if l.truncated {
            spans.push(Span::styled(
                " …(line cut)",
                Style::default()
                    .fg(theme.ui.dim)
                    .add_modifier(Modifier::ITALIC),
            ));
        }
        spans
    }

    /// One side of a side-by-side row, laid out `width` columns wide.
    #[allow(clippy::too_many_arguments)] // one call site per side; a struct would only rename them
    fn side_rows(
        &self,
        file: usize,
        hunk: usize,
        idx: Option<usize>,
        width: usize,
        fit: Fit,
        theme: &Theme,
        old_side: bool,
    ) -> SideRows {
        let ui = &theme.ui;
        let Some(i) = idx else {
            let blank = vec![Span::styled(" ".repeat(width), Style::default().fg(ui.dim))];
            return SideRows {
                rows: vec![blank.clone()],
                blank,
            };
        };
        let l = &self.files[file].hunks[hunk].lines[i];
        let n = if old_side { l.old } else { l.new };
        let (sign, style) = line_style(l.kind, theme);
        let gutter = Span::styled(
            n.map(|n| format!("{n:>5} "))
                .unwrap_or_else(|| "      ".into()),
            Style::default().fg(ui.line_number),
        );
        let text = self.line_text(file, hunk, i, style, theme);
        let text_width = width.saturating_sub(SIDE_GUTTER);
        let rows = diff_text::layout(&text, text_width, fit, style, cut_mark(theme))
            .into_iter()
            .enumerate()
            .map(|(k, row)| {
                let mut spans = if k == 0 {
                    vec![
                        gutter.clone(),
                        Span::styled(format!("{sign}"), style.add_modifier(Modifier::BOLD)),
                    ]
                } else {
                    vec![
                        Span::styled(" ".repeat(SIDE_GUTTER - 1), gutter.style),
                        Span::styled("↪", cut_mark(theme)),
                    ]
                };
                spans.extend(row);
                clip(spans, width)
            })
            .collect();
        let blank = clip(
            vec![
                Span::styled(" ".repeat(SIDE_GUTTER), gutter.style),
                Span::styled(" ".repeat(text_width), style),
            ],
            width,
        );
        SideRows { rows, blank }
    }
}

/// A side of a side-by-side row: its screen rows, and a blank row to pad the shorter side.
struct SideRows {
    rows: Vec<Vec<Span<'static>>>,
    blank: Vec<Span<'static>>,
}

/// Style of the marks for cut and continued lines (‹ › ↪).
fn cut_mark(theme: &Theme) -> Style {
    Style::default()
        .fg(theme.ui.hunk_header)
        .add_modifier(Modifier::BOLD)
}

/// Cut spans to `width` columns (a wide char that does not fit becomes a space).
fn clip(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let w = s.width();
        if used + w <= width {
            used += w;
            out.push(s);
            continue;
        }
        let mut text = String::new();
        for c in s.content.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + cw > width {
                break;
            }
            used += cw;
            text.push(c);
        }
        text.push_str(&" ".repeat(width - used));
        out.push(Span::styled(text, s.style));
        break;
    }
    out
}

fn line_style(kind: LineKind, theme: &Theme) -> (char, Style) {
    let ui = &theme.ui;
    match kind {
        LineKind::Added if theme.monochrome => ('+', Style::default().add_modifier(Modifier::BOLD)),
        LineKind::Removed if theme.monochrome => {
            ('-', Style::default().add_modifier(Modifier::DIM))
        }
        LineKind::Added => ('+', Style::default().fg(ui.added_fg).bg(ui.added_bg)),
        LineKind::Removed => ('-', Style::default().fg(ui.removed_fg).bg(ui.removed_bg)),
        LineKind::Context => (' ', Style::default().fg(ui.fg)),
    }
}
