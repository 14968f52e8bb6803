//! The diff view shared by review and replay: a flat list of rows (file headers, hunk headers,
//! lines, inline comments) with a cursor, drawn unified or side by side, highlighted lazily.
//!
//! Invariants: rows are rebuilt only when the diff, the comments or the layout change, never
//! per frame; drawing touches only the rows on screen, so a 20,000-line diff costs what a screen
//! costs. Highlighting is per hunk and optional: a row draws as plain text until its hunk's
//! highlight arrives, and results for an older diff (`generation`) are dropped.

use crate::core::state::Comment;
use crate::infra::diff::{FileDiff, LineKind};
use crate::infra::theme::Theme;
use crate::tui::highlight::StyledLine;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    File {
        file: usize,
    },
    Hunk {
        file: usize,
        hunk: usize,
    },
    /// A diff line. Unified: one side set (both, with the same index, for context).
    /// Side by side: a removed line paired with an added one.
    Line {
        file: usize,
        hunk: usize,
        left: Option<usize>,
        right: Option<usize>,
    },
    Comment {
        file: usize,
        id: u32,
    },
    Binary {
        file: usize,
    },
}

/// Lines of a hunk are highlighted in chunks of this many, so a 20,000-line new file is
/// highlighted where it is looked at, not all at once (and not never: one block that large is
/// over the highlighter's limit). A chunk starts from a fresh parser state; a string or comment
/// spanning a chunk boundary may be coloured wrongly after it, which is the price of that.
pub const CHUNK: usize = 200;

/// Highlighted lines of one chunk of a hunk.
#[derive(Debug, Clone)]
pub struct HunkHighlight {
    pub generation: u64,
    pub file: usize,
    pub hunk: usize,
    /// Index in the hunk of the first line.
    pub start: usize,
    pub lines: Vec<Option<StyledLine>>,
}

/// What the highlighter needs for one chunk: the old-side and new-side text as blocks.
#[derive(Debug, Clone)]
pub struct HighlightJob {
    pub generation: u64,
    pub file: usize,
    pub hunk: usize,
    pub start: usize,
    pub path: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
    /// For each hunk line: (is_old_side, index in that side's block).
    pub map: Vec<(bool, usize)>,
    pub syntax_theme: String,
}

impl HighlightJob {
    /// Run it (blocking): highlight each side as one block, then map back to hunk lines.
    pub fn run(&self) -> HunkHighlight {
        let old: Vec<&str> = self.old.iter().map(String::as_str).collect();
        let new: Vec<&str> = self.new.iter().map(String::as_str).collect();
        let old_hl = crate::tui::highlight::highlight_block(&self.path, &old, &self.syntax_theme);
        let new_hl = crate::tui::highlight::highlight_block(&self.path, &new, &self.syntax_theme);
        let lines = self
            .map
            .iter()
            .map(|&(is_old, i)| {
                let side = if is_old { &old_hl } else { &new_hl };
                side.as_ref().and_then(|s| s.get(i).cloned())
            })
            .collect();
        HunkHighlight {
            generation: self.generation,
            file: self.file,
            hunk: self.hunk,
            start: self.start,
            lines,
        }
    }
}

#[derive(Debug, Default)]
pub struct DiffView {
    pub files: Vec<FileDiff>,
    pub rows: Vec<Row>,
    pub cursor: usize,
    pub scroll: usize,
    pub side_by_side: bool,
    pub generation: u64,
    comments: Vec<(String, Comment)>,
    /// Per (file, hunk): highlighted lines by index in the hunk, filled chunk by chunk.
    highlights: HashMap<(usize, usize), Vec<Option<StyledLine>>>,
    requested: HashSet<(usize, usize, usize)>,
}

impl DiffView {
    pub fn set_files(&mut self, files: Vec<FileDiff>) {
        self.files = files;
        self.generation += 1;
        self.highlights.clear();
        self.requested.clear();
        self.cursor = 0;
        self.scroll = 0;
        self.rebuild();
    }

