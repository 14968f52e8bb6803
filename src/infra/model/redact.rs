//! The one redaction step: every piece of text that came from a model server (answers, error
//! bodies, parse errors that quote a field) passes through `Redactor::redact` before it can be
//! shown, journaled or stored.
//!
//! Invariants: the key is held in memory only and is never formatted (no `Debug`, no
//! `Display`). Redaction removes the whole key and any run of 12 or more of its leading or
//! trailing characters (a message cut mid-key still loses the part it kept). Keys shorter than
//! 16 characters are local servers' placeholders and are left alone. The process-wide
//! copy (`global`) lets the edges — the journal writer, `drivers::headless`'s printer, `doctor` — apply the
//! same step as a backstop, whatever field a server hid the key in.

use std::sync::{Arc, OnceLock};

const SHOWN_AS: &str = "[the API key]";
/// Shorter runs are too likely to be ordinary text (or a provider-wide prefix like `sk-proj-`).
const MIN_PART: usize = 12;
/// Keys shorter than this are placeholders local servers are given (`ollama`, `lm-studio`,
/// `EMPTY`): hiding them would mangle ordinary words.
const MIN_KEY: usize = 16;

#[derive(Clone, Default)]
pub struct Redactor {
    key: Option<Arc<str>>,
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
            key: key.filter(|k| k.len() >= MIN_KEY).map(Arc::from),
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

    /// `text` with the key, and any long enough start or end of it, replaced.
    pub fn redact(&self, text: &str) -> String {
        let Some(key) = self.key.as_deref() else {
            return text.to_string();
        };
        if !self.might_contain(text) {
            return text.to_string();
        }
        let mut out = text.replace(key, SHOWN_AS);
        if key.len() > MIN_PART {
            out = cut_runs(&out, key);
        }
        out
    }

    /// Cheap check: does any 12-character start or end of the key occur?
    fn might_contain(&self, text: &str) -> bool {
        let Some(key) = self.key.as_deref() else {
            return false;
        };
        let n = MIN_PART.min(key.len());
        let head = &key[..floor(key, n)];
        let tail = &key[ceil(key, key.len() - n)..];
        text.contains(head) || text.contains(tail)
    }
}

/// Replace every run of text that is a prefix (from its start) or a suffix (to its end) of the
/// key and at least `MIN_PART` long.
fn cut_runs(text: &str, key: &str) -> String {
    let head = &key[..floor(key, MIN_PART)];
    let tail_at = ceil(key, key.len() - MIN_PART);
    let tail = &key[tail_at..];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
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
        out.push_str(&rest[..start]);
        out.push_str(SHOWN_AS);
        rest = &rest[end.max(start + 1).min(rest.len())..];
    }
    out.push_str(rest);
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

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-SECRET-0123456789abcdef";

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
            assert!(!out.contains("SECRET-0123"), "{out}");
            assert!(!out.contains("456789abcdef"), "{out}");
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

    #[test]
    fn debug_never_shows_the_key() {
        let r = Redactor::new(Some(KEY));
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
