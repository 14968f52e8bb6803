//! The job plan: tasks with acceptance criteria, the `plan.toml` file format, and plan validation.
//!
//! Invariant: a `Plan` that leaves this module is valid — at least one task, and every task has a
//! non-empty title, instructions and at least one acceptance criterion. The planner model's answer
//! and a user's file go through the same `validate`, so both get the same error sentences.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// One task as planned: what to do and how the reviewer will judge it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub title: String,
    pub instructions: String,
    pub acceptance: Vec<String>,
    /// Done by the human, not the agent: the loop skips it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub human: bool,
    /// Files the task must leave in the repository; each must exist, be non-empty and parse
    /// by its type before the draft reaches review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliverables: Vec<String>,
    /// Commands that must pass (exit 0) before the draft reaches review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The on-disk shape: `[[task]]` tables. Strict, unlike the model's `submit_plan` arguments: a
/// misspelt key in a file a person wrote is a mistake worth pointing at.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    task: Vec<FileTask>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileTask {
    title: String,
    instructions: String,
    acceptance: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    human: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deliverables: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    checks: Vec<String>,
}

impl From<FileTask> for TaskSpec {
    fn from(t: FileTask) -> Self {
        TaskSpec {
            title: t.title,
            instructions: t.instructions,
            acceptance: t.acceptance,
            human: t.human,
            deliverables: t.deliverables,
            checks: t.checks,
        }
    }
}

/// Check the rules every plan must meet; the error names the task and field so a model (or a
/// person) can fix exactly that.
pub fn validate(tasks: &[TaskSpec]) -> Result<(), PlanError> {
    if tasks.is_empty() {
        return Err(PlanError::Invalid(
            "the plan has no tasks: give at least one task".into(),
        ));
    }
    for (i, t) in tasks.iter().enumerate() {
        let n = i + 1;
        if t.title.trim().is_empty() {
            return Err(PlanError::Invalid(format!("task {n}: `title` is empty")));
        }
        // Titles go into commit subjects and onto terminals; NUL breaks git for good.
        if let Some(c) = t.title.chars().find(|c| c.is_control()) {
            return Err(PlanError::Invalid(format!(
                "task {n}: `title` holds the control character U+{:04X}; a title is one line of plain text",
                c as u32
            )));
        }
        let texts = std::iter::once(("instructions", &t.instructions))
            .chain(t.acceptance.iter().map(|a| ("acceptance", a)));
        for (field, text) in texts {
            if let Some(c) = text
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            {
                return Err(PlanError::Invalid(format!(
                    "task {n} ({}): `{field}` holds the control character U+{:04X}; remove it",
                    t.title.trim(),
                    c as u32
                )));
            }
        }
        if t.instructions.trim().is_empty() {
            return Err(PlanError::Invalid(format!(
                "task {n} ({}): `instructions` is empty",
                t.title.trim()
            )));
        }
        if t.acceptance.is_empty() {
            return Err(PlanError::Invalid(format!(
                "task {n} ({}): `acceptance` needs at least one criterion",
                t.title.trim()
            )));
        }
        for d in &t.deliverables {
            let d = d.trim();
            if d.is_empty() || d.starts_with('/') || d.split(['/', '\\']).any(|p| p == "..") {
                return Err(PlanError::Invalid(format!(
                    "task {n} ({}): deliverable `{d}` must be a path inside the repository, like `docs/prices.md`",
                    t.title.trim()
                )));
            }
        }
        if let Some(k) = t.checks.iter().position(|c| c.trim().is_empty()) {
            return Err(PlanError::Invalid(format!(
                "task {n} ({}): check {} is empty",
                t.title.trim(),
                k + 1
            )));
        }
        if let Some(k) = t.acceptance.iter().position(|c| c.trim().is_empty()) {
            return Err(PlanError::Invalid(format!(
                "task {n} ({}): acceptance criterion {} is empty",
                t.title.trim(),
                k + 1
            )));
        }
    }
    Ok(())
}