    pub fn set_comments(&mut self, comments: &[Comment]) {
        let new: Vec<(String, Comment)> = comments
            .iter()
            .map(|c| (c.path.clone(), c.clone()))
            .collect();
        if new != self.comments {
            let at = self.rows.get(self.cursor).cloned();
            self.comments = new;
            self.rebuild();
            if let Some(row) = at
                && let Some(i) = self.rows.iter().position(|r| *r == row)
            {
                self.cursor = i;
            }
        }
    }

    pub fn toggle_side_by_side(&mut self) {
        let anchor = self.cursor_new_line();
        self.side_by_side = !self.side_by_side;
        self.rebuild();
        if let Some((file, line)) = anchor
            && let Some(i) = self
                .rows
                .iter()
                .position(|r| self.row_new_line(r) == Some((file, line)))
        {
            self.cursor = i;
        }
    }

    fn rebuild(&mut self) {
        let mut rows = Vec::new();
        for (fi, f) in self.files.iter().enumerate() {
            rows.push(Row::File { file: fi });
            let mut shown: HashSet<u32> = HashSet::new();
            let file_comments: Vec<&Comment> = self
                .comments
                .iter()
                .filter(|(p, _)| *p == f.path)
                .map(|(_, c)| c)
                .collect();
            if f.binary {
                rows.push(Row::Binary { file: fi });
            }
            for (hi, h) in f.hunks.iter().enumerate() {
                rows.push(Row::Hunk { file: fi, hunk: hi });
                let mut lines: Vec<(Option<usize>, Option<usize>)> = Vec::new();
                if self.side_by_side {
                    let mut i = 0;
                    while i < h.lines.len() {
                        match h.lines[i].kind {
                            LineKind::Context => {
                                lines.push((Some(i), Some(i)));
                                i += 1;
                            }
                            _ => {
                                let mut removed = Vec::new();
                                let mut added = Vec::new();
                                while i < h.lines.len() && h.lines[i].kind == LineKind::Removed {
                                    removed.push(i);
                                    i += 1;
                                }
                                while i < h.lines.len() && h.lines[i].kind == LineKind::Added {
                                    added.push(i);
                                    i += 1;
                                }
                                for k in 0..removed.len().max(added.len()) {
                                    lines.push((removed.get(k).copied(), added.get(k).copied()));
                                }
                            }
                        }
                    }
                } else {
                    for (i, l) in h.lines.iter().enumerate() {
                        match l.kind {
                            LineKind::Context => lines.push((Some(i), Some(i))),
                            LineKind::Removed => lines.push((Some(i), None)),
                            LineKind::Added => lines.push((None, Some(i))),
                        }
                    }
                }
                for (left, right) in lines {
                    rows.push(Row::Line {
                        file: fi,
                        hunk: hi,
                        left,
                        right,
                    });
                    let new = right.and_then(|r| h.lines[r].new);
                    if let Some(n) = new {
                        for c in file_comments.iter().filter(|c| c.line == n) {
                            rows.push(Row::Comment { file: fi, id: c.id });
                            shown.insert(c.id);
                        }
                    }
                }
            }
            // Comments on lines outside every hunk still show, under the file header.
            let orphans: Vec<u32> = file_comments
                .iter()
                .filter(|c| !shown.contains(&c.id))
                .map(|c| c.id)
                .collect();
            if !orphans.is_empty() {
                let at = rows
                    .iter()
                    .rposition(|r| *r == Row::File { file: fi })
                    .unwrap_or(0)
                    + 1;
                for (k, id) in orphans.into_iter().enumerate() {
                    rows.insert(at + k, Row::Comment { file: fi, id });
                }
            }
        }
        self.rows = rows;
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
    }

    fn row_new_line(&self, row: &Row) -> Option<(usize, u32)> {
        match row {
            Row::Line {
                file, hunk, right, ..
            } => {
                let r = (*right)?;
                self.files[*file].hunks[*hunk].lines[r]
                    .new
                    .map(|n| (*file, n))
            }
            _ => None,
        }
    }

