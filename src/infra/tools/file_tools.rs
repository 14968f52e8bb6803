//! The agent's file tools, one method each: list, read, write, edit, search, delete and move.
//! Every path goes through `confine` / `confine_write` first, and every write through the
//! caller's `before_write` check (see the module doc of `tools`).

use super::*;

impl Workspace {
    pub(super) fn list_files(&self, args: Value) -> Outcome {
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

    pub(super) fn read_file(&self, args: Value) -> Outcome {
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

    pub(super) fn write_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
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

    pub(super) fn edit_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
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

    pub(super) fn search(&self, args: Value) -> Outcome {
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

    pub(super) fn delete_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
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
    pub(super) fn move_file(&self, args: Value, before_write: &mut BeforeWrite<'_>) -> Outcome {
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
