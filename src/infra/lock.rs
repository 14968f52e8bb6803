//! One live session per repository: a process that will write to a working tree holds an
//! exclusive OS lock on `<git dir>/tandem/lock` for as long as it runs.
//!
//! Invariants: the lock is an advisory `flock`-style lock on an open file, so the kernel drops
//! it the moment its process dies (a `kill -9` leaves no stale lock to clean up: the next
//! process simply takes it). The file's text names the holder (process id and session) so a
//! refusal can say who. Read-only commands (`sessions`, `replay`, `report`) never take it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another tandem is already working in this repository ({holder}); two sessions in one working tree would overwrite each other's files. Finish or quit that one first (read-only commands such as `tandem sessions`, `replay` and `report` still work)"
    )]
    Held { holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Held while a session may write to the working tree; dropping it releases the lock.
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
    path: PathBuf,
}

impl RepoLock {
    /// Take the repository's lock for `session`, or say who holds it.
    pub fn acquire(git_dir: &Path, session: &str) -> Result<RepoLock, LockError> {
        let path = git_dir.join("tandem").join("lock");
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match try_lock_briefly(&file) {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = describe(text.trim());
                return Err(LockError::Held { holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Ours now: whatever a killed holder wrote is stale.
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "pid {} session {session}", std::process::id()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(RepoLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn describe(text: &str) -> String {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("pid"), Some(pid), Some("session"), Some(session)) => {
            format!("session {session}, process {pid}")
        }
        _ => "a tandem process".to_string(),
    }
}

/// `try_lock`, tried again for a moment before giving up. A process forked from ours holds a
/// copy of every open file until it execs, so a lock just released can look held for a few
/// milliseconds while tandem (or anything in the same process) starts a command; a real holder
/// still holds it a moment later.
pub fn try_lock_briefly(file: &std::fs::File) -> Result<(), std::fs::TryLockError> {
    for _ in 0..20 {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
    file.try_lock()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named_and_can_take_it_after() {
        let dir = tempfile::tempdir().unwrap();
        let first = RepoLock::acquire(dir.path(), "s-1").unwrap();
        let err = RepoLock::acquire(dir.path(), "s-2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("session s-1"), "{err}");
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        let again = RepoLock::acquire(dir.path(), "s-2").unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("session s-2"), "{text}");
    }
}
