//! What was reviewed is what gets committed, and nothing the user wrote is overwritten.
//!
//! Invariants:
//! - An iteration has two commits. The *worktree* snapshot holds the touched paths byte for byte
//!   as tandem left them on disk (what restore and conflict checks compare against). The
//!   *proposal* is the task base plus exactly the change that accept would commit: blobs as
//!   `git add` would store them (filters such as `core.autocrlf` applied), gitignored paths left
//!   out, and a user's uncommitted lines in a file the agent also changed kept out by a
//!   three-way merge. The review diff is `review base → proposal`, and accept commits that same
//!   diff on top of HEAD, so the two cannot differ.
//! - Accept never writes the working tree; it refuses when the branch changed a proposed path
//!   since the task began.
//! - Before anything writes a path back, the disk is compared with the contents tandem knows it
//!   left there; any other content is the user's, is saved under `refs/tandem-local/` first, and is
//!   only replaced when the user chose so.

use super::{Content, Ctx, GitError, Result, io_err, signature, tree_of};
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// A path's pre-task state, as journaled before the agent's first write to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preimage {
    /// Blob of the raw bytes; None: the file did not exist.
    pub blob: Option<String>,
    /// Whether it was executable; None in journals older than this field (then the task base
    /// decides).
    pub exec: Option<bool>,
}

/// Write `bytes` as the blob `git add` would store at `rel`: the repository's filters
/// (`core.autocrlf`, the `text`/`eol` attributes) applied.
///
/// The filters' attributes may come from the index, so callers refresh it first
/// (`super::index`) — once per operation, not here: a refresh in the middle of staging would
/// drop the entries already set in memory if another process had just written the index.
///
/// A path whose `filter` attribute names a driver configured with a `clean` or `process`
/// program (git-crypt, Git LFS) goes through the git command instead: libgit2 runs only git's
/// built-in filters, and a git-crypt file stored raw would commit the client's secret in the
/// clear. Without the git command such a path is an error, never stored unfiltered.
pub fn blob_as_added(repo: &Repository, rel: &str, bytes: &[u8]) -> Result<Oid> {
    if let Some(driver) = filter_driver(repo, rel) {
        return added_by_git(repo, rel, bytes, &driver);
    }
    let mut w = repo.blob_writer(Some(Path::new(rel))).ctx("write blob")?;
    w.write_all(bytes).map_err(|e| GitError::Op {
        context: format!("write blob for {rel}"),
        message: e.to_string(),
    })?;
    w.commit().ctx("write blob")
}

/// The filter driver `git add` would run on `rel`, if its attribute names one that has a
/// program configured (`filter.<name>.clean` or `filter.<name>.process`). A driver named but not
/// configured changes nothing, in git as here.
fn filter_driver(repo: &Repository, rel: &str) -> Option<String> {
    let value = repo
        .get_attr_bytes(
            Path::new(rel),
            "filter",
            git2::AttrCheckFlags::FILE_THEN_INDEX,
        )
        .ok()??;
    let git2::AttrValue::Bytes(name) = git2::AttrValue::always_bytes(Some(value)) else {
        return None;
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let config = repo.config().ok()?;
    let configured = |what: &str| {
        config
            .get_string(&format!("filter.{name}.{what}"))
            .is_ok_and(|v| !v.trim().is_empty())
    };
    (configured("clean") || configured("process")).then_some(name)
}

/// `bytes` stored as `git add` would store them at `rel`, by the git command itself (which runs
/// the path's filter driver): `git hash-object -w --stdin --path=<rel>`.
fn added_by_git(repo: &Repository, rel: &str, bytes: &[u8], driver: &str) -> Result<Oid> {
    use std::process::{Command, Stdio};
    let failed = |message: String| GitError::Op {
        context: format!(
            "{rel} goes through git's `{driver}` filter (its attributes say so), which only the git command can run; nothing was stored unfiltered"
        ),
        message,
    };
    let workdir = repo
        .workdir()
        .ok_or_else(|| failed("no working directory".into()))?;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(workdir)
        .args(["hash-object", "-w", "--stdin"])
        .arg(format!("--path={rel}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run git: {e}")))?;
    // Written from a thread: a filter may answer before it has read everything.
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| failed("no stdin".into()))?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let wrote = writer.join().unwrap_or(Ok(()));
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(failed(format!("{} ({why})", out.status)));
    }
    wrote.map_err(|e| failed(e.to_string()))?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Oid::from_str(&id).map_err(|e| failed(format!("git answered {id:?}: {e}")))
}

