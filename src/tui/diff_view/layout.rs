//! Layout state: soft wrap or sideways scroll per file, and keeping the cursor's row on
//! screen.

use super::DiffView;
use crate::infra::theme::Theme;
use crate::tui::diff_text::is_prose;

/// Rows kept in view below and above the cursor when scrolling.
const SCROLL_OFF: usize = 3;
/// How far unwrapped lines scroll sideways at most.
const MAX_HSCROLL: usize = 4096;

impl DiffView {
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
        self.fill_from_above(height, width, theme);
    }

    /// The rows from the top to the end take less than the view (the terminal grew, or the
    /// end was reached): bring rows above back into view instead of leaving blank rows below.
    /// The cursor stays on screen, as everything from the new top to the end fits.
    fn fill_from_above(&mut self, height: usize, width: u16, theme: &Theme) {
        let mut used = 0;
        for row in &self.rows[self.scroll..] {
            used += self.row_lines(row, width, theme).len();
            if used >= height {
                return;
            }
        }
        while self.scroll > 0 {
            let above = self
                .row_lines(&self.rows[self.scroll - 1], width, theme)
                .len();
            if used + above > height {
                break;
            }
            used += above;
            self.scroll -= 1;
        }
    }
}
