//! The agent's file tools, confined to one working directory.
//!
//! Invariants: every path a model gives is relative to the root and is resolved by `confine`
//! before any read or write; absolute paths, `..` that leaves the root, symlinks that resolve
//! outside it, and anything inside `.git` (in any letter case) are refused. A refusal, a bad
//! argument or an unknown tool is an error *result* the model sees, never a crash. Writes go
//! through a temp file and a rename, so a crash never leaves half a file, and the caller's
//! `before_write` hook runs first so the old content is recorded before it is replaced.

use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

/// Lines returned by one `read_file` call; larger files come in pages.
pub const READ_PAGE_LINES: usize = 400;
const MAX_LIST: usize = 500;
const MAX_MATCHES: usize = 200;
const MAX_LINE_CHARS: usize = 400;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("`{0}` is absolute; give a path relative to the working directory")]
    Absolute(String),
    #[error("`{0}` leaves the working directory")]
    Escapes(String),
    #[error("`{0}` is inside .git, which tools may not touch")]
    GitDir(String),
    #[error("`{0}` is a symlink that points outside the working directory")]
    SymlinkEscape(String),
}

/// The confined root. Holds the canonical root so symlink checks compare like with like.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    /// `core.hooksPath` relative to the root, when it lies inside: never written.
    hooks: Option<String>,
    /// Submodule paths named in `.gitmodules`: never written into.
    submodules: Vec<String>,
}

/// A write the tools are about to make, as the `before_write` hook sees it.
pub struct PendingWrite<'a> {
    /// Where the write lands, relative to the root, every symlink resolved.
    pub rel: &'a str,
    /// The old content; None: no such file.
    pub old: Option<&'a [u8]>,
    pub old_exec: bool,
    /// The new content; None: the file is deleted.
    pub new: Option<&'a [u8]>,
    /// Directories the write will create, outermost first.
    pub created_dirs: &'a [String],
}

/// What a finished tool call means for the drafting loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Keep going; `ok` false means the model got an error result.
    Continue { ok: bool, text: String },
    /// A file was written; `lines` says how much, for one-line descriptions.
    Wrote { text: String, lines: LineChange },
    Finish {
        summary: String,
        /// Answers to review threads, unchecked (the core knows the threads).
        replies: Vec<FinishReply>,
    },
}

/// One answer to a review thread, as the model gave it to `finish`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FinishReply {
    /// The thread's label, like `c1.2` or `n1`.
    pub thread: String,
    /// `addressed`, `not_done` or `question`.
    pub status: String,
    #[serde(default)]
    pub text: String,
}

/// How many lines a write put in and took out: for `edit_file` the new and the replaced
/// text's lines, for `write_file` the new content's lines (the review diff has the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
pub struct LineChange {
    pub added: usize,
    pub removed: usize,
}

/// Called once before each write. An error aborts the write.
pub type BeforeWrite<'a> = dyn FnMut(&PendingWrite<'_>) -> Result<(), String> + Send + 'a;

