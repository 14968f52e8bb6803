//! Structured diffs between two commits (task base → iteration, or iteration → iteration), the
//! one shape the review screen, replay and `exec` all render.
//!
//! Invariants: pure git2 reading, blocking; binary files and over-long lines are marked, never
//! dumped, so a renderer can show them without measuring megabytes of text.

use git2::{DiffOptions, Oid, Patch, Repository};
use serde::{Deserialize, Serialize};

/// Lines longer than this are cut for display; the cut is marked.
pub const MAX_LINE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: LineKind,
    pub old: Option<u32>,
    pub new: Option<u32>,
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    pub header: String,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    pub path: String,
    pub old_path: Option<String>,
    /// 'A' added, 'M' modified, 'D' deleted, 'R' renamed.
    pub status: char,
    pub binary: bool,
    /// A change no line diff shows: the file mode ("100644 → 100755") or its kind (a symlink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub added: u32,
    pub removed: u32,
    pub hunks: Vec<Hunk>,
}

pub fn between(repo: &Repository, from: &str, to: &str) -> Result<Vec<FileDiff>, git2::Error> {
    let from_tree = repo.find_commit(Oid::from_str(from)?)?.tree()?;
    let to_tree = repo.find_commit(Oid::from_str(to)?)?.tree()?;
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    let diff = repo.diff_tree_to_tree(Some(&from_tree), Some(&to_tree), Some(&mut opts))?;
    let mut files = Vec::new();
    for idx in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(idx) else {
            continue;
        };
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let old_path = delta
            .old_file()
            .path()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .filter(|p| *p != path);
        let status = match delta.status() {
            git2::Delta::Added => 'A',
            git2::Delta::Deleted => 'D',
            git2::Delta::Renamed => 'R',
            _ => 'M',
        };
        let mode_name = |m: git2::FileMode| match m {
            git2::FileMode::BlobExecutable => "executable file",
            git2::FileMode::Link => "symlink",
            git2::FileMode::Commit => "submodule",
            _ => "file",
        };
        let (old_mode, new_mode) = (delta.old_file().mode(), delta.new_file().mode());
        let mode = (status == 'M' && old_mode != new_mode)
            .then(|| format!("{} → {}", mode_name(old_mode), mode_name(new_mode)))
            .or_else(|| {
                // A new or deleted file that is not a plain one says so.
                let m = if status == 'D' { old_mode } else { new_mode };
                (status != 'M' && m != git2::FileMode::Blob && m != git2::FileMode::Unreadable)
                    .then(|| mode_name(m).to_string())
            });
        let mut file = FileDiff {
            path,
            old_path,
            status,
            binary: false,
            mode,
            added: 0,
            removed: 0,
            hunks: Vec::new(),
        };
        let patch = Patch::from_diff(&diff, idx)?;
        match patch {
            None => file.binary = true,
            Some(patch) => {
                if patch.delta().flags().is_binary() {
                    file.binary = true;
                } else {
                    for h in 0..patch.num_hunks() {
                        let (hunk, n) = patch.hunk(h)?;
                        let mut out = Hunk {
                            header: String::from_utf8_lossy(hunk.header())
                                .trim_end()
                                .to_string(),
                            lines: Vec::with_capacity(n),
                        };
                        for l in 0..n {
                            let line = patch.line_in_hunk(h, l)?;
                            let kind = match line.origin() {
                                '+' => LineKind::Added,
                                '-' => LineKind::Removed,
                                ' ' => LineKind::Context,
                                _ => continue,
                            };
                            match kind {
                                LineKind::Added => file.added += 1,
                                LineKind::Removed => file.removed += 1,
                                LineKind::Context => {}
                            }
                            let raw = String::from_utf8_lossy(line.content());
                            let raw = raw.trim_end_matches(['\n', '\r']);
                            let truncated = raw.len() > MAX_LINE;
                            let text = if truncated {
                                let mut end = MAX_LINE;
                                while !raw.is_char_boundary(end) {
                                    end -= 1;
                                }
                                raw[..end].to_string()
                            } else {
                                raw.to_string()
                            };
                            out.lines.push(DiffLine {
                                kind,
                                old: line.old_lineno(),
                                new: line.new_lineno(),
                                text,
                                truncated,
                            });
                        }
                        file.hunks.push(out);
                    }
                }
            }
        }
        files.push(file);
    }
    Ok(files)
}

/// Render as plain unified diff text (for `exec` and logs).
pub fn to_unified(files: &[FileDiff]) -> String {
    let mut s = String::new();
    for f in files {
        let old = f.old_path.as_deref().unwrap_or(&f.path);
        s.push_str(&format!("--- a/{old}\n+++ b/{}\n", f.path));
        if let Some(m) = &f.mode {
            s.push_str(&format!("({m})\n"));
        }
        if f.binary {
            s.push_str("(binary file differs)\n");
            continue;
        }
        for h in &f.hunks {
            s.push_str(&h.header);
            s.push('\n');
            for l in &h.lines {
                let c = match l.kind {
                    LineKind::Added => '+',
                    LineKind::Removed => '-',
                    LineKind::Context => ' ',
                };
                s.push(c);
                s.push_str(&l.text);
                if l.truncated {
                    s.push_str(" …(line cut)");
                }
                s.push('\n');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, files: &[(&str, &[u8], git2::FileMode)]) -> String {
        let mut b = git2::build::TreeUpdateBuilder::new();
        for (p, bytes, mode) in files {
            b.upsert(*p, repo.blob(bytes).unwrap(), *mode);
        }
        let empty = repo.find_tree(repo.treebuilder(None).unwrap().write().unwrap());
        let tree = b.create_updated(repo, &empty.unwrap()).unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &sig, &sig, "m", &tree, &[])
            .unwrap()
            .to_string()
    }

    #[test]
    fn mode_and_kind_changes_are_named_when_no_line_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let from = commit(&repo, &[("run.sh", b"echo\n", git2::FileMode::Blob)]);
        let to = commit(
            &repo,
            &[
                ("run.sh", b"echo\n", git2::FileMode::BlobExecutable),
                ("link", b"run.sh", git2::FileMode::Link),
            ],
        );
        let files = between(&repo, &from, &to).unwrap();
        let by = |p: &str| files.iter().find(|f| f.path == p).unwrap();
        assert_eq!(by("run.sh").mode.as_deref(), Some("file → executable file"));
        assert!(by("run.sh").hunks.is_empty());
        assert_eq!(by("link").mode.as_deref(), Some("symlink"));
        assert!(to_unified(&files).contains("(file → executable file)"));
    }
}
