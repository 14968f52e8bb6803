//! The text of diff lines as a reviewer reads it: which words (or, in a CSV/TSV file, which
//! cells) of a changed line changed, and how styled text is laid into screen rows by display
//! width — soft-wrapped with a continuation mark, or seen through a sideways window with marks
//! where the line is cut.
//!
//! Invariants: every width is measured in terminal display columns (`unicode-width`, as
//! ratatui measures), never in `char`s, so a CJK line takes the columns it shows in; a wide
//! character never straddles a row's edge (the row is padded instead). Emphasis ranges are
//! byte ranges of the line's raw text and are applied before tabs are expanded. The inline
//! diff is `similar`'s over tokens; lines too different to pair get no emphasis, because a line
//! where every word is marked says less than one with none.

use ratatui::style::Style;
use ratatui::text::Span;
use std::ops::Range;
use unicode_width::UnicodeWidthChar;

/// Prose files wrap by default: a one-word change at column 150 must be on screen.
pub fn is_prose(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("md" | "markdown" | "mdx" | "txt" | "text" | "rst" | "adoc" | "org" | "tex")
    )
}

/// The cell separator of a table file, by its extension.
pub fn table_separator(path: &str) -> Option<char> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("csv") => Some(','),
        Some("tsv" | "tab") => Some('\t'),
        _ => None,
    }
}

