//! Git work for the core, all through git2 and all blocking: callers run it off any UI runtime
//! (on the engine's own thread, with `spawn_blocking`, or at start-up).
//!
//! Invariants: nothing here moves the user's branch except `review::commit_reviewed`, which adds
//! exactly one commit on top of the current HEAD holding the reviewed change (see `review`). Iteration snapshots and
//! the journal live under `refs/tandem/sessions/<id>/`, so they travel with
//! `git push/fetch 'refs/tandem/*'` and never show up in `git log` of a branch. Files are written
//! through a temp file and rename.

mod clean;
mod hooks;
mod journal_store;
pub mod manifest;
mod review;
mod sign;

pub use journal_store::{journal_ref, store_journal, stored_journal};
pub use review::{
    Accepted, OnDisk, Preimage, Proposal, blob_as_added, blobs_in, commit_reviewed, conflicts,
    find_accepted_commit, on_disk, raw_id, rescue, stage_reviewed, still_saved,
    unstage_agent_content,
};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, Signature};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const REF_ROOT: &str = "refs/tandem/sessions";
/// Objects that stay on this machine: worktree snapshots hold untracked and gitignored files
/// as they were (a `.env` among them), so they never go where `refs/tandem/*` is pushed.
pub const LOCAL_REF_ROOT: &str = "refs/tandem-local/sessions";

