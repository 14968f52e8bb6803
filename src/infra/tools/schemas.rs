//! The drafter's tools as the model sees them: names and JSON schemas. Descriptions are short:
//! they are paid for on every request.

use serde_json::json;

pub const DRAFT_TOOLS: &[&str] = &[
    "list_files",
    "read_file",
    "write_file",
    "edit_file",
    "delete_file",
    "move_file",
    "search",
    "finish",
];

/// JSON schemas of the drafter's tools, as sent to the model. Descriptions are short: they are
/// paid for on every request.
pub fn draft_tool_schemas(commands: bool) -> Vec<crate::infra::model::ToolSchema> {
    use crate::infra::model::ToolSchema;
    let mut tools = vec![
        ToolSchema::new(
            "list_files",
            "List files under a directory (default: the root), honouring .gitignore.",
            json!({"type":"object","properties":{"path":{"type":"string"}}}),
        ),
        ToolSchema::new(
            "read_file",
            "Read a text file. Long files come in pages of 400 lines; pass start_line for the next page.",
            json!({"type":"object","properties":{"path":{"type":"string"},"start_line":{"type":"integer","minimum":1}},"required":["path"]}),
        ),
        ToolSchema::new(
            "write_file",
            "Create or replace a whole file (parent directories are created).",
            json!({"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}),
        ),
        ToolSchema::new(
            "edit_file",
            "Replace exactly one occurrence of old_text with new_text in a file.",
            json!({"type":"object","properties":{"path":{"type":"string"},"old_text":{"type":"string"},"new_text":{"type":"string"}},"required":["path","old_text","new_text"]}),
        ),
        ToolSchema::new(
            "delete_file",
            "Delete a file.",
            json!({"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}),
        ),
        ToolSchema::new(
            "move_file",
            "Move or rename a file (the destination must not exist).",
            json!({"type":"object","properties":{"from":{"type":"string"},"to":{"type":"string"}},"required":["from","to"]}),
        ),
        ToolSchema::new(
            "search",
            "Regex search in files; returns path:line: text.",
            json!({"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string"}},"required":["pattern"]}),
        ),
        ToolSchema::new(
            "finish",
            "Call when the task is done and ready for review.",
            json!({"type":"object","properties":{
                "summary":{"type":"string","description":"What you changed and why, for the reviewer."},
                "replies":{"type":"array","description":"One answer per open review thread, when the reviewer left comments.","items":{"type":"object","properties":{
                    "thread":{"type":"string","description":"The thread's label, e.g. c1.2 or n1."},
                    "status":{"type":"string","enum":["addressed","not_done","question"]},
                    "text":{"type":"string","description":"What you did, why not, or your question."}},"required":["thread","status"]}}},
                "required":["summary"]}),
        ),
    ];
    if commands {
        tools.insert(
            tools.len() - 1,
            ToolSchema::new(
                "run_command",
                "Run a shell command in the working directory (sandboxed: no network, writes only inside existing top-level folders and files; time and output are limited). Returns the exit code and output.",
                json!({"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}),
            ),
        );
    }
    tools
}

/// The read-only tools the checker may call, besides `submit_verdicts`.
pub const CHECKER_READ_TOOLS: &[&str] = &["list_files", "read_file", "search"];

/// The checker's tools: the drafter's read-only ones and `submit_verdicts`. Nothing that
/// writes is offered, and the engine refuses any other name it is sent.
pub fn checker_tool_schemas() -> Vec<crate::infra::model::ToolSchema> {
    use crate::infra::model::ToolSchema;
    let mut tools: Vec<ToolSchema> = draft_tool_schemas(false)
        .into_iter()
        .filter(|t| CHECKER_READ_TOOLS.contains(&t.name.as_str()))
        .collect();
    tools.push(ToolSchema::new(
        "submit_verdicts",
        "Your verdict on every acceptance criterion, once, at the end.",
        json!({"type":"object","properties":{"verdicts":{"type":"array","items":{"type":"object","properties":{
            "criterion":{"type":"integer","minimum":1,"description":"The criterion's number."},
            "verdict":{"type":"string","enum":["met","not_met","unclear"]},
            "evidence":{"type":"string","description":"One line: file:line or a check's output."}},
            "required":["criterion","verdict","evidence"]}}},"required":["verdicts"]}),
    ));
    tools
}

/// The knowledge tools (read-only, outside the working directory), offered to the planner and
/// the drafter when the project has knowledge files.
pub const KNOWLEDGE_TOOLS: &[&str] = &["read_knowledge", "search_knowledge"];

pub fn knowledge_tool_schemas() -> Vec<crate::infra::model::ToolSchema> {
    use crate::infra::model::ToolSchema;
    vec![
        ToolSchema::new(
            "read_knowledge",
            "Read a knowledge file by its name in the index (read-only reference material, not a repository file). Long files come in pages; pass offset for the next.",
            json!({"type":"object","properties":{"name":{"type":"string"},"offset":{"type":"integer","minimum":0}},"required":["name"]}),
        ),
        ToolSchema::new(
            "search_knowledge",
            "Find lines in the knowledge files that contain a word or phrase (case-insensitive).",
            json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}),
        ),
    ]
}

/// The tool the lessons step answers with.
pub fn lessons_tool_schema() -> crate::infra::model::ToolSchema {
    crate::infra::model::ToolSchema::new(
        "propose_lessons",
        "The general lessons from this review (an empty list when there are none).",
        json!({"type":"object","properties":{"lessons":{"type":"array","maxItems":5,"items":{"type":"object","properties":{
            "text":{"type":"string","description":"One sentence, an instruction."},
            "from":{"type":"array","items":{"type":"string"},"description":"The threads it came from, like c1.2 or n1."}},
            "required":["text","from"]}}},"required":["lessons"]}),
    )
}
