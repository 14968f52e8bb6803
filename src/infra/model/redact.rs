//! The one redaction step: every piece of text that came from a model server (answers, tool
//! calls, error bodies, parse errors that quote a field) passes through `Redactor::redact`
//! before it can be shown, journaled, written or stored; text streamed piece by piece passes
//! through a `Stream`, which holds back what could be the start of the key until it can tell.
//!
//! Invariants: the key is held in memory only and is never formatted (no `Debug`, no
//! `Display`). Redaction removes the whole key, any run of 16 or more of its leading or trailing
//! characters (a message cut mid-key still loses the part it kept), and the key's base64 forms
//! (an echoed `Authorization: Basic …` header), also when control or invisible characters were
//! put between its characters (a terminal shows those as nothing, so the key would read whole).
//! Keys shorter than 16 characters are local servers' placeholders and are left alone. The
//! process-wide copy (`global`) lets the edges — the journal writer, `drivers::headless`'s
//! printer, `doctor` — apply the same step as a backstop, whatever field a server hid the key in.

use base64::Engine;
use std::sync::{Arc, OnceLock};

const SHOWN_AS: &str = "[the API key]";
/// Shorter runs are too likely to be ordinary text, or a provider-wide prefix (`sk-proj-`,
/// `sk-ant-api03-`, 13 characters), which would then be rewritten in files the agent writes.
const MIN_PART: usize = 16;
/// Keys shorter than this are placeholders local servers are given (`ollama`, `lm-studio`,
/// `EMPTY`): hiding them would mangle ordinary words.
const MIN_KEY: usize = 16;

#[derive(Clone, Default)]
pub struct Redactor {
    key: Option<Arc<Secret>>,
}

/// The key and its encoded forms.
struct Secret {
    key: String,
    /// The characters of the key's base64 encodings (standard and URL-safe, at each of the three
    /// byte alignments it can have in an encoded text) that depend on the key's bytes alone.
    encoded: Vec<String>,
    /// The longest text, in characters, any of these forms takes.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor")
    }
}

static GLOBAL: OnceLock<Redactor> = OnceLock::new();

impl Redactor {
    /// A redactor for `key`; placeholder keys shorter than 16 characters are not secrets.
    pub fn new(key: Option<&str>) -> Redactor {
        Redactor {
            key: key
                .filter(|k| k.len() >= MIN_KEY)
                .map(|k| Arc::new(Secret::new(k))),
        }
    }

    /// Make this the process-wide redactor used by the edges (the first one set wins).
    pub fn install(&self) {
        if self.key.is_some() {
            let _ = GLOBAL.set(self.clone());
        }
    }

    /// The process-wide redactor (one that changes nothing if no key is in use).
    pub fn global() -> Redactor {
        GLOBAL.get().cloned().unwrap_or_default()
    }

    pub fn is_active(&self) -> bool {
        self.key.is_some()
    }

    /// `text` with the key, any long enough start or end of it, and its base64 forms replaced.
    pub fn redact(&self, text: &str) -> String {
        let Some(secret) = self.key.as_deref() else {
            return text.to_string();
        };
        let spans = secret.spans(text);
        if spans.is_empty() {
            return text.to_string();
        }
        replace(text, &spans)
    }

    /// A redactor for text that arrives in pieces (a streamed answer).
    pub fn stream(&self) -> Stream {
        Stream {
            redactor: self.clone(),
            held: String::new(),
        }
    }
}

/// Streamed text, redacted although the key may be split across pieces: what could still be
/// part of the key is held back until the next piece (or `finish`) tells.
pub struct Stream {
    redactor: Redactor,
    held: String,
}

impl Stream {
    /// The next piece; returns what can be shown now (possibly nothing).
    pub fn push(&mut self, piece: &str) -> String {
        let Some(secret) = self.redactor.key.as_deref() else {
            return piece.to_string();
        };
        self.held.push_str(piece);
        // Hold back the last `longest - 1` visible characters: any form of the key that starts
        // before them is whole in `held` already, so it is found now.
        let mut visible = 0;
        let mut cut = self.held.len();
        for (i, c) in self.held.char_indices().rev() {
            if visible + 1 >= secret.longest {
                break;
            }
            cut = i;
            if !invisible(c) {
                visible += 1;
            }
        }
        let spans = secret.spans(&self.held);
        // A found form that reaches past the cut is held back whole, to be found again with
        // what follows it.
        if let Some(&(start, _)) = spans.iter().find(|&&(s, e)| s < cut && e > cut) {
            cut = start;
        }
        let done: Vec<(usize, usize)> = spans.into_iter().filter(|&(_, e)| e <= cut).collect();
        let out = replace(&self.held[..cut], &done);
        self.held.drain(..cut);
        out
    }

