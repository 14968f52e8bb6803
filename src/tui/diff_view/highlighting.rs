//! Lazy highlighting: jobs for the chunks of hunks on screen, run off the UI thread, and
//! their results stored per hunk line (results for an older diff are dropped).

use super::{DiffView, Row};
use crate::infra::diff::LineKind;
use crate::infra::theme::Theme;
use crate::tui::highlight::StyledLine;

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

impl DiffView {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::diff::{DiffLine, FileDiff, Hunk};

    fn one_file(text: &str) -> Vec<FileDiff> {
        vec![FileDiff {
            path: "a.py".into(),
            old_path: None,
            status: 'M',
            binary: false,
            mode: None,
            added: 1,
            removed: 0,
            hunks: vec![Hunk {
                header: "@@ -1 +1 @@".into(),
                lines: vec![DiffLine {
                    kind: LineKind::Added,
                    old: None,
                    new: Some(1),
                    text: text.into(),
                    truncated: false,
                }],
            }],
        }]
    }

    /// A review reopened (an interdiff, a hand edit) is a new view of the same shape: a
    /// highlight still on its way for the old one is dropped, not shown as the new one's text.
    #[test]
    fn a_highlight_for_an_earlier_view_is_dropped() {
        let theme = crate::infra::theme::Theme::load(Some("dark"), None).unwrap();
        let mut old = DiffView::default();
        old.set_files(one_file("print('old')"));
        let job = old.highlight_jobs(10, &theme).remove(0);
        let mut new = DiffView::default();
        new.set_files(one_file("print('new')"));
        new.set_highlight(job.run());
        assert!(!new.is_highlighted(0, 0, 0));
        let again = new.highlight_jobs(10, &theme).remove(0);
        new.set_highlight(again.run());
        assert!(new.is_highlighted(0, 0, 0));
    }
}
