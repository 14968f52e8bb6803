//! The scripted review file used by `tandem exec --review` and the headless demo: one `[[decision]]` per review cycle.
//!
//! Invariant: the k-th decision listed for a task answers that task's k-th iteration, so a script
//! can be re-read on resume and the decisions already journaled are simply skipped.

use crate::core::Decision;
use crate::core::threads::ThreadRef;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptComment {
    pub path: String,
    pub line: u32,
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptDecision {
    pub task: usize,
    pub action: Decision,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub comment: Vec<ScriptComment>,
    #[serde(default)]
    pub criteria_met: Vec<usize>,
    /// Human review time spent offline on this cycle, for the commit trailer (30 days at most).
    #[serde(default, deserialize_with = "crate::infra::config::seconds")]
    pub review_seconds: Option<u64>,
    /// Threads from earlier iterations to resolve, by label (`c1.2`, `n1`).
    #[serde(default)]
    pub resolve: Vec<ThreadRef>,
    /// Answers to threads from earlier iterations (they go to the agent with a revision).
    #[serde(default)]
    pub answer: Vec<ScriptAnswer>,
    /// Accept although criteria are unticked or threads are open: said on purpose, since
    /// without it exec stops at such an accept (exit 3), as the TUI asks first.
    #[serde(default)]
    pub accept_anyway: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptAnswer {
    pub thread: ThreadRef,
    pub text: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewScript {
    /// With `commands.policy = "ask"`: the commands the reviewer allows, as prefixes (as
    /// `commands.allow`: `pytest` allows `pytest -q`, never `pytest; rm …`). Any other command
    /// is declined.
    #[serde(default)]
    pub approve_commands: Vec<String>,
    /// Let `approve_commands` cover commands that would run without a sandbox too (a kernel
    /// without Landlock). Off by default: a script written on a machine that confines commands
    /// must not silently let them run unconfined on one that cannot.
    #[serde(default)]
    pub approve_unsandboxed: bool,
    /// Keep every lesson proposed after an accept, as proposed, in the repository's lessons
    /// file (unless a `[[lesson]]` says otherwise). Without it, and without a `[[lesson]]`
    /// keeping one, lessons are discarded: nothing is stored unapproved.
    #[serde(default)]
    pub approve_lessons: bool,
    #[serde(default)]
    pub lesson: Vec<ScriptLesson>,
    #[serde(default)]
    pub decision: Vec<ScriptDecision>,
}

/// The answer on one proposed lesson: `[[lesson]] task = 1, number = 2, keep = true`, with
/// an optional edited `text` and `scope = "client"`; `task = 0` answers the lessons drawn at
/// the end of the session from every task's review.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptLesson {
    pub task: usize,
    pub number: usize,
    pub keep: bool,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub scope: Option<crate::core::journal::LessonScope>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewScriptError {
    #[error("cannot read review file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl ReviewScript {
    pub fn parse(text: &str, origin: &str) -> Result<Self, ReviewScriptError> {
        let script: ReviewScript = toml::from_str(text).map_err(|e| ReviewScriptError::Parse {
            path: origin.into(),
            message: crate::infra::config::toml_error_sentence(text, &e),
        })?;
        for (i, d) in script.decision.iter().enumerate() {
            let bad = |message: String| ReviewScriptError::Parse {
                path: origin.into(),
                message: format!("decision {}: {message}", i + 1),
            };
            if d.task == 0 {
                return Err(bad("`task` counts from 1".into()));
            }
            if d.criteria_met.contains(&0) {
                return Err(bad("`criteria_met` counts from 1".into()));
            }
            if let Some(c) = d.comment.iter().find(|c| c.line == 0) {
                return Err(bad(format!("comment on {}: `line` counts from 1", c.path)));
            }
        }
        Ok(script)
    }

    pub fn load(path: &Path) -> Result<Self, ReviewScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReviewScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The script's answer to a command the policy asks about (`sandboxed`: it would run
    /// confined).
    pub fn approves(&self, command: &str, sandboxed: bool) -> bool {
        !self.approve_commands.is_empty()
            && (sandboxed || self.approve_unsandboxed)
            && crate::core::engine::allowed_by(command, &self.approve_commands)
    }

    /// The script's answers to `count` lessons proposed after task `task` was accepted.
    pub fn lesson_choices(
        &self,
        task: usize,
        count: usize,
    ) -> Vec<crate::core::journal::LessonChoice> {
        (1..=count)
            .map(|number| {
                let said = self
                    .lesson
                    .iter()
                    .find(|l| l.task == task && l.number == number);
                crate::core::journal::LessonChoice {
                    number,
                    keep: said.map_or(self.approve_lessons, |l| l.keep),
                    text: said.and_then(|l| l.text.clone()).unwrap_or_default(),
                    scope: said.and_then(|l| l.scope).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The decision for a task's iteration (both from 1), if the script has one.
    pub fn decision_for(&self, task: usize, iteration: u32) -> Option<&ScriptDecision> {
        self.decision
            .iter()
            .filter(|d| d.task == task)
            .nth(iteration.saturating_sub(1) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[decision]]
task = 1
action = "revise"
note = "Make it friendlier."
[[decision.comment]]
path = "greet.py"
line = 2
text = "Greet the client by name."
[[decision]]
task = 1
action = "accept"
criteria_met = [1, 2]
"#;

    #[test]
    fn kth_decision_answers_kth_iteration() {
        let s = ReviewScript::parse(SAMPLE, "review.toml").unwrap();
        assert_eq!(s.decision_for(1, 1).unwrap().action, Decision::Revise);
        assert_eq!(s.decision_for(1, 1).unwrap().comment[0].line, 2);
        assert_eq!(s.decision_for(1, 2).unwrap().action, Decision::Accept);
        assert!(s.decision_for(1, 3).is_none());
        assert!(s.decision_for(2, 1).is_none());
    }

    #[test]
    fn unknown_action_names_file_line_and_choices() {
        let err = ReviewScript::parse("[[decision]]\ntask = 1\naction = \"acept\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml: line 3"), "{err}");
        assert!(err.contains("accept"), "{err}");
    }

    #[test]
    fn zero_based_numbers_are_refused() {
        let err = ReviewScript::parse("[[decision]]\ntask = 0\naction = \"accept\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("decision 1"), "{err}");
    }

    #[test]
    fn approvals_cover_unsandboxed_commands_only_when_said() {
        let s = ReviewScript::parse("approve_commands = [\"make\"]\n", "r.toml").unwrap();
        assert!(s.approves("make test", true));
        assert!(!s.approves("make test", false));
        assert!(!s.approves("rm -rf x", true));
        let s = ReviewScript::parse(
            "approve_commands = [\"make\"]\napprove_unsandboxed = true\n",
            "r.toml",
        )
        .unwrap();
        assert!(s.approves("make test", false));
        assert!(!s.approves("make; rm x", false));
    }
}
