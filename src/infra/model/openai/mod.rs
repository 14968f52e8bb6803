//! Chat completions over HTTP with async-openai, streamed, for OpenAI and compatible servers.
//!
//! Invariants: the API key lives only in memory (async-openai keeps it as a secret string) and
//! is never formatted into an error or a log line. Requests and stream chunks use our own lenient
//! types (async-openai's "bring your own types"), because local servers omit or add fields that
//! strict types reject. Tool calls are assembled by index across chunks; a call whose id or name
//! only comes in its first chunk still assembles. Retries are ours alone (see `http.rs` for why
//! async-openai's are bypassed); every failure is classified into a `ModelError` that says what
//! to do, and server messages are cut free of the key before they are shown.

use super::http::{HttpFailure, Transport};
use super::{
    ChatRequest, ChatResponse, Delta, DeltaSink, Message, ModelError, RetryPolicy, Role, ToolCall,
    Usage,
};
use async_openai::config::{Config as _, OpenAIConfig};
use async_openai::error::OpenAIError;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct OpenAiModel {
    /// Built on the first request: making an HTTPS client loads the system's CA roots, which
    /// start-up and a UI's first frame should not wait for (an http:// endpoint never loads
    /// them).
    client: std::sync::OnceLock<async_openai::Client<OpenAIConfig>>,
    config: OpenAIConfig,
    /// The same transport the client uses, for the requests async-openai has no byot call for
    /// (`GET /models`).
    transport: Transport,
    model: String,
    base_url: String,
    key_env: String,
    /// Cuts the key out of everything the server sends back (the key itself is never
    /// formatted).
    redactor: super::redact::Redactor,
    retry: RetryPolicy,
    idle_timeout: Duration,
    /// The wait for an answer's first byte: a local server reads the whole prompt first, which
    /// takes minutes on a CPU, so this wait is longer than the silence allowed between tokens.
    first_token_timeout: Duration,
    /// The longest one answer may take once it started (a server trickling a token a second
    /// must not hold a session forever).
    max_time: Duration,
    /// OpenAI's own API wants `max_completion_tokens` (its reasoning models refuse
    /// `max_tokens`); compatible servers know `max_tokens`.
    cap_field: &'static str,
    /// Some servers refuse streamed tool calls; once seen, the session stops streaming.
    no_stream: AtomicBool,
    /// Characters of conversation the model's context took last time it overflowed (0: never):
    /// later requests are shrunk to fit before they are sent, not after a refusal each step.
    context_budget: AtomicUsize,
}

#[derive(Clone)]
pub struct OpenAiSettings {
    pub base_url: String,
    pub api_key: Option<String>,
    pub key_env: String,
    pub model: String,
    pub retry: RetryPolicy,
    pub idle_timeout: Duration,
    pub first_token_timeout: Duration,
    /// Bounds on one answer: bytes on the wire and total time.
    pub limits: AnswerLimits,
}

/// How large and how long one answer may be before the request is stopped.
#[derive(Debug, Clone, Copy)]
pub struct AnswerLimits {
    pub max_bytes: u64,
    pub max_time: Duration,
}

impl Default for AnswerLimits {
    fn default() -> Self {
        AnswerLimits {
            max_bytes: 8 << 20,
            max_time: Duration::from_secs(600),
        }
    }
}

