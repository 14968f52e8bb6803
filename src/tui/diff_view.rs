//! The diff view shared by review and replay: a flat list of rows (file headers, hunk headers,
//! lines, review threads) with a cursor, drawn unified or side by side, highlighted lazily.
//!
//! Invariants: rows are rebuilt only when the diff, the threads or the layout change, never
//! per frame; drawing touches only the rows on screen, so a 20,000-line diff costs what a screen
//! costs. Highlighting is per hunk and optional: a row draws as plain text until its hunk's
//! highlight arrives, and results for an older diff (`generation`) are dropped. Thread rows are
//! never cursor stops: the cursor is always on a line or a header, so a comment lands on the
//! line the reviewer sees it on.

use crate::core::state::TaskState;
use crate::core::threads::{Author, ThreadRef, ThreadStatus};
use crate::infra::diff::{FileDiff, LineKind};
use crate::infra::theme::Theme;
use crate::tui::diff_text::{self, Fit, is_prose, table_separator};
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
    /// A row of a review thread shown under its line (`file` None: above every file, for notes
    /// and threads on files this diff does not show). `part` 0 is the thread's head.
    Thread {
        file: Option<usize>,
        pin: usize,
        part: usize,
    },
    Binary {
        file: usize,
    },
}

/// A review thread as the diff shows it, for one iteration (`pins_for`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    pub key: ThreadRef,
    /// None: a note (about the whole iteration).
    pub path: Option<String>,
    /// The line in this iteration's new file (0 with no line: the file is gone).
    pub line: u32,
    /// Written in this iteration (editable, deletable), not carried over from an earlier one.
    pub mine: bool,
    pub status: ThreadStatus,
    pub outdated: bool,
    pub quote: String,
    pub posts: Vec<(Author, u32, String)>,
}

impl Pin {
    /// Rows it takes: one while it is this iteration's own comment or is resolved, else a
    /// head and one per post.
    fn parts(&self) -> usize {
        if self.mine || self.status == ThreadStatus::Resolved {
            1
        } else {
            1 + self.posts.len()
        }
    }
}

/// The threads of `task` to show with `iteration`: this iteration's own comments, and every
/// thread from an earlier iteration that was carried into this one (placed where its line is
/// now) or is a note still open here. This iteration's own note is not a pin: the note pane
/// shows it.
pub fn pins_for(task: &TaskState, iteration: u32) -> Vec<Pin> {
    task.threads
        .iter()
        .filter(|th| th.key.iteration <= iteration)
        .filter(|th| !(th.key.is_note() && th.key.iteration == iteration))
        .filter_map(|th| {
            let mine = th.key.iteration == iteration;
            let (path, line, outdated) = if th.key.is_note() {
                // A note resolved before this iteration is history, not a thread here.
                let resolved_before = th.resolved
                    && th
                        .posts
                        .iter()
                        .rev()
                        .find(|p| p.by == Author::Resolved)
                        .is_some_and(|p| p.iteration < iteration);
                if resolved_before {
                    return None;
                }
                (None, 0, false)
            } else {
                // Placed in this iteration; an open thread not placed yet (the iteration is
                // being made ready) shows where it last was.
                let a = match th.anchors.get(&iteration) {
                    Some(a) => a,
                    None if !th.resolved => th.anchor_at(iteration)?,
                    None => return None,
                };
                (Some(a.path.clone()), a.line.unwrap_or(0), a.outdated)
            };
            Some(Pin {
                key: th.key,
                path,
                line,
                mine,
                // As things stood when this iteration was drafted: replies made during it count.
                status: th.status(iteration),
                outdated,
                quote: th.quote.clone(),
                posts: th
                    .posts
                    .iter()
                    .filter(|p| p.iteration <= iteration)
                    .map(|p| (p.by, p.iteration, p.text.clone()))
                    .collect(),
            })
        })
        .collect()
}

/// For each line of a hunk, its partner: in every run of removed lines followed by added
/// lines, the k-th removed line pairs with the k-th added one (as side by side shows them).
fn partners(h: &crate::infra::diff::Hunk) -> Vec<Option<usize>> {
    let mut out = vec![None; h.lines.len()];
    let mut i = 0;
    while i < h.lines.len() {
        let start = i;
        while i < h.lines.len() && h.lines[i].kind == LineKind::Removed {
            i += 1;
        }
        let mid = i;
        while i < h.lines.len() && h.lines[i].kind == LineKind::Added {
            i += 1;
        }
        for k in 0..(mid - start).min(i - mid) {
            out[start + k] = Some(mid + k);
            out[mid + k] = Some(start + k);
        }
        if i == start {
            i += 1;
        }
    }
    out
}

