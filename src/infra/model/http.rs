//! The HTTP transport under async-openai: one plain attempt per request, with the facts tandem's
//! own retry loop needs (status, `Retry-After`, the raw error body) kept intact.
//!
//! Why this exists: async-openai 0.43's default executor wraps every request in its own retry
//! layer (3 retries at 100/200/400 ms on 429 and 5xx) that cannot be switched off, and its
//! `ApiError` drops the response headers, so `Retry-After` is invisible and a failing request is
//! tried 4 × `retries` times behind the user's back. With the `middleware` feature the client
//! takes any tower service instead (`Client::with_http_service`); this is that service, with no
//! retry layer in it. It costs no compile time worth counting: tower is built for async-openai
//! anyway. The rest of async-openai (request building, SSE parsing, byot types) is unchanged.
//!
//! Invariants: a non-2xx response never reaches async-openai's error parsing; it becomes an
//! `HttpFailure` carrying status, `Retry-After` and body, which `openai/mod.rs` classifies. An SSE
//! body that ends without `data: [DONE]` ends with an error, so a stream cut short is never taken
//! for a complete answer. Nothing here sees or formats the API key (it is a header async-openai
//! sets on the request it builds).

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A non-2xx answer, or a 2xx answer that is not what was asked for.
#[derive(Debug)]
pub struct HttpFailure {
    pub status: u16,
    /// From `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`.
    pub retry_after: Option<Duration>,
    /// The body as text (lossy), capped.
    pub body: String,
    /// A streamed request answered with plain JSON: the server ignores `stream: true`.
    pub not_streamed: bool,
    /// The answer announced more bytes than `max_answer_bytes` (`body` says how many).
    pub too_large: bool,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

impl std::error::Error for HttpFailure {}

/// The tower service async-openai sends every request through.
#[derive(Clone, Debug)]
pub struct Transport {
    /// Built on first use, and only once: a command that never talks to the model (or a UI's
    /// first frame) should not wait for TLS set-up.
    client: std::sync::Arc<std::sync::OnceLock<(reqwest::Client, Option<String>)>>,
    /// The most bytes one answer may take; an SSE body is cut there.
    max_bytes: u64,
    /// Plain-http endpoints never need the system's CA roots, so they are never read.
    https: bool,
    /// Set when a body was cut at `max_bytes`: the cut can land mid-event, and the parse error
    /// that follows must still be reported as the size limit (not retried as a broken stream).
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The system's CA roots could not be loaded, so no https request can be verified.
#[derive(Debug)]
pub struct TlsSetup(pub String);

impl std::fmt::Display for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no CA certificates could be loaded from this system ({}). Install the ca-certificates package or point SSL_CERT_FILE at a bundle; a local server over http:// needs none",
            self.0
        )
    }
}

impl std::error::Error for TlsSetup {}

impl Transport {
    pub fn new() -> Self {
        Transport {
            client: std::sync::Arc::new(std::sync::OnceLock::new()),
            max_bytes: u64::MAX,
            https: true,
            cut: Default::default(),
        }
    }

    /// Whether the last answer was cut at the size limit (and forget it).
    pub fn take_cut(&self) -> bool {
        self.cut.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether requests go to an https endpoint (else the CA roots are never loaded).
    pub fn for_url(mut self, base_url: &str) -> Self {
        self.https = !base_url
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("http://");
        self
    }

    pub fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max.max(1);
        self
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.built().0
    }

    /// The client, and why the CA roots could not be loaded (then only http works).
    fn built(&self) -> &(reqwest::Client, Option<String>) {
        self.client.get_or_init(|| {
            // A connect timeout only: a whole-request timeout would cut long streamed answers;
            // the idle timeout on the stream (openai.rs) catches a server that goes silent.
            // reqwest's rustls needs a process-wide crypto provider; installing twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let builder = || reqwest::Client::builder().connect_timeout(Duration::from_secs(15));
            // No roots at all for plain http: building the platform verifier reads the whole
            // CA store, which a local server never needs (and a machine may not have).
            let no_roots = || builder().tls_certs_only(std::iter::empty()).build();
            let built = if self.https {
                builder().build().map(|c| (c, None)).or_else(|e| {
                    let why = error_chain(&e);
                    no_roots().map(|c| (c, Some(why)))
                })
            } else {
                no_roots().map(|c| (c, None))
            };
            built.unwrap_or_else(|e| (reqwest::Client::new(), Some(error_chain(&e))))
        })
    }
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

type Fut = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Fut;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let (client, tls_problem) = self.built().clone();
        let tls_problem = tls_problem.filter(|_| self.https);
        let max_bytes = self.max_bytes;
        let cut = self.cut.clone();
        cut.store(false, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            if let Some(why) = tls_problem {
                return Err(OpenAIError::Boxed(Box::new(TlsSetup(why))));
            }
            let request = factory.build().await?;
            // async-openai serialises with serde_json, which writes `"stream":true` exactly so.
            let wants_stream = request
                .body()
                .and_then(|b| b.as_bytes())
                .is_some_and(|b| contains(b, b"\"stream\":true"));
            let response = client.execute(request).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(failure(response, false).await);
            }
            let is_sse = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if wants_stream && !is_sse {
                return Err(failure(response, true).await);
            }
            if is_sse {
                return watch_for_done(response, max_bytes, cut);
            }
            // A plain answer says its size up front; refuse one too large before reading it.
            if let Some(len) = response.content_length()
                && len > max_bytes
            {
                return Err(OpenAIError::Boxed(Box::new(HttpFailure {
                    status: status.as_u16(),
                    retry_after: None,
                    body: format!("is {len} bytes (the limit is {max_bytes})"),
                    not_streamed: false,
                    too_large: true,
                })));
            }
            Ok(response)
        })
    }
}

