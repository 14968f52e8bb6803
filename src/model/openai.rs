//! Chat completions over HTTP with async-openai, streamed, for OpenAI and compatible servers.
//!
//! Invariants: the API key lives only in memory (async-openai keeps it as a secret string) and
//! is never formatted into an error or a log line. Requests and stream chunks use our own lenient
//! types (async-openai's "bring your own types"), because local servers omit or add fields that
//! strict types reject. Tool calls are assembled by index across chunks; a call whose id or name
//! only comes in its first chunk still assembles.

use super::{
    ChatRequest, ChatResponse, Delta, DeltaSink, Message, ModelError, RetryPolicy, Role, ToolCall,
    Usage,
};
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub struct OpenAiModel {
    client: async_openai::Client<OpenAIConfig>,
    model: String,
    base_url: String,
    key_env: String,
    retry: RetryPolicy,
    idle_timeout: Duration,
    /// Some servers refuse streamed tool calls; once seen, the session stops streaming.
    no_stream: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub base_url: String,
    pub api_key: Option<String>,
    pub key_env: String,
    pub model: String,
    pub retry: RetryPolicy,
    pub idle_timeout: Duration,
}

impl OpenAiModel {
    pub fn new(s: OpenAiSettings) -> Self {
        let config = OpenAIConfig::new()
            .with_api_base(s.base_url.trim_end_matches('/'))
            // Local servers need no key, but the header must still be well-formed.
            .with_api_key(s.api_key.unwrap_or_else(|| "none".into()));
        OpenAiModel {
            client: async_openai::Client::with_config(config),
            model: s.model,
            base_url: s.base_url,
            key_env: s.key_env,
            retry: s.retry,
            idle_timeout: s.idle_timeout,
            no_stream: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub async fn chat_with_retries(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        let mut attempt = 1;
        loop {
            let result = self.chat_once(req, sink).await;
            match result {
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let delay = self.retry.delay(attempt, None);
                    sink(Delta::Retrying {
                        attempt,
                        max: self.retry.max_attempts,
                        delay,
                        reason: e.to_string(),
                    });
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) if e.is_transient() => {
                    return Err(ModelError::RetriesExhausted {
                        attempts: attempt,
                        last: e.to_string(),
                    });
                }
                other => return other,
            }
        }
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(message_json).collect();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
        });
        if !req.tools.is_empty() {
            body["tools"] = Value::Array(
                req.tools
                    .iter()
                    .map(|t| {
                        json!({"type":"function","function":{
                            "name": t.name, "description": t.description, "parameters": t.parameters}})
                    })
                    .collect(),
            );
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    async fn chat_once(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        if self.no_stream.load(std::sync::atomic::Ordering::Relaxed) {
            return self.chat_plain(req).await;
        }
        let body = self.body(req, true);
        let stream = self
            .client
            .chat()
            .create_stream_byot::<_, Chunk>(body)
            .await;
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                let err = self.map_error(e);
                if refuses_streaming(&err) {
                    self.no_stream
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return self.chat_plain(req).await;
                }
                return Err(err);
            }
        };
        let mut acc = Assembler::default();
        let mut last = Instant::now();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, stream.next()).await;
            let item = match next {
                Err(_) => {
                    return Err(ModelError::Protocol(format!(
                        "the stream stalled: nothing arrived for {}s",
                        last.elapsed().as_secs()
                    )));
                }
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            last = Instant::now();
            let chunk = item.map_err(|e| self.map_error(e))?;
            acc.push(chunk, sink);
        }
        acc.finish()
    }

    async fn chat_plain(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let body = self.body(req, false);
        let resp: Completion = self
            .client
            .chat()
            .create_byot(body)
            .await
            .map_err(|e| self.map_error(e))?;
        let choice = resp
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ModelError::Protocol("the answer had no choices".into()))?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: c.id.unwrap_or_else(|| format!("call_{i}")),
                name: c.function.name.unwrap_or_default(),
                arguments: c.function.arguments.unwrap_or_default(),
            })
            .collect();
        Ok(ChatResponse {
            content: choice.message.content.unwrap_or_default(),
            tool_calls,
            usage: resp.usage.map(Usage::from).unwrap_or_default(),
            finish_reason: choice.finish_reason,
        })
    }

    fn map_error(&self, e: OpenAIError) -> ModelError {
        match e {
            OpenAIError::ApiError(api) => {
                let status = api.status_code.as_u16();
                let message = api.api_error.message.clone();
                match status {
                    401 | 403 => ModelError::Unauthorized {
                        status,
                        env_var: self.key_env.clone(),
                    },
                    404 if message.to_lowercase().contains("model") || message.is_empty() => {
                        ModelError::ModelNotFound {
                            model: self.model.clone(),
                            base_url: self.base_url.clone(),
                            available: String::new(),
                        }
                    }
                    400 if is_context_error(&message) => ModelError::ContextLength(message),
                    _ => ModelError::Http { status, message },
                }
            }
            OpenAIError::Reqwest(err) => {
                if let Some(status) = err.status() {
                    ModelError::Http {
                        status: status.as_u16(),
                        message: err.to_string(),
                    }
                } else {
                    ModelError::Unreachable {
                        base_url: self.base_url.clone(),
                        message: error_chain(&err),
                    }
                }
            }
            OpenAIError::JSONDeserialize(err, _) => ModelError::Protocol(err.to_string()),
            OpenAIError::StreamError(err) => ModelError::Protocol(err.to_string()),
            other => ModelError::Protocol(other.to_string()),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

fn is_context_error(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("context length")
        || m.contains("context_length")
        || m.contains("maximum context")
        || m.contains("too many tokens")
}

fn refuses_streaming(e: &ModelError) -> bool {
    matches!(e, ModelError::Http { status: 400 | 422 | 501, message } if message.to_lowercase().contains("stream"))
}

fn message_json(m: &Message) -> Value {
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
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<ChunkDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Debug, Default, Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
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
struct Completion {
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

/// Builds one assistant turn out of stream chunks.
#[derive(Default)]
struct Assembler {
    content: String,
    calls: Vec<(Option<usize>, ToolCall)>,
    usage: Usage,
    finish_reason: Option<String>,
}

impl Assembler {
    fn push(&mut self, chunk: Chunk, sink: DeltaSink<'_>) {
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
    fn slot_for(&mut self, part: &WireToolCall) -> usize {
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

    fn finish(self) -> Result<ChatResponse, ModelError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(v: Value) -> Chunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn assembles_split_tool_calls_with_ids_only_first() {
        let mut a = Assembler::default();
        let sink = |_d: Delta| {};
        a.push(chunk(json!({"choices":[{"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"write_file","arguments":""}}]}}]})), &sink);
        a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]})), &sink);
        a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c2","function":{"name":"finish","arguments":"{}"}}]}}]})), &sink);
        a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a\"}"}}]}}]})), &sink);
        a.push(
            chunk(json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]})),
            &sink,
        );
        a.push(
            chunk(json!({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}})),
            &sink,
        );
        let r = a.finish().unwrap();
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].arguments, "{\"path\":\"a\"}");
        assert_eq!(r.tool_calls[0].id, "c1");
        assert_eq!(r.tool_calls[1].name, "finish");
        assert_eq!(r.usage.prompt_tokens, 10);
    }

    #[test]
    fn truncated_tool_call_is_an_error() {
        let mut a = Assembler::default();
        let sink = |_d: Delta| {};
        a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"write_file","arguments":"{\"pa"}}]}}]})), &sink);
        assert!(a.finish().is_err());
    }
}
