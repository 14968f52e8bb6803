//! The built-in scripted model behind `tandem demo`: a real implementation of the model
//! interface that plans and drafts the demo job without any server or key.
//!
//! Invariants: it decides only from the request (which tools are offered, which task the prompt
//! names, whether it is a revision, how many turns came before), so it behaves the same on
//! resume; every file change goes through the same tool calls a real model would make.

use super::{ChatRequest, ChatResponse, Delta, DeltaSink, ModelError, Role, ToolCall, Usage};
use serde_json::json;
use std::time::Duration;

pub struct ScriptedModel {
    /// Delay between streamed pieces, so a person can watch the draft arrive.
    pub pace: Duration,
}

pub const DEMO_BRIEF: &str = "The client runs a small Python greeter (greet.py). They want it to greet people by \
name, politely, and want the README to explain how to run it.";

const GREET_V1: &str = "import sys\n\n\ndef greeting(name):\n    return f\"Hello, {name}.\"\n\n\ndef main():\n    name = sys.argv[1] if len(sys.argv) > 1 else \"there\"\n    print(greeting(name))\n\n\nif __name__ == \"__main__\":\n    main()\n";

const GREET_V2: &str = "import sys\n\n\ndef greeting(name):\n    return f\"Hi {name}, lovely to meet you!\"\n\n\ndef main():\n    name = sys.argv[1] if len(sys.argv) > 1 else \"there\"\n    print(greeting(name))\n\n\nif __name__ == \"__main__\":\n    main()\n";

const README_V1: &str = "# greeter\n\nA tiny command-line greeter.\n\n## Usage\n\n```\npython greet.py Ada\n```\n\nWithout a name it greets \"there\".\n";

/// The examples file as first drafted: a comma is missing, so the deliverable check sends the
/// draft back before review (the demo's caught failure).
const EXAMPLES_BROKEN: &str = "[\n  {\"run\": \"python greet.py Ada\", \"prints\": \"Hi Ada, lovely to meet you!\"}\n  {\"run\": \"python greet.py\", \"prints\": \"Hi there, lovely to meet you!\"}\n]\n";

const EXAMPLES: &str = "[\n  {\"run\": \"python greet.py Ada\", \"prints\": \"Hi Ada, lovely to meet you!\"},\n  {\"run\": \"python greet.py\", \"prints\": \"Hi there, lovely to meet you!\"}\n]\n";

const README_V2: &str = "# greeter\n\nA tiny command-line greeter.\n\n## Usage\n\n```\npython greet.py Ada\n# Hi Ada, lovely to meet you!\n```\n\nWithout a name it greets \"there\".\n";

impl ScriptedModel {
    pub async fn chat(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        let (text, calls) = self.decide(req);
        for piece in text.split_inclusive(' ') {
            if !self.pace.is_zero() {
                tokio::time::sleep(self.pace).await;
            }
            sink(Delta::Text(piece.to_string()));
        }
        for (name, _) in &calls {
            sink(Delta::ToolStarted(name.clone()));
        }
        let prompt_chars: usize = req
            .messages
            .iter()
            .map(|m| m.content.as_deref().map_or(0, str::len))
            .sum();
        let out_chars = text.len() + calls.iter().map(|(_, a)| a.len()).sum::<usize>();
        let turn = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        Ok(ChatResponse {
            content: text,
            finish_reason: Some(
                if calls.is_empty() {
                    "stop"
                } else {
                    "tool_calls"
                }
                .into(),
            ),
            tool_calls: calls
                .into_iter()
                .enumerate()
                .map(|(i, (name, arguments))| ToolCall {
                    id: format!("demo_{turn}_{i}"),
                    name,
                    arguments,
                })
                .collect(),
            usage: Usage {
                prompt_tokens: (prompt_chars / 4).max(1) as u64,
                completion_tokens: (out_chars / 4).max(1) as u64,
            },
        })
    }

