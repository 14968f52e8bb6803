//! The fallback edit protocol: file changes written as text, for models that will not call
//! tools. Each change found becomes the tool call it stands for (`edit_file` or `write_file`), so
//! the core applies it through the same confined workspace and the same pre-write journaling.
//!
//! The accepted format (also in prompts/drafter.md and the README):
//!
//! 1. A search/replace block. The last non-blank line before it names the file (Markdown
//!    decoration — leading `#`, `**`, backticks, a trailing colon — is ignored; a ```` ``` ````
//!    fence line in between is skipped). Markers stand alone on their lines, 5 to 9 characters:
//!
//!    ```text
//!    greet.py
//!    <<<<<<< SEARCH
//!    exact lines now in the file
//!    =======
//!    the lines that replace them
//!    >>>>>>> REPLACE
//!    ```
//!
//!    The SEARCH lines must occur exactly once in the file (as with `edit_file`). An empty
//!    SEARCH section writes the whole file with the REPLACE lines (creating it).
//! 2. A whole file: a fence whose info string ends with the path, ```` ```python greet.py ```` or
//!    ```` ```greet.py ````, closed by a fence line of the same character and at least the same
//!    length. A one-word info string is a path only if it contains `.` or `/` (```` ```python ````
//!    alone is an ordinary code sample and is ignored).
//!
//! Invariants: parsing is pure and never guesses. A block that is not closed, or has no file
//! name, becomes a `Malformed` entry the model is told about; nothing of it is applied.

use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub enum TextEdit {
    /// A change, as the tool call it stands for.
    Call {
        /// 1-based line of the text where the block starts.
        line: usize,
        name: &'static str,
        arguments: String,
    },
    Malformed {
        line: usize,
        problem: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub edits: Vec<TextEdit>,
    /// The text outside the blocks: the model's explanation, used as the draft summary.
    pub prose: String,
}

fn marker(line: &str, ch: char, word: &str) -> bool {
    let t = line.trim();
    let n = t.chars().take_while(|&c| c == ch).count();
    (5..=9).contains(&n) && t[n..].trim() == word
}

fn is_search(line: &str) -> bool {
    marker(line, '<', "SEARCH")
}

fn is_divider(line: &str) -> bool {
    marker(line, '=', "")
}

fn is_replace(line: &str) -> bool {
    marker(line, '>', "REPLACE")
}

/// An opening fence: its character, length and info string.
fn fence_open(line: &str) -> Option<(char, usize, &str)> {
    let t = line.trim_start();
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|&c| c == ch).count();
    (n >= 3).then(|| (ch, n, t[n..].trim()))
}

fn fence_closes(line: &str, ch: char, n: usize) -> bool {
    let t = line.trim();
    let count = t.chars().take_while(|&c| c == ch).count();
    count >= n && count == t.chars().count()
}

fn looks_like_path(word: &str) -> bool {
    !word.is_empty()
        && (word.contains('.') || word.contains('/'))
        && !word.starts_with('{')
        && !word.contains("://")
}

/// The path an info string names, if it names one.
fn info_path(info: &str) -> Option<String> {
    let last = info.split_whitespace().last()?;
    let last = last.trim_matches('`');
    looks_like_path(last).then(|| last.to_string())
}

/// A file name written on its own line, with Markdown decoration removed.
fn clean_path_line(line: &str) -> Option<String> {
    let mut t = line.trim().trim_start_matches('#').trim();
    t = t.trim_matches(|c| c == '*' || c == '`' || c == '"').trim();
    t = t.trim_end_matches(':').trim();
    t = t.trim_matches(|c| c == '*' || c == '`' || c == '"').trim();
    let word = t.split_whitespace().last()?;
    let word = word.trim_matches(|c| c == '*' || c == '`' || c == '"' || c == ':');
    (!word.is_empty() && (t.split_whitespace().count() == 1 || looks_like_path(word)))
        .then(|| word.to_string())
}

fn join(lines: &[&str], trailing: bool) -> String {
    let mut s = lines.join("\n");
    if trailing && !lines.is_empty() {
        s.push('\n');
    }
    s
}

