//! Building the rows: files, hunks and lines flattened into `Row`s, with each review thread
//! placed under the line it is on (or under its file header, or above every file).

use super::{DiffView, Pin, Row};
use crate::infra::diff::{FileDiff, LineKind};
use std::collections::HashSet;

/// The next diff's generation (0 is a view with no diff yet).
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

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

impl DiffView {
    pub fn set_files(&mut self, files: Vec<FileDiff>) {
        self.files = files;
        self.partners = self
            .files
            .iter()
            .map(|f| f.hunks.iter().map(partners).collect())
            .collect();
        self.hscroll = 0;
        // Unique in the process, not per view: a review reopened (an interdiff, a hand edit)
        // is a new view, and a highlight still on its way for the old one must not match it.
        self.generation = NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
}