/// Remove `*.lock` files a killed process left under one session's refs (`refs/tandem/…` and
/// `refs/tandem-local/…`). Call it only while holding the repository lock, so that no live
/// tandem is writing them; returns how many were removed.
pub fn clear_stale_ref_locks(repo: &Repository, session: &str) -> Result<usize> {
    fn walk(dir: &Path, removed: &mut usize) -> std::io::Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type()?.is_dir() {
                walk(&path, removed)?;
            } else if path.extension().is_some_and(|x| x == "lock") {
                std::fs::remove_file(&path)?;
                *removed += 1;
            }
        }
        Ok(())
    }
    let mut removed = 0;
    for root in [REF_ROOT, LOCAL_REF_ROOT] {
        walk(&repo.path().join(root).join(session), &mut removed).map_err(|e| GitError::Op {
            context: format!("clear stale locks under {root}/{session}"),
            message: e.to_string(),
        })?;
    }
    Ok(removed)
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not inside a git repository")]
    NotARepo { path: String },
    #[error("{path} is a bare repository; tandem needs a working directory")]
    Bare { path: String },
    #[error(
        "git has no author identity for this repository, and tandem commits in your name.\nSet one with:\n  git config user.name \"Your Name\"\n  git config user.email you@example.com\n(add --global to set it for every repository)"
    )]
    NoIdentity,
    #[error("git: {context}: {message}")]
    Op { context: String, message: String },
    #[error(
        "the branch changed {} since the task began; tandem will not commit the reviewed change over it. Nothing was committed; the task is back in review: reject it and draft it again, or bring the branch back and accept",
        .0.join(", ")
    )]
    BranchMoved(Vec<String>),
    #[error(
        "the branch moved while tandem was committing (a commit made meanwhile?); nothing was committed and your commit is untouched. Review the task again and accept"
    )]
    HeadMoved,
    #[error(
        "commit signing failed ({program}): {message}\nNothing was committed; the task is back in review. Fix signing (git config gpg.format / user.signingkey), or turn it off for this repository with `git config commit.gpgsign false`, then accept again"
    )]
    Sign { program: String, message: String },
    #[error(
        "the {hook} hook refused the commit{}\nNothing was committed; the task is back in review: ask for a revision, edit by hand, or set accept_runs_hooks = false in the config",
        if .output.is_empty() { String::new() } else { format!(":\n{}", .output) }
    )]
    Hook { hook: String, output: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, GitError>;

pub(crate) trait Ctx<T> {
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, git2::Error> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|e| GitError::Op {
            context: context.to_string(),
            message: e.message().to_string(),
        })
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GitError + '_ {
    move |source| GitError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Find the repository containing `path` and its working directory root.
pub fn discover(path: &Path) -> Result<(Repository, PathBuf)> {
    let repo = Repository::discover(path).map_err(|_| GitError::NotARepo {
        path: path.display().to_string(),
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| GitError::Bare {
            path: path.display().to_string(),
        })?
        .to_path_buf();
    Ok((repo, workdir))
}

/// A repository handle lent from this process's pool; it goes back when dropped.
///
/// Why a pool: every fresh `Repository` reads and checksums the whole index the first time it
/// is asked for it (4 MB and ~20 ms in a 50,000-file repository), and one task opens the
/// repository a dozen times (preflight, knowledge, snapshots, accept). A handle kept open reads
/// the index once and afterwards only checks its stamp (`index`), so a user's `git add` during
/// the session is still seen. Objects are immutable and refs are re-read by libgit2, so nothing
/// else a handle caches can go stale.
pub struct Repo {
    repo: Option<Repository>,
    key: PathBuf,
}

/// Idle handles, at most `POOL_PER_REPO` per repository and `POOL_MAX` in all.
static POOL: std::sync::Mutex<Vec<(PathBuf, Repository)>> = std::sync::Mutex::new(Vec::new());
const POOL_PER_REPO: usize = 2;
const POOL_MAX: usize = 8;

impl std::ops::Deref for Repo {
    type Target = Repository;
    // `repo` is None only inside `drop`, which takes it to give it back to the pool.
    #[allow(clippy::expect_used)]
    fn deref(&self) -> &Repository {
        self.repo
            .as_ref()
            .expect("a lent repository is present until dropped")
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let Some(repo) = self.repo.take() else {
            return;
        };
        let Ok(mut pool) = POOL.lock() else {
            return;
        };
        let same = pool.iter().filter(|(k, _)| *k == self.key).count();
        if same < POOL_PER_REPO && pool.len() < POOL_MAX {
            pool.push((std::mem::take(&mut self.key), repo));
        }
    }
}

/// Open the repository at `workdir`, reusing an idle handle of this process when there is one.
pub fn open(workdir: &Path) -> Result<Repo> {
    // `/repo` and `/repo/` (libgit2's own workdir spelling) are one repository.
    let workdir: PathBuf = workdir.components().collect();
    let workdir = workdir.as_path();
    let lent = POOL.lock().ok().and_then(|mut pool| {
        // The handle given back last: the one most likely to have its index read already.
        let at = pool.iter().rposition(|(k, _)| k == workdir)?;
        Some(pool.remove(at).1)
    });
    let repo = match lent {
        Some(repo) => repo,
        None => Repository::open(workdir).ctx("open repository")?,
    };
    Ok(Repo {
        repo: Some(repo),
        key: workdir.to_path_buf(),
    })
}

/// A handle of its own for work that never reads the index (storing the journal, which runs
/// beside snapshots and accept): it leaves the pooled handles, whose index is loaded, to them.
pub fn open_for_refs(workdir: &Path) -> Result<Repository> {
    Repository::open(workdir).ctx("open repository")
}

/// The repository's index, re-read if the file changed since this handle last read it (a
/// stamp and checksum comparison, not a re-read, when it did not).
pub fn index(repo: &Repository) -> Result<git2::Index> {
    let mut index = repo.index().ctx("read index")?;
    index.read(false).ctx("read index")?;
    Ok(index)
}

pub fn init(path: &Path) -> Result<Repository> {
    Repository::init(path).ctx("git init")
}

/// The user's identity from git config; commits are made in their name.
pub fn signature(repo: &Repository) -> Result<Signature<'static>> {
    repo.signature().map_err(|_| GitError::NoIdentity)
}

pub fn head(repo: &Repository) -> Option<Oid> {
    repo.head().ok().and_then(|h| h.target())
}

pub fn branch(repo: &Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    head.symbolic_target()
        .ok()
        .flatten()
        .map(|t| t.trim_start_matches("refs/heads/").to_string())
}

/// Tracked files with uncommitted changes (staged or not). Untracked files are not listed:
/// they are the user's and tandem leaves them alone.
pub fn dirty_tracked_files(repo: &Repository) -> Result<Vec<String>> {
    let index = index(repo)?;
    if clean::surely_clean(repo, &index)? {
        return Ok(Vec::new());
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).ctx("read status")?;
    // A sparse checkout leaves files out of the working tree on purpose (skip-worktree); libgit2
    // reports them as deleted, but git does not, and neither does tandem.
    const SKIP_WORKTREE: u16 = 1 << 14;
    let sparse: std::collections::HashSet<Vec<u8>> = index
        .iter()
        .filter(|e| e.flags_extended & SKIP_WORKTREE != 0)
        .map(|e| e.path)
        .collect();
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| {
            let st = s.status();
            !st.is_empty() && st != git2::Status::WT_NEW && st != git2::Status::IGNORED
        })
        .filter(|s| !(s.status() == git2::Status::WT_DELETED && sparse.contains(s.path_bytes())))
        // tandem adds approved lessons to the committed lessons file between sessions; those
        // unstaged additions are the reviewer's own and must not stop the next session.
        .filter(|s| {
            !(s.status() == git2::Status::WT_MODIFIED
                && s.path_bytes() == crate::infra::knowledge::REPO_LESSONS.as_bytes())
        })
        .filter_map(|s| s.path().ok().map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

pub fn write_blob(repo: &Repository, bytes: &[u8]) -> Result<Oid> {
    repo.blob(bytes).ctx("write blob")
}

pub fn read_blob(repo: &Repository, oid: &str) -> Result<Vec<u8>> {
    let oid = Oid::from_str(oid).ctx("parse object id")?;
    Ok(repo.find_blob(oid).ctx("read blob")?.content().to_vec())
}

/// The tree of the commit `commit` (a hex id).
fn commit_tree<'r>(repo: &'r Repository, commit: &str) -> Result<git2::Tree<'r>> {
    let oid = Oid::from_str(commit).ctx("parse commit id")?;
    repo.find_commit(oid)
        .ctx("find commit")?
        .tree()
        .ctx("read tree")
}