impl std::fmt::Debug for OpenAiSettings {
    // By hand, so the key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("key_env", &self.key_env)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiModel {
    pub fn new(s: OpenAiSettings) -> Self {
        // async-openai panics on a key that is not a valid header value; a stray newline from a
        // copied key is common, anything else gets a 401 and a clear message instead.
        let secret = s
            .api_key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        let header_key = match &secret {
            Some(k) if k.bytes().all(|b| (0x20..0x7f).contains(&b)) => k.clone(),
            Some(_) => "invalid-key-characters".to_string(),
            // Local servers need no key, but the header must still be well-formed.
            None => "none".to_string(),
        };
        let config = OpenAIConfig::new()
            .with_api_base(s.base_url.trim_end_matches('/'))
            .with_api_key(header_key);
        let redactor = super::redact::Redactor::new(secret.as_deref());
        redactor.install();
        let transport = Transport::new()
            .with_max_bytes(s.limits.max_bytes)
            .for_url(&s.base_url);
        let cap_field = if s.base_url.contains("api.openai.com") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        OpenAiModel {
            client: std::sync::OnceLock::new(),
            config,
            transport,
            model: s.model,
            base_url: s.base_url,
            key_env: s.key_env,
            redactor,
            retry: s.retry,
            idle_timeout: s.idle_timeout,
            first_token_timeout: s.first_token_timeout.max(s.idle_timeout),
            max_time: s.limits.max_time,
            cap_field,
            no_stream: AtomicBool::new(false),
            context_budget: AtomicUsize::new(0),
        }
    }