// Long: one pass over the model's text, a small state machine over fences and block headers; its
// states are easier to check side by side.
pub fn parse(text: &str) -> Parsed {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Parsed::default();
    let mut prose: Vec<&str> = Vec::new();
    // Inside a fence that holds search/replace blocks: its end and the path its info names.
    let mut fence: Option<(usize, Option<String>)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((end, _)) = &fence
            && *end == i
        {
            fence = None;
            i += 1;
            continue;
        }
        if is_search(line) {
            let start = i + 1;
            let path = path_before(&lines, i, fence.as_ref().and_then(|f| f.1.clone()));
            let Some(div) = (i + 1..lines.len()).find(|&k| is_divider(lines[k])) else {
                out.edits.push(TextEdit::Malformed {
                    line: start,
                    problem: "the SEARCH block has no ======= line".into(),
                });
                break;
            };
            let Some(end) = (div + 1..lines.len()).find(|&k| is_replace(lines[k])) else {
                out.edits.push(TextEdit::Malformed {
                    line: start,
                    problem: "the SEARCH block has no >>>>>>> REPLACE line".into(),
                });
                break;
            };
            let search = &lines[i + 1..div];
            let replace = &lines[div + 1..end];
            // Drop the path line from the prose: it belongs to the block.
            if let Some(p) = prose.iter().rposition(|l| !l.trim().is_empty())
                && path.is_some()
                && clean_path_line(prose[p]) == path
            {
                prose.truncate(p);
            }
            out.edits.push(match path {
                None => TextEdit::Malformed {
                    line: start,
                    problem: "no file path on the line before <<<<<<< SEARCH".into(),
                },
                Some(path) if search.iter().all(|l| l.trim().is_empty()) => TextEdit::Call {
                    line: start,
                    name: "write_file",
                    arguments: json!({"path": path, "content": join(replace, true)}).to_string(),
                },
                Some(path) => {
                    // Whole lines: a deletion takes its line breaks with it; otherwise the
                    // break after the last line stays, so a file without a final newline
                    // still matches.
                    let (old, new) = if replace.is_empty() {
                        (join(search, true), String::new())
                    } else {
                        (join(search, false), join(replace, false))
                    };
                    TextEdit::Call {
                        line: start,
                        name: "edit_file",
                        arguments: json!({"path": path, "old_text": old, "new_text": new})
                            .to_string(),
                    }
                }
            });
            i = end + 1;
            continue;
        }
        if fence.is_none()
            && let Some((ch, n, info)) = fence_open(line)
        {
            let close = (i + 1..lines.len()).find(|&k| fence_closes(lines[k], ch, n));
            let path = info_path(info);
            match close {
                Some(k) if lines[i + 1..k].iter().any(|l| is_search(l)) => {
                    fence = Some((k, path));
                    i += 1;
                }
                Some(k) => {
                    if let Some(path) = path {
                        out.edits.push(TextEdit::Call {
                            line: i + 1,
                            name: "write_file",
                            arguments:
                                json!({"path": path, "content": join(&lines[i + 1..k], true)})
                                    .to_string(),
                        });
                    } else {
                        prose.extend_from_slice(&lines[i..=k]);
                    }
                    i = k + 1;
                }
                None => {
                    if let Some(path) = path {
                        out.edits.push(TextEdit::Malformed {
                            line: i + 1,
                            problem: format!("the fenced file {path} is not closed"),
                        });
                        break;
                    }
                    prose.push(line);
                    i += 1;
                }
            }
            continue;
        }
        prose.push(line);
        i += 1;
    }
    let mut text = prose.join("\n").trim().to_string();
    // Removed blocks leave their blank lines behind.
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    out.prose = text;
    out
}

