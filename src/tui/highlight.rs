//! Syntax highlighting for the diff view, with syntect's default syntaxes and themes.
//!
//! Invariants:
//! - The `SyntaxSet` and `ThemeSet` are loaded once, lazily (`OnceLock`): loading them takes
//!   milliseconds to tens of milliseconds, so the TUI calls [`warm_up`] from `spawn_blocking` at
//!   start-up instead of paying for it before the first frame. Until [`is_warm`] says so, a
//!   renderer may show plain text rather than block on the load.
//! - Highlighting is bounded: a block over [`MAX_BLOCK_LINES`] lines or [`MAX_BLOCK_BYTES`] bytes
//!   is not highlighted at all (`None`), and a line over [`MAX_LINE`] chars comes back as one
//!   unstyled span while the lines around it are still highlighted. Regex-based grammars can be
//!   slow on huge or minified input; the view must stay responsive.
//! - Output text is exactly the input: for every line the spans' text concatenated equals the
//!   line given (tabs, a trailing `\r` or `\n` included), so the view can index, wrap and expand
//!   tabs on its own terms.
//! - Only foreground colour and bold/italic/underline come from syntect; its background is
//!   ignored because the diff view paints added/removed/cursor backgrounds itself.

use ratatui::style::{Color, Modifier, Style};
use std::path::Path;
use std::sync::OnceLock;
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::{SyntaxReference, SyntaxSet};

/// Blocks with more lines than this are not highlighted.
pub const MAX_BLOCK_LINES: usize = 2_000;
/// Blocks with more bytes of text than this are not highlighted.
pub const MAX_BLOCK_BYTES: usize = 256 * 1024;
/// Lines with more chars than this are returned unhighlighted (the same limit `diff` cuts at, so
/// a cut line is still highlighted).
pub const MAX_LINE: usize = 1_000;

/// One line as (style, text) spans.
pub type StyledLine = Vec<(Style, String)>;

static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
static THEMES: OnceLock<ThemeSet> = OnceLock::new();

fn syntaxes() -> &'static SyntaxSet {
    // The "newlines" set: its grammars expect each line to end in '\n', which is the mode syntect
    // documents as correct (end-of-line rules such as `//` comments depend on it).
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    THEMES.get_or_init(ThemeSet::load_defaults)
}

/// Load the syntax and theme sets now. Call it off the UI thread at start-up.
pub fn warm_up() {
    syntaxes();
    themes();
}

/// Whether [`warm_up`] has finished, i.e. highlighting will not block on loading.
pub fn is_warm() -> bool {
    SYNTAXES.get().is_some() && THEMES.get().is_some()
}

/// Highlight one block of consecutive source lines (e.g. one diff hunk's new-side or old-side
/// text) as a unit, so multi-line constructs (block comments, strings) carry across lines.
///
/// `lines` should not contain line breaks except an optional trailing `\n`/`\r\n`/`\r`, which is
/// returned as an unstyled span. Returns `None` when the file type is unknown or plain text, the
/// syntax theme is unknown, the block is too large, or syntect fails on the input; the caller
/// then shows the block unhighlighted. A line over [`MAX_LINE`] chars is returned as one
/// unstyled span and not fed to the parser: parsing it is the cost the limit avoids, and skipping
/// it can at worst mis-colour the lines after it, where feeding a truncated line would too.
pub fn highlight_block(path: &str, lines: &[&str], syntax_theme: &str) -> Option<Vec<StyledLine>> {
    if lines.len() > MAX_BLOCK_LINES
        || lines.iter().map(|l| l.len()).sum::<usize>() > MAX_BLOCK_BYTES
    {
        return None;
    }
    let theme = themes().themes.get(syntax_theme)?;
    let set = syntaxes();
    let syntax = find_syntax(set, path, lines.first().copied())?;
    // Plain text would come back in one colour that is not the UI's `fg`; better none at all.
    if syntax.name == "Plain Text" {
        return None;
    }
    let mut highlighter = HighlightLines::new(syntax, theme);
    let mut out = Vec::with_capacity(lines.len());
    let mut buf = String::new();
    for &line in lines {
        let (body, eol) = split_eol(line);
        if body.len() > MAX_LINE && body.chars().count() > MAX_LINE {
            out.push(vec![(Style::default(), line.to_string())]);
            continue;
        }
        buf.clear();
        buf.push_str(body);
        buf.push('\n');
        let ranges = highlighter.highlight_line(&buf, set).ok()?;
        let mut styled: StyledLine = Vec::new();
        let mut pos = 0;
        for (style, text) in ranges {
            // Clip to `body`: the '\n' was added for the grammar and is not the caller's text.
            let start = pos.min(body.len());
            pos += text.len();
            let end = pos.min(body.len());
            if start < end {
                push_span(&mut styled, to_ratatui(style), &body[start..end]);
            }
        }
        if !eol.is_empty() {
            push_span(&mut styled, Style::default(), eol);
        }
        out.push(styled);
    }
    Some(out)
}