/// Split a line into tokens for the inline diff: cells (each with its separator) in a table,
/// else runs of word characters, runs of spaces, and single punctuation marks or wide
/// characters — so "12.50" → "13.50" marks the digits' word, not the whole line.
fn tokens(text: &str, separator: Option<char>) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some(sep) = separator {
        // Quoted cells may hold the separator; a cell ends at a separator outside quotes.
        let mut start = 0;
        let mut quoted = false;
        for (i, c) in text.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c == sep && !quoted {
                out.push(&text[start..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < text.len() {
            out.push(&text[start..]);
        }
        return out;
    }
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        // A wide (CJK) character is a word of its own: those scripts do not space words.
        if char_width(c) > 1 {
            Class::Other
        } else if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut start = 0;
    let mut prev: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if let Some(p) = prev
            && (p != k || k == Class::Other)
        {
            out.push(&text[start..i]);
            start = i;
        }
        prev = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Byte ranges of a line's text.
pub type Ranges = Vec<Range<usize>>;

/// Below this similarity a removed and an added line are a rewrite, not an edit: no emphasis.
const MIN_RATIO: f32 = 0.35;
/// Lines longer than this (bytes) get no inline diff: the cost is not worth a paragraph-sized
/// line that the reviewer will read whole anyway.
const MAX_LEN: usize = 20_000;

/// The changed byte ranges of `old` and of `new`, or None when they are too different (or
/// too long) to mark word by word.
pub fn changed_ranges(old: &str, new: &str, separator: Option<char>) -> Option<(Ranges, Ranges)> {
    if old.len() > MAX_LEN || new.len() > MAX_LEN || old == new {
        return None;
    }
    let a = tokens(old, separator);
    let b = tokens(new, separator);
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_slices(&a, &b);
    if diff.ratio() < MIN_RATIO {
        return None;
    }
    let offsets = |t: &[&str]| {
        let mut at = vec![0];
        for s in t {
            at.push(at.last().copied().unwrap_or(0) + s.len());
        }
        at
    };
    let (oa, ob) = (offsets(&a), offsets(&b));
    let (mut ro, mut rn) = (Vec::new(), Vec::new());
    for op in diff.ops() {
        let (tag, or, nr) = op.as_tag_tuple();
        if tag == similar::DiffTag::Equal {
            continue;
        }
        if !or.is_empty() {
            push_range(&mut ro, oa[or.start]..oa[or.end]);
        }
        if !nr.is_empty() {
            push_range(&mut rn, ob[nr.start]..ob[nr.end]);
        }
    }
    Some((ro, rn))
}

/// Append a range, merging it with the last one when they touch.
fn push_range(out: &mut Vec<Range<usize>>, r: Range<usize>) {
    match out.last_mut() {
        Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
        _ => out.push(r),
    }
}

/// Restyle the bytes of `ranges` (of the concatenated text of `spans`) with `emph`.
pub fn emphasise(
    spans: Vec<Span<'static>>,
    ranges: &[Range<usize>],
    emph: impl Fn(Style) -> Style,
) -> Vec<Span<'static>> {
    if ranges.is_empty() {
        return spans;
    }
    let mut out = Vec::with_capacity(spans.len() + ranges.len() * 2);
    let mut at = 0;
    for span in spans {
        let text = span.content.as_ref();
        let end = at + text.len();
        // Cut points inside this span, from every range boundary that falls in it.
        let mut cuts = vec![0];
        for r in ranges {
            for b in [r.start, r.end] {
                if b > at && b < end && text.is_char_boundary(b - at) {
                    cuts.push(b - at);
                }
            }
        }
        cuts.push(text.len());
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let piece = &text[w[0]..w[1]];
            if piece.is_empty() {
                continue;
            }
            let mid = at + w[0];
            let inside = ranges.iter().any(|r| r.start <= mid && mid < r.end);
            let style = if inside { emph(span.style) } else { span.style };
            out.push(Span::styled(piece.to_string(), style));
        }
        at = end;
    }
    out
}

/// Replace tabs by four spaces in every span (after emphasis, which counts raw bytes).
pub fn expand_tabs(spans: Vec<Span<'static>>) -> Vec<Span<'static>> {
    spans
        .into_iter()
        .map(|s| {
            if s.content.contains('\t') {
                Span::styled(s.content.replace('\t', "    "), s.style)
            } else {
                s
            }
        })
        .collect()
}

/// How a line's text is fitted into its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Soft wrap: as many rows as the text needs, broken after a space where one is near.
    Wrap,
    /// One row showing columns `offset..offset + width`, with ‹ / › where text is cut.
    Window { offset: usize },
}

/// Columns a char takes (control characters, which the terminal would not draw, take none).
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Lay `spans` into rows exactly `width` columns wide (padded with `fill`).
pub fn layout(
    spans: &[Span<'static>],
    width: usize,
    fit: Fit,
    fill: Style,
    mark: Style,
) -> Vec<Vec<Span<'static>>> {
    let cells: Vec<(char, Style)> = spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .filter(|(c, _)| !c.is_control())
        .collect();
    if width == 0 {
        return vec![Vec::new()];
    }
    match fit {
        Fit::Wrap => wrap_rows(&cells, width)
            .into_iter()
            .map(|r| row_spans(&cells[r], width, fill))
            .collect(),
        Fit::Window { offset } => vec![window(&cells, width, offset, fill, mark)],
    }
}

/// The cell ranges of each wrapped row: greedy by width, breaking after the last space of
/// the row when it lies in the row's second half (else mid-word: a URL must still fit).
fn wrap_rows(cells: &[(char, Style)], width: usize) -> Vec<Range<usize>> {
    let mut rows = Vec::new();
    let mut start = 0;
    while start < cells.len() {
        let mut used = 0;
        let mut end = start;
        let mut last_space = None;
        while end < cells.len() {
            let w = char_width(cells[end].0);
            if used + w > width {
                break;
            }
            used += w;
            if cells[end].0 == ' ' {
                last_space = Some(end);
            }
            end += 1;
        }
        if end < cells.len()
            && let Some(s) = last_space
            && s + 1 > start + (end - start) / 2
        {
            end = s + 1;
        }
        if end == start {
            // A character wider than the row: show it alone rather than loop.
            end = start + 1;
        }
        rows.push(start..end);
        start = end;
    }
    if rows.is_empty() {
        rows.push(0..0);
    }
    rows
}

/// Group cells into spans of equal style and pad to `width`.
fn row_spans(cells: &[(char, Style)], width: usize, fill: Style) -> Vec<Span<'static>> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    let mut used = 0;
    for &(c, st) in cells {
        let w = char_width(c);
        if used + w > width {
            break;
        }
        if style != Some(st) {
            if let Some(s) = style {
                out.push(Span::styled(std::mem::take(&mut text), s));
            }
            style = Some(st);
        }
        text.push(c);
        used += w;
    }
    if let Some(s) = style {
        out.push(Span::styled(text, s));
    }
    if used < width {
        out.push(Span::styled(" ".repeat(width - used), fill));
    }
    out
}

