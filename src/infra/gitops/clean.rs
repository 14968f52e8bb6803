//! The quick answer to "is the tracked tree clean?", the question every session start asks.
//!
//! libgit2's status walks the whole working tree on one thread (70 ms of a 50,000-file
//! repository) and diffs HEAD against the index entry by entry. Here the index's own stat data
//! is compared with each file's, stat'ed through a handle on its folder (on two threads for a
//! large index) while HEAD's tree is compared with the index, the way git's own `status`
//! trusts stat data.
//!
//! Invariant: this only ever says "clean" when git would; any doubt (a stat field that differs,
//! a racily clean entry, a conflict, a submodule, an entry git flags specially, a platform
//! without the stat fields) answers "not sure", and the caller asks libgit2's status for the
//! exact list. A wrong "not sure" costs time, never correctness.

use super::{Ctx, Result};
use git2::Repository;
use std::path::{Path, PathBuf};

/// What an index entry recorded about its file when it was last staged or refreshed.
struct Recorded {
    /// The entry's path, as git stores it (`/`-separated bytes).
    path: Vec<u8>,
    mtime: (i32, u32),
    ctime: (i32, u32),
    ino: u32,
    size: u32,
    mode: u32,
}

/// True when HEAD, the index and the working files of every tracked path agree, judged by
/// stat data; false when that cannot be told cheaply (see the module doc).
pub fn surely_clean(repo: &Repository, index: &git2::Index) -> Result<bool> {
    // A second thread pays off only for many files (its start and its memory cost more than
    // statting a few thousand).
    check(repo, index, 4096)
}

/// `surely_clean`, statting on two threads from `two_threads_from` index entries on.
fn check(repo: &Repository, index: &git2::Index, two_threads_from: usize) -> Result<bool> {
    let Some(workdir) = repo.workdir() else {
        return Ok(false);
    };
    // Entries whose mtime is not older than the index file may have changed within the same
    // clock tick as the index was written: their stat data proves nothing ("racily clean").
    let Some(index_path) = index.path() else {
        return Ok(false);
    };
    // None off unix: no stat fields to trust there.
    let Some(index_mtime) = mtime_of(index_path) else {
        return Ok(false);
    };
    let trust_mode = repo
        .config()
        .and_then(|c| c.get_bool("core.filemode"))
        .unwrap_or(true);
    const EXTENDED: u16 = 0x4000;
    const ASSUME_VALID: u16 = 0x8000;
    const STAGE_MASK: u16 = 0x3000;
    let mut recorded = Vec::with_capacity(index.len());
    for e in index.iter() {
        // Conflicts, assume-unchanged, skip-worktree and intent-to-add entries, and submodules:
        // libgit2 decides those.
        if e.flags & (STAGE_MASK | ASSUME_VALID | EXTENDED) != 0 || e.mode == 0o160000 {
            return Ok(false);
        }
        let m = (e.mtime.seconds(), e.mtime.nanoseconds());
        if m >= index_mtime {
            return Ok(false);
        }
        recorded.push(Recorded {
            path: e.path,
            mtime: m,
            ctime: (e.ctime.seconds(), e.ctime.nanoseconds()),
            ino: e.ino,
            size: e.file_size,
            mode: e.mode,
        });
    }
    if recorded.len() < two_threads_from {
        let files_clean = all_match(workdir, &recorded, trust_mode);
        return Ok(files_clean && head_matches_index(repo, index)?);
    }
    let (first, second) = recorded.split_at(recorded.len() / 2);
    let (staged_clean, files_clean) = std::thread::scope(|s| {
        let other = s.spawn(|| all_match(workdir, second, trust_mode));
        let here = all_match(workdir, first, trust_mode);
        let staged = head_matches_index(repo, index);
        (staged, here && other.join().unwrap_or(false))
    });
    Ok(staged_clean? && files_clean)
}

/// HEAD's tree and the index hold the same entries (nothing staged).
fn head_matches_index(repo: &Repository, index: &git2::Index) -> Result<bool> {
    let head = match repo.head() {
        Ok(h) => Some(h.peel_to_tree().ctx("read HEAD's tree")?),
        // An unborn branch: clean only if nothing is staged yet.
        Err(_) => None,
    };
    let diff = repo
        .diff_tree_to_index(head.as_ref(), Some(index), None)
        .ctx("diff HEAD against the index")?;
    Ok(diff.deltas().len() == 0)
}