    /// (file, line in the new file) under the cursor, when it is on a new-side line.
    pub fn cursor_new_line(&self) -> Option<(usize, u32)> {
        self.rows
            .get(self.cursor)
            .and_then(|r| self.row_new_line(r))
    }

    /// Path and new-file line under the cursor (for comments and the editor).
    pub fn cursor_anchor(&self) -> Option<(String, u32)> {
        self.cursor_new_line()
            .map(|(f, n)| (self.files[f].path.clone(), n))
    }

    /// The file the cursor is in.
    pub fn cursor_file(&self) -> Option<usize> {
        match self.rows.get(self.cursor)? {
            Row::File { file }
            | Row::Hunk { file, .. }
            | Row::Line { file, .. }
            | Row::Comment { file, .. }
            | Row::Binary { file } => Some(*file),
        }
    }

    pub fn cursor_comment(&self) -> Option<u32> {
        match self.rows.get(self.cursor)? {
            Row::Comment { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        let max = self.rows.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + delta).clamp(0, max) as usize;
    }

    pub fn jump_to_file(&mut self, file: usize) {
        if let Some(i) = self.rows.iter().position(|r| *r == Row::File { file }) {
            self.cursor = i;
            self.scroll = i;
        }
    }

    /// Keep the cursor on screen for a view `height` rows tall.
    pub fn follow(&mut self, height: usize) {
        let height = height.max(1);
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        } else if self.cursor >= self.scroll + height {
            self.scroll = self.cursor + 1 - height;
        }
    }

    /// Highlight jobs for the chunks on screen (rows `scroll..scroll+height`) not yet asked for.
    pub fn wanted_highlights(&mut self, height: usize, syntax_theme: &str) -> Vec<HighlightJob> {
        let mut out = Vec::new();
        let end = (self.scroll + height).min(self.rows.len());
        for row in &self.rows[self.scroll.min(end)..end] {
            let (file, hunk, line) = match row {
                Row::Hunk { file, hunk } => (*file, *hunk, 0),
                Row::Line {
                    file,
                    hunk,
                    left,
                    right,
                } => (*file, *hunk, right.or(*left).unwrap_or(0)),
                _ => continue,
            };
            let chunk = line / CHUNK;
            if !self.requested.insert((file, hunk, chunk)) {
                continue;
            }
            let f = &self.files[file];
            let h = &f.hunks[hunk];
            let start = chunk * CHUNK;
            let stop = (start + CHUNK).min(h.lines.len());
            let mut old = Vec::new();
            let mut new = Vec::new();
            let mut map = Vec::with_capacity(stop.saturating_sub(start));
            for l in &h.lines[start.min(stop)..stop] {
                match l.kind {
                    LineKind::Removed => {
                        map.push((true, old.len()));
                        old.push(l.text.clone());
                    }
                    LineKind::Added => {
                        map.push((false, new.len()));
                        new.push(l.text.clone());
                    }
                    LineKind::Context => {
                        map.push((false, new.len()));
                        old.push(l.text.clone());
                        new.push(l.text.clone());
                    }
                }
            }
            out.push(HighlightJob {
                generation: self.generation,
                file,
                hunk,
                start,
                path: f.path.clone(),
                old,
                new,
                map,
                syntax_theme: syntax_theme.to_string(),
            });
        }
        out
    }

    /// Highlight jobs for what is on screen, unless the theme is monochrome (no colours to give).
    pub fn highlight_jobs(&mut self, height: usize, theme: &Theme) -> Vec<HighlightJob> {
        if theme.monochrome {
            return Vec::new();
        }
        self.wanted_highlights(height, &theme.syntax_theme)
    }