impl Workspace {
    pub fn new(root: &Path) -> std::io::Result<Self> {
        let root = root.canonicalize()?;
        let submodules = std::fs::read_to_string(root.join(".gitmodules"))
            .map(|text| {
                text.lines()
                    .filter_map(|l| {
                        let (k, v) = l.split_once('=')?;
                        (k.trim() == "path").then(|| v.trim().trim_matches('/').to_string())
                    })
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Workspace {
            root,
            hooks: None,
            submodules,
        })
    }

    /// Guard the folder git runs hooks from (`core.hooksPath`, absolute or relative to the
    /// root) when it lies inside the working directory.
    pub fn with_hooks_path(mut self, hooks: Option<&Path>) -> Self {
        self.hooks = hooks.and_then(|h| {
            let abs = if h.is_absolute() {
                h.to_path_buf()
            } else {
                self.root.join(h)
            };
            let abs = abs.canonicalize().unwrap_or(abs);
            let rel = abs.strip_prefix(&self.root).ok()?;
            let rel = rel.to_string_lossy().replace('\\', "/");
            Some(rel.trim_matches('/').to_string())
        });
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Top-level names a command's sandbox must not make writable: `.gitmodules`, `.tandem`
    /// (the reviewer's config, knowledge and lessons), and the
    /// first folder of the hooks path and of each submodule (Landlock grants by hierarchy, so a
    /// deeper hooks folder is guarded by the check after the command instead).
    pub fn protected_top_level(&self) -> Vec<String> {
        let mut out = vec![".gitmodules".to_string(), ".tandem".to_string()];
        let firsts = self.hooks.iter().chain(&self.submodules);
        for p in firsts {
            if let Some(first) = p.split('/').next()
                && !first.is_empty()
                && !out.iter().any(|o| o == first)
            {
                out.push(first.to_string());
            }
        }
        out
    }

    /// Resolve a model-given path to an absolute path inside the root, or say why not.
    /// `.` (or empty, when `allow_root`) means the root itself.
    pub fn confine(&self, raw: &str, allow_root: bool) -> Result<(PathBuf, String), PathError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed == "." || trimmed == "./" {
            return if allow_root {
                Ok((self.root.clone(), String::new()))
            } else {
                Err(PathError::Empty)
            };
        }
        // Backslashes are separators to a person even on Unix; refusing to guess is safer.
        let normalised = trimmed.replace('\\', "/");
        let path = Path::new(&normalised);
        if path.is_absolute() || normalised.starts_with('/') || has_drive_prefix(&normalised) {
            return Err(PathError::Absolute(raw.to_string()));
        }
        let mut parts: Vec<String> = Vec::new();
        for comp in path.components() {
            match comp {
                Component::CurDir => {}
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(PathError::Escapes(raw.to_string()));
                    }
                }
                Component::Normal(s) => {
                    let s = s.to_string_lossy().to_string();
                    parts.push(s);
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Absolute(raw.to_string()));
                }
            }
        }
        if parts.is_empty() {
            return if allow_root {
                Ok((self.root.clone(), String::new()))
            } else {
                Err(PathError::Empty)
            };
        }
        if parts.iter().any(|p| is_git_name(p)) {
            return Err(PathError::GitDir(raw.to_string()));
        }
        let rel = parts.join("/");
        let full = self.root.join(&rel);
        // Walk down from the root: every existing prefix must resolve inside the root, so a
        // symlinked directory anywhere in the path is caught before we write through it.
        let mut cur = self.root.clone();
        for part in &parts {
            cur.push(part);
            match std::fs::symlink_metadata(&cur) {
                Ok(meta) => {
                    if meta.file_type().is_symlink() {
                        match cur.canonicalize() {
                            Ok(real) if real.starts_with(&self.root) => {
                                let inner = real.strip_prefix(&self.root).unwrap_or(&real);
                                if inner
                                    .components()
                                    .any(|c| is_git_name(&c.as_os_str().to_string_lossy()))
                                {
                                    return Err(PathError::GitDir(raw.to_string()));
                                }
                            }
                            _ => return Err(PathError::SymlinkEscape(raw.to_string())),
                        }
                    }
                }
                Err(_) => break,
            }
        }
        Ok((full, rel))
    }

    /// Where a write to `raw` really lands — relative to the root, every symlink resolved (a
    /// write through a link changes its target, and git tracks the target) — or why tandem will
    /// not write there: nothing that makes git run a program, nothing in another repository,
    /// nothing that is not a regular file.
    // Long: each rule on the path in turn (the working directory itself, git's own files,
    // submodules and other repositories, links, non-regular files); a failing rule returns its
    // sentence.
    pub fn confine_write(&self, raw: &str) -> Result<(PathBuf, String), String> {
        let (_, rel) = self.confine(raw, false).map_err(|e| e.to_string())?;
        let parts: Vec<&str> = rel.split('/').collect();
        let mut real = self.root.clone();
        let mut i = 0;
        while i < parts.len() {
            let next = real.join(parts[i]);
            match std::fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => {
                    real = next
                        .canonicalize()
                        .map_err(|_| format!("`{rel}` goes through a broken symlink"))?;
                }
                Ok(_) => real = next,
                Err(_) => break,
            }
            i += 1;
        }
        for p in &parts[i..] {
            real.push(p);
        }
        let real_rel = real
            .strip_prefix(&self.root)
            .map_err(|_| PathError::SymlinkEscape(raw.to_string()).to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        if real_rel.is_empty() {
            return Err(format!("`{rel}` is the working directory itself"));
        }
        let shown = if real_rel == rel {
            format!("`{rel}`")
        } else {
            format!("`{rel}` (a link to `{real_rel}`)")
        };
        if real_rel.split('/').any(is_git_name) {
            return Err(PathError::GitDir(raw.to_string()).to_string());
        }
        let rparts: Vec<&str> = real_rel.split('/').collect();
        if rparts[0].eq_ignore_ascii_case(".tandem") {
            return Err(format!(
                "{shown} is in .tandem/, the reviewer's own folder (the repository's tandem config, knowledge and lessons); the agent may not change it"
            ));
        }
        let mut dir = self.root.clone();
        for (k, p) in rparts[..rparts.len() - 1].iter().enumerate() {
            dir.push(p);
            let acc = rparts[..=k].join("/");
            if std::fs::symlink_metadata(dir.join(".git")).is_ok() || self.submodules.contains(&acc)
            {
                return Err(format!(
                    "{shown} is inside `{acc}`, a nested git repository or submodule; tandem writes only this repository's own files"
                ));
            }
        }
        if self.submodules.contains(&real_rel) {
            return Err(format!("{shown} is a submodule; tandem does not write it"));
        }
        if let Some(h) = &self.hooks
            && (h.is_empty() || real_rel == *h || real_rel.starts_with(&format!("{h}/")))
        {
            return Err(format!(
                "{shown} is in the git hooks folder (core.hooksPath = {h}); git runs the files there, so the agent may not write them"
            ));
        }
        if rparts.last().is_some_and(|n| *n == ".gitmodules") {
            return Err(format!(
                "{shown}: .gitmodules decides which repositories git fetches; the agent may not change it"
            ));
        }
        if let Ok(m) = std::fs::symlink_metadata(&real)
            && !m.is_file()
        {
            return Err(if m.is_dir() {
                format!("{shown} is a directory")
            } else {
                format!(
                    "{shown} is not a regular file (a FIFO, socket or device); tandem does not write it"
                )
            });
        }
        Ok((real, real_rel))
    }

    /// Run one tool call. `arguments` is the raw JSON text the model sent.
    pub fn run(&self, name: &str, arguments: &str, before_write: &mut BeforeWrite<'_>) -> Outcome {
        let args: Value = match parse_arguments(arguments) {
            Ok(v) => v,
            Err(e) => {
                return error(format!(
                    "the arguments of `{name}` are not valid JSON ({e}); send a JSON object"
                ));
            }
        };
        match name {
            "list_files" => self.list_files(args),
            "read_file" => self.read_file(args),
            "write_file" => self.write_file(args, before_write),
            "edit_file" => self.edit_file(args, before_write),
            "search" => self.search(args),
            "delete_file" => self.delete_file(args, before_write),
            "move_file" => self.move_file(args, before_write),
            "finish" => match field::<FinishArgs>(name, args) {
                Ok(a) => Outcome::Finish {
                    summary: clean_text(&a.summary),
                    replies: a
                        .replies
                        .into_iter()
                        .map(|r| FinishReply {
                            thread: clean_text(&r.thread),
                            status: clean_text(&r.status),
                            text: clean_text(&r.text),
                        })
                        .collect(),
                },
                Err(e) => e,
            },
            other => error(format!(
                "there is no tool named `{other}`; the tools are: {}",
                DRAFT_TOOLS.join(", ")
            )),
        }
    }
}

