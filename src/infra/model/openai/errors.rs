//! Reading servers' error answers: the message out of any of the shapes servers use, and the
//! kinds of failure tandem treats specially (context overflow, servers that refuse streaming).
//!
//! Invariants: pure functions of the text; the key is redacted by the caller.

use super::*;

pub(super) fn error_message(body: &str) -> String {
    let text = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let err = v.get("error").unwrap_or(&v);
            let msg = err
                .get("message")
                .or_else(|| v.get("detail"))
                .or_else(|| v.get("message"))
                .unwrap_or(err);
            let mut text = match msg {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for key in ["code", "type"] {
                if let Some(Value::String(c)) = err.get(key)
                    && !text.contains(c.as_str())
                {
                    text.push_str(&format!(" ({c})"));
                }
            }
            text
        }
        Err(_) => body.trim().to_string(),
    };
    let text = if text.is_empty() {
        "(no message)".to_string()
    } else {
        text
    };
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Wordings of "too long" from OpenAI, vLLM, llama.cpp, LM Studio and others.
pub(super) fn is_context_error(lower: &str) -> bool {
    [
        "context length",
        "context_length",
        "maximum context",
        "context window",
        "context size",
        "exceed_context",
        "too many tokens",
        "reduce the length",
        "prompt is too long",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// A server that cannot take tools at all, and the fix for it (None: some other failure).
/// llama-server without `--jinja` says "tools param requires --jinja flag"; Ollama says
/// "<model> does not support tools"; others word it close to that.
pub(super) fn tools_unsupported_fix(lower: &str) -> Option<&'static str> {
    if lower.contains("--jinja") {
        return Some(
            "Start llama-server with --jinja so the model can call tools; until then tandem uses its text protocol",
        );
    }
    // "streaming with tools is not supported" is a streaming refusal: answered unstreamed.
    if lower.contains("stream") {
        return None;
    }
    let names_tools = ["tools", "tool use", "tool call", "function call"]
        .iter()
        .any(|w| lower.contains(w));
    let refuses = [
        "not support",
        "unsupported",
        "not supported",
        "not enabled",
        "not available",
    ]
    .iter()
    .any(|w| lower.contains(w));
    (names_tools && refuses).then_some(
        "Use a model whose chat template supports tools (e.g. qwen2.5-coder, llama3.1); until then tandem uses its text protocol",
    )
}

/// A server that cannot stream (tool calls): answered by sending the same request unstreamed.
pub(super) fn refuses_streaming(e: &ModelError) -> bool {
    let ModelError::Http {
        status, message, ..
    } = e
    else {
        return false;
    };
    let m = message.to_lowercase();
    // The word, not "upstream" (as in a gateway's "upstream cannot be reached").
    let names_streaming = m
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w.starts_with("stream"));
    *status != 429
        && names_streaming
        && [
            "not support",
            "unsupported",
            "not implemented",
            "not allowed",
            "cannot",
            "can't",
            "does not",
            "disabled",
            "without streaming",
        ]
        .iter()
        .any(|p| m.contains(p))
}