async fn failure(response: reqwest::Response, not_streamed: bool) -> OpenAIError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = match response.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(4000)]).into_owned(),
        Err(e) => return OpenAIError::Reqwest(e),
    };
    OpenAIError::Boxed(Box::new(HttpFailure {
        status,
        retry_after,
        body,
        not_streamed,
        too_large: false,
    }))
}

/// `retry-after-ms` (OpenAI), else `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Pass an SSE body through unchanged, but end it with an error when it finishes without the
/// `data: [DONE]` line: a server that crashed or a proxy that cut the connection cleanly would
/// otherwise look like a finished answer.
fn watch_for_done(
    response: reqwest::Response,
    max_bytes: u64,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<reqwest::Response, OpenAIError> {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let stream = watch_stream(response.bytes_stream().boxed(), max_bytes, cut);
    let mut builder = http::Response::builder().status(status).version(version);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let response = builder
        .body(reqwest::Body::wrap_stream(stream))
        .map_err(|e| OpenAIError::Boxed(Box::new(e)))?;
    Ok(reqwest::Response::from(response))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Watch<S> {
    inner: S,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: u64,
    max_bytes: u64,
    /// The last bytes seen, so a marker split across two reads is still found.
    tail: Vec<u8>,
    done: bool,
    ended: bool,
}

/// The field of the synthetic last event that `openai/mod.rs` reads as "the stream broke".
pub const BROKEN_FIELD: &str = "tandem_stream_broken";

/// The field of the synthetic last event that says the answer outgrew `max_answer_bytes`.
pub const TOO_LARGE_FIELD: &str = "tandem_answer_too_large";

fn too_large_event(max: u64) -> Vec<u8> {
    let what = format!("grew past {max} bytes");
    format!(
        "\n\ndata: {}\n\n",
        serde_json::json!({ TOO_LARGE_FIELD: what })
    )
    .into_bytes()
}

fn broken_event(why: &str) -> Vec<u8> {
    // The blank lines first end any event the cut left half-written.
    format!("\n\ndata: {}\n\n", serde_json::json!({ BROKEN_FIELD: why })).into_bytes()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

fn watch_stream<S, B, E>(
    inner: S,
    max_bytes: u64,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> impl futures_util::Stream<Item = Result<B, BoxError>>
where
    S: futures_util::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]> + From<Vec<u8>>,
    E: Into<BoxError>,
{
    let state = Watch {
        inner,
        cut,
        seen: 0,
        max_bytes,
        tail: vec![b'\n'],
        done: false,
        ended: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        match st.inner.next().await {
            Some(Ok(bytes)) => {
                // Past the limit the rest is never read: memory stays bounded whatever the
                // server sends.
                st.seen += bytes.as_ref().len() as u64;
                if st.seen > st.max_bytes {
                    st.ended = true;
                    st.cut.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Some((Ok(too_large_event(st.max_bytes).into()), st));
                }
                if !st.done {
                    let mut window = std::mem::take(&mut st.tail);
                    window.extend_from_slice(bytes.as_ref());
                    // JSON strings cannot hold a raw newline, so a line that starts with the
                    // marker is the marker.
                    st.done = contains(&window, b"\ndata: [DONE]")
                        || contains(&window, b"\ndata:[DONE]")
                        || contains(&window, b"\rdata: [DONE]");
                    let keep = window.len().saturating_sub(16);
                    st.tail = window.split_off(keep);
                }
                Some((Ok(bytes), st))
            }
            // Both faults end the body with one event of our own that says what happened:
            // as a body error, the reason would be lost in async-openai's and reqwest's
            // messages ("error decoding response body").
            Some(Err(e)) => {
                st.ended = true;
                let e: BoxError = e.into();
                Some((Ok(broken_event(&error_chain(e.as_ref())).into()), st))
            }
            None if st.done => None,
            None => {
                st.ended = true;
                let why = "the stream ended without its closing [DONE] line";
                Some((Ok(broken_event(why).into()), st))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&'static str]) -> Vec<String> {
        let items: Vec<Result<Vec<u8>, BoxError>> =
            chunks.iter().map(|c| Ok(c.as_bytes().to_vec())).collect();
        let s = watch_stream(
            futures_util::stream::iter(items),
            u64::MAX,
            Default::default(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(s.collect::<Vec<_>>())
            .into_iter()
            .map(|r| String::from_utf8(r.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn done_split_across_reads_is_seen() {
        let out = run(&["data: {}\n\nda", "ta: [DO", "NE]\n\n"]);
        assert_eq!(out.len(), 3, "{out:?}");
    }

    #[test]
    fn missing_done_ends_with_a_broken_event() {
        let out = run(&["data: {\"content\":\"[DONE]\"}\n\n"]);
        assert!(out.last().unwrap().contains(BROKEN_FIELD), "{out:?}");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
