//! Scripted fake of the OpenAI chat-completions API for integration tests: a real HTTP/1.1
//! server on 127.0.0.1 (ephemeral port) that async-openai can talk to, streaming included.
//!
//! Invariants:
//! - every POST /v1/chat/completions is recorded (body JSON + Authorization header, `""` when
//!   the header is missing) before it is answered, so `requests()` and `auth_headers()` always
//!   have the same length and order;
//! - each chat request with a JSON body consumes exactly one scripted [`Reply`], in order,
//!   whatever its kind (`Status`, `Hang` and the fault variants included); with none left it is
//!   answered by the responder given to [`FakeOpenAi::start_with`], else it gets a 500;
//! - a request whose number was set with [`FakeOpenAi::hang_on`] hangs and consumes nothing;
//! - request numbers are 1-based; tool call ids are `call_<request#>_<i>` with `i` 0-based;
//! - dropping [`FakeOpenAi`] releases `Hang` handlers and shuts the server down.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

/// One scripted answer to one chat-completions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Assistant text content; when streamed, split into several content-delta chunks.
    Text(String),
    /// One assistant message with these tool calls: (function name, arguments JSON string).
    /// When streamed: each tool call's `id`, `type` and `function.name` appear ONLY in its
    /// first chunk; `function.arguments` is split across at least 3 further chunks (at char
    /// boundaries); every chunk carries the tool call's `index`. finish_reason "tool_calls".
    Tools(Vec<(String, String)>),
    /// Text content plus tool calls in the same message (text chunks stream first).
    TextAndTools(String, Vec<(String, String)>),
    /// Respond with this HTTP status and raw body (content-type application/json).
    Status(u16, String),
    /// Record the request, then never answer (until the server is dropped).
    Hang,
    /// Respond with this status, these extra headers (e.g. `Retry-After`) and raw JSON body.
    StatusWithHeaders(u16, Vec<(String, String)>, String),
    /// Close the connection without sending a byte of response.
    DropConnection,
    /// Stream the start of a tool call (name and half its arguments), then break the connection:
    /// no finish_reason, no `[DONE]`.
    StreamCutMidToolCall(String, String),
    /// Stream the whole answer, finish_reason and usage included, but end the body cleanly
    /// without the `data: [DONE]` line.
    StreamNoDone(Box<Reply>),
    /// Stream the first `n` chunks of the answer, then stay silent until the server is dropped.
    StallAfterChunks(Box<Reply>, usize),
    /// A streamed answer of exactly these SSE `data:` payloads (`[DONE]` is not added).
    Sse(Vec<String>),
    /// A streamed text answer that never ends: one short content chunk every `Duration`, so it
    /// never goes silent for long (until the client hangs up or the server is dropped).
    Trickle(Duration),
    /// A streamed text answer of about this many bytes, sent as fast as the client reads it.
    Huge(usize),
    /// Wait this long, then answer with the inner reply (a slow model, while a test acts).
    Delay(Duration, Box<Reply>),
    /// The inner answer stopped at the output cap: `finish_reason` is `length`. Tool-call
    /// arguments are sent as given (a test passes them cut short, as a real cap leaves them).
    Cut(Box<Reply>),
}

impl Reply {
    /// Convenience for `Reply::Text`.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Text(s.into())
    }

    /// Convenience for a single tool call.
    pub fn tool(name: impl Into<String>, arguments: impl Into<String>) -> Reply {
        Reply::Tools(vec![(name.into(), arguments.into())])
    }
}

/// Answers requests once the scripted queue is empty: (1-based request number, request body).
pub type Responder = Arc<dyn Fn(usize, &Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    replies: VecDeque<Reply>,
    requests: Vec<Value>,
    auth: Vec<String>,
    times: Vec<std::time::Instant>,
    responder: Option<Responder>,
    hang_on: Option<usize>,
    /// `/v1/models`: None is the default list (`fake-model`); Some((status, body)) overrides.
    models: Option<(u16, String)>,
    /// llama-server's `GET /props` and Ollama's `POST /api/show` (None: 404, as on OpenAI).
    props: Option<String>,
    show: Option<String>,
    /// LM Studio's `GET /api/v0/models/{id}`.
    lm_studio: Option<String>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Mutex<Shared>>,
    shutdown: watch::Receiver<bool>,
}