/// Parse and validate plan text; `origin` names the file in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<TaskSpec>, PlanError> {
    let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Parse {
        path: origin.to_string(),
        message: crate::infra::config::toml_error_sentence(text, &e),
    })?;
    let tasks: Vec<TaskSpec> = file.task.into_iter().map(TaskSpec::from).collect();
    validate(&tasks).map_err(|e| PlanError::Parse {
        path: origin.to_string(),
        message: e.to_string(),
    })?;
    Ok(tasks)
}

pub fn load(path: &Path) -> Result<Vec<TaskSpec>, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Render a plan back to the file format, so a planned job can be saved, edited and re-used.
pub fn to_toml(tasks: &[TaskSpec]) -> String {
    toml::to_string_pretty(&PlanFile {
        task: tasks
            .iter()
            .map(|t| FileTask {
                title: t.title.clone(),
                instructions: t.instructions.clone(),
                acceptance: t.acceptance.clone(),
                human: t.human,
                deliverables: t.deliverables.clone(),
                checks: t.checks.clone(),
            })
            .collect(),
    })
    .unwrap_or_default()
}

/// The planner's one tool: the plan as ordered tasks.
pub fn tool_schema() -> crate::infra::model::ToolSchema {
    crate::infra::model::ToolSchema::new(
        "submit_plan",
        "Submit the plan: ordered tasks, each with a title, instructions and acceptance criteria.",
        serde_json::json!({"type":"object","properties":{"tasks":{"type":"array","minItems":1,"items":{"type":"object","properties":{"title":{"type":"string"},"instructions":{"type":"string"},"acceptance":{"type":"array","minItems":1,"items":{"type":"string"}},"deliverables":{"type":"array","items":{"type":"string"},"description":"Files the task must produce or change."},"checks":{"type":"array","items":{"type":"string"},"description":"Shell commands that must pass, only where the repository has tests or linters."}},"required":["title","instructions","acceptance"]}}},"required":["tasks"]}),
    )
}

/// The arguments of a `submit_plan` call as a valid plan, or the sentence the model gets back.
pub fn from_tool_call(raw: &str) -> Result<Vec<TaskSpec>, String> {
    #[derive(Deserialize)]
    struct PlanArgs {
        tasks: Vec<TaskSpec>,
    }
    let args = crate::infra::tools::parse_arguments(raw).map_err(|e| {
        format!("the arguments of `submit_plan` are not valid JSON ({e}); send a JSON object")
    })?;
    let a: PlanArgs = serde_json::from_value(args)
        .map_err(|e| format!("bad arguments for `submit_plan`: {e}"))?;
    validate(&a.tasks).map_err(|e| {
        format!("the plan was not accepted: {e}. Fix it and call submit_plan again.")
    })?;
    Ok(a.tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let text = r#"
[[task]]
title = "Greeting"
instructions = "Write greet.py"
acceptance = ["prints hello", "has a main"]
"#;
        let tasks = parse(text, "plan.toml").unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].acceptance.len(), 2);
        assert!(!tasks[0].human);
    }

    #[test]
    fn missing_criteria_is_named() {
        let text = "[[task]]\ntitle = \"A\"\ninstructions = \"do\"\nacceptance = []\n";
        let err = parse(text, "plan.toml").unwrap_err().to_string();
        assert!(err.contains("plan.toml"), "{err}");
        assert!(err.contains("task 1 (A)"), "{err}");
        assert!(err.contains("acceptance"), "{err}");
    }

    #[test]
    fn bad_field_names_line() {
        let text =
            "[[task]]\ntitle = \"A\"\ninstructions = \"do\"\nacceptance = [\"x\"]\ncolour = 1\n";
        let err = parse(text, "plan.toml").unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn empty_plan_is_refused() {
        assert!(parse("", "p.toml").is_err());
    }

    #[test]
    fn round_trips() {
        let tasks = vec![TaskSpec {
            title: "T".into(),
            instructions: "I".into(),
            acceptance: vec!["a".into()],
            human: true,
            deliverables: vec!["out/a.json".into()],
            checks: vec!["true".into()],
        }];
        assert_eq!(parse(&to_toml(&tasks), "x").unwrap(), tasks);
    }
}