/// A file's content in a commit's tree, None if it is not there.
pub fn file_at(repo: &Repository, commit: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let tree = commit_tree(repo, commit)?;
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(
            repo.find_blob(entry.id())
                .ctx("read blob")?
                .content()
                .to_vec(),
        )),
        _ => Ok(None),
    }
}

/// Whether `path` is an executable file in `commit` (None: not a file there).
pub fn exec_at(repo: &Repository, commit: &str, path: &str) -> Result<Option<bool>> {
    let tree = commit_tree(repo, commit)?;
    Ok(match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Some(entry.filemode() == 0o100755),
        _ => None,
    })
}

pub(crate) fn tree_of(repo: &Repository, commit: Option<Oid>) -> Result<git2::Tree<'_>> {
    match commit {
        Some(c) => repo
            .find_commit(c)
            .ctx("find commit")?
            .tree()
            .ctx("read tree"),
        None => {
            let empty = repo
                .treebuilder(None)
                .ctx("tree builder")?
                .write()
                .ctx("write tree")?;
            repo.find_tree(empty).ctx("read tree")
        }
    }
}

/// A path's content as tandem should store it: bytes and whether it is executable. None: absent.
pub type Content = Option<(Vec<u8>, bool)>;

pub fn read_worktree(workdir: &Path, rel: &str) -> Result<Content> {
    let path = workdir.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            Ok(Some((bytes, is_executable(&meta))))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

#[cfg(unix)]
pub(crate) fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}
#[cfg(not(unix))]
pub(crate) fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// `base` with the given paths replaced (Some) or removed (None).
fn overlay(
    repo: &Repository,
    base: &git2::Tree<'_>,
    changes: &BTreeMap<String, Content>,
) -> Result<Oid> {
    let mut b = TreeUpdateBuilder::new();
    for (path, content) in changes {
        match content {
            Some((bytes, exec)) => {
                let blob = write_blob(repo, bytes)?;
                let mode = if *exec {
                    FileMode::BlobExecutable
                } else {
                    FileMode::Blob
                };
                b.upsert(path.as_str(), blob, mode);
            }
            // Absent already: libgit2 refuses to remove what is not there.
            None if base.get_path(Path::new(path)).is_ok() => {
                b.remove(path.as_str());
            }
            None => {}
        }
    }
    b.create_updated(repo, base).ctx("build tree")
}

