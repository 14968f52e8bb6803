//! tandem: a terminal pair-work copilot. An LLM drafts each task of a job in a git working
//! directory; a human reviews the diff, comments, and accepts, revises or rejects; accepted work
//! is committed with the review time recorded.
//!
//! The crate is layered; arrows point one way only (see ARCHITECTURE.md):
//! `tui`, `report`, `drivers` → `setup` → `core` → `infra`.

pub mod core;
pub mod drivers;
pub mod infra;
pub mod report;
pub mod setup;
pub mod tui;

/// A TOML error as one sentence with its line and column, e.g.
/// "line 3, column 10: unknown variant `acept`, expected one of ...".
pub fn toml_error_sentence(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = start - line_start + 1;
    // toml names the offending key for unknown fields but not for wrong types; the line does.
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let field = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !message.contains(&format!("`{k}`")));
    match field {
        Some(k) => format!("line {line}, column {column}, field `{k}`: {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}