/// Reading a FIFO blocks forever and a device never ends: tools read regular files only.
fn regular_file(path: &Path, rel: &str) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.is_dir() => Err(format!("`{rel}` is a directory")),
        Ok(_) => Err(format!(
            "`{rel}` is not a regular file (a FIFO, socket or device); tools do not read it"
        )),
        // Missing: the caller says so in its own words.
        Err(_) => Ok(()),
    }
}

/// A `.gitattributes` line that names a filter, diff or merge driver (`filter=lfs`): git runs
/// the program configured for it.
pub fn sets_a_driver(content: &[u8]) -> bool {
    String::from_utf8_lossy(content)
        .split_whitespace()
        .any(|t| t.starts_with("filter=") || t.starts_with("diff=") || t.starts_with("merge="))
}

/// Text from a model for places that reach git and terminals (summaries, titles): NUL and
/// other control characters, escape sequences among them, are dropped; newlines and tabs stay.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fn has_drive_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// `.git` in any letter case: case-insensitive filesystems would map `.GIT` to the same place.
/// Trailing dots and spaces are dropped the same way by some filesystems.
fn is_git_name(part: &str) -> bool {
    part.trim_end_matches(['.', ' '])
        .eq_ignore_ascii_case(".git")
}

fn display_rel(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Parse tool arguments, repairing what is unambiguous: an empty string means no arguments;
/// an object wrapped in a Markdown fence, or encoded twice (a JSON string holding the object), is
/// unwrapped; HTML-escaped quotes are unescaped when that makes valid JSON. Anything else that is
/// not JSON stays an error, which the model gets back as an error result.
pub fn parse_arguments(raw: &str) -> Result<Value, String> {
    let mut trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(json!({}));
    }
    if let Some(inner) = trimmed.strip_prefix("```")
        && let Some(inner) = inner.strip_suffix("```")
    {
        let inner = inner.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        trimmed = inner.trim();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::String(s)) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(&s) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err("the arguments are a string, not a JSON object".into()),
            }
        }
        Ok(v) => Ok(v),
        Err(e) => {
            let unescaped = trimmed.replace("&quot;", "\"").replace("&#34;", "\"");
            if unescaped != trimmed
                && let Ok(v) = serde_json::from_str::<Value>(&unescaped)
            {
                return Ok(v);
            }
            Err(e.to_string())
        }
    }
}

