//! The chat-completions wire format: request messages as JSON, streamed chunks and whole
//! completions as they arrive, and the `Assembler` that merges chunks (tool calls by index)
//! into one answer.
//!
//! Invariants: nothing here does I/O; every field a server may leave out has a default.

use super::*;

pub(super) fn message_json(m: &Message) -> Value {
    match m.role {
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id,
            "content": m.content.clone().unwrap_or_default(),
        }),
        Role::Assistant => {
            let mut v = json!({"role": "assistant", "content": m.content});
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = Value::Array(
                    m.tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                        .collect(),
                );
            }
            v
        }
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Chunk {
    #[serde(default)]
    pub(super) choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    /// Some servers report a failure inside the stream instead of with a status.
    #[serde(default)]
    pub(super) error: Option<Value>,
    /// Set only by our transport's last event when the stream broke (see `http.rs`).
    #[serde(default, rename = "tandem_stream_broken")]
    pub(super) broken: Option<String>,
    /// Set only by our transport when the answer outgrew `max_answer_bytes`.
    #[serde(default, rename = "tandem_answer_too_large")]
    pub(super) too_large: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChunkChoice {
    #[serde(default)]
    pub(super) delta: Option<ChunkDelta>,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ChunkDelta {
    #[serde(default)]
    pub(super) content: Option<String>,
    #[serde(default)]
    pub(super) tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    pub(super) index: Option<usize>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) function: WireFunction,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireFunction {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) prompt_tokens: u64,
    #[serde(default)]
    pub(super) completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Completion {
    #[serde(default)]
    pub(super) choices: Vec<CompletionChoice>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CompletionChoice {
    pub(super) message: CompletionMessage,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CompletionMessage {
    #[serde(default)]
    pub(super) content: Option<String>,
    #[serde(default)]
    pub(super) tool_calls: Option<Vec<WireToolCall>>,
}

/// Builds one assistant turn out of stream chunks.
#[derive(Default)]
pub(super) struct Assembler {
    pub(super) content: String,
    pub(super) calls: Vec<(Option<usize>, ToolCall)>,
    pub(super) usage: Usage,
    pub(super) finish_reason: Option<String>,
}

impl Assembler {
    pub(super) fn push(&mut self, chunk: Chunk, sink: DeltaSink<'_>) {
        if let Some(u) = chunk.usage {
            self.usage = u.into();
        }
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                sink(Delta::Text(text.clone()));
                self.content.push_str(&text);
            }
            for part in delta.tool_calls.unwrap_or_default() {
                let slot = self.slot_for(&part);
                let call = &mut self.calls[slot].1;
                if let Some(id) = part.id.filter(|s| !s.is_empty()) {
                    call.id = id;
                }
                if let Some(name) = part.function.name.filter(|s| !s.is_empty()) {
                    if call.name.is_empty() {
                        sink(Delta::ToolStarted(name.clone()));
                    }
                    call.name.push_str(&name);
                }
                if let Some(args) = part.function.arguments {
                    call.arguments.push_str(&args);
                }
            }
        }
    }

    /// Which call a fragment belongs to: by index when the server sends one; otherwise a new id
    /// or name starts a call and anything else continues the last.
    pub(super) fn slot_for(&mut self, part: &WireToolCall) -> usize {
        if let Some(idx) = part.index {
            if let Some(pos) = self.calls.iter().position(|(i, _)| *i == Some(idx)) {
                return pos;
            }
        } else if let Some(id) = &part.id {
            if let Some(pos) = self.calls.iter().position(|(_, c)| &c.id == id) {
                return pos;
            }
        } else if part.function.name.is_none() && !self.calls.is_empty() {
            return self.calls.len() - 1;
        }
        self.calls.push((
            part.index,
            ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            },
        ));
        self.calls.len() - 1
    }

    pub(super) fn finish(self) -> Result<ChatResponse, ModelError> {
        if self.finish_reason.is_none() && self.content.is_empty() && self.calls.is_empty() {
            return Err(ModelError::Protocol(
                "the stream ended before the model answered".into(),
            ));
        }
        if self.finish_reason.is_none() && !self.calls.is_empty() {
            // Without a finish reason we cannot know the arguments are complete; applying half a
            // tool call is the one thing that must never happen.
            return Err(ModelError::Protocol(
                "the stream ended in the middle of a tool call".into(),
            ));
        }
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut c))| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect();
        Ok(ChatResponse {
            content: self.content,
            tool_calls,
            usage: self.usage,
            finish_reason: self.finish_reason,
        })
    }
}