    /// The end of the text: what was held back, redacted.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        self.redactor.redact(&rest)
    }
}

impl Secret {
    fn new(key: &str) -> Secret {
        let mut encoded = Vec::new();
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            for align in 0..3usize {
                let mut bytes = vec![0u8; align];
                bytes.extend_from_slice(key.as_bytes());
                let all = engine.encode(&bytes);
                // Sextets wholly inside the key's bits: [8·align, 8·(align + len)).
                let first = (8 * align).div_ceil(6);
                let end = (8 * (align + key.len())) / 6;
                let part = all[first..end.min(all.len())].to_string();
                if !encoded.contains(&part) {
                    encoded.push(part);
                }
            }
        }
        let longest = encoded
            .iter()
            .map(String::len)
            .chain([key.chars().count()])
            .max()
            .unwrap_or(0);
        Secret {
            key: key.to_string(),
            encoded,
            longest,
        }
    }

    /// Byte ranges of `text` that are the key (or a long enough start or end of it) or one of
    /// its encoded forms, ignoring invisible characters between theirs; sorted, not
    /// overlapping.
    fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        // The text as a terminal shows it: without control and invisible characters, with
        // where each kept byte was.
        let spans = if text.chars().any(invisible) {
            let mut shown = String::with_capacity(text.len());
            let mut from = Vec::with_capacity(text.len());
            let mut chars = text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\u{1b}' {
                    skip_escape(&mut chars);
                } else if !invisible(c) {
                    shown.push(c);
                    from.extend(i..i + c.len_utf8());
                }
            }
            self.spans_in(&shown)
                .into_iter()
                .map(|(s, e)| (from[s], from[e - 1] + 1))
                .collect()
        } else {
            self.spans_in(text)
        };
        merge(spans)
    }

    fn spans_in(&self, text: &str) -> Vec<(usize, usize)> {
        let mut spans = runs(text, &self.key);
        for form in &self.encoded {
            spans.extend(
                text.match_indices(form.as_str())
                    .map(|(i, m)| (i, i + m.len())),
            );
        }
        spans
    }
}