fn ok(text: String) -> Outcome {
    Outcome::Continue { ok: true, text }
}

fn error(text: String) -> Outcome {
    Outcome::Continue {
        ok: false,
        text: format!("error: {text}"),
    }
}

fn field<T: serde::de::DeserializeOwned>(tool: &str, args: Value) -> Result<T, Outcome> {
    serde_json::from_value(args).map_err(|e| error(format!("bad arguments for `{tool}`: {e}")))
}

#[derive(Deserialize)]
struct PathArg {
    path: Option<String>,
}
#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    start_line: Option<usize>,
}
#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}
#[derive(Deserialize)]
struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
}
#[derive(Deserialize)]
struct OnePath {
    path: String,
}
#[derive(Deserialize)]
struct MoveArgs {
    from: String,
    to: String,
}
#[derive(Deserialize)]
struct SearchArgs {
    pattern: String,
    path: Option<String>,
}
#[derive(Deserialize)]
struct FinishArgs {
    summary: String,
    #[serde(default)]
    replies: Vec<FinishReply>,
}

mod file_tools;
mod schemas;
pub use schemas::{
    CHECKER_READ_TOOLS, DRAFT_TOOLS, KNOWLEDGE_TOOLS, checker_tool_schemas, draft_tool_schemas,
    knowledge_tool_schemas, lessons_tool_schema,
};

#[cfg(test)]
mod tests;