fn push_pin(rows: &mut Vec<Row>, file: Option<usize>, pin: usize, p: &Pin) {
    for part in 0..p.parts() {
        rows.push(Row::Thread { file, pin, part });
    }
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
    /// Soft wrap chosen by the reviewer for every file; None: prose files wrap, code does not.
    pub wrap: Option<bool>,
    /// Columns unwrapped lines are scrolled sideways by.
    pub hscroll: usize,
    pins: Vec<Pin>,
    /// Per file, per hunk, per line: the line it is paired with (a removed line with the added
    /// line that replaces it), for marking the words that changed.
    partners: Vec<Vec<Vec<Option<usize>>>>,
    /// Per (file, hunk): highlighted lines by index in the hunk, filled chunk by chunk.
    highlights: HashMap<(usize, usize), Vec<Option<StyledLine>>>,
    requested: HashSet<(usize, usize, usize)>,
}

impl DiffView {
    pub fn set_files(&mut self, files: Vec<FileDiff>) {
        self.files = files;
        self.partners = self
            .files
            .iter()
            .map(|f| f.hunks.iter().map(partners).collect())
            .collect();
        self.hscroll = 0;
        self.generation += 1;
        self.highlights.clear();
        self.requested.clear();
        self.cursor = 0;
        self.scroll = 0;
        self.rebuild();
    }

    /// The threads to show (see `pins_for`).
    pub fn set_pins(&mut self, pins: Vec<Pin>) {
        if pins != self.pins {
            let at = self.rows.get(self.cursor).cloned();
            self.pins = pins;
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
        let mut placed: HashSet<usize> = HashSet::new();
        let in_file = |pin: &Pin, f: &FileDiff| pin.path.as_deref() == Some(f.path.as_str());
        for (fi, f) in self.files.iter().enumerate() {
            rows.push(Row::File { file: fi });
            if f.binary {
                rows.push(Row::Binary { file: fi });
            }
            let file_start = rows.len();
            for (hi, h) in f.hunks.iter().enumerate() {
                rows.push(Row::Hunk { file: fi, hunk: hi });
                for (left, right) in self.hunk_pairs(h) {
                    rows.push(Row::Line {
                        file: fi,
                        hunk: hi,
                        left,
                        right,
                    });
                    let Some(n) = right.and_then(|r| h.lines[r].new) else {
                        continue;
                    };
                    for (pi, pin) in self.pins.iter().enumerate() {
                        if in_file(pin, f) && pin.line == n && placed.insert(pi) {
                            push_pin(&mut rows, Some(fi), pi, pin);
                        }
                    }
                }
            }
            // Threads on lines outside every hunk still show, under the file header.
            let mut orphans = Vec::new();
            for (pi, pin) in self.pins.iter().enumerate() {
                if in_file(pin, f) && placed.insert(pi) {
                    push_pin(&mut orphans, Some(fi), pi, pin);
                }
            }
            rows.splice(file_start..file_start, orphans);
        }
        // Notes, and threads on files this diff does not show, above everything.
        let mut top = Vec::new();
        for (pi, pin) in self.pins.iter().enumerate() {
            if !placed.contains(&pi) {
                push_pin(&mut top, None, pi, pin);
            }
        }
        rows.splice(0..0, top);
        self.rows = rows;
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
        self.settle(1);
    }

    /// The (old, new) line pairs of a hunk as rows show them: unified, one side per row;
    /// side by side, removed lines paired with the added lines that replace them.
    fn hunk_pairs(&self, h: &crate::infra::diff::Hunk) -> Vec<(Option<usize>, Option<usize>)> {
        let mut lines = Vec::new();
        if !self.side_by_side {
            for (i, l) in h.lines.iter().enumerate() {
                lines.push(match l.kind {
                    LineKind::Context => (Some(i), Some(i)),
                    LineKind::Removed => (Some(i), None),
                    LineKind::Added => (None, Some(i)),
                });
            }
            return lines;
        }
        let mut i = 0;
        while i < h.lines.len() {
            if h.lines[i].kind == LineKind::Context {
                lines.push((Some(i), Some(i)));
                i += 1;
                continue;
            }
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
        lines
    }

    /// Move the cursor off a thread row, in `direction` (+1 / −1) first, else the other way.
    fn settle(&mut self, direction: isize) {
        let stop = |r: &Row| !matches!(r, Row::Thread { .. });
        if self.rows.get(self.cursor).is_none_or(stop) {
            return;
        }
        let find = |d: isize| {
            let mut i = self.cursor as isize;
            loop {
                i += d;
                if i < 0 || i as usize >= self.rows.len() {
                    return None;
                }
                if stop(&self.rows[i as usize]) {
                    return Some(i as usize);
                }
            }
        };
        if let Some(i) = find(direction).or_else(|| find(-direction)) {
            self.cursor = i;
        }
    }

    /// The threads shown at the cursor's line (for the first file header: the threads shown
    /// above every file too).
    pub fn pins_at_cursor(&self) -> Vec<&Pin> {
        let first_stop = self
            .rows
            .iter()
            .position(|r| !matches!(r, Row::Thread { .. }));
        let mut out = Vec::new();
        let mut i = self.cursor + 1;
        while let Some(Row::Thread { pin, .. }) = self.rows.get(i) {
            if !out
                .iter()
                .any(|p: &&Pin| std::ptr::eq(*p, &self.pins[*pin]))
            {
                out.push(&self.pins[*pin]);
            }
            i += 1;
        }
        if Some(self.cursor) == first_stop {
            for r in &self.rows[..self.cursor] {
                if let Row::Thread { pin, .. } = r
                    && !out
                        .iter()
                        .any(|p: &&Pin| std::ptr::eq(*p, &self.pins[*pin]))
                {
                    out.push(&self.pins[*pin]);
                }
            }
        }
        out
    }

    /// Put the cursor on the line of the next (`forward`) or previous thread that is not
    /// resolved. False: there is none that way.
    pub fn jump_to_thread(&mut self, forward: bool) -> bool {
        let anchor_of = |i: usize, rows: &[Row]| -> usize {
            // The stop a thread row belongs to: the nearest non-thread row above it, or (for
            // the threads above every file) the first stop.
            let above = rows[..i]
                .iter()
                .rposition(|r| !matches!(r, Row::Thread { .. }));
            above.unwrap_or_else(|| {
                rows.iter()
                    .position(|r| !matches!(r, Row::Thread { .. }))
                    .unwrap_or(0)
            })
        };
        let mut stops: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(r, Row::Thread { pin, part: 0, .. } if self.pins[*pin].status != ThreadStatus::Resolved)
            })
            .map(|(i, _)| anchor_of(i, &self.rows))
            .collect();
        stops.dedup();
        self.jump_among(&stops, forward)
    }

