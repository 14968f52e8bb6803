//! The cursor: moving it by stops (thread rows are never stops), jumping to hunks, files,
//! changes, threads and lines, and reading what is under it.

use super::{DiffView, Pin, Row};
use crate::core::threads::ThreadStatus;
use crate::infra::diff::LineKind;

impl DiffView {
    /// Move the cursor off a thread row, in `direction` (+1 / −1) first, else the other way.
    pub(super) fn settle(&mut self, direction: isize) {
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

    pub(super) fn row_new_line(&self, row: &Row) -> Option<(usize, u32)> {
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
