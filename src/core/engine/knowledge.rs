//! The project's knowledge in the agent's conversations: loaded fresh for each planner and
//! drafter conversation (so an edited style guide counts from the next draft on), journaled by
//! name and hash before the first request (`knowledge_used`), and read through
//! `read_knowledge` / `search_knowledge`, which only ever answer from the loaded set.
//!
//! Invariants: loading runs off the async runtime; nothing here writes a file; a conversation
//! that carries no knowledge journals nothing.

use super::*;
use crate::core::journal::{KnowledgeGiven, KnowledgeRef};
use crate::infra::knowledge::{self, Given};

/// Characters one `read_knowledge` page carries.
const PAGE_CHARS: usize = 20_000;
/// Lines one `search_knowledge` answer lists.
const MAX_HITS: usize = 40;

#[derive(serde::Deserialize)]
struct ReadArgs {
    name: String,
    #[serde(default)]
    offset: usize,
}

#[derive(serde::Deserialize)]
struct SearchArgs {
    query: String,
}

impl Engine {
    /// Load the project's knowledge, journal what this conversation is given, and keep it for
    /// the knowledge tools. Returns the text to add to the system prompt ("" when none).
    pub(super) async fn brief_knowledge(
        &mut self,
        purpose: Purpose,
        task: Option<usize>,
        iteration: Option<u32>,
    ) -> Result<String, CoreError> {
        let root = self.workdir.clone();
        let sources = self.settings.knowledge.clone();
        let k = blocking(move || knowledge::load(&root, &sources)).await?;
        let b = k.briefing(self.rec.state.text_protocol.is_none());
        if !b.used.is_empty() {
            self.rec.record(JournalEvent::KnowledgeUsed {
                purpose,
                task,
                iteration,
                client: self.settings.knowledge.client.clone(),
                sources: b
                    .used
                    .iter()
                    .map(|(doc, given)| KnowledgeRef {
                        name: doc.name.clone(),
                        hash: doc.hash.clone(),
                        given: match given {
                            Given::Whole => KnowledgeGiven::Whole,
                            Given::Cut => KnowledgeGiven::Cut,
                            Given::Indexed => KnowledgeGiven::Indexed,
                        },
                    })
                    .collect(),
                lessons: b.lessons.clone(),
                unlisted: b.unlisted,
            })?;
        }
        self.knowledge = Some(k);
        Ok(b.text)
    }

    /// `system` with the knowledge briefing after it.
    pub(super) fn with_knowledge(system: String, briefing: &str) -> String {
        if briefing.is_empty() {
            system
        } else {
            format!("{}\n\n{briefing}", system.trim_end())
        }
    }

    /// Whether the knowledge tools are offered: there are knowledge files to read.
    pub(super) fn knowledge_tools_offered(&self) -> bool {
        self.knowledge.as_ref().is_some_and(|k| !k.docs.is_empty())
    }

    /// Answer a knowledge tool call; None when `name` is not one.
    pub(super) fn knowledge_call(&self, name: &str, arguments: &str) -> Option<(bool, String)> {
        if !tools::KNOWLEDGE_TOOLS.contains(&name) {
            return None;
        }
        let Some(k) = self.knowledge.as_ref().filter(|k| !k.docs.is_empty()) else {
            return Some((false, "error: this project has no knowledge files".into()));
        };
        let args = tools::parse_arguments(arguments);
        let answer = match name {
            "read_knowledge" => args
                .and_then(|v| serde_json::from_value::<ReadArgs>(v).map_err(|e| e.to_string()))
                .and_then(|a| k.read(&a.name, a.offset, PAGE_CHARS)),
            _ => args
                .and_then(|v| serde_json::from_value::<SearchArgs>(v).map_err(|e| e.to_string()))
                .and_then(|a| k.search(&a.query, MAX_HITS)),
        };
        Some(match answer {
            Ok(text) => (true, text),
            Err(e) => (false, format!("error: {e}")),
        })
    }
}