    /// Put the cursor on the first of `stops` (ascending) after it, or the last before it.
    fn jump_among(&mut self, stops: &[usize], forward: bool) -> bool {
        let next = if forward {
            stops.iter().copied().find(|&s| s > self.cursor)
        } else {
            stops.iter().copied().rev().find(|&s| s < self.cursor)
        };
        if let Some(s) = next {
            self.cursor = s;
        }
        next.is_some()
    }

    /// Put the cursor on the first changed line of the next (`forward`) or previous run of
    /// changed lines. False: there is none that way.
    pub fn jump_to_change(&mut self, forward: bool) -> bool {
        let changed = |r: &Row| match r {
            Row::Line {
                file,
                hunk,
                left,
                right,
                ..
            } => {
                let h = &self.files[*file].hunks[*hunk];
                [left, right]
                    .iter()
                    .filter_map(|x| **x)
                    .any(|i| h.lines[i].kind != LineKind::Context)
            }
            _ => false,
        };
        // The first line of each run of changed lines.
        let starts: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                changed(&self.rows[i])
                    && !(0..i)
                        .rev()
                        .find(|&j| !matches!(self.rows[j], Row::Thread { .. }))
                        .is_some_and(|j| changed(&self.rows[j]))
            })
            .collect();
        self.jump_among(&starts, forward)
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
            | Row::Binary { file } => Some(*file),
            Row::Thread { file, .. } => *file,
        }
    }

    /// Move by `delta` cursor stops (thread rows are not stops).
    pub fn move_by(&mut self, delta: isize) {
        let step = delta.signum();
        for _ in 0..delta.unsigned_abs() {
            let mut i = self.cursor as isize + step;
            while i >= 0
                && (i as usize) < self.rows.len()
                && matches!(self.rows[i as usize], Row::Thread { .. })
            {
                i += step;
            }
            if i < 0 || i as usize >= self.rows.len() {
                break;
            }
            self.cursor = i as usize;
        }
    }

    /// Put the cursor on `line` of the new side of `path`. False: no row shows it.
    pub fn jump_to_line(&mut self, path: &str, line: u32) -> bool {
        let found = self.rows.iter().position(|r| {
            self.row_new_line(r)
                .is_some_and(|(f, n)| n == line && self.files[f].path == path)
        });
        if let Some(i) = found {
            self.cursor = i;
        }
        found.is_some()
    }

    pub fn jump_to_file(&mut self, file: usize) {
        if let Some(i) = self.rows.iter().position(|r| *r == Row::File { file }) {
            self.cursor = i;
            self.scroll = i;
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

    /// Whether lines of `file` wrap: the reviewer's choice (`toggle_wrap`), else yes for prose.
    pub fn wraps(&self, file: usize) -> bool {
        self.wrap
            .unwrap_or_else(|| self.files.get(file).is_some_and(|f| is_prose(&f.path)))
    }

    /// Turn soft wrap on or off for every file (from what the cursor's file does now).
    pub fn toggle_wrap(&mut self) -> bool {
        let now = self.wraps(self.cursor_file().unwrap_or(0));
        self.wrap = Some(!now);
        self.hscroll = 0;
        !now
    }

    /// Scroll unwrapped lines sideways by `delta` columns.
    pub fn scroll_sideways(&mut self, delta: isize) {
        self.hscroll = self.hscroll.saturating_add_signed(delta).min(MAX_HSCROLL);
    }

    /// Keep the cursor's row on screen in a view `height` rows tall and `width` wide (rows
    /// may take several screen rows when wrapped), with `SCROLL_OFF` rows of context below
    /// and above it where they fit, so a jump to a change shows the lines that replace it.
    /// Looks at a screen's worth of rows at most.
    pub fn follow(&mut self, height: usize, width: u16, theme: &Theme) {
        let height = height.max(1);
        if self.rows.is_empty() {
            self.scroll = 0;
            return;
        }
        let above = self.cursor.saturating_sub(SCROLL_OFF);
        if above < self.scroll {
            self.scroll = above;
            return;
        }
        let target = (self.cursor + SCROLL_OFF).min(self.rows.len() - 1);
        // The highest top from which rows top..=target still fit (never past the cursor).
        let mut used = 0;
        let mut top = target;
        loop {
            used += self.row_lines(&self.rows[top], width, theme).len();
            if used > height {
                top += 1;
                break;
            }
            if top == 0 || top <= self.scroll {
                break;
            }
            top -= 1;
        }
        self.scroll = self.scroll.max(top.min(self.cursor));
    }

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
    fn row_lines(&self, row: &Row, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let ui = &theme.ui;
        let width = width as usize;
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
            } => {
                let fit = if self.wraps(*file) {
                    Fit::Wrap
                } else {
                    Fit::Window {
                        offset: self.hscroll,
                    }
                };
                if self.side_by_side {
                    let half = width / 2;
                    let l = self.side_rows(*file, *hunk, *left, half, fit, theme, true);
                    let r = self.side_rows(
                        *file,
                        *hunk,
                        *right,
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
                    let i = right.or(*left).unwrap_or(0);
                    let l = &self.files[*file].hunks[*hunk].lines[i];
                    let num = |n: Option<u32>| {
                        n.map(|n| format!("{n:>5}"))
                            .unwrap_or_else(|| "     ".into())
                    };
                    let (sign, line_style) = line_style(l.kind, theme);
                    let gutter = Span::styled(
                        format!("{} {} ", num(l.old), num(l.new)),
                        Style::default().fg(ui.line_number),
                    );
                    let text = self.line_text(*file, *hunk, i, line_style, theme);
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
                                Span::styled(
                                    format!("{sign} "),
                                    line_style.add_modifier(Modifier::BOLD),
                                )
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

    /// Put the cursor on the next (`forward`) or previous hunk header. False: none that way.
    pub fn jump_to_hunk(&mut self, forward: bool) -> bool {
        self.jump_to_row(forward, |r| matches!(r, Row::Hunk { .. }))
    }

    /// Put the cursor on the next or previous file header. False: none that way.
    pub fn jump_to_next_file(&mut self, forward: bool) -> bool {
        self.jump_to_row(forward, |r| matches!(r, Row::File { .. }))
    }

    fn jump_to_row(&mut self, forward: bool, is: impl Fn(&Row) -> bool) -> bool {
        let stops: Vec<usize> = (0..self.rows.len())
            .filter(|&i| is(&self.rows[i]))
            .collect();
        self.jump_among(&stops, forward)
    }
}

/// Columns before a unified line's text: two line numbers and the sign.
const UNIFIED_GUTTER: usize = 14;
/// Columns before a side's text: a line number and the sign.
const SIDE_GUTTER: usize = 7;
/// Rows kept in view below and above the cursor when scrolling.
const SCROLL_OFF: usize = 3;
/// How far unwrapped lines scroll sideways at most.
const MAX_HSCROLL: usize = 4096;

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

/// A thread's row wrapped to `width`: its first span is the prefix, continuation rows are
/// indented to the text under it, keeping the thread's margin bar.
fn thread_rows(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
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

/// One row of a thread: its head (label, status, where) or one of its posts.
fn thread_line(pin: &Pin, part: usize, theme: &Theme) -> Line<'static> {
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