/// Whether every entry's file still has the stat data the index recorded. Files are stat'ed
/// through a handle on their folder: a full path would be looked up component by component for
/// each of 50,000 files, which was most of the kernel's share of this check.
#[cfg(unix)]
// `stat` field types differ between platforms (`st_mode` is 16 bits on macOS): the casts say
// what is compared.
#[allow(clippy::unnecessary_cast)]
fn all_match(workdir: &Path, entries: &[Recorded], trust_mode: bool) -> bool {
    use rustix::fs::{AtFlags, Mode, OFlags, open, statat};
    let mut folder: Option<(&[u8], rustix::fd::OwnedFd)> = None;
    for r in entries {
        let (dir, name) = match r.path.iter().rposition(|&b| b == b'/') {
            Some(at) => (&r.path[..at], &r.path[at + 1..]),
            None => (&r.path[..0], &r.path[..]),
        };
        if folder.as_ref().is_none_or(|(d, _)| *d != dir) {
            let Ok(fd) = open(
                workdir.join(bytes_path(dir)),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
            ) else {
                return false;
            };
            folder = Some((dir, fd));
        }
        let Some((_, fd)) = &folder else {
            return false;
        };
        let Ok(st) = statat(fd, bytes_path(name).as_path(), AtFlags::SYMLINK_NOFOLLOW) else {
            return false;
        };
        let kind = st.st_mode as u32 & 0o170000;
        let kind_ok = match r.mode {
            0o120000 => kind == 0o120000,
            0o100644 | 0o100755 => {
                kind == 0o100000
                    && (!trust_mode || (st.st_mode as u32 & 0o100 != 0) == (r.mode == 0o100755))
            }
            _ => false,
        };
        // The index keeps 32 bits of these; compare what it kept.
        let same = kind_ok
            && (st.st_mtime as i32, st.st_mtime_nsec as u32) == r.mtime
            && (st.st_ctime as i32, st.st_ctime_nsec as u32) == r.ctime
            && st.st_ino as u32 == r.ino
            && st.st_size as u32 == r.size;
        if !same {
            return false;
        }
    }
    true
}

#[cfg(not(unix))]
fn all_match(_: &Path, _: &[Recorded], _: bool) -> bool {
    false
}

#[cfg(unix)]
fn mtime_of(path: &Path) -> Option<(i32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.mtime() as i32, m.mtime_nsec() as u32))
}

#[cfg(not(unix))]
fn mtime_of(_: &Path) -> Option<(i32, u32)> {
    None
}

#[cfg(unix)]
fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A committed repository whose files are older than its index (not racily clean).
    fn committed_repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for (p, text) in [("a.txt", "alpha\n"), ("sub/b.txt", "beta\n")] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(hour_ago).unwrap();
        }
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("T", "t@x").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        drop(tree);
        (dir, repo)
    }

    /// The answer, checked to be the same on one thread and on two.
    fn clean(repo: &Repository) -> bool {
        let index = super::super::index(repo).unwrap();
        let one = surely_clean(repo, &index).unwrap();
        assert_eq!(check(repo, &index, 0).unwrap(), one, "two threads disagree");
        one
    }

    #[test]
    fn a_clean_tree_is_told_clean_from_stat_data() {
        let (_d, repo) = committed_repo();
        assert!(clean(&repo));
        assert!(super::super::dirty_tracked_files(&repo).unwrap().is_empty());
    }

    #[test]
    fn a_same_size_edit_is_not_clean_and_status_names_it() {
        let (d, repo) = committed_repo();
        std::fs::write(d.path().join("a.txt"), "ALPHA\n").unwrap();
        assert!(!clean(&repo));
        assert_eq!(
            super::super::dirty_tracked_files(&repo).unwrap(),
            vec!["a.txt".to_string()]
        );
    }

    #[test]
    fn a_staged_change_a_deletion_and_a_mode_change_are_each_not_clean() {
        let (d, repo) = committed_repo();
        // Staged: the index differs from HEAD although the file matches the index.
        std::fs::write(d.path().join("sub/b.txt"), "beta!\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("sub/b.txt")).unwrap();
        index.write().unwrap();
        assert!(!clean(&repo));

        let (d, repo) = committed_repo();
        std::fs::remove_file(d.path().join("a.txt")).unwrap();
        assert!(!clean(&repo));

        let (d, repo) = committed_repo();
        use std::os::unix::fs::PermissionsExt;
        let p = d.path().join("a.txt");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!clean(&repo));
        assert_eq!(
            super::super::dirty_tracked_files(&repo).unwrap(),
            vec!["a.txt".to_string()]
        );
    }

    #[test]
    fn an_entry_as_new_as_the_index_is_not_trusted() {
        let (d, repo) = committed_repo();
        // Racily clean: give the index file the entry's own mtime, as when a file is changed in
        // the clock tick the index was written. Its stat data proves nothing then; the exact
        // status still finds the tree clean.
        let file = d.path().join("a.txt");
        let when = std::fs::metadata(&file).unwrap().modified().unwrap();
        let index_file = std::fs::File::options()
            .write(true)
            .open(d.path().join(".git/index"))
            .unwrap();
        index_file.set_modified(when).unwrap();
        assert!(!clean(&repo));
        assert!(super::super::dirty_tracked_files(&repo).unwrap().is_empty());
    }
}
