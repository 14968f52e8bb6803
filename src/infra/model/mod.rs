//! The model interface the core talks to: chat requests with tools in, one assistant turn out.
//!
//! Invariants: the core never sees a provider's wire types; a response is only returned whole
//! (every tool call fully assembled), so a partial tool call is never applied. Two
//! implementations: `openai` (any chat-completions server, streamed) and `scripted` (the demo's
//! built-in model). Transient failures are retried here with capped backoff, and every retry is
//! announced through the delta sink so the user sees why nothing is happening.

pub mod http;
pub mod openai;
pub mod redact;
pub mod scripted;
pub mod text_edits;

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
    /// The most tokens the answer may have (sent as the server's output cap): one rambling
    /// answer must not fill a small local model's whole context.
    pub max_tokens: Option<u32>,
}

/// The finish reason servers give when an answer hit the output cap (or the context's end).
pub const CUT_OFF: &str = "length";

impl ChatResponse {
    /// The answer stopped at the output cap, not because the model was done.
    pub fn cut_off(&self) -> bool {
        self.finish_reason.as_deref() == Some(CUT_OFF)
    }
}

/// Tool-call arguments with the key gone from every string in them (keys of objects too); the
/// text as sent when nothing changed, the raw text redacted when it is not JSON.
fn redacted_arguments(arguments: &str, r: &redact::Redactor) -> String {
    fn walk(v: &mut Value, r: &redact::Redactor) -> bool {
        match v {
            Value::String(s) => {
                let red = r.redact(s);
                let changed = red != *s;
                *s = red;
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, i| walk(i, r) | c),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                let mut changed = false;
                for (k, mut v) in entries {
                    changed |= walk(&mut v, r);
                    let k2 = r.redact(&k);
                    changed |= k2 != k;
                    map.insert(k2, v);
                }
                changed
            }
            _ => false,
        }
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(mut v) => {
            if walk(&mut v, r) {
                v.to_string()
            } else {
                arguments.to_string()
            }
        }
        Err(_) => r.redact(arguments),
    }
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
    /// The answer passed through `r`: its text, finish reason, and its tool calls' names and
    /// arguments. The key never reaches a file the agent writes, a command it runs or a commit
    /// message, so a server that hides the key in a tool call gets `[the API key]` written
    /// instead; the arguments' JSON stays valid (each string value is redacted after parsing,
    /// so an escape inside the key does not hide it).
    pub fn redacted(mut self, r: &redact::Redactor) -> ChatResponse {
        if !r.is_active() {
            return self;
        }
        self.content = r.redact(&self.content);
        self.finish_reason = self.finish_reason.map(|f| r.redact(&f));
        for call in &mut self.tool_calls {
            call.name = r.redact(&call.name);
            call.arguments = redacted_arguments(&call.arguments, r);
        }
        self
    }

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
    /// A request went out and nothing came back yet: the server is reading the prompt (about
    /// this many tokens), which takes minutes for a large model on a CPU.
    Waiting {
        prompt_tokens: u64,
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
    #[error(
        "{url} does not exist on the server (404): check base_url or OPENAI_BASE_URL (most servers want it to end in /v1)"
    )]
    EndpointNotFound { url: String },
    #[error(
        "the model server says the account has no quota left ({message}): check the billing of the key in {env_var}"
    )]
    Quota { message: String, env_var: String },
    #[error(
        "the request is longer than the model's context window, even without older tool results ({0}). Give the server a larger context (llama-server -c 16384, Ollama num_ctx) or use a model with one; a shorter brief or a smaller task also helps"
    )]
    ContextLength(String),
    #[error("the model server answered {status}: {message}")]
    Http {
        status: u16,
        message: String,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    #[error("cannot reach the model server at {base_url}: {message}")]
    Unreachable { base_url: String, message: String },
    #[error(
        "the model server at {base_url} did not prove who it is (its TLS certificate was refused: {message}). Check the address; for a local server use http://"
    )]
    Certificate { base_url: String, message: String },
    #[error("cannot check the TLS certificate of {base_url}: {message}")]
    NoTrustStore { base_url: String, message: String },
    #[error("the model's answer could not be read: {0}")]
    Protocol(String),
    /// The server cannot take tool definitions at all (llama-server without `--jinja`, a chat
    /// template or Ollama model without tool support). Permanent: retrying cannot help, but
    /// the text protocol can.
    #[error("the model server cannot take tools ({message}). {fix}")]
    ToolsUnsupported { message: String, fix: String },
    #[error(
        "the model's answer {what}, over the limit `{setting}` sets in the config file; the draft was stopped and its files put back. Raise the limit, or resume to try again"
    )]
    AnswerLimit { what: String, setting: String },
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: String },
    #[error("the scripted model has no more turns")]
    ScriptExhausted,
}