    /// The async-openai client, sharing the transport's HTTP client so only one is ever built.
    fn api(&self) -> &async_openai::Client<OpenAIConfig> {
        self.client.get_or_init(|| {
            async_openai::Client::build(self.transport.client().clone(), self.config.clone())
                .with_http_service(self.transport.clone())
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// False once the server refused a streamed request in this session.
    pub fn streams(&self) -> bool {
        !self.no_stream.load(Ordering::Relaxed)
    }

    /// One request, retried on transient faults with capped backoff (a server's `Retry-After`
    /// wins), shrunk once when it overflows the context window. Every wait is announced.
    // Long: the retry loop: each fault's wait, announcement and shrink share the attempt
    // counters.
    pub async fn chat_with_retries(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        let mut req = Cow::Borrowed(req);
        let budget = self.context_budget.load(Ordering::Relaxed);
        if budget > 0
            && super::request_chars(&req) > budget
            && let Some(smaller) = super::shrink_request(&req, budget)
        {
            req = Cow::Owned(smaller);
        }
        let mut attempt = 1;
        let mut shrunk = false;
        // Text streamed to the screen passes the same redaction as everything else, held back
        // where the key could be split across pieces (flushed when each attempt ends).
        let red = &self.redactor;
        let stream = std::sync::Mutex::new(red.stream());
        let held = || {
            let mut s = stream
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.finish()
        };
        let safe_sink = |d: Delta| match d {
            Delta::Text(t) => {
                let shown = {
                    let mut s = stream
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.push(&t)
                };
                if !shown.is_empty() {
                    sink(Delta::Text(shown));
                }
            }
            Delta::ToolStarted(name) => {
                let before = held();
                if !before.is_empty() {
                    sink(Delta::Text(before));
                }
                sink(Delta::ToolStarted(red.redact(&name)));
            }
            other => sink(other),
        };
        loop {
            sink(Delta::Waiting {
                prompt_tokens: super::request_chars(&req) as u64 / 4,
            });
            // The one choke point: whatever field a server hid the key in, neither the answer
            // nor an error quoting it leaves here with it.
            let once = self.chat_once(&req, &safe_sink).await;
            let rest = held();
            if !rest.is_empty() {
                sink(Delta::Text(rest));
            }
            let once = once.map(|r| r.redacted(red)).map_err(|e| e.redacted(red));
            match once {
                Ok(resp) => return Ok(resp),
                Err(ModelError::ContextLength(message)) => {
                    let size = super::request_chars(&req);
                    let target = size / 4 * 3;
                    let smaller = (!shrunk)
                        .then(|| super::shrink_request(&req, target))
                        .flatten();
                    let Some(smaller) = smaller else {
                        return Err(ModelError::ContextLength(message));
                    };
                    self.context_budget.store(target, Ordering::Relaxed);
                    sink(Delta::Retrying {
                        attempt,
                        max: self.retry.max_attempts,
                        delay: Duration::ZERO,
                        reason: "the conversation is longer than the model's context window; sending it again without older tool results".into(),
                    });
                    req = Cow::Owned(smaller);
                    shrunk = true;
                }
                Err(ModelError::ModelNotFound {
                    model, base_url, ..
                }) => {
                    let available = match self.list_models().await {
                        Ok(ids) if !ids.is_empty() => {
                            format!("; the server offers: {}", ids.join(", "))
                        }
                        _ => String::new(),
                    };
                    return Err(ModelError::ModelNotFound {
                        model,
                        base_url,
                        available,
                    });
                }
                Err(e) if e.is_transient() && attempt < self.retry.max_attempts => {
                    let delay = self.retry.delay(attempt, e.retry_after());
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
                Err(e) => return Err(e),
            }
        }
    }

    /// The model ids `GET /models` lists (redacted like every server text).
    pub async fn list_models(&self) -> Result<Vec<String>, ModelError> {
        match self.list_models_raw().await {
            Ok(ids) => Ok(ids.iter().map(|i| self.redactor.redact(i)).collect()),
            Err(e) => Err(e.redacted(&self.redactor)),
        }
    }

    async fn list_models_raw(&self) -> Result<Vec<String>, ModelError> {
        let url = format!("{}/models", self.base_url.trim_end_matches('/'));
        let body = self.fetch_json(&url, None).await?;
        let list: ModelList = serde_json::from_value(body).map_err(|e| {
            ModelError::Protocol(format!("{url} did not answer with a model list: {e}"))
        })?;
        // llama-server lists its one model twice (`data`, and `models` in Ollama's shape).
        let mut ids: Vec<String> = Vec::new();
        for id in list
            .data
            .into_iter()
            .chain(list.models)
            .filter_map(|m| m.id.or(m.name))
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The server's root, where local servers keep their own endpoints (`/props`,
    /// `/api/show`): base_url without its trailing `/v1`.
    pub fn server_root(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        base.strip_suffix("/v1").unwrap_or(base).to_string()
    }

    /// GET (or POST `body` to) `url` on the model server and read the JSON answer, within 20 s.
    /// For the model list and `doctor`'s probes of local servers; redacted by the callers.
    pub async fn fetch_json(&self, url: &str, body: Option<&Value>) -> Result<Value, ModelError> {
        let client = self.transport.client();
        let request = match body {
            Some(b) => client.post(url).json(b),
            None => client.get(url),
        };
        let send = request.headers(self.config.headers()).send();
        let response = tokio::time::timeout(Duration::from_secs(20), send)
            .await
            .map_err(|_| ModelError::Unreachable {
                base_url: self.base_url.clone(),
                message: "no answer within 20s".into(),
            })?
            .map_err(|e| self.map_error(OpenAIError::Reqwest(e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.map_error(OpenAIError::Reqwest(e)))?;
        if !(200..300).contains(&status) {
            let message = self.redact(error_message(&String::from_utf8_lossy(&bytes)));
            return Err(match status {
                401 | 403 => ModelError::Unauthorized {
                    status,
                    env_var: self.key_env.clone(),
                },
                404 => ModelError::EndpointNotFound { url: url.into() },
                _ => ModelError::Http {
                    status,
                    message,
                    retry_after: None,
                },
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::Protocol(format!("{url} did not answer with JSON: {e}")))
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
        if let Some(cap) = req.max_tokens {
            body[self.cap_field] = json!(cap);
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// A wait ran out: the whole answer's time (`max_answer_seconds`) or one silence.
    fn timed_out(&self, deadline: tokio::time::Instant, what: &str) -> ModelError {
        if tokio::time::Instant::now() >= deadline {
            ModelError::AnswerLimit {
                what: format!("took longer than {}s", self.max_time.as_secs()),
                setting: "max_answer_seconds".into(),
            }
        } else {
            self.stalled(what)
        }
    }

    fn stalled(&self, what: &str) -> ModelError {
        ModelError::Protocol(format!(
            "{what}: nothing arrived for {}s (stream_idle_timeout)",
            self.idle_timeout.as_secs()
        ))
    }

    fn no_first_token(&self) -> ModelError {
        ModelError::Protocol(format!(
            "the server sent nothing for {}s after the request (first_token_timeout; a local server reading a long prompt on a CPU may need more)",
            self.first_token_timeout.as_secs()
        ))
    }

    async fn chat_once(
        &self,
        req: &ChatRequest,
        sink: DeltaSink<'_>,
    ) -> Result<ChatResponse, ModelError> {
        if !self.streams() {
            return self.chat_plain(req).await;
        }
        let body = self.body(req, true);
        // Until the first byte, the wait is for prompt processing (`first_token_timeout`);
        // after it, silences count (`stream_idle_timeout`) and so does the answer's whole time.
        let first = tokio::time::Instant::now() + self.first_token_timeout;
        let opened = tokio::time::timeout_at(
            first,
            self.api().chat().create_stream_byot::<_, Chunk>(body),
        )
        .await
        .map_err(|_| self.no_first_token())?;
        let mut stream = match opened {
            Ok(s) => s,
            Err(e) => {
                let err = self.map_error(e);
                if refuses_streaming(&err) {
                    self.no_stream.store(true, Ordering::Relaxed);
                    return self.chat_plain(req).await;
                }
                return Err(err);
            }
        };
        let mut acc = Assembler::default();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let wait = match deadline {
                Some(end) => end.min(tokio::time::Instant::now() + self.idle_timeout),
                None => first,
            };
            let item = match tokio::time::timeout_at(wait, stream.next()).await {
                Err(_) => {
                    return Err(match deadline {
                        Some(end) => self.timed_out(end, "the stream stalled"),
                        None => self.no_first_token(),
                    });
                }
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.max_time);
            let chunk = match item {
                Ok(c) => c,
                // Cut at the size limit mid-event: the parse error is the limit's doing.
                Err(_) if self.transport.take_cut() => {
                    return Err(ModelError::AnswerLimit {
                        what: "grew past the size limit".into(),
                        setting: "max_answer_bytes".into(),
                    });
                }
                Err(e) => return Err(self.map_error(e)),
            };
            if let Some(what) = chunk.too_large {
                return Err(ModelError::AnswerLimit {
                    what,
                    setting: "max_answer_bytes".into(),
                });
            }
            if let Some(why) = chunk.broken {
                return Err(ModelError::Protocol(format!("the stream broke off: {why}")));
            }
            if let Some(err) = &chunk.error {
                return Err(self.classify(500, &err.to_string(), None));
            }
            acc.push(chunk, sink);
        }
        acc.finish()
    }

    async fn chat_plain(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let body = self.body(req, false);
        // Nothing arrives until the whole answer is ready: the prompt's reading and the
        // answer's whole time.
        let limit = self.first_token_timeout + self.max_time;
        let resp: Completion =
            match tokio::time::timeout(limit, self.api().chat().create_byot(body)).await {
                Ok(r) => r.map_err(|e| self.map_error(e))?,
                Err(_) => {
                    return Err(ModelError::AnswerLimit {
                        what: format!(
                            "took longer than {}s (first_token_timeout + max_answer_seconds)",
                            limit.as_secs()
                        ),
                        setting: "max_answer_seconds".into(),
                    });
                }
            };
        if let Some(err) = &resp.error {
            return Err(self.classify(500, &err.to_string(), None));
        }
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
                id: c
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("call_{i}")),
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

    fn redact(&self, text: String) -> String {
        self.redactor.redact(&text)
    }

    /// What an HTTP status and the server's message mean for tandem.
    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> ModelError {
        let message = self.redact(error_message(body));
        let lower = message.to_lowercase();
        if !matches!(status, 401 | 403 | 404 | 429)
            && let Some(fix) = tools_unsupported_fix(&lower)
        {
            return ModelError::ToolsUnsupported {
                message,
                fix: fix.into(),
            };
        }
        match status {
            401 | 403 => ModelError::Unauthorized {
                status,
                env_var: self.key_env.clone(),
            },
            404 if lower.contains("model") => ModelError::ModelNotFound {
                model: self.model.clone(),
                base_url: self.base_url.clone(),
                available: String::new(),
            },
            404 => ModelError::EndpointNotFound {
                url: format!("{}/chat/completions", self.base_url.trim_end_matches('/')),
            },
            429 if lower.contains("insufficient_quota")
                || lower.contains("exceeded your current quota") =>
            {
                ModelError::Quota {
                    message,
                    env_var: self.key_env.clone(),
                }
            }
            _ if is_context_error(&lower) => ModelError::ContextLength(message),
            // vLLM and others answer an unknown model with 400.
            400 if lower.contains("model")
                && (lower.contains("not found") || lower.contains("does not exist")) =>
            {
                ModelError::ModelNotFound {
                    model: self.model.clone(),
                    base_url: self.base_url.clone(),
                    available: String::new(),
                }
            }
            _ => ModelError::Http {
                status,
                message,
                retry_after,
            },
        }
    }

    fn map_error(&self, e: OpenAIError) -> ModelError {
        match e {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
                Ok(f) if f.too_large => ModelError::AnswerLimit {
                    what: f.body,
                    setting: "max_answer_bytes".into(),
                },
                Ok(f) if f.not_streamed => ModelError::Http {
                    status: f.status,
                    message: "the server answered a streamed request without streaming".into(),
                    retry_after: None,
                },
                Ok(f) => self.classify(f.status, &f.body, f.retry_after),
                Err(other) => match other.downcast::<super::http::TlsSetup>() {
                    Ok(tls) => ModelError::NoTrustStore {
                        base_url: self.base_url.clone(),
                        message: tls.to_string(),
                    },
                    Err(other) => ModelError::Protocol(self.redact(error_chain(other.as_ref()))),
                },
            },
            OpenAIError::ApiError(api) => {
                let body = json!({"error": {"message": api.api_error.message, "code": api.api_error.code, "type": api.api_error.r#type}});
                self.classify(api.status_code.as_u16(), &body.to_string(), None)
            }
            OpenAIError::Reqwest(err) => match err.status() {
                Some(status) => self.classify(status.as_u16(), &err.to_string(), None),
                None => {
                    let message = self.redact(error_chain(&err));
                    // A refused certificate will be refused again: no point retrying.
                    if message.contains("certificate") {
                        ModelError::Certificate {
                            base_url: self.base_url.clone(),
                            message,
                        }
                    } else {
                        ModelError::Unreachable {
                            base_url: self.base_url.clone(),
                            message,
                        }
                    }
                }
            },
            OpenAIError::JSONDeserialize(err, _) => {
                ModelError::Protocol(format!("the answer is not the JSON expected: {err}"))
            }
            OpenAIError::StreamError(err) => {
                ModelError::Protocol(format!("the stream broke off: {err}"))
            }
            other => ModelError::Protocol(self.redact(other.to_string())),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
    /// Ollama's native `/api/tags` shape, in case base_url points there.
    #[serde(default)]
    models: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize)]
struct ModelEntry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// The human part of an error body: OpenAI's `{"error":{"message":..}}`, Ollama's
/// `{"error":".."}`, FastAPI's `{"detail":..}`, or the text itself, capped.
mod errors;
mod wire;
use errors::*;
use wire::*;

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
    fn error_bodies_are_read_in_every_dialect() {
        assert_eq!(
            error_message(r#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#),
            "too long (context_length_exceeded)"
        );
        assert_eq!(
            error_message(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_message("<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message(""), "(no message)");
        assert!(is_context_error(
            "the request exceeds the available context size, try increasing it"
        ));
        let http = |status, message: &str| ModelError::Http {
            status,
            message: message.into(),
            retry_after: None,
        };
        assert!(refuses_streaming(&http(
            400,
            "Streaming tool choice is not supported"
        )));
        assert!(refuses_streaming(&http(
            500,
            "stream=true is unsupported with tools"
        )));
        assert!(!refuses_streaming(&http(429, "stream quota: cannot serve")));
        assert!(!refuses_streaming(&http(400, "bad request")));
        assert!(!refuses_streaming(&http(502, "upstream cannot be reached")));
    }

    #[test]
    fn truncated_tool_call_is_an_error() {
        let mut a = Assembler::default();
        let sink = |_d: Delta| {};
        a.push(chunk(json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"write_file","arguments":"{\"pa"}}]}}]})), &sink);
        assert!(a.finish().is_err());
    }
}