/// The syntax's display name for `path` (e.g. "Rust"), by extension, then file name.
pub fn syntax_name(path: &str) -> Option<String> {
    syntax_name_for(path, None)
}

/// Like [`syntax_name`], but also detects by the file's first line (a shebang such as
/// `#!/usr/bin/env python3`), as [`highlight_block`] does.
pub fn syntax_name_for(path: &str, first_line: Option<&str>) -> Option<String> {
    find_syntax(syntaxes(), path, first_line).map(|s| s.name.clone())
}

/// Shell-like files syntect has no grammar for. Their comments, strings, variables and `RUN`
/// bodies are shell, so the shell grammar reads better than nothing.
const SHELL_LIKE_NAMES: &[&str] = &["Dockerfile", "Containerfile"];
const SHELL_SYNTAX: &str = "Bourne Again Shell (bash)";

/// By extension, then by first line (shebang, mode line), then by file name (Makefile, Gemfile,
/// .bashrc: syntect lists these among a syntax's "extensions"), then the shell-like names.
fn find_syntax<'a>(
    set: &'a SyntaxSet,
    path: &str,
    first_line: Option<&str>,
) -> Option<&'a SyntaxReference> {
    let p = Path::new(path);
    let file_name = p.file_name().and_then(|n| n.to_str()).unwrap_or(path);
    p.extension()
        .and_then(|e| e.to_str())
        .and_then(|e| set.find_syntax_by_extension(e))
        .or_else(|| {
            // A huge first line is minified code, not a shebang; don't run regexes over it.
            first_line
                .filter(|l| l.len() <= MAX_LINE)
                .and_then(|l| set.find_syntax_by_first_line(l))
        })
        .or_else(|| set.find_syntax_by_extension(file_name))
        .or_else(|| {
            let stem = file_name.split('.').next().unwrap_or(file_name);
            SHELL_LIKE_NAMES
                .iter()
                .any(|n| n.eq_ignore_ascii_case(stem))
                .then(|| set.find_syntax_by_name(SHELL_SYNTAX))
                .flatten()
        })
}

/// Split a trailing line break off: ("text", "\r\n").
fn split_eol(line: &str) -> (&str, &str) {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let body = body.strip_suffix('\r').unwrap_or(body);
    (body, &line[body.len()..])
}

/// Append a span, merging it into the previous one when the style is the same (syntect splits
/// by scope, which often changes nothing visible).
fn push_span(line: &mut StyledLine, style: Style, text: &str) {
    match line.last_mut() {
        Some((last, t)) if *last == style => t.push_str(text),
        _ => line.push((style, text.to_string())),
    }
}

