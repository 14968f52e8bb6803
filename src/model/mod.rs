//! The model interface the core talks to: chat requests with tools in, one assistant turn out.
//!
//! Invariants: the core never sees a provider's wire types; a response is only returned whole
//! (every tool call fully assembled), so a partial tool call is never applied. Two
//! implementations: `openai` (any chat-completions server, streamed) and `scripted` (the demo's
//! built-in model). Transient failures are retried here with capped backoff, and every retry is
//! announced through the delta sink so the user sees why nothing is happening.

pub mod openai;
pub mod scripted;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Self {
        Self::plain(Role::System, text)
    }
    pub fn user(text: impl Into<String>) -> Self {
        Self::plain(Role::User, text)
    }
    pub fn tool(id: &str, text: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.to_string()),
        }
    }
    fn plain(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSchema {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl ToolSchema {
    pub fn new(name: &str, description: &str, parameters: Value) -> Self {
        ToolSchema {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSchema>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: Option<String>,
}

impl ChatResponse {
    pub fn as_message(&self) -> Message {
        Message {
            role: Role::Assistant,
            content: (!self.content.is_empty()).then(|| self.content.clone()),
            tool_calls: self.tool_calls.clone(),
            tool_call_id: None,
        }
    }
}

/// Live progress of a request, for the UI; none of it is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    /// A tool call's name became known while streaming.
    ToolStarted(String),
    Retrying {
        attempt: u32,
        max: u32,
        delay: Duration,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the model server refused the API key ({status}). Check {env_var}; tandem never prints or stores it"
    )]
    Unauthorized { status: u16, env_var: String },
    #[error("the model `{model}` was not found on {base_url}{available}")]
    ModelNotFound {
        model: String,
        base_url: String,
        available: String,
    },
    #[error("the conversation is longer than the model's context window: {0}")]
    ContextLength(String),
    #[error("the model server answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach the model server at {base_url}: {message}")]
    Unreachable { base_url: String, message: String },
    #[error("the model's answer could not be read: {0}")]
    Protocol(String),
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: String },
    #[error("the scripted model has no more turns")]
    ScriptExhausted,
}

impl ModelError {
    /// Worth trying again: rate limits, server hiccups, dropped connections, broken streams.
    pub fn is_transient(&self) -> bool {
        match self {
            ModelError::Http { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            ModelError::Unreachable { .. } | ModelError::Protocol(_) => true,
            _ => false,
        }
    }
}

/// How hard to try before giving up on a request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter, capped; a server's Retry-After wins when longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jittered = capped.mul_f64(0.5 + fastrand::f64() * 0.5);
        match retry_after {
            // Honour the server, but not past five minutes: beyond that a person should decide.
            Some(ra) => ra.min(Duration::from_secs(300)).max(jittered),
            None => jittered,
        }
    }
}

pub type DeltaSink<'a> = &'a (dyn Fn(Delta) + Send + Sync);

/// The model the core uses. An enum rather than a trait object: two variants, no boxing of
/// futures, and each arm stays readable.
pub enum ModelClient {
    OpenAi(Box<openai::OpenAiModel>),
    Scripted(scripted::ScriptedModel),
}

impl ModelClient {
    pub fn name(&self) -> &str {
        match self {
            ModelClient::OpenAi(m) => m.model(),
            ModelClient::Scripted(_) => "tandem-demo (scripted)",
        }
    }

    pub async fn chat(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        match self {
            ModelClient::OpenAi(m) => m.chat_with_retries(req, sink).await,
            ModelClient::Scripted(m) => m.chat(req, sink).await,
        }
    }
}