/// The pre-task content of each touched path: the recorded preimage blob and mode, or absent.
pub fn preimage_contents(
    repo: &Repository,
    base_commit: Option<Oid>,
    preimages: &BTreeMap<String, Preimage>,
) -> Result<BTreeMap<String, Content>> {
    let base_tree = tree_of(repo, base_commit)?;
    let mut out = BTreeMap::new();
    for (path, pre) in preimages {
        let content = match &pre.blob {
            Some(oid) => {
                let exec = pre.exec.unwrap_or_else(|| {
                    base_tree
                        .get_path(Path::new(path))
                        .map(|e| e.filemode() == i32::from(FileMode::BlobExecutable))
                        .unwrap_or(false)
                });
                Some((read_blob(repo, oid)?, exec))
            }
            None => None,
        };
        out.insert(path.clone(), content);
    }
    Ok(out)
}

pub struct Snapshot {
    /// The touched paths byte for byte as on disk (for restore and conflict checks).
    pub snapshot: Oid,
    pub base: Oid,
    /// What the reviewer sees and accept commits.
    pub proposal: Proposal,
}

pub fn snapshot_ref(session: &str, task: usize, iteration: u32) -> String {
    format!("{LOCAL_REF_ROOT}/{session}/task-{task}/worktree-{iteration}")
}

/// Store an iteration: a base commit (task base plus the pre-task state of touched paths, which
/// differs from HEAD only when the user had uncommitted changes there) and the iteration commit
/// on top of it, holding the touched paths as they are in the working directory now.
#[allow(clippy::too_many_arguments)]
pub fn snapshot_iteration(
    repo: &Repository,
    workdir: &Path,
    session: &str,
    task: usize,
    iteration: u32,
    task_base: Option<Oid>,
    preimages: &BTreeMap<String, Preimage>,
    message: &str,
) -> Result<Snapshot> {
    let sig = signature(repo)?;
    let base_tree = tree_of(repo, task_base)?;
    let pre = preimage_contents(repo, task_base, preimages)?;
    let base_tree_oid = overlay(repo, &base_tree, &pre)?;
    let base_commit = match task_base {
        Some(c) if base_tree_oid == base_tree.id() => c,
        _ => {
            let tree = repo.find_tree(base_tree_oid).ctx("read tree")?;
            let parent = match task_base {
                Some(c) => vec![repo.find_commit(c).ctx("find commit")?],
                None => vec![],
            };
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            repo.commit(
                None,
                &sig,
                &sig,
                &format!("tandem: task {task} base (with uncommitted changes)"),
                &tree,
                &parents,
            )
            .ctx("write base commit")?
        }
    };
    let mut now = BTreeMap::new();
    for path in preimages.keys() {
        now.insert(path.clone(), read_worktree(workdir, path)?);
    }
    let base_tree = repo.find_tree(base_tree_oid).ctx("read tree")?;
    let iter_tree_oid = overlay(repo, &base_tree, &now)?;
    let iter_tree = repo.find_tree(iter_tree_oid).ctx("read tree")?;
    let parent = repo.find_commit(base_commit).ctx("find commit")?;
    let snap = repo
        .commit(None, &sig, &sig, message, &iter_tree, &[&parent])
        .ctx("write snapshot commit")?;
    repo.reference(
        &snapshot_ref(session, task, iteration),
        snap,
        true,
        "tandem: iteration snapshot",
    )
    .ctx("update snapshot ref")?;
    let proposal = review::propose(repo, task_base, preimages, &now, message)?;
    repo.reference(
        &format!("{REF_ROOT}/{session}/task-{task}/iteration-{iteration}"),
        proposal.commit,
        true,
        "tandem: iteration as reviewed",
    )
    .ctx("update review ref")?;
    Ok(Snapshot {
        snapshot: snap,
        base: base_commit,
        proposal,
    })
}