impl ModelError {
    /// The same error with every text that may quote a server passed through `r`.
    pub fn redacted(self, r: &redact::Redactor) -> ModelError {
        if !r.is_active() {
            return self;
        }
        let f = |s: String| r.redact(&s);
        match self {
            ModelError::ModelNotFound {
                model,
                base_url,
                available,
            } => ModelError::ModelNotFound {
                model,
                base_url,
                available: f(available),
            },
            ModelError::Quota { message, env_var } => ModelError::Quota {
                message: f(message),
                env_var,
            },
            ModelError::ContextLength(m) => ModelError::ContextLength(f(m)),
            ModelError::Http {
                status,
                message,
                retry_after,
            } => ModelError::Http {
                status,
                message: f(message),
                retry_after,
            },
            ModelError::Unreachable { base_url, message } => ModelError::Unreachable {
                base_url,
                message: f(message),
            },
            ModelError::Certificate { base_url, message } => ModelError::Certificate {
                base_url,
                message: f(message),
            },
            ModelError::Protocol(m) => ModelError::Protocol(f(m)),
            ModelError::ToolsUnsupported { message, fix } => ModelError::ToolsUnsupported {
                message: f(message),
                fix,
            },
            ModelError::RetriesExhausted { attempts, last } => ModelError::RetriesExhausted {
                attempts,
                last: f(last),
            },
            other => other,
        }
    }

    /// Worth trying again: rate limits, server hiccups, dropped connections, broken streams.
    pub fn is_transient(&self) -> bool {
        match self {
            ModelError::Http { status, .. } => matches!(status, 408 | 409 | 425 | 429 | 500..=599),
            ModelError::Unreachable { .. } | ModelError::Protocol(_) => true,
            _ => false,
        }
    }

    /// The wait the server asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Characters a request sends, the measure the context-window shrinking works with (tokens
/// are unknown without the model's tokenizer; characters scale with them well enough).
pub fn request_chars(req: &ChatRequest) -> usize {
    req.messages
        .iter()
        .map(|m| {
            m.content.as_deref().map_or(0, str::len)
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.len())
                    .sum::<usize>()
        })
        .sum()
}

const ELIDED_RESULT: &str =
    "[tool result dropped to fit the context window; call the tool again if you need it]";

/// A smaller copy of `req` for a model whose context window it overflowed, or None when
/// nothing more can go. Older material goes first: tool results before the latest assistant
/// turn, then long arguments of older tool calls (file contents already written), and last the
/// latest results are cut to their head. The system prompt, the task and every message's place
/// stay, so tool calls and their results still pair up.
pub fn shrink_request(req: &ChatRequest, target_chars: usize) -> Option<ChatRequest> {
    let mut out = req.clone();
    let before = request_chars(&out);
    let last_assistant = out
        .messages
        .iter()
        .rposition(|m| m.role == Role::Assistant)
        .unwrap_or(0);
    // 1. Older tool results, oldest first.
    for i in 0..last_assistant {
        if request_chars(&out) <= target_chars {
            break;
        }
        let m = &mut out.messages[i];
        if m.role == Role::Tool
            && m.content
                .as_deref()
                .is_some_and(|c| c.len() > ELIDED_RESULT.len())
        {
            m.content = Some(ELIDED_RESULT.to_string());
        }
    }
    // 2. Long string arguments of older tool calls.
    for i in 0..last_assistant {
        if request_chars(&out) <= target_chars {
            break;
        }
        for call in &mut out.messages[i].tool_calls {
            if call.arguments.len() > 400
                && let Ok(mut v) = serde_json::from_str::<Value>(&call.arguments)
            {
                if let Some(obj) = v.as_object_mut() {
                    for val in obj.values_mut() {
                        if val.as_str().is_some_and(|s| s.len() > 200) {
                            *val = Value::String("[dropped to fit the context window]".into());
                        }
                    }
                }
                call.arguments = v.to_string();
            }
        }
    }
    // 3. The latest results, cut to their beginning.
    if request_chars(&out) > target_chars {
        for m in out.messages.iter_mut().skip(last_assistant) {
            if m.role != Role::Tool {
                continue;
            }
            if let Some(c) = &m.content
                && c.len() > 2000
            {
                let mut end = 2000;
                while !c.is_char_boundary(end) {
                    end -= 1;
                }
                m.content = Some(format!(
                    "{}\n[… the rest was dropped to fit the context window]",
                    &c[..end]
                ));
            }
        }
    }
    (request_chars(&out) < before).then_some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_drops_older_results_first_and_keeps_pairs() {
        let call = |id: &str, args: &str| Message {
            role: Role::Assistant,
            content: None,
            tool_calls: vec![ToolCall {
                id: id.into(),
                name: "read_file".into(),
                arguments: args.into(),
            }],
            tool_call_id: None,
        };
        let big = "x".repeat(5000);
        let req = ChatRequest {
            messages: vec![
                Message::system("system"),
                Message::user("task"),
                call("a", "{}"),
                Message::tool("a", big.clone()),
                call("b", "{}"),
                Message::tool("b", big.clone()),
            ],
            tools: Vec::new(),
            max_tokens: None,
        };
        let before = request_chars(&req);
        let small = shrink_request(&req, before - 1000).unwrap();
        assert_eq!(small.messages.len(), req.messages.len());
        assert!(
            small.messages[3]
                .content
                .as_deref()
                .unwrap()
                .contains("dropped")
        );
        assert_eq!(small.messages[5].content.as_deref(), Some(big.as_str()));
        assert_eq!(small.messages[3].tool_call_id.as_deref(), Some("a"));
        // Asked for more than it can give: the latest result is cut too, but stays.
        let tiny = shrink_request(&req, 100).unwrap();
        assert!(request_chars(&tiny) < 2500);
        // Nothing left to drop.
        assert!(shrink_request(&tiny, 10).is_none());
    }
}
