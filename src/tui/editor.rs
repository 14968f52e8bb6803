//! A small text editor for comments, notes and the brief: multi-line, UTF-8 safe, with the
//! usual movement keys. Enter submits a single-line field; in multi-line fields Enter breaks
//! the line and ctrl-s (or alt-enter) submits.
//!
//! Invariant: the cursor is always on a char boundary of `text`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditResult {
    Editing,
    Submit,
    Cancel,
}

#[derive(Debug, Clone, Default)]
pub struct TextInput {
    pub text: String,
    pub cursor: usize,
    pub multiline: bool,
}

impl TextInput {
    pub fn new(text: &str, multiline: bool) -> Self {
        TextInput {
            text: text.to_string(),
            cursor: text.len(),
            multiline,
        }
    }

    pub fn key(&mut self, k: KeyEvent) -> EditResult {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let alt = k.modifiers.contains(KeyModifiers::ALT);
        match k.code {
            KeyCode::Esc => return EditResult::Cancel,
            KeyCode::Char('s') | KeyCode::Char('d') if ctrl => return EditResult::Submit,
            KeyCode::Enter if !self.multiline || alt || ctrl => return EditResult::Submit,
            KeyCode::Enter => self.insert('\n'),
            KeyCode::Char('u') if ctrl => {
                let start = self.line_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            KeyCode::Char('a') if ctrl => self.cursor = self.line_start(),
            KeyCode::Char('e') if ctrl => self.cursor = self.line_end(),
            KeyCode::Char(c) if !ctrl => self.insert(c),
            KeyCode::Backspace => {
                if let Some(prev) = self.prev_boundary() {
                    self.text.replace_range(prev..self.cursor, "");
                    self.cursor = prev;
                }
            }
            KeyCode::Delete => {
                if let Some(next) = self.next_boundary() {
                    self.text.replace_range(self.cursor..next, "");
                }
            }
            KeyCode::Left => self.cursor = self.prev_boundary().unwrap_or(self.cursor),
            KeyCode::Right => self.cursor = self.next_boundary().unwrap_or(self.cursor),
            KeyCode::Home => self.cursor = self.line_start(),
            KeyCode::End => self.cursor = self.line_end(),
            KeyCode::Up => self.vertical(-1),
            KeyCode::Down => self.vertical(1),
            _ => {}
        }
        EditResult::Editing
    }

    fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.text[..self.cursor]
            .char_indices()
            .next_back()
            .map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.text[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    fn vertical(&mut self, dir: i32) {
        let col = self.text[self.line_start()..self.cursor].chars().count();
        let target_start = if dir < 0 {
            let start = self.line_start();
            if start == 0 {
                return;
            }
            self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1)
        } else {
            let end = self.line_end();
            if end >= self.text.len() {
                return;
            }
            end + 1
        };
        let line_end = self.text[target_start..]
            .find('\n')
            .map_or(self.text.len(), |i| target_start + i);
        self.cursor = self.text[target_start..line_end]
            .char_indices()
            .nth(col)
            .map_or(line_end, |(i, _)| target_start + i);
    }

    /// (line, display column) of the cursor, for placing the terminal cursor: a wide
    /// character before it takes two columns.
    pub fn cursor_pos(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count();
        let col = unicode_width::UnicodeWidthStr::width(
            &before[before.rfind('\n').map_or(0, |i| i + 1)..],
        );
        (line, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::key_string;

    #[test]
    fn types_edits_and_submits_unicode() {
        let mut t = TextInput::new("", false);
        for k in key_string("héllo<backspace><left>X") {
            assert_eq!(t.key(k), EditResult::Editing);
        }
        assert_eq!(t.text, "hélXl");
        assert_eq!(t.key(key_string("<enter>")[0]), EditResult::Submit);
    }

    #[test]
    fn multiline_enter_breaks_and_ctrl_s_submits() {
        let mut t = TextInput::new("", true);
        for k in key_string("ab<enter>cd<up>") {
            t.key(k);
        }
        assert_eq!(t.text, "ab\ncd");
        assert_eq!(t.cursor_pos(), (0, 2));
        assert_eq!(t.key(key_string("<c-s>")[0]), EditResult::Submit);
        assert_eq!(t.key(key_string("<esc>")[0]), EditResult::Cancel);
    }
}