/// Put paths back to the given contents (None: delete), then remove the listed directories
/// that are left empty, deepest first.
pub fn restore_paths(
    workdir: &Path,
    contents: &BTreeMap<String, Content>,
    created_dirs: &[String],
) -> Result<()> {
    for (rel, content) in contents {
        let path = workdir.join(rel);
        crate::infra::files::remove_stale_temps(&path);
        match content {
            Some((bytes, exec)) => {
                let same = std::fs::read(&path).map(|b| &b == bytes).unwrap_or(false);
                if !same {
                    crate::infra::files::create_parent(&path)
                        .and_then(|()| crate::infra::files::write_atomic(&path, bytes))
                        .map_err(io_err(&path))?;
                }
                set_executable(&path, *exec).map_err(io_err(&path))?;
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            },
        }
    }
    let mut dirs: Vec<&String> = created_dirs.iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    dirs.dedup();
    for d in dirs {
        // Only if empty: the user may have put something there meanwhile.
        let _ = std::fs::remove_dir(workdir.join(d));
    }
    Ok(())
}

#[cfg(unix)]
pub fn set_executable(path: &Path, exec: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    let mode = meta.permissions().mode();
    let want = if exec { mode | 0o111 } else { mode & !0o111 };
    if want != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))?;
    }
    Ok(())
}
#[cfg(not(unix))]
pub fn set_executable(_: &Path, _: bool) -> std::io::Result<()> {
    Ok(())
}

/// Sessions whose journal is stored in git (under `refs/tandem/sessions/<id>/journal`).
/// Only the ref names are read: a caller that has a session's local journal need not load
/// its git copy.
pub fn stored_journal_ids(repo: &Repository) -> Result<Vec<String>> {
    let refs = repo
        .references_glob(&format!("{REF_ROOT}/*/journal"))
        .ctx("list refs")?;
    Ok(refs
        .flatten()
        .filter_map(|r| {
            let name = r.name().ok()?;
            Some(
                name.strip_prefix(&format!("{REF_ROOT}/"))?
                    .strip_suffix("/journal")?
                    .to_string(),
            )
        })
        .collect())
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// A pooled handle keeps its index between uses; a change another process (here another
    /// handle) makes to the index must still be seen by the next use, and entries a failed
    /// use set in memory must not be.
    #[test]
    fn a_pooled_handle_sees_the_index_as_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
        {
            let repo = open(dir.path()).unwrap();
            assert_eq!(index(&repo).unwrap().len(), 0);
        }
        // Someone else stages a file.
        let other = Repository::open(dir.path()).unwrap();
        let mut idx = other.index().unwrap();
        idx.add_path(Path::new("a.txt")).unwrap();
        idx.write().unwrap();
        let repo = open(&dir.path().join("")).unwrap();
        // The pooled handle was lent again (`/repo/` and `/repo` are one key: none is left idle)
        // and it sees the new entry.
        assert!(POOL.lock().unwrap().iter().all(|(k, _)| k != dir.path()));
        assert_eq!(index(&repo).unwrap().len(), 1);
    }
}
