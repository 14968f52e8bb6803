//! tandem: a terminal pair-work copilot. An LLM drafts each task of a job in a git working
//! directory; a human reviews the diff, comments, and accepts, revises or rejects; accepted work
//! is committed with the review time recorded.
//!
//! The crate is a core (`engine`, driven through `protocol`) plus drivers (`exec`, `demo`, the
//! CLI). Domain state lives only in the journal (`journal`, folded by `state`).

pub mod config;
pub mod demo;
pub mod diff;
pub mod engine;
pub mod exec;
pub mod gitops;
pub mod journal;
pub mod model;
pub mod plan;
pub mod prompts;
pub mod protocol;
pub mod review_script;
pub mod state;
pub mod tools;

/// A TOML error as one sentence with its line and column, e.g.
/// "line 3, column 10: unknown variant `acept`, expected one of ...".
pub fn toml_error_sentence(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}