    // Long: the demo model's script, one arm per (task, revision, turn), so the whole demo reads
    // in one place.
    fn decide(&self, req: &ChatRequest) -> (String, Vec<(String, String)>) {
        let call = |name: &str, args: serde_json::Value| (name.to_string(), args.to_string());
        if req.tools.iter().any(|t| t.name == "submit_verdicts") {
            return (
                String::new(),
                vec![call("submit_verdicts", checker_verdicts(req))],
            );
        }
        if req.tools.iter().any(|t| t.name == "submit_plan") {
            return (
                "Two tasks: the greeting itself, then the README.".into(),
                vec![call("submit_plan", demo_plan_json())],
            );
        }
        let prompt = req
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .and_then(|m| m.content.clone())
            .unwrap_or_default();
        let revision = prompt.contains("asked for a revision");
        let turn = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        // Review threads the revision request lists, as `[c1.2] …` lines; the demo model says
        // it addressed each one that waits for it.
        let threads: Vec<String> = prompt
            .lines()
            .filter(|l| !l.contains("waiting for the reviewer"))
            .filter_map(|l| {
                l.strip_prefix('[')?
                    .split_once(']')
                    .map(|(k, _)| k.to_string())
            })
            .collect();
        // The last tool result said the draft is not ready (a deliverable failed its check).
        let sent_back = req.messages.last().is_some_and(|m| {
            m.role == Role::Tool
                && m.content
                    .as_deref()
                    .is_some_and(|c| c.starts_with("error: the draft is not ready"))
        });
        let task = if prompt.starts_with("Task 1 of") {
            1
        } else if prompt.starts_with("Task 2 of") {
            2
        } else {
            0
        };
        match (task, revision, turn) {
            (1, false, 0) => (
                "Let me read greet.py first.".into(),
                vec![call("read_file", json!({"path": "greet.py"}))],
            ),
            (1, false, 1) => (
                "Now I make it greet by name.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "greet.py", "content": GREET_V1}),
                )],
            ),
            (1, false, _) => (
                String::new(),
                vec![call(
                    "finish",
                    json!({"summary": "greet.py now greets the name given on the command line, or \"there\" without one."}),
                )],
            ),
            (1, true, 0) => (
                "The reviewer wants a friendlier greeting.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "greet.py", "content": GREET_V2}),
                )],
            ),
            (1, true, _) => (
                String::new(),
                vec![call(
                    "finish",
                    json!({
                        "summary": "Made the greeting warmer: \"Hi {name}, lovely to meet you!\"",
                        "replies": threads.iter().map(|k| json!({
                            "thread": k,
                            "status": "addressed",
                            "text": "The greeting is warmer now: \"Hi {name}, lovely to meet you!\"",
                        })).collect::<Vec<_>>(),
                    }),
                )],
            ),
            (2, _, _) if sent_back => (
                "The examples file misses a comma; I fix it.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "examples.json", "content": EXAMPLES}),
                )],
            ),
            (2, false, 0) => (
                "I add a Usage section.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "README.md", "content": README_V1}),
                )],
            ),
            (2, false, 1) => (
                "And the examples file for the client's website.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "examples.json", "content": EXAMPLES_BROKEN}),
                )],
            ),
            (2, true, 0) => (
                "I show the output in the example too.".into(),
                vec![call(
                    "write_file",
                    json!({"path": "README.md", "content": README_V2}),
                )],
            ),
            (2, _, _) => (
                String::new(),
                vec![call(
                    "finish",
                    json!({"summary": "README.md explains how to run greet.py; examples.json lists the examples."}),
                )],
            ),
            _ => (
                String::new(),
                vec![call(
                    "finish",
                    json!({"summary": "The demo model only knows the demo's two tasks; it changed nothing here."}),
                )],
            ),
        }
    }
}

/// The demo checker's verdicts: it judges the task its prompt names, pointing at the lines.
fn checker_verdicts(req: &ChatRequest) -> serde_json::Value {
    let system = req
        .messages
        .first()
        .and_then(|m| m.content.as_deref())
        .unwrap_or("");
    let v = |criterion: u32, evidence: &str| json!({"criterion": criterion, "verdict": "met", "evidence": evidence});
    if system.contains("Task 2:") {
        json!({"verdicts": [
            v(1, "README.md:5 adds the ## Usage section"),
            v(2, "examples.json:2 prints \"Hi Ada, lovely to meet you!\", as greet.py:5 does"),
        ]})
    } else {
        json!({"verdicts": [
            v(1, "greet.py:9 passes sys.argv[1] to greeting(), which puts the name in the greeting"),
            v(2, "greet.py:9 falls back to \"there\" without a name"),
        ]})
    }
}

pub fn demo_plan_json() -> serde_json::Value {
    json!({"tasks": [
        {"title": "Greet people by name",
         "instructions": "Change greet.py so that `python greet.py NAME` greets NAME; without a name it greets \"there\".",
         "acceptance": ["`python greet.py Ada` prints a greeting containing Ada", "Without a name it still prints a greeting"]},
        {"title": "Document usage in the README",
         "instructions": "Add a Usage section to README.md that shows how to run greet.py with a name, and list the examples in examples.json for the client's website.",
         "acceptance": ["README.md has a Usage section", "The example matches what greet.py does"],
         "deliverables": ["README.md", "examples.json"]}
    ]})
}

/// The demo project's files before any task.
pub const DEMO_FILES: &[(&str, &str)] = &[
    ("README.md", "# greeter\n\nA tiny command-line greeter.\n"),
    (
        "greet.py",
        "import sys\n\n\ndef main():\n    print(\"hello\")\n\n\nif __name__ == \"__main__\":\n    main()\n",
    ),
];