/// The id git would give these raw bytes as a blob; nothing is written.
pub fn raw_id(bytes: &[u8]) -> Oid {
    Oid::hash_object(ObjectType::Blob, bytes).unwrap_or(Oid::ZERO_SHA1)
}

/// A path on disk, reduced to what tandem compares: absent, a regular file (raw blob id and
/// executable bit), or something else (a symlink, a directory, a FIFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDisk {
    Absent,
    File(Oid, bool),
    Other,
}

pub fn on_disk(workdir: &Path, rel: &str) -> Result<OnDisk> {
    let path = workdir.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            Ok(OnDisk::File(raw_id(&bytes), super::is_executable(&meta)))
        }
        Ok(_) => Ok(OnDisk::Other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OnDisk::Absent),
        // A parent that is a file: nothing of ours is there.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(OnDisk::Other),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Paths whose disk content is none of the contents tandem may find there (`None` in a set:
/// absent is fine). The contents are raw blob ids.
pub fn conflicts(
    workdir: &Path,
    expected: &BTreeMap<String, BTreeSet<Option<Oid>>>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (path, ok) in expected {
        let found = match on_disk(workdir, path)? {
            OnDisk::Absent => None,
            OnDisk::File(id, _) => Some(id),
            OnDisk::Other => {
                out.push(path.clone());
                continue;
            }
        };
        if !ok.contains(&found) {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Save the user's current version of `paths` (files and symlinks as they are on disk) as a
/// commit under `refs/tandem-local/sessions/<id>/task-<n>/rescue-<k>` (never pushed with
/// `refs/tandem/*`), before tandem writes over any
/// of them. Returns the commit.
pub fn rescue(
    repo: &Repository,
    workdir: &Path,
    session: &str,
    task: usize,
    paths: &[String],
) -> Result<Oid> {
    let mut b = TreeUpdateBuilder::new();
    for rel in paths {
        let path = workdir.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(io_err(&path))?;
            let blob = repo
                .blob(target.to_string_lossy().as_bytes())
                .ctx("write blob")?;
            b.upsert(rel.as_str(), blob, FileMode::Link);
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            let blob = repo.blob(&bytes).ctx("write blob")?;
            let mode = if super::is_executable(&meta) {
                FileMode::BlobExecutable
            } else {
                FileMode::Blob
            };
            b.upsert(rel.as_str(), blob, mode);
        }
    }
    let empty = tree_of(repo, None)?;
    let tree_oid = b.create_updated(repo, &empty).ctx("build tree")?;
    let tree = repo.find_tree(tree_oid).ctx("read tree")?;
    let sig = signature(repo)
        .or_else(|_| git2::Signature::now("tandem", "tandem@localhost").ctx("signature"))?;
    let message = format!(
        "tandem: your version of {} before tandem wrote them\n\n{}\n",
        if paths.len() == 1 {
            "a file".to_string()
        } else {
            format!("{} files", paths.len())
        },
        paths.join("\n")
    );
    let oid = repo
        .commit(None, &sig, &sig, &message, &tree, &[])
        .ctx("write rescue commit")?;
    // Local only, like worktree snapshots: the user's files may hold secrets (a `.env`).
    let prefix = format!("{}/{session}/task-{task}/rescue-", super::LOCAL_REF_ROOT);
    let mut k = 1;
    while repo.find_reference(&format!("{prefix}{k}")).is_ok() {
        k += 1;
    }
    repo.reference(
        &format!("{prefix}{k}"),
        oid,
        false,
        "tandem: user's bytes saved",
    )
    .ctx("update rescue ref")?;
    Ok(oid)
}

/// Whether the rescue commit `saved` still holds exactly what is on disk at `paths`.
pub fn still_saved(
    repo: &Repository,
    workdir: &Path,
    saved: &str,
    paths: &[String],
) -> Result<bool> {
    for p in paths {
        let kept = super::file_at(repo, saved, p)?.map(|b| raw_id(&b));
        let now = match on_disk(workdir, p)? {
            OnDisk::File(id, _) => Some(id),
            OnDisk::Absent => None,
            OnDisk::Other => return Ok(false),
        };
        if kept != now {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An iteration as the reviewer sees it and accept commits it.
pub struct Proposal {
    /// The commit the review diff starts from: the task base (an empty commit in a repository
    /// with no commits yet).
    pub base: Oid,
    pub commit: Oid,
    /// Touched paths left out of the commit, with the reason.
    pub excluded: Vec<(String, String)>,
}

fn entry_of(tree: &git2::Tree<'_>, path: &str) -> Option<(Oid, i32)> {
    tree.get_path(Path::new(path))
        .ok()
        .filter(|e| e.kind() == Some(ObjectType::Blob))
        .map(|e| (e.id(), e.filemode()))
}

fn mode_of(exec: bool) -> FileMode {
    if exec {
        FileMode::BlobExecutable
    } else {
        FileMode::Blob
    }
}

/// The commit the review diff starts from; an empty root commit when there is no task base.
fn review_base(repo: &Repository, task_base: Option<Oid>) -> Result<Oid> {
    if let Some(b) = task_base {
        return Ok(b);
    }
    let tree = tree_of(repo, None)?;
    // Fixed author and time: the same empty base every time, not a new object per iteration.
    let when = git2::Time::new(0, 0);
    let sig = git2::Signature::new("tandem", "tandem@localhost", &when).ctx("signature")?;
    repo.commit(None, &sig, &sig, "tandem: empty base", &tree, &[])
        .ctx("write base commit")
}

/// Build the proposal from the touched paths' contents `now` (as on disk when the iteration
/// was stored) and their preimages.
pub fn propose(
    repo: &Repository,
    task_base: Option<Oid>,
    preimages: &BTreeMap<String, Preimage>,
    now: &BTreeMap<String, Content>,
    message: &str,
) -> Result<Proposal> {
    // Attributes for `blob_as_added`, from the index as it is now.
    super::index(repo)?;
    let base = review_base(repo, task_base)?;
    let base_commit = repo.find_commit(base).ctx("find commit")?;
    let base_tree = base_commit.tree().ctx("read tree")?;
    let mut b = TreeUpdateBuilder::new();
    let mut excluded = Vec::new();
    for (path, content) in now {
        let tracked = entry_of(&base_tree, path);
        if tracked.is_none() && repo.is_path_ignored(path).unwrap_or(false) {
            excluded.push((
                path.clone(),
                "ignored by git (.gitignore): not committed".to_string(),
            ));
            continue;
        }
        let Some((bytes, exec)) = content else {
            if tracked.is_some() {
                b.remove(path.as_str());
            }
            continue;
        };
        let theirs = blob_as_added(repo, path, bytes)?;
        let pre = preimages.get(path).and_then(|p| p.blob.as_deref());
        let blob = match (tracked, pre) {
            // The file was not as committed when the task began (the user's uncommitted
            // change, or an untracked file): commit only the agent's change on top of HEAD's
            // version when the three versions merge cleanly; otherwise the whole file, which
            // the review diff then shows whole.
            (Some((ours, _)), Some(pre)) => {
                let pre_bytes = super::read_blob(repo, pre)?;
                let ancestor = blob_as_added(repo, path, &pre_bytes)?;
                if ancestor == ours {
                    theirs
                } else {
                    merge3(repo, path, ancestor, ours, theirs)?.unwrap_or(theirs)
                }
            }
            _ => theirs,
        };
        b.upsert(path.as_str(), blob, mode_of(*exec));
    }
    let tree_oid = b.create_updated(repo, &base_tree).ctx("build tree")?;
    let tree = repo.find_tree(tree_oid).ctx("read tree")?;
    let sig = signature(repo)?;
    let commit = repo
        .commit(None, &sig, &sig, message, &tree, &[&base_commit])
        .ctx("write proposal commit")?;
    Ok(Proposal {
        base,
        commit,
        excluded,
    })
}

fn merge3(
    repo: &Repository,
    path: &str,
    ancestor: Oid,
    ours: Oid,
    theirs: Oid,
) -> Result<Option<Oid>> {
    let read = |id: Oid| -> Result<Vec<u8>> {
        Ok(repo.find_blob(id).ctx("read blob")?.content().to_vec())
    };
    let (a, o, t) = (read(ancestor)?, read(ours)?, read(theirs)?);
    fn input<'a>(bytes: &'a [u8], path: &'a str) -> git2::MergeFileInput<'a> {
        let mut i = git2::MergeFileInput::new();
        i.content(bytes).path(Path::new(path));
        i
    }
    let (ia, io, it) = (input(&a, path), input(&o, path), input(&t, path));
    let merged = git2::merge_file(&ia, &io, &it, None).ctx("merge")?;
    if !merged.is_automergeable() {
        return Ok(None);
    }
    Ok(Some(repo.blob(merged.content()).ctx("write blob")?))
}

/// What accept did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Committed(Oid),
    /// The proposal changes nothing: no commit was made.
    Nothing,
}

/// Commit the reviewed change (`review base → proposal`) on top of HEAD, signed when the
/// user's git config asks for it, and bring the index entries of those paths in line. Never
/// touches the working tree. Refuses when the branch changed one of the paths since the task
/// began.
pub fn commit_reviewed(
    repo: &Repository,
    workdir: &Path,
    review_base: Oid,
    proposal: Oid,
    message: &str,
    run_hooks: bool,
) -> Result<Accepted> {
    let (base_tree, reviewed) = reviewed_change(repo, review_base, proposal)?;
    let head = super::head(repo);
    let head_tree = tree_of(repo, head)?;
    let mut changes: Vec<PathEntry> = Vec::new();
    let mut moved = Vec::new();
    for (path, want) in reviewed {
        let was = entry_of(&base_tree, &path);
        let now = entry_of(&head_tree, &path);
        if now == want {
            continue;
        }
        if now != was {
            moved.push(path);
            continue;
        }
        changes.push((path, want));
    }
    if !moved.is_empty() {
        return Err(GitError::BranchMoved(moved));
    }
    if changes.is_empty() {
        return Ok(Accepted::Nothing);
    }
    let mut b = TreeUpdateBuilder::new();
    for (path, want) in &changes {
        match want {
            Some((id, mode)) => {
                let mode = if *mode == i32::from(FileMode::BlobExecutable) {
                    FileMode::BlobExecutable
                } else if *mode == i32::from(FileMode::Link) {
                    FileMode::Link
                } else {
                    FileMode::Blob
                };
                b.upsert(path.as_str(), *id, mode);
            }
            None => {
                b.remove(path.as_str());
            }
        }
    }
    let tree_oid = b.create_updated(repo, &head_tree).ctx("build tree")?;
    let tree = repo.find_tree(tree_oid).ctx("read tree")?;
    let message = if run_hooks {
        super::hooks::before_commit(repo, workdir, &tree, message)?
    } else {
        message.to_string()
    };
    let oid = super::sign::commit_on_head(repo, head, &tree, &message)?;
    stage(repo, workdir, &changes, &base_tree)?;
    Ok(Accepted::Committed(oid))
}

/// After a crash between the accept commit and its journal line: bring the index in line with
/// the reviewed change again (idempotent).
pub fn stage_reviewed(
    repo: &Repository,
    workdir: &Path,
    review_base: Oid,
    proposal: Oid,
) -> Result<()> {
    let (base_tree, changes) = reviewed_change(repo, review_base, proposal)?;
    stage(repo, workdir, &changes, &base_tree)
}

/// A path and its entry (blob, mode) in a tree; None: not there.
type PathEntry = (String, Option<(Oid, i32)>);

/// The reviewed change: each path `review_base → proposal` touches, with its entry in the
/// proposal (None: deleted), and the base tree.
fn reviewed_change(
    repo: &Repository,
    review_base: Oid,
    proposal: Oid,
) -> Result<(git2::Tree<'_>, Vec<PathEntry>)> {
    let tree = |c: Oid| -> Result<git2::Tree<'_>> {
        repo.find_commit(c)
            .ctx("find commit")?
            .tree()
            .ctx("read tree")
    };
    let (base_tree, prop_tree) = (tree(review_base)?, tree(proposal)?);
    // The paths whose entries differ, found without walking every unchanged subtree: what a
    // whole-tree diff's deltas name (a type change, file ↔ folder, names both sides).
    let changes = crate::infra::diff::changed_paths(repo, Some(&base_tree), Some(&prop_tree))
        .ctx("diff")?
        .into_iter()
        .map(|path| {
            let want = entry_of(&prop_tree, &path);
            (path, want)
        })
        .collect();
    Ok((base_tree, changes))
}

/// Set the index entries of `changes` to the committed blobs, leaving any entry the user had
/// staged themselves (neither the task base's nor the committed one) as it is.
fn stage(
    repo: &Repository,
    workdir: &Path,
    changes: &[PathEntry],
    base_tree: &git2::Tree<'_>,
) -> Result<()> {
    let mut index = super::index(repo)?;
    let mut set = || -> Result<()> {
        for (path, want) in changes {
            let cur = index.get_path(Path::new(path), 0).map(|e| e.id);
            let was = entry_of(base_tree, path).map(|(id, _)| id);
            if cur.is_some() && cur != was && cur != want.map(|(id, _)| id) {
                continue;
            }
            set_entry(repo, &mut index, workdir, path, *want)?;
        }
        index.write().ctx("write index")
    };
    let staged = set();
    discard_if_failed(&mut index, &staged);
    staged
}

/// The index belongs to a pooled handle (`super::open`): entries set in memory before a
/// failure must not reach the next user of that handle, so they are dropped by re-reading the
/// file.
fn discard_if_failed(index: &mut git2::Index, outcome: &Result<()>) {
    if outcome.is_err() {
        let _ = index.read(true);
    }
}

/// Point a path's index entry at a blob (or remove it). When the working file holds exactly
/// that content the entry gets the file's stat data, so `git status` stays quiet; otherwise
/// git re-reads the file and shows the difference as unstaged, as it is.
fn set_entry(
    repo: &Repository,
    index: &mut git2::Index,
    workdir: &Path,
    path: &str,
    want: Option<(Oid, i32)>,
) -> Result<()> {
    let Some((id, mode)) = want else {
        let _ = index.remove_path(Path::new(path));
        return Ok(());
    };
    let matches = match super::read_worktree(workdir, path)? {
        Some((bytes, _)) => blob_as_added(repo, path, &bytes)? == id,
        None => false,
    };
    let zero = git2::IndexTime::new(0, 0);
    let mut entry = git2::IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode: mode as u32,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: (path.len().min(0xfff)) as u16,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    };
    // Not `Index::add_path`: it would store the file again through libgit2's filters, which
    // miss a filter driver's (a git-crypt file's entry would be its plain text).
    #[cfg(unix)]
    if matches && let Ok(meta) = std::fs::symlink_metadata(workdir.join(path)) {
        use std::os::unix::fs::MetadataExt;
        let time = |s: i64, ns: i64| git2::IndexTime::new(s as i32, ns as u32);
        entry.ctime = time(meta.ctime(), meta.ctime_nsec());
        entry.mtime = time(meta.mtime(), meta.mtime_nsec());
        entry.dev = meta.dev() as u32;
        entry.ino = meta.ino() as u32;
        entry.uid = meta.uid();
        entry.gid = meta.gid();
        entry.file_size = meta.size() as u32;
    }
    #[cfg(not(unix))]
    if matches {
        return index.add_path(Path::new(path)).ctx("update index");
    }
    index.add(&entry).ctx("update index")
}

/// After a reject: index entries that hold content the agent produced (any of `agent_blobs`)
/// go back to the task base's entry; entries the user staged themselves stay.
pub fn unstage_agent_content(
    repo: &Repository,
    workdir: &Path,
    task_base: Option<Oid>,
    paths: &[String],
    agent_blobs: &BTreeSet<Oid>,
) -> Result<()> {
    let base_tree = tree_of(repo, task_base)?;
    let mut index = super::index(repo)?;
    let mut unset = || -> Result<()> {
        let mut changed = false;
        for path in paths {
            let Some(cur) = index.get_path(Path::new(path), 0) else {
                continue;
            };
            if !agent_blobs.contains(&cur.id) {
                continue;
            }
            set_entry(repo, &mut index, workdir, path, entry_of(&base_tree, path))?;
            changed = true;
        }
        if changed {
            index.write().ctx("write index")?;
        }
        Ok(())
    };
    let unstaged = unset();
    discard_if_failed(&mut index, &unstaged);
    unstaged
}

/// The blob ids of `paths` in the given commits, raw and as `git add` would store them: every
/// form in which the agent's content can have reached the index.
pub fn blobs_in(repo: &Repository, commits: &[String], paths: &[String]) -> BTreeSet<Oid> {
    // Attributes for `blob_as_added`, from the index as it is now; without it, the raw ids
    // below still count.
    let _ = super::index(repo);
    let mut out = BTreeSet::new();
    for c in commits {
        let Ok(tree) = Oid::from_str(c).and_then(|o| repo.find_commit(o)?.tree()) else {
            continue;
        };
        for p in paths {
            if let Some((id, _)) = entry_of(&tree, p) {
                out.insert(id);
                if let Ok(blob) = repo.find_blob(id)
                    && let Ok(f) = blob_as_added(repo, p, blob.content())
                {
                    out.insert(f);
                }
            }
        }
    }
    out
}

/// The commit tandem made for this task iteration, searched from HEAD back to the task base
/// (at most 1,000 commits): after a crash between the commit and its journal line, resume must
/// find it even when the user committed on top of it meanwhile.
pub fn find_accepted_commit(
    repo: &Repository,
    session: &str,
    task: usize,
    iteration: u32,
    task_base: Option<Oid>,
) -> Option<(Oid, bool)> {
    // On the current branch first; then on any local branch (the user switched branches
    // between the crash and the resume): committing again there would make a second commit.
    let on_head = |walk: &mut git2::Revwalk<'_>| walk.push_head();
    let anywhere = |walk: &mut git2::Revwalk<'_>| walk.push_glob("refs/heads/*");
    for (push, here) in [
        (
            &on_head as &dyn Fn(&mut git2::Revwalk<'_>) -> std::result::Result<(), git2::Error>,
            true,
        ),
        (&anywhere, false),
    ] {
        let mut walk = repo.revwalk().ok()?;
        if push(&mut walk).is_err() {
            continue;
        }
        if let Some(b) = task_base {
            let _ = walk.hide(b);
        }
        for oid in walk.take(1000).flatten() {
            if is_accept_of(repo, oid, session, task, iteration) {
                return Some((oid, here));
            }
        }
    }
    None
}

/// Whether `oid` is the accept commit of this task's iteration in this session (its trailers).
fn is_accept_of(repo: &Repository, oid: Oid, session: &str, task: usize, iteration: u32) -> bool {
    let Ok(commit) = repo.find_commit(oid) else {
        return false;
    };
    let Ok(msg) = commit.message() else {
        return false;
    };
    let Ok(trailers) = git2::message_trailers_strs(msg) else {
        return false;
    };
    let get = |k: &str| {
        trailers
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    };
    get("Tandem-Session").as_deref() == Some(session)
        && get("Tandem-Task") == Some(task.to_string())
        && get("Tandem-Iteration") == Some(iteration.to_string())
}
