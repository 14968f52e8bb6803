//! Prompt templates: shipped in `prompts/`, compiled in, overridable per user.
//!
//! Invariant: every template is parsed once at start-up; a broken user override is an error that
//! names its file and line before any work starts, never a surprise mid-session.

use minijinja::Environment;
use serde::Serialize;
use std::path::Path;

pub const NAMES: &[(&str, &str)] = &[
    ("planner", include_str!("../../prompts/planner.md")),
    ("drafter", include_str!("../../prompts/drafter.md")),
    (
        "drafter_text",
        include_str!("../../prompts/drafter_text.md"),
    ),
    ("task", include_str!("../../prompts/task.md")),
    ("revision", include_str!("../../prompts/revision.md")),
    ("checker", include_str!("../../prompts/checker.md")),
    ("lessons", include_str!("../../prompts/lessons.md")),
];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt template {file}: {message}")]
    Template { file: String, message: String },
}

pub struct Prompts {
    env: Environment<'static>,
    origins: Vec<(String, String)>,
}

impl Prompts {
    /// Load the shipped templates, replacing each one that has a file `<name>.md` in
    /// `override_dir`.
    pub fn load(override_dir: Option<&Path>) -> Result<Self, PromptError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut origins = Vec::new();
        for (name, shipped) in NAMES {
            let (text, origin) = shipped_or_override(
                override_dir.map(|d| d.join(format!("{name}.md"))),
                shipped,
                &format!("prompts/{name}.md"),
            )?;
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| PromptError::Template {
                    file: origin.clone(),
                    message: describe(&e),
                })?;
            origins.push((name.to_string(), origin));
        }
        Ok(Prompts { env, origins })
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, PromptError> {
        let origin = self
            .origins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| name.to_string());
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| PromptError::Template {
                file: origin.clone(),
                message: describe(&e),
            })?;
        tmpl.render(ctx)
            .map(|s| s.trim().to_string() + "\n")
            .map_err(|e| PromptError::Template {
                file: origin,
                message: describe(&e),
            })
    }
}

/// A shipped template, or the user's file at `user` that replaces it when there is one: its
/// text and where it came from (for errors).
pub fn shipped_or_override(
    user: Option<std::path::PathBuf>,
    shipped: &str,
    shipped_path: &str,
) -> Result<(String, String), PromptError> {
    match user {
        Some(path) if path.is_file() => {
            let text = std::fs::read_to_string(&path).map_err(|e| PromptError::Template {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            Ok((text, path.display().to_string()))
        }
        _ => Ok((shipped.to_string(), format!("{shipped_path} (built in)"))),
    }
}

/// A template error as "line N: what is wrong".
pub fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!(
            "line {line}: {}",
            e.detail().unwrap_or(&e.kind().to_string())
        ),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revision_carries_every_thread_with_its_label_place_and_history() {
        let p = Prompts::load(None).unwrap();
        let text = p
            .render(
                "revision",
                json!({
                    "number": 1, "total": 2, "title": "Greeting", "instructions": "Write it",
                    "acceptance": ["a", "b"], "met": [true, false], "iteration": 3,
                    "summary": "wrote greet.py", "incomplete": false,
                    "threads": [
                        {"id": "c1.1", "note": false, "path": "greet.py", "line": 4, "outdated": false,
                         "quote": "    print('hi')", "awaits": true, "history": [
                            {"by": "reviewer", "iteration": 1, "text": "Use the name."},
                            {"by": "you (question)", "iteration": 2, "text": "Which name?"},
                            {"by": "reviewer", "iteration": 2, "text": "The first argument."}]},
                        {"id": "n2", "note": true, "path": null, "line": null, "outdated": false,
                         "quote": "", "awaits": true, "history": [{"by": "reviewer", "iteration": 2, "text": "friendlier"}]},
                        {"id": "c2.1", "note": false, "path": "README.md", "line": 9, "outdated": true,
                         "quote": "x", "awaits": false, "history": [
                            {"by": "reviewer", "iteration": 2, "text": "typo"},
                            {"by": "you (addressed)", "iteration": 2, "text": "fixed"}]}
                    ]
                }),
            )
            .unwrap();
        assert!(text.contains("[c1.1] greet.py, line 4\n"), "{text}");
        assert!(text.contains("  >     print('hi')\n"), "{text}");
        assert!(
            text.contains("  reviewer: Use the name.\n  you (question): Which name?\n  reviewer: The first argument.\n"),
            "{text}"
        );
        assert!(
            text.contains("[n2] note on the whole iteration\n  reviewer: friendlier"),
            "{text}"
        );
        assert!(
            text.contains(
                "[c2.1] README.md, line 9 (that line has changed since), waiting for the reviewer"
            ),
            "{text}"
        );
        assert!(text.contains("in `replies`"), "{text}");
        // Sentences stay apart (they were glued: "…greet.pyThe reviewer…").
        assert!(
            text.contains(
                "now.\nIts summary was: wrote greet.py\nThe reviewer asked for a revision.\n"
            ),
            "{text}"
        );
        assert!(text.contains("1. [x] a"), "{text}");
        // In the text protocol there is no finish call: replies are lines of the answer.
        let text = p
            .render(
                "revision",
                json!({
                    "number": 1, "total": 1, "title": "G", "instructions": "W",
                    "acceptance": ["a"], "met": [false], "iteration": 2,
                    "summary": "", "incomplete": false, "text_protocol": true,
                    "threads": [{"id": "c1.1", "note": false, "path": "g.py", "line": 1,
                        "outdated": false, "quote": "x", "awaits": true,
                        "history": [{"by": "reviewer", "iteration": 1, "text": "Use the name."}]}]
                }),
            )
            .unwrap();
        assert!(text.contains("`[c1.2] addressed: what you did`"), "{text}");
        assert!(!text.contains("finish"), "{text}");
    }

    #[test]
    fn broken_override_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("task.md"), "ok\n{% for x in %}\n").unwrap();
        let err = Prompts::load(Some(dir.path())).err().unwrap().to_string();
        assert!(err.contains("task.md"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}