/// A running fake server; it stops when this value is dropped.
pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`, ready for `OpenAIConfig::with_api_base`.
    pub base_url: String,
    shared: Arc<Mutex<Shared>>,
    shutdown: watch::Sender<bool>,
}

// A test that panics while another thread holds the lock poisons it; every critical section is
// a single push/pop/clone, so the data is still consistent and later asserts stay meaningful.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeOpenAi {
    /// Start serving; replies are consumed in order, one per POST /v1/chat/completions.
    pub async fn start(replies: Vec<Reply>) -> FakeOpenAi {
        Self::serve(Shared {
            replies: replies.into(),
            ..Shared::default()
        })
        .await
    }

    /// Serve every request from `responder`, which decides from the request alone (so a
    /// restarted conversation gets the same answers).
    pub async fn start_with(
        responder: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static,
    ) -> FakeOpenAi {
        Self::serve(Shared {
            responder: Some(Arc::new(responder)),
            ..Shared::default()
        })
        .await
    }

    async fn serve(shared: Shared) -> FakeOpenAi {
        let shared = Arc::new(Mutex::new(shared));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .route("/props", get(props))
            .route("/api/show", post(show))
            .route("/api/v0/models/{id}", get(lm_studio))
            .fallback(not_found)
            .with_state(AppState {
                shared: Arc::clone(&shared),
                shutdown: shutdown_rx.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake OpenAI server on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake OpenAI server local_addr");
        // Every small write leaves at once, as from a server that flushes each token: without
        // TCP_NODELAY, Nagle holds each frame after the first until the client's delayed ACK
        // (40 ms here), which coalesced the split frames and put 40 ms stalls into every timed
        // answer (the whole-process exec figure read 70 ms instead of 25).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });

        let mut signal = shutdown_rx;
        // Graceful shutdown (rather than aborting the task) is what reaches the per-connection
        // tasks axum spawns; Hang handlers watch the same signal so in-flight requests finish and
        // their connections close too. wait_for also returns if the sender is gone.
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = signal.wait_for(|stop| *stop).await;
        });
        tokio::spawn(async move {
            let _ = server.await;
        });

        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            shared,
            shutdown: shutdown_tx,
        }
    }

    /// Append more replies later (tests that resume a session add the rest of the script).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared).replies.push_back(reply);
    }

    /// JSON bodies of every POST /v1/chat/completions received so far, in order.
    /// A body that is not valid JSON is recorded as a JSON string of its (lossy UTF-8) text.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared).requests.clone()
    }

    /// Number of chat requests received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared).requests.len()
    }

    /// Scripted replies not consumed yet.
    pub fn remaining_replies(&self) -> usize {
        lock(&self.shared).replies.len()
    }

    /// Wait until at least `n` chat requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Authorization header of each chat request, in request order (`""` when absent).
    pub fn auth_headers(&self) -> Vec<String> {
        lock(&self.shared).auth.clone()
    }

    /// When each chat request arrived, in order.
    pub fn request_times(&self) -> Vec<std::time::Instant> {
        lock(&self.shared).times.clone()
    }

    /// Make chat request number `n` (1-based) hang without consuming a reply; None: no more.
    pub fn hang_on(&self, n: Option<usize>) {
        lock(&self.shared).hang_on = n;
    }

    /// What `GET /v1/models` lists.
    pub fn set_models(&self, ids: &[&str]) {
        let data: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "tests"}))
            .collect();
        lock(&self.shared).models =
            Some((200, json!({"object": "list", "data": data}).to_string()));
    }

    /// Answer `GET /props` with this JSON, as llama-server does.
    pub fn set_props(&self, body: Value) {
        lock(&self.shared).props = Some(body.to_string());
    }

    /// Answer `POST /api/show` with this JSON, as Ollama does.
    pub fn set_show(&self, body: Value) {
        lock(&self.shared).show = Some(body.to_string());
    }

    /// Answer `GET /api/v0/models/{id}` with this JSON, as LM Studio does.
    pub fn set_lm_studio(&self, body: Value) {
        lock(&self.shared).lm_studio = Some(body.to_string());
    }

    /// Answer `GET /v1/models` with this status and body.
    pub fn set_models_response(&self, status: u16, body: &str) {
        lock(&self.shared).models = Some((status, body.to_string()));
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        // send_replace works with or without live receivers and needs no runtime context.
        self.shutdown.send_replace(true);
    }
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).expect("scripted HTTP status must be 100..=999");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("valid response parts")
}

async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let parsed = serde_json::from_slice::<Value>(&body);

    let (number, request, reply) = {
        let mut shared = lock(&state.shared);
        shared.auth.push(auth);
        shared.times.push(std::time::Instant::now());
        match parsed {
            Ok(request) => {
                shared.requests.push(request.clone());
                let number = shared.requests.len();
                let reply = if shared.hang_on == Some(number) {
                    Some(Reply::Hang)
                } else {
                    match shared.replies.pop_front() {
                        Some(r) => Some(r),
                        None => shared.responder.clone().map(|f| f(number, &request)),
                    }
                };
                (number, request, reply)
            }
            Err(err) => {
                // Recorded so a test can see what the client sent, but a garbage body should
                // not silently eat the reply scripted for the next real request.
                shared
                    .requests
                    .push(Value::String(String::from_utf8_lossy(&body).into_owned()));
                let message = format!("fake server: request body is not JSON: {err}");
                return json_response(
                    400,
                    json!({"error": {"message": message, "type": "invalid_request_error"}})
                        .to_string(),
                );
            }
        }
    };

    let reply = match reply {
        Some(Reply::Delay(wait, inner)) => {
            tokio::time::sleep(wait).await;
            Some(*inner)
        }
        other => other,
    };
    let (reply, cut) = match reply {
        Some(Reply::Cut(inner)) => (Some(*inner), true),
        other => (other, false),
    };
    let Some(reply) = reply else {
        let message = format!("fake server: no scripted reply left for request {number}");
        return json_response(
            500,
            json!({"error": {"message": message, "type": "server_error"}}).to_string(),
        );
    };

    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    let completion = |text: Option<String>, calls: Vec<(String, String)>| Completion {
        number,
        model: model.clone(),
        text,
        calls,
        prompt_tokens: (body.len() / 4).max(1),
        cut,
    };
    let sse = |events: Vec<Result<Bytes, std::io::Error>>| -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(tokio_stream::iter(events)))
            .expect("valid response parts")
    };
    let event = |chunk: &Value| Ok(Bytes::from(format!("data: {chunk}\n\n")));
    let broken = || Err(std::io::Error::other("fake server: connection cut"));

    let (text, calls) = match reply {
        Reply::Status(status, raw) => return json_response(status, raw),
        Reply::StatusWithHeaders(status, headers, raw) => {
            let mut response = json_response(status, raw);
            for (name, value) in headers {
                response.headers_mut().insert(
                    header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    header::HeaderValue::from_str(&value).expect("header value"),
                );
            }
            return response;
        }
        Reply::Hang => {
            let mut shutdown = state.shutdown.clone();
            let _ = shutdown.wait_for(|stop| *stop).await;
            return json_response(
                503,
                json!({"error": {"message": "fake server shut down", "type": "server_error"}})
                    .to_string(),
            );
        }
        Reply::DropConnection => {
            // A body that fails before its first byte makes hyper abort the connection before
            // the response head is flushed: the client sees the connection close, no status.
            return Response::builder()
                .status(StatusCode::OK)
                .body(Body::from_stream(tokio_stream::iter(vec![broken()])))
                .expect("valid response parts");
        }
        Reply::StreamCutMidToolCall(name, args) => {
            let c = completion(None, vec![(name, args.clone())]);
            let chunks = c.chunks(include_usage);
            // Role chunk, the call's first chunk, then only part of its argument chunks.
            let arg_chunks = chunks.len().saturating_sub(3 + usize::from(include_usage));
            let keep = 2 + (arg_chunks / 2).max(1);
            let events: Vec<_> = chunks.iter().take(keep).map(event).collect();
            // A pause before the cut, so the head and the first chunks are really on the wire.
            let cut = futures_util::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                broken()
            });
            use futures_util::StreamExt;
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(tokio_stream::iter(events).chain(cut)))
                .expect("valid response parts");
        }
        Reply::StreamNoDone(inner) => {
            let (text, calls) = inner.content();
            let c = completion(text, calls);
            return sse(c.chunks(include_usage).iter().map(event).collect());
        }
        Reply::StallAfterChunks(inner, n) => {
            let (text, calls) = inner.content();
            let c = completion(text, calls);
            let first: Vec<Result<Bytes, std::io::Error>> =
                c.chunks(include_usage).iter().take(n).map(event).collect();
            let mut shutdown = state.shutdown.clone();
            let stall = futures_util::stream::once(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
                broken()
            });
            use futures_util::StreamExt;
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(tokio_stream::iter(first).chain(stall)))
                .expect("valid response parts");
        }
        Reply::Trickle(every) => {
            let chunk = json!({"id": "t", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": null}]});
            let mut shutdown = state.shutdown.clone();
            let ticks = futures_util::stream::unfold((), move |()| {
                let chunk = chunk.clone();
                async move {
                    tokio::time::sleep(every).await;
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(format!("data: {chunk}\n\n"))),
                        (),
                    ))
                }
            });
            use futures_util::StreamExt;
            let until_shutdown = ticks.take_until(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            });
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(until_shutdown))
                .expect("valid response parts");
        }
        Reply::Huge(bytes) => {
            let piece = "x".repeat(16 * 1024);
            let chunk = json!({"id": "h", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            let frame = format!("data: {chunk}\n\n");
            let mut body = frame.repeat(bytes / frame.len() + 1);
            body.push_str("data: [DONE]\n\n");
            // Reads of an odd size, so event boundaries fall inside them as on a real network.
            let reads: Vec<Result<Bytes, std::io::Error>> = body
                .into_bytes()
                .chunks(7001)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            return sse(reads);
        }
        Reply::Sse(payloads) => {
            return sse(payloads
                .into_iter()
                .map(|p| Ok(Bytes::from(format!("data: {p}\n\n"))))
                .collect());
        }
        other => other.content(),
    };

    let completion = completion(text, calls);

    if streamed {
        // As rude as real servers: a comment keep-alive first, `event:` lines before some
        // events, and every `data:` line cut across two or three body frames, so the client
        // must reassemble lines, not frames.
        let mut text = String::from(": keep-alive\n\n");
        for (k, chunk) in completion.chunks(include_usage).iter().enumerate() {
            if k % 3 == 1 {
                text.push_str("event: message\n");
            }
            if k % 4 == 2 {
                text.push_str(": ping\n\n");
            }
            text.push_str(&format!("data: {chunk}\n\n"));
        }
        text.push_str("data: [DONE]\n\n");
        sse(rude_frames(&text))
    } else {
        json_response(200, completion.full().to_string())
    }
}

impl Reply {
    /// Text and tool calls of an answer-like reply (faults have none).
    fn content(self) -> (Option<String>, Vec<(String, String)>) {
        match self {
            Reply::Text(text) => (Some(text), Vec::new()),
            Reply::Tools(calls) => (None, calls),
            Reply::TextAndTools(text, calls) => (Some(text), calls),
            Reply::StreamNoDone(inner) | Reply::StallAfterChunks(inner, _) => inner.content(),
            other => panic!("fake server: {other:?} has no answer content"),
        }
    }
}

async fn models(State(state): State<AppState>) -> Response {
    if let Some((status, body)) = lock(&state.shared).models.clone() {
        return json_response(status, body);
    }
    json_response(
        200,
        json!({
            "object": "list",
            "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "tests"}]
        })
        .to_string(),
    )
}

async fn props(State(state): State<AppState>) -> Response {
    match lock(&state.shared).props.clone() {
        Some(body) => json_response(200, body),
        None => json_response(404, json!({"error": "no /props here"}).to_string()),
    }
}

async fn lm_studio(State(state): State<AppState>) -> Response {
    match lock(&state.shared).lm_studio.clone() {
        Some(body) => json_response(200, body),
        None => json_response(404, json!({"error": "no /api/v0 here"}).to_string()),
    }
}

async fn show(State(state): State<AppState>) -> Response {
    match lock(&state.shared).show.clone() {
        Some(body) => json_response(200, body),
        None => json_response(404, json!({"error": "no /api/show here"}).to_string()),
    }
}

// A JSON 404 naming the path makes a wrong base_url (e.g. missing `/v1`) obvious in test output.
async fn not_found(uri: Uri) -> impl IntoResponse {
    let message = format!("fake server: no route for {uri}");
    json_response(
        404,
        json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string(),
    )
}

// Fixed so that responses are reproducible; fits the u32 async-openai expects.
const CREATED: u32 = 1_700_000_000;

struct Completion {
    number: usize,
    model: String,
    text: Option<String>,
    calls: Vec<(String, String)>,
    prompt_tokens: usize,
    /// Stopped at the output cap.
    cut: bool,
}

impl Completion {
    fn id(&self) -> String {
        format!("chatcmpl-fake-{}", self.number)
    }

    fn call_id(&self, i: usize) -> String {
        format!("call_{}_{}", self.number, i)
    }

    fn finish_reason(&self) -> &'static str {
        if self.cut {
            "length"
        } else if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    fn usage(&self) -> Value {
        let reply_len = self.text.as_deref().map_or(0, str::len)
            + self
                .calls
                .iter()
                .map(|(name, args)| name.len() + args.len())
                .sum::<usize>();
        let completion_tokens = (reply_len / 4).max(1);
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }

    /// Non-streamed `chat.completion` object.
    fn full(&self) -> Value {
        let mut message = json!({"role": "assistant", "content": self.text});
        if !self.calls.is_empty() {
            let tool_calls: Vec<Value> = self
                .calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({
                        "id": self.call_id(i),
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    })
                })
                .collect();
            message["tool_calls"] = Value::Array(tool_calls);
        }
        json!({
            "id": self.id(),
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason()}],
            "usage": self.usage(),
        })
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id(),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
    }

    /// The `chat.completion.chunk` objects of a streamed answer, in order (without `[DONE]`).
    fn chunks(&self, include_usage: bool) -> Vec<Value> {
        // Mirrors OpenAI: the role chunk carries `content: ""` for text answers and
        // `content: null` for tool-only answers.
        let role_content = self.text.as_ref().map(|_| "");
        let mut out = vec![self.chunk(json!({"role": "assistant", "content": role_content}), None)];

        if let Some(text) = &self.text {
            for piece in split_chars(text, 3, 16) {
                if !piece.is_empty() {
                    out.push(self.chunk(json!({"content": piece}), None));
                }
            }
        }

        // Parallel calls arrive interleaved, as vLLM and OpenAI send them: every call's opening
        // chunk, then the argument pieces of all calls in turn. Only the opening chunk of a
        // call names it; clients must merge later chunks by index.
        for (i, (name, _)) in self.calls.iter().enumerate() {
            out.push(self.chunk(
                json!({"tool_calls": [{
                    "index": i,
                    "id": self.call_id(i),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]}),
                None,
            ));
        }
        let pieces: Vec<Vec<String>> = self
            .calls
            .iter()
            .map(|(_, args)| split_chars(args, 3, 16))
            .collect();
        let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..rounds {
            for (i, p) in pieces.iter().enumerate() {
                if let Some(piece) = p.get(k) {
                    out.push(self.chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        None,
                    ));
                }
            }
        }

        out.push(self.chunk(json!({}), Some(self.finish_reason())));

        if include_usage {
            out.push(json!({
                "id": self.id(),
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": self.model,
                "choices": [],
                "usage": self.usage(),
            }));
        }
        out
    }
}

/// An SSE body cut into frames at places that split `data:` lines: inside the `data:` prefix,
/// inside the JSON, and between the two newlines that end an event. Cuts fall on char
/// boundaries (an HTTP frame can split a UTF-8 sequence, but the client reads lines from
/// bytes either way, and this keeps the test data printable).
fn rude_frames(text: &str) -> Vec<Result<Bytes, std::io::Error>> {
    let mut frames = Vec::new();
    let mut start = 0;
    let mut k = 0usize;
    while start < text.len() {
        // Sizes cycle through small and odd ones: 3, 17, 5, 41, 2, 29, ...
        let want = [3usize, 17, 5, 41, 2, 29, 11][k % 7];
        k += 1;
        let mut end = (start + want).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        frames.push(Ok(Bytes::from(text[start..end].to_string())));
        start = end;
    }
    frames
}

/// Split `s` into between `min` and `max` pieces at char boundaries (never inside a UTF-8
/// sequence). Piece sizes grow quadratically so cuts land at uneven, JSON-unaware places
/// (the first cut is usually inside the first key). Pieces are non-empty whenever `s` has at
/// least `min` chars; shorter strings get trailing empty pieces so the count stays >= `min`.
fn split_chars(s: &str, min: usize, max: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len();
    let pieces = (len / 8).clamp(min, max);
    let boundary = |k: usize| -> usize {
        if len >= pieces {
            // k + quadratic share of the slack: strictly increasing, 0 at k=0, len at k=pieces.
            k + (len - pieces) * k * k / (pieces * pieces)
        } else {
            k.min(len)
        }
    };
    (0..pieces)
        .map(|k| chars[boundary(k)..boundary(k + 1)].iter().collect())
        .collect()
}