    pub fn set_highlight(&mut self, hl: HunkHighlight) {
        if hl.generation != self.generation {
            return;
        }
        let Some(len) = self
            .files
            .get(hl.file)
            .and_then(|f| f.hunks.get(hl.hunk))
            .map(|h| h.lines.len())
        else {
            return;
        };
        let slot = self
            .highlights
            .entry((hl.file, hl.hunk))
            .or_insert_with(|| vec![None; len]);
        for (k, line) in hl.lines.into_iter().enumerate() {
            if let Some(s) = slot.get_mut(hl.start + k) {
                *s = line;
            }
        }
    }

    /// Whether the line at `line` of a hunk has its highlighting.
    pub fn is_highlighted(&self, file: usize, hunk: usize, line: usize) -> bool {
        self.highlights
            .get(&(file, hunk))
            .and_then(|h| h.get(line))
            .is_some_and(Option::is_some)
    }

    /// Draw the rows on screen into `area`.
    pub fn render(
        &self,
        area: Rect,
        buf: &mut Buffer,
        theme: &Theme,
        focused: bool,
        comments: &[Comment],
    ) {
        let ui = &theme.ui;
        let height = area.height as usize;
        let end = (self.scroll + height).min(self.rows.len());
        for (y, idx) in (self.scroll..end).enumerate() {
            let row = &self.rows[idx];
            let on_cursor = idx == self.cursor;
            let line_area = Rect {
                x: area.x,
                y: area.y + y as u16,
                width: area.width,
                height: 1,
            };
            let mut line = self.row_line(row, area.width, theme, comments);
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
                    line = line.patch_style(Style::default().add_modifier(Modifier::UNDERLINED));
                }
            }
            buf.set_line(line_area.x, line_area.y, &line, line_area.width);
        }
    }

    fn row_line(
        &self,
        row: &Row,
        width: u16,
        theme: &Theme,
        comments: &[Comment],
    ) -> Line<'static> {
        let ui = &theme.ui;
        match row {
            Row::File { file } => {
                let f = &self.files[*file];
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
                let head = format!("── {title}  ");
                let tail = match &f.mode {
                    Some(m) => format!("  {status} ({m}) +{} −{} ", f.added, f.removed),
                    None => format!("  {status} +{} −{} ", f.added, f.removed),
                };
                let fill =
                    (width as usize).saturating_sub(head.chars().count() + tail.chars().count());
                Line::from(vec![
                    Span::styled(
                        head,
                        Style::default().fg(ui.title).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled("─".repeat(fill), Style::default().fg(ui.border)),
                    Span::styled(tail, Style::default().fg(ui.dim)),
                ])
            }
            Row::Hunk { file, hunk } => Line::from(Span::styled(
                self.files[*file].hunks[*hunk].header.clone(),
                Style::default().fg(ui.hunk_header),
            )),
            Row::Binary { .. } => Line::from(Span::styled(
                "  binary file — not shown",
                Style::default().fg(ui.dim).add_modifier(Modifier::ITALIC),
            )),
            Row::Comment { id, .. } => {
                let text = comments
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| {
                        if self.cursor_comment_visible_anchor(c) {
                            c.text.clone()
                        } else {
                            format!("line {}: {}", c.line, c.text)
                        }
                    })
                    .unwrap_or_default();
                let style = Style::default().fg(ui.comment_fg).bg(ui.comment_bg);
                Line::from(vec![
                    Span::styled("            ┆ ✎ ", style.add_modifier(Modifier::BOLD)),
                    Span::styled(text.replace('\n', " ⏎ "), style),
                ])
            }
            Row::Line {
                file,
                hunk,
                left,
                right,
            } => {
                let h = &self.files[*file].hunks[*hunk];
                let hl = self.highlights.get(&(*file, *hunk));
                if self.side_by_side {
                    let half = (width as usize) / 2;
                    let mut spans = self.side_spans(h, *left, hl, half, theme, true);
                    spans.push(Span::styled("│", Style::default().fg(ui.border)));
                    spans.extend(self.side_spans(
                        h,
                        *right,
                        hl,
                        (width as usize).saturating_sub(half + 1),
                        theme,
                        false,
                    ));
                    Line::from(spans)
                } else {
                    let i = right.or(*left).unwrap_or(0);
                    let l = &h.lines[i];
                    let num = |n: Option<u32>| {
                        n.map(|n| format!("{n:>5}"))
                            .unwrap_or_else(|| "     ".into())
                    };
                    let (sign, line_style) = line_style(l.kind, theme);
                    let mut spans = vec![
                        Span::styled(
                            format!("{} {} ", num(l.old), num(l.new)),
                            Style::default().fg(ui.line_number),
                        ),
                        Span::styled(format!("{sign} "), line_style.add_modifier(Modifier::BOLD)),
                    ];
                    spans.extend(text_spans(
                        &l.text,
                        l.truncated,
                        hl.and_then(|h| h.get(i)).and_then(|x| x.as_ref()),
                        line_style,
                        theme,
                    ));
                    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
                    let pad = (width as usize).saturating_sub(used);
                    spans.push(Span::styled(" ".repeat(pad), line_style));
                    Line::from(spans)
                }
            }
        }
    }

    fn cursor_comment_visible_anchor(&self, c: &Comment) -> bool {
        self.files.iter().any(|f| {
            f.path == c.path
                && f.hunks.iter().any(|h| {
                    h.lines
                        .iter()
                        .any(|l| l.kind != LineKind::Removed && l.new == Some(c.line))
                })
        })
    }

    fn side_spans(
        &self,
        h: &crate::infra::diff::Hunk,
        idx: Option<usize>,
        hl: Option<&Vec<Option<StyledLine>>>,
        width: usize,
        theme: &Theme,
        old_side: bool,
    ) -> Vec<Span<'static>> {
        let ui = &theme.ui;
        let Some(i) = idx else {
            return vec![Span::styled(" ".repeat(width), Style::default().fg(ui.dim))];
        };
        let l = &h.lines[i];
        let n = if old_side { l.old } else { l.new };
        let (sign, style) = line_style(l.kind, theme);
        let mut spans = vec![
            Span::styled(
                n.map(|n| format!("{n:>5} "))
                    .unwrap_or_else(|| "      ".into()),
                Style::default().fg(ui.line_number),
            ),
            Span::styled(format!("{sign}"), style.add_modifier(Modifier::BOLD)),
        ];
        // The old side of a context line is highlighted like the new side (same text).
        let styled = hl.and_then(|h| h.get(i)).and_then(|x| x.as_ref());
        spans.extend(text_spans(&l.text, l.truncated, styled, style, theme));
        clip_spans(spans, width, style)
    }
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

/// The text of a line: highlighted pieces over the line's background, or plain.
fn text_spans(
    text: &str,
    truncated: bool,
    styled: Option<&StyledLine>,
    base: Style,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = match styled {
        Some(pieces) if !theme.monochrome => pieces
            .iter()
            .map(|(st, t)| {
                let mut s = base.patch(*st);
                s.bg = base.bg;
                Span::styled(t.replace('\t', "    "), s)
            })
            .collect(),
        _ => vec![Span::styled(text.replace('\t', "    "), base)],
    };
    if truncated {
        spans.push(Span::styled(
            " …(line cut)",
            Style::default()
                .fg(theme.ui.dim)
                .add_modifier(Modifier::ITALIC),
        ));
    }
    spans
}

fn clip_spans(spans: Vec<Span<'static>>, width: usize, fill: Style) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut used = 0;
    for s in spans {
        let n = s.content.chars().count();
        if used + n <= width {
            used += n;
            out.push(s);
        } else {
            let take = width - used;
            let text: String = s.content.chars().take(take).collect();
            used += take;
            out.push(Span::styled(text, s.style));
            break;
        }
    }
    if used < width {
        out.push(Span::styled(" ".repeat(width - used), fill));
    }
    out
}