/// The edits as tool calls for the drafting loop, ids `text_<step>_<i>`. A malformed block comes
/// with its problem instead: it is reported to the model, never run.
pub fn to_calls(step: u32, edits: Vec<TextEdit>) -> Vec<(super::ToolCall, Option<String>)> {
    edits
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let id = format!("text_{step}_{i}");
            match e {
                TextEdit::Call {
                    name, arguments, ..
                } => (
                    super::ToolCall {
                        id,
                        name: name.to_string(),
                        arguments,
                    },
                    None,
                ),
                TextEdit::Malformed { line, problem } => (
                    super::ToolCall {
                        id,
                        name: "text_block".to_string(),
                        arguments: json!({ "line": line }).to_string(),
                    },
                    Some(format!(
                        "the block at line {line} of your answer: {problem}"
                    )),
                ),
            }
        })
        .collect()
}

/// The file a SEARCH block at line `at` belongs to.
fn path_before(lines: &[&str], at: usize, fence_path: Option<String>) -> Option<String> {
    let mut k = at;
    let mut skipped_fence = false;
    while k > 0 {
        k -= 1;
        let l = lines[k];
        if l.trim().is_empty() {
            continue;
        }
        if let Some((_, _, info)) = fence_open(l)
            && !skipped_fence
        {
            if let Some(p) = info_path(info).or(fence_path.clone()) {
                return Some(p);
            }
            skipped_fence = true;
            continue;
        }
        // The previous block's end is not a file name.
        if is_replace(l) {
            return fence_path;
        }
        return clean_path_line(l).or(fence_path);
    }
    fence_path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn calls(text: &str) -> Vec<(String, Value)> {
        parse(text)
            .edits
            .into_iter()
            .map(|e| match e {
                TextEdit::Call {
                    name, arguments, ..
                } => (name.to_string(), serde_json::from_str(&arguments).unwrap()),
                TextEdit::Malformed { line, problem } => (
                    "malformed".into(),
                    json!({"line": line, "problem": problem}),
                ),
            })
            .collect()
    }

    #[test]
    fn search_replace_in_and_out_of_fences() {
        let text = "I changed two things.\n\n**greet.py**:\n```python\n<<<<<<< SEARCH\n    print('hello')\n=======\n    print('hi ' + name)\n>>>>>>> REPLACE\n```\n\nsrc/b.txt\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\nDone.";
        let c = calls(text);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].0, "edit_file");
        assert_eq!(c[0].1["path"], "greet.py");
        assert_eq!(c[0].1["old_text"], "    print('hello')");
        assert_eq!(c[0].1["new_text"], "    print('hi ' + name)");
        assert_eq!(c[1].1["path"], "src/b.txt");
        assert_eq!(parse(text).prose, "I changed two things.\n\nDone.");
    }

    #[test]
    fn whole_fenced_files_and_plain_samples() {
        let text = "Here:\n```python greet.py\nprint('x')\n```\nRun it like\n```sh\npython greet.py\n```\n````docs/guide.md\n# Guide\n```\ncode\n```\n````\n";
        let c = calls(text);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            c[0].1,
            json!({"path": "greet.py", "content": "print('x')\n"})
        );
        assert_eq!(c[1].1["path"], "docs/guide.md");
        assert_eq!(c[1].1["content"], "# Guide\n```\ncode\n```\n");
    }

    #[test]
    fn empty_search_writes_and_deletion_takes_line_breaks() {
        let c = calls(
            "new.txt\n<<<<<<< SEARCH\n=======\nhello\n>>>>>>> REPLACE\na.txt\n<<<<<<< SEARCH\ngone\n=======\n>>>>>>> REPLACE\n",
        );
        assert_eq!(
            c[0],
            (
                "write_file".into(),
                json!({"path": "new.txt", "content": "hello\n"})
            )
        );
        assert_eq!(c[1].1["old_text"], "gone\n");
        assert_eq!(c[1].1["new_text"], "");
    }

    #[test]
    fn malformed_blocks_are_reported_not_applied() {
        let c = calls("a.txt\n<<<<<<< SEARCH\nx\n=======\ny\n");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "malformed");
        let c = calls("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n");
        assert_eq!(c[0].0, "malformed");
        let c = calls("Just prose, no change.\n```python\nx = 1\n```\n");
        assert!(c.is_empty());
    }
}