fn to_ratatui(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::default();
    // Alpha 0 means "no colour" in a tmTheme; leave the view's foreground.
    if fg.a > 0 {
        out = out.fg(Color::Rgb(fg.r, fg.g, fg.b));
    }
    let mut modifier = Modifier::empty();
    if style.font_style.contains(FontStyle::BOLD) {
        modifier |= Modifier::BOLD;
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        modifier |= Modifier::ITALIC;
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        modifier |= Modifier::UNDERLINED;
    }
    out.add_modifier(modifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const RUST: &[&str] = &[
        "/// Adds one.",
        "pub fn add_one(x: u32) -> u32 {",
        "\tlet s = \"text\"; // tab-indented",
        "    x + 1",
        "}",
    ];

    fn text_of(line: &StyledLine) -> String {
        line.iter().map(|(_, t)| t.as_str()).collect()
    }

    #[test]
    fn rust_gets_several_colours_and_keeps_the_text() {
        let out = highlight_block("src/lib.rs", RUST, "base16-ocean.dark").unwrap();
        assert_eq!(out.len(), RUST.len());
        for (line, input) in out.iter().zip(RUST) {
            assert_eq!(text_of(line), *input);
        }
        let colours: HashSet<_> = out.iter().flatten().filter_map(|(s, _)| s.fg).collect();
        assert!(colours.len() >= 4, "{colours:?}");
        assert!(
            out.iter()
                .flatten()
                .all(|(s, _)| s.bg.is_none() && matches!(s.fg, Some(Color::Rgb(..))))
        );
    }

    #[test]
    fn line_breaks_are_kept_unstyled() {
        let lines = ["let a = 1;\r\n", "let b = 2;\r", "let c = 3;"];
        let out = highlight_block("a.rs", &lines, "InspiredGitHub").unwrap();
        for (line, input) in out.iter().zip(lines) {
            assert_eq!(text_of(line), input);
        }
        assert_eq!(
            out[0].last().unwrap(),
            &(Style::default(), "\r\n".to_string())
        );
        assert_eq!(
            out[1].last().unwrap(),
            &(Style::default(), "\r".to_string())
        );
        assert_ne!(out[2].last().unwrap().0, Style::default());
    }

    #[test]
    fn unknown_type_or_theme_gives_none() {
        assert!(highlight_block("data.zzz", &["hello world"], "base16-ocean.dark").is_none());
        assert!(highlight_block("notes.txt", &["hello"], "base16-ocean.dark").is_none());
        assert!(highlight_block("a.rs", RUST, "Monokai").is_none());
        assert_eq!(syntax_name("data.zzz"), None);
    }

    #[test]
    fn oversized_blocks_give_none() {
        let many = vec!["let x = 1;"; MAX_BLOCK_LINES + 1];
        assert!(highlight_block("a.rs", &many, "base16-ocean.dark").is_none());
        let line = "x".repeat(900);
        let big = vec![line.as_str(); MAX_BLOCK_BYTES / 900 + 1];
        assert!(highlight_block("a.rs", &big, "base16-ocean.dark").is_none());
        let ok = vec!["let x = 1;"; MAX_BLOCK_LINES];
        assert!(highlight_block("a.rs", &ok, "base16-ocean.dark").is_some());
    }

    #[test]
    fn overlong_line_is_plain_and_the_rest_highlighted() {
        let long = format!("let s = \"{}\";", "é".repeat(MAX_LINE));
        let lines = ["let a = 1;", long.as_str(), "let b = 2;"];
        let out = highlight_block("a.rs", &lines, "base16-ocean.dark").unwrap();
        assert_eq!(out[1], vec![(Style::default(), long.clone())]);
        assert!(out[0].len() > 1 && out[2].len() > 1);
        assert_eq!(text_of(&out[2]), "let b = 2;");
    }

    #[test]
    fn detects_by_extension_first_line_and_file_name() {
        assert_eq!(syntax_name("src/main.rs").as_deref(), Some("Rust"));
        assert_eq!(syntax_name("lib/Foo.PY").as_deref(), Some("Python"));
        assert_eq!(syntax_name("Makefile").as_deref(), Some("Makefile"));
        assert_eq!(syntax_name("home/.bashrc").as_deref(), Some(SHELL_SYNTAX));
        assert_eq!(
            syntax_name("docker/Dockerfile").as_deref(),
            Some(SHELL_SYNTAX)
        );
        assert_eq!(syntax_name("bin/tool"), None);
        assert_eq!(
            syntax_name_for("bin/tool", Some("#!/usr/bin/env python3")).as_deref(),
            Some("Python")
        );
        let script = ["#!/bin/sh", "echo \"hi $USER\""];
        let out = highlight_block("bin/tool", &script, "base16-ocean.dark").unwrap();
        assert_eq!(text_of(&out[1]), script[1]);
        assert!(out[1].len() > 1);
    }

    #[test]
    fn every_shipped_theme_highlights() {
        for (name, _) in crate::infra::theme::SHIPPED {
            let theme = crate::infra::theme::Theme::load_with_env(Some(name), None, false).unwrap();
            assert!(
                highlight_block("a.rs", RUST, &theme.syntax_theme).is_some(),
                "{name}"
            );
        }
        warm_up();
        assert!(is_warm());
    }
}
