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

    fn list_files(&self, args: Value) -> Outcome {
        let a: PathArg = match field("list_files", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (dir, rel) = match self.confine(a.path.as_deref().unwrap_or(""), true) {
            Ok(p) => p,
            Err(e) => return error(e.to_string()),
        };
        if !dir.is_dir() {
            return error(format!("`{}` is not a directory", display_rel(&rel)));
        }
        let mut files = Vec::new();
        let walker = ignore::WalkBuilder::new(&dir)
            .hidden(false)
            .git_ignore(true)
            .git_exclude(true)
            .require_git(false)
            .filter_entry(|e| !is_git_name(&e.file_name().to_string_lossy()))
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        let mut more = 0usize;
        for entry in walker.flatten() {
            if entry
                .file_type()
                .is_some_and(|t| t.is_file() || t.is_symlink())
            {
                if files.len() >= MAX_LIST {
                    more += 1;
                    continue;
                }
                if let Ok(p) = entry.path().strip_prefix(&self.root) {
                    files.push(p.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        if files.is_empty() {
            return ok(format!("(no files under {})", display_rel(&rel)));
        }
        let mut text = files.join("\n");
        if more > 0 {
            text.push_str(&format!(
                "\n… and {more} more files; list a subdirectory to see them"
            ));
        }
        ok(text)
    }

    fn read_file(&self, args: Value) -> Outcome {
        let a: ReadArgs = match field("read_file", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (path, rel) = match self.confine(&a.path, false) {
            Ok(p) => p,
            Err(e) => return error(e.to_string()),
        };
        if let Err(e) = regular_file(&path, &rel) {
            return error(e);
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return error(format!("`{rel}` does not exist"));
            }
            Err(e) => return error(format!("cannot read `{rel}`: {e}")),
        };
        let Ok(text) = String::from_utf8(bytes) else {
            return error(format!(
                "`{rel}` is a binary file; it cannot be shown as text"
            ));
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let total = lines.len();
        let start = a.start_line.unwrap_or(1).max(1);
        if total == 0 {
            return ok(String::new());
        }
        if start > total {
            return error(format!("`{rel}` has only {total} lines"));
        }
        let end = (start - 1 + READ_PAGE_LINES).min(total);
        let body: String = lines[start - 1..end].concat();
        if start == 1 && end == total {
            return ok(body);
        }
        let mut text = format!("[{rel}: lines {start}-{end} of {total}]\n{body}");
        if end < total {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[more: call read_file with path \"{rel}\" and start_line {}]",
                end + 1
            ));
        }
        ok(text)
    }

    fn write_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
        let a: WriteArgs = match field("write_file", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (path, rel) = match self.confine_write(&a.path) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        match self.replace(&path, &rel, a.content.as_bytes(), before_write) {
            Ok(()) => {
                let added = a.content.lines().count();
                Outcome::Wrote {
                    text: format!("wrote {rel} ({added} lines)"),
                    lines: LineChange { added, removed: 0 },
                }
            }
            Err(e) => error(e),
        }
    }

    fn edit_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
        let a: EditArgs = match field("edit_file", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (path, rel) = match self.confine_write(&a.path) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return error(format!(
                    "`{rel}` does not exist; use write_file to create it"
                ));
            }
            Err(e) => return error(format!("cannot read `{rel}`: {e}")),
        };
        if a.old_text.is_empty() {
            return error("`old_text` is empty; quote the exact text to replace".into());
        }
        let count = text.matches(&a.old_text).count();
        if count == 0 {
            return error(format!(
                "`old_text` does not occur in `{rel}`; read the file and quote it exactly, whitespace included"
            ));
        }
        if count > 1 {
            return error(format!(
                "`old_text` occurs {count} times in `{rel}`; include more surrounding lines so it occurs once"
            ));
        }
        let new = text.replacen(&a.old_text, &a.new_text, 1);
        match self.replace(&path, &rel, new.as_bytes(), before_write) {
            Ok(()) => {
                let removed = a.old_text.lines().count();
                let added = a.new_text.lines().count();
                Outcome::Wrote {
                    text: format!("edited {rel} (+{added} -{removed})"),
                    lines: LineChange { added, removed },
                }
            }
            Err(e) => error(e),
        }
    }

    fn search(&self, args: Value) -> Outcome {
        let a: SearchArgs = match field("search", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (dir, rel) = match self.confine(a.path.as_deref().unwrap_or(""), true) {
            Ok(p) => p,
            Err(e) => return error(e.to_string()),
        };
        let re = match regex::Regex::new(&a.pattern) {
            Ok(r) => r,
            // A model often sends literal text with regex metacharacters; search it literally.
            Err(_) => match regex::Regex::new(&regex::escape(&a.pattern)) {
                Ok(r) => r,
                Err(e) => return error(format!("bad pattern: {e}")),
            },
        };
        let mut out = Vec::new();
        let mut more = 0usize;
        let walker = ignore::WalkBuilder::new(&dir)
            .hidden(false)
            .require_git(false)
            .filter_entry(|e| !is_git_name(&e.file_name().to_string_lossy()))
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let shown = entry
                .path()
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                if re.is_match(line) {
                    if out.len() >= MAX_MATCHES {
                        more += 1;
                        continue;
                    }
                    out.push(format!("{shown}:{}: {}", i + 1, clip(line, MAX_LINE_CHARS)));
                }
            }
        }
        if out.is_empty() {
            return ok(format!(
                "no matches for `{}` under {}",
                a.pattern,
                display_rel(&rel)
            ));
        }
        let mut text = out.join("\n");
        if more > 0 {
            text.push_str(&format!(
                "\n… and {more} more matches; narrow the pattern or path"
            ));
        }
        ok(text)
    }

    fn delete_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
        let a: OnePath = match field("delete_file", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (path, rel) = match self.confine_write(&a.path) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        match self.remove(&path, &rel, before_write) {
            Ok(removed) => Outcome::Wrote {
                text: format!("deleted {rel} ({removed} lines)"),
                lines: LineChange { added: 0, removed },
            },
            Err(e) => error(e),
        }
    }

    /// A move is a write of the new path and a deletion of the old one, each through the hook,
    /// so reject puts both back. The content moves byte for byte, executable bit included.
    fn move_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
        let a: MoveArgs = match field("move_file", args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let (from, from_rel) = match self.confine_write(&a.from) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        let (to, to_rel) = match self.confine_write(&a.to) {
            Ok(p) => p,
            Err(e) => return error(e),
        };
        if from_rel == to_rel {
            return error(format!("`{from_rel}` and `{to_rel}` are the same file"));
        }
        let (bytes, exec) = match std::fs::symlink_metadata(&from) {
            Ok(m) => match std::fs::read(&from) {
                Ok(b) => (b, crate::infra::gitops::is_executable(&m)),
                Err(e) => return error(format!("cannot read `{from_rel}`: {e}")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return error(format!("`{from_rel}` does not exist"));
            }
            Err(e) => return error(format!("cannot read `{from_rel}`: {e}")),
        };
        if to.exists() {
            return error(format!(
                "`{to_rel}` already exists; delete it first if it should be replaced"
            ));
        }
        if let Err(e) = self.replace(&to, &to_rel, &bytes, before_write) {
            return error(e);
        }
        if exec && let Err(e) = crate::infra::gitops::set_executable(&to, true) {
            return error(format!("cannot make `{to_rel}` executable: {e}"));
        }
        match self.remove(&from, &from_rel, before_write) {
            Ok(lines) => Outcome::Wrote {
                text: format!("moved {from_rel} to {to_rel}"),
                lines: LineChange {
                    added: lines,
                    removed: lines,
                },
            },
            Err(e) => error(format!("wrote {to_rel} but {e}")),
        }
    }

    /// Delete a file after telling the hook what it held; says how many lines went.
    fn remove(
        &self,
        path: &Path,
        rel: &str,
        before_write: &mut BeforeWrite<'_>,
    ) -> Result<usize, String> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("`{rel}` does not exist"));
            }
            Err(e) => return Err(format!("cannot read `{rel}`: {e}")),
        };
        let old = std::fs::read(path).map_err(|e| format!("cannot read `{rel}`: {e}"))?;
        before_write(&PendingWrite {
            rel,
            old: Some(&old),
            old_exec: crate::infra::gitops::is_executable(&meta),
            new: None,
            created_dirs: &[],
        })?;
        std::fs::remove_file(path).map_err(|e| format!("cannot delete `{rel}`: {e}"))?;
        Ok(String::from_utf8_lossy(&old).lines().count())
    }

    /// Replace a file's content atomically, after telling the hook what it held.
    fn replace(
        &self,
        path: &Path,
        rel: &str,
        content: &[u8],
        before_write: &mut BeforeWrite<'_>,
    ) -> Result<(), String> {
        if rel.rsplit('/').next() == Some(".gitattributes") && sets_a_driver(content) {
            return Err(format!(
                "`{rel}` would set a filter, diff or merge driver, which makes git run a program; the agent may not do that"
            ));
        }
        let (old, old_exec) = match std::fs::symlink_metadata(path) {
            Ok(m) => (
                Some(std::fs::read(path).map_err(|e| format!("cannot read `{rel}`: {e}"))?),
                crate::infra::gitops::is_executable(&m),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, false),
            Err(e) => return Err(format!("cannot read `{rel}`: {e}")),
        };
        let mut created = Vec::new();
        let mut dir = PathBuf::new();
        let parent_parts: Vec<&str> = rel.split('/').collect();
        for part in &parent_parts[..parent_parts.len().saturating_sub(1)] {
            dir.push(part);
            let full = self.root.join(&dir);
            if !full.exists() {
                created.push(dir.to_string_lossy().replace('\\', "/"));
            } else if !full.is_dir() {
                return Err(format!("`{}` is a file, not a directory", dir.display()));
            }
        }
        before_write(&PendingWrite {
            rel,
            old: old.as_deref(),
            old_exec,
            new: Some(content),
            created_dirs: &created,
        })?;
        crate::infra::files::create_parent(path)
            .and_then(|()| crate::infra::files::write_atomic(path, content))
            .map_err(|e| format!("cannot write `{rel}`: {e}"))
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

mod schemas;
pub use schemas::{
    CHECKER_READ_TOOLS, DRAFT_TOOLS, KNOWLEDGE_TOOLS, checker_tool_schemas, draft_tool_schemas,
    knowledge_tool_schemas, lessons_tool_schema,
};

#[cfg(test)]
mod tests;