/// One row through a sideways window: columns `offset..offset+width` of the text.
fn window(
    cells: &[(char, Style)],
    width: usize,
    offset: usize,
    fill: Style,
    mark: Style,
) -> Vec<Span<'static>> {
    let total: usize = cells.iter().map(|(c, _)| char_width(*c)).sum();
    // Marks need room: a window under 3 columns shows text only.
    let marks = width >= 3;
    let cut_left = marks && offset > 0 && total > 0;
    // The ‹ takes a column, so the text shown ends one column sooner.
    let cut_right = marks && total > offset + width - usize::from(cut_left);
    // Skip `offset` columns; a wide char cut by the left edge becomes a space.
    let mut col = 0;
    let mut visible: Vec<(char, Style)> = Vec::new();
    for &(c, st) in cells {
        let w = char_width(c);
        if col >= offset {
            visible.push((c, st));
        } else if col + w > offset {
            for _ in offset..col + w {
                visible.push((' ', st));
            }
        }
        col += w;
    }
    let inner = width - usize::from(cut_left) - usize::from(cut_right);
    let mut row = Vec::new();
    if cut_left {
        row.push(Span::styled("‹", mark));
    }
    row.extend(row_spans(&visible, inner, fill));
    if cut_right {
        row.push(Span::styled("›", mark));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn spans_width(spans: &[Span<'_>]) -> usize {
        spans.iter().map(Span::width).sum()
    }

    fn text(row: &[Span<'_>]) -> String {
        row.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_changed_word_is_the_only_thing_marked() {
        let (o, n) = changed_ranges(
            "The quick brown fox jumps over the lazy dog.",
            "The quick red fox jumps over the lazy dog.",
            None,
        )
        .unwrap();
        assert_eq!(o, vec![10..15]);
        assert_eq!(n, vec![10..13]);
    }

    #[test]
    fn a_changed_price_marks_its_cell_in_a_csv() {
        let old = "widget,\"Blue, large\",12.50,EUR";
        let new = "widget,\"Blue, large\",13.75,EUR";
        let (o, n) = changed_ranges(old, new, Some(',')).unwrap();
        assert_eq!(&old[o[0].clone()], "12.50,");
        assert_eq!(&new[n[0].clone()], "13.75,");
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn a_rewrite_is_not_marked_word_by_word() {
        assert!(changed_ranges("alpha beta", "one two three four five", None).is_none());
    }

    #[test]
    fn emphasis_cuts_spans_at_range_edges() {
        let spans = vec![Span::raw("ab"), Span::raw("cdef")];
        let bold = |s: Style| s.add_modifier(Modifier::BOLD);
        let ranges = vec![Range { start: 1, end: 3 }];
        let out = emphasise(spans, &ranges, bold);
        let parts: Vec<(&str, bool)> = out
            .iter()
            .map(|s| {
                (
                    s.content.as_ref(),
                    s.style.add_modifier.contains(Modifier::BOLD),
                )
            })
            .collect();
        assert_eq!(
            parts,
            vec![("a", false), ("b", true), ("c", true), ("def", false)]
        );
    }

    #[test]
    fn wrap_breaks_after_a_space_and_pads_every_row() {
        let spans = [Span::raw("one two three four")];
        let rows = layout(&spans, 8, Fit::Wrap, Style::default(), Style::default());
        let texts: Vec<String> = rows.iter().map(|r| text(r)).collect();
        assert_eq!(texts, vec!["one two ", "three   ", "four    "]);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn wide_characters_take_two_columns_and_never_straddle_an_edge() {
        let spans = [Span::raw("価格表の更新")]; // 12 columns
        let rows = layout(&spans, 5, Fit::Wrap, Style::default(), Style::default());
        let texts: Vec<String> = rows.iter().map(|r| text(r)).collect();
        assert_eq!(texts, vec!["価格 ", "表の ", "更新 "]);
        for r in &rows {
            assert_eq!(spans_width(r), 5);
        }
    }

    #[test]
    fn a_window_marks_both_cut_edges() {
        let spans = [Span::raw("0123456789abcdef")];
        let row = &layout(
            &spans,
            6,
            Fit::Window { offset: 4 },
            Style::default(),
            Style::default(),
        )[0];
        assert_eq!(text(row), "‹4567›");
        let row = &layout(
            &spans,
            6,
            Fit::Window { offset: 0 },
            Style::default(),
            Style::default(),
        )[0];
        assert_eq!(text(row), "01234›");
        // The ‹ takes a column: what no longer fits on the right is marked too.
        let row = &layout(
            &[Span::raw("0123456789")],
            6,
            Fit::Window { offset: 4 },
            Style::default(),
            Style::default(),
        )[0];
        assert_eq!(text(row), "‹4567›");
        // Too narrow for marks: text only, and no panic.
        let row = &layout(
            &[Span::raw("0123456789")],
            1,
            Fit::Window { offset: 4 },
            Style::default(),
            Style::default(),
        )[0];
        assert_eq!(text(row), "4");
        assert!(
            layout(
                &[Span::raw("short")],
                8,
                Fit::Window { offset: 0 },
                Style::default(),
                Style::default()
            )[0]
            .iter()
            .all(|s| !s.content.contains('›'))
        );
    }
}
