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

/// The paths (files, symlinks, submodules) whose entries differ between two trees, in tree
/// order. Only subtrees whose ids differ are read, so one changed file in a 50,000-file tree
/// costs a few tree reads, not a walk of every entry (which libgit2's tree diff does).
pub fn changed_paths(
    repo: &Repository,
    a: Option<&git2::Tree<'_>>,
    b: Option<&git2::Tree<'_>>,
) -> Result<Vec<String>, git2::Error> {
    let mut out = Vec::new();
    walk_changes(repo, a, b, "", &mut out)?;
    Ok(out)
}

fn walk_changes(
    repo: &Repository,
    a: Option<&git2::Tree<'_>>,
    b: Option<&git2::Tree<'_>>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<(), git2::Error> {
    type Entry = (Oid, i32, bool);
    let entries = |t: Option<&git2::Tree<'_>>| -> std::collections::BTreeMap<Vec<u8>, Entry> {
        t.map(|t| {
            t.iter()
                .map(|e| {
                    let is_tree = e.kind() == Some(git2::ObjectType::Tree);
                    (e.name_bytes().to_vec(), (e.id(), e.filemode(), is_tree))
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (ea, eb) = (entries(a), entries(b));
    let names: std::collections::BTreeSet<&Vec<u8>> = ea.keys().chain(eb.keys()).collect();
    for name in names {
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        let (x, y) = (ea.get(name), eb.get(name));
        if x == y {
            continue;
        }
        let subtree = |e: Option<&Entry>| -> Result<Option<git2::Tree<'_>>, git2::Error> {
            match e {
                Some((id, _, true)) => repo.find_tree(*id).map(Some),
                _ => Ok(None),
            }
        };
        let (ta, tb) = (subtree(x)?, subtree(y)?);
        // A file on either side is a path of its own; a tree on either side is walked.
        if x.is_some_and(|e| !e.2) || y.is_some_and(|e| !e.2) {
            out.push(path.clone());
        }
        if ta.is_some() || tb.is_some() {
            walk_changes(repo, ta.as_ref(), tb.as_ref(), &format!("{path}/"), out)?;
        }
    }
    Ok(())
}

/// A tree-to-tree diff limited to `paths` exactly (the paths `changed_paths` found): the same
/// deltas as the whole diff, without libgit2 walking every entry of both trees. No paths: no
/// diff (an empty path list would mean every path to libgit2).
pub fn tree_diff<'r>(
    repo: &'r Repository,
    a: &git2::Tree<'_>,
    b: &git2::Tree<'_>,
    opts: &mut DiffOptions,
) -> Result<Option<git2::Diff<'r>>, git2::Error> {
    let paths = changed_paths(repo, Some(a), Some(b))?;
    if paths.is_empty() {
        return Ok(None);
    }
    for p in &paths {
        opts.pathspec(p);
    }
    opts.disable_pathspec_match(true);
    repo.diff_tree_to_tree(Some(a), Some(b), Some(opts))
        .map(Some)
}

// Long: one delta at a time (status, hunks and lines, binary and rename details) into the file
// being built.
pub fn between(repo: &Repository, from: &str, to: &str) -> Result<Vec<FileDiff>, git2::Error> {
    let from_tree = repo.find_commit(Oid::from_str(from)?)?.tree()?;
    let to_tree = repo.find_commit(Oid::from_str(to)?)?.tree()?;
    let mut opts = DiffOptions::new();
    opts.context_lines(3);
    let Some(diff) = tree_diff(repo, &from_tree, &to_tree, &mut opts)? else {
        return Ok(Vec::new());
    };
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

    /// The pruned walk names exactly the paths a whole-tree diff names, for random trees: files
    /// added, deleted, changed, made executable, turned into folders and back.
    #[test]
    fn changed_paths_match_the_whole_tree_diff() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut rng = fastrand::Rng::with_seed(5);
        let names = [
            "a", "b", "c.txt", "d/e", "d/f/g", "d/f/h", "x/y", "x/z/w", "d",
        ];
        let build = |rng: &mut fastrand::Rng| {
            let mut b = git2::build::TreeUpdateBuilder::new();
            let mut used: Vec<&str> = Vec::new();
            for n in names {
                // A name cannot be a file and a folder in one tree.
                if used
                    .iter()
                    .any(|u| u.starts_with(&format!("{n}/")) || n.starts_with(&format!("{u}/")))
                    || rng.bool()
                {
                    continue;
                }
                used.push(n);
                let blob = repo.blob(format!("{}", rng.u8(0..3)).as_bytes()).unwrap();
                let mode = if rng.u8(0..4) == 0 {
                    git2::FileMode::BlobExecutable
                } else {
                    git2::FileMode::Blob
                };
                b.upsert(n, blob, mode);
            }
            let empty = repo
                .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
                .unwrap();
            repo.find_tree(b.create_updated(&repo, &empty).unwrap())
                .unwrap()
        };
        for _ in 0..300 {
            let (x, y) = (build(&mut rng), build(&mut rng));
            let whole = repo.diff_tree_to_tree(Some(&x), Some(&y), None).unwrap();
            let mut expected: Vec<String> = whole
                .deltas()
                .flat_map(|d| {
                    [d.old_file().path(), d.new_file().path()]
                        .into_iter()
                        .flatten()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
            expected.sort();
            expected.dedup();
            let mut got = changed_paths(&repo, Some(&x), Some(&y)).unwrap();
            got.sort();
            assert_eq!(got, expected);
            // And the limited diff has the whole diff's deltas.
            let mut opts = DiffOptions::new();
            let limited = tree_diff(&repo, &x, &y, &mut opts).unwrap();
            assert_eq!(
                limited.map_or(0, |d| d.deltas().len()),
                whole.deltas().len()
            );
        }
    }

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