/// The rest of a terminal escape sequence after its ESC: a CSI (`ESC [` … final byte), an OSC
/// or string (`ESC ]` … BEL or `ESC \\`), or a two-character one. A terminal shows none of it.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    match chars.next().map(|(_, c)| c) {
        Some('[') => {
            for (_, c) in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']' | 'P' | '_' | '^' | 'X') => {
            while let Some((_, c)) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' && chars.peek().is_some_and(|(_, n)| *n == '\\') {
                    chars.next();
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Characters a terminal shows as nothing, or that only move the cursor: controls (line breaks
/// too) and the zero-width and direction marks.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Every run of `text` that is a prefix (from its start) or a suffix (to its end) of the key
/// and at least `MIN_PART` long; the whole key is both.
fn runs(text: &str, key: &str) -> Vec<(usize, usize)> {
    let head = &key[..floor(key, MIN_PART)];
    let tail_at = ceil(key, key.len() - MIN_PART);
    let tail = &key[tail_at..];
    let mut spans = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let (start, end) = match (rest.find(head), rest.find(tail)) {
            (None, None) => break,
            (Some(h), t) if t.is_none_or(|t| h <= t) => {
                // As much of the key as follows its start.
                let len = rest[h..]
                    .bytes()
                    .zip(key.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                (h, h + floor(&rest[h..], len))
            }
            (_, Some(t)) => {
                // As much of the key as precedes its end.
                let before = rest[..t]
                    .bytes()
                    .rev()
                    .zip(key[..tail_at].bytes().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                (ceil(rest, t - before), t + tail.len())
            }
            (Some(_), None) => break,
        };
        spans.push((at + start, at + end));
        at += end.max(start + 1).min(rest.len());
        at = ceil(text, at);
    }
    spans
}

/// Sorted, overlapping or touching ranges joined.
fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `text` with each of the sorted, disjoint `spans` replaced by `SHOWN_AS`.
fn replace(text: &str, spans: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(s, e) in spans {
        out.push_str(&text[at..s]);
        out.push_str(SHOWN_AS);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

fn floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A writer for a terminal (or a file a terminal will show): control characters other than
/// newline and tab (escape sequences among them) are dropped and the API key redacted. Every
/// write is whole UTF-8 text: `write!` hands over `&str` pieces.
pub struct Sanitized<'a>(pub &'a mut dyn std::io::Write);

impl std::io::Write for Sanitized<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = Redactor::global().redact(&crate::infra::tools::clean_text(&text));
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-SECRET-0123456789abcdef";

    fn clean(out: &str) -> bool {
        !out.contains("SECRET-0123") && !out.contains("456789abcdef")
    }

    #[test]
    fn the_key_and_its_cut_parts_are_gone() {
        let r = Redactor::new(Some(KEY));
        for text in [
            format!("invalid type: string \"{KEY}\", expected u64"),
            format!("body: {}…", &KEY[..20]),
            format!("…{} trailing", &KEY[12..]),
            format!("{KEY}{KEY}"),
        ] {
            let out = r.redact(&text);
            assert!(clean(&out), "{out}");
            assert!(out.contains(SHOWN_AS), "{out}");
        }
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert_eq!(Redactor::new(None).redact(KEY), KEY);
        // A provider prefix alone, and a local server's placeholder key, are ordinary text.
        assert_eq!(
            r.redact("keys look like sk-test-…"),
            "keys look like sk-test-…"
        );
        let local = Redactor::new(Some("lm-studio"));
        assert_eq!(local.redact("display: lm-studio"), "display: lm-studio");
    }

    /// Characters a terminal does not show, put between the key's, do not hide it from
    /// redaction; what is around it stays as it was.
    #[test]
    fn invisible_characters_inside_the_key_do_not_hide_it() {
        let r = Redactor::new(Some(KEY));
        for sep in [
            "\u{7}",
            "\u{1b}",
            "\u{1b}[0m",
            "\u{1b}[38;5;1m",
            "\u{1b}]0;t\u{7}",
            "\n",
            "\u{200b}",
            "\u{feff}",
            "\u{202e}",
        ] {
            let spread: String = KEY.chars().map(|c| format!("{c}{sep}")).collect();
            let out = r.redact(&format!("before {spread} after"));
            let shown = strip_ansi(&out);
            assert!(clean(&shown), "{sep:?}: {out:?}");
            assert!(
                out.starts_with("before ") && out.ends_with(" after"),
                "{out:?}"
            );
        }
    }

    /// `text` as a terminal shows it: escape sequences and invisible characters gone.
    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            if c == '\u{1b}' {
                skip_escape(&mut chars);
            } else if !invisible(c) {
                out.push(c);
            }
        }
        out
    }

    /// An echoed `Authorization: Basic …` or any base64 of a text holding the key, whatever
    /// its alignment, standard or URL-safe.
    #[test]
    fn base64_forms_of_the_key_are_gone() {
        let r = Redactor::new(Some(KEY));
        for prefix in ["", "x", "xy", "Bearer ", ":", "user:"] {
            let plain = format!("{prefix}{KEY} and more");
            for engine in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE,
            ] {
                let encoded = engine.encode(plain.as_bytes());
                let out = r.redact(&format!("Authorization: Basic {encoded}"));
                assert!(out.contains(SHOWN_AS), "{prefix:?} {encoded} → {out}");
                // What is left of the encoding no longer decodes to the key.
                assert!(out.len() < encoded.len() + 30, "{out}");
            }
        }
    }

    /// Streamed in pieces of every size, the key never comes out, and everything else comes
    /// out whole and in order.
    #[test]
    fn a_key_split_across_streamed_pieces_never_comes_out() {
        let r = Redactor::new(Some(KEY));
        let text = format!("Here it is: {KEY}, and again\u{7} {}. Done.", &KEY[..20]);
        for size in 1..12 {
            let mut s = r.stream();
            let mut out = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                let piece: String = piece.iter().collect();
                let shown = s.push(&piece);
                assert!(clean(&shown) && !shown.contains("sk-test-SEC"), "{shown}");
                out.push_str(&shown);
            }
            out.push_str(&s.finish());
            assert_eq!(out, r.redact(&text), "pieces of {size}");
        }
        // Without a key nothing is held back.
        let mut none = Redactor::new(None).stream();
        assert_eq!(none.push("abc"), "abc");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let r = Redactor::new(Some(KEY));
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
