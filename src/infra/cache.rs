//! Derived data kept beside the journals so that listing and reporting many sessions need not
//! read and fold every journal again (`<git dir>/tandem/cache/<name>.json`).
//!
//! Invariants: a cache entry is never a source of truth. Each holds the key of exactly what it
//! was derived from (a journal file's length and modification time, or a stored journal's
//! commit id) and the build of tandem that derived it (the executable's own size and time, so
//! a different build never trusts another's derivation); anything that does not match, cannot
//! be read or cannot be parsed is derived again from the journal. Writes go through a temp file
//! and a rename and their failures are ignored: a read-only repository only loses the speed.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The cache folder of the repository whose git dir is `git_dir`.
pub fn dir(git_dir: &Path) -> PathBuf {
    git_dir.join("tandem").join("cache")
}

/// What a cached value was derived from. Two equal keys mean the same input bytes, read by the
/// same build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// A file, as it is now (None when it cannot be stat'ed or the build is unknown).
    pub fn of_file(path: &Path) -> Option<Key> {
        let (len, mtime) = stamp(path)?;
        Some(Key(format!("{} file {len} {mtime}", build()?)))
    }

    /// An immutable git object (a stored journal's commit).
    pub fn of_object(id: &str) -> Option<Key> {
        Some(Key(format!("{} object {id}", build()?)))
    }
}

#[derive(Serialize, serde::Deserialize)]
struct Stored<T> {
    key: String,
    value: T,
}

/// The value cached under `name` if it was derived from `key`.
pub fn read<T: DeserializeOwned>(dir: &Path, name: &str, key: &Key) -> Option<T> {
    let bytes = std::fs::read(dir.join(format!("{name}.json"))).ok()?;
    let stored: Stored<T> = serde_json::from_slice(&bytes).ok()?;
    (stored.key == key.0).then_some(stored.value)
}

/// Keep `value` under `name`, derived from `key`. Failures are ignored (see the module doc).
pub fn write<T: Serialize>(dir: &Path, name: &str, key: &Key, value: &T) {
    let stored = Stored {
        key: key.0.clone(),
        value,
    };
    let Ok(bytes) = serde_json::to_vec(&stored) else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Through a temp file and a rename, so a reader never parses half a value; not synced to
    // disk, since a value lost to a crash is derived again (a sync per session made the first
    // listing of 1,000 sessions take 1.3 s).
    let tmp = dir.join(format!(
        ".{name}.{}-{:08x}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    if std::fs::write(&tmp, &bytes).is_err()
        || std::fs::rename(&tmp, dir.join(format!("{name}.json"))).is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Length and modification time (nanoseconds) of a file.
fn stamp(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), mtime))
}

/// This build of tandem: its version and the executable's size and time. Another build may
/// fold or report a journal differently, so it derives its own values.
fn build() -> Option<&'static str> {
    static BUILD: OnceLock<Option<String>> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let exe = std::env::current_exe().ok()?;
            let (len, mtime) = stamp(&exe)?;
            Some(format!("{} {len} {mtime}", env!("CARGO_PKG_VERSION")))
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_read_back_only_under_the_key_it_was_written_with() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("journal.jsonl");
        std::fs::write(&file, "one\n").unwrap();
        let key = Key::of_file(&file).unwrap();
        let cache = dir(d.path());
        write(&cache, "s1.summary", &key, &vec![1u32, 2, 3]);
        assert_eq!(
            read::<Vec<u32>>(&cache, "s1.summary", &key),
            Some(vec![1, 2, 3])
        );
        // The journal grew: its key is another, and the old value is not used.
        std::fs::write(&file, "one\ntwo\n").unwrap();
        let grown = Key::of_file(&file).unwrap();
        assert_ne!(grown, key);
        assert_eq!(read::<Vec<u32>>(&cache, "s1.summary", &grown), None);
        // A damaged cache file is a miss, not an error.
        std::fs::write(cache.join("s1.summary.json"), "{not json").unwrap();
        assert_eq!(read::<Vec<u32>>(&cache, "s1.summary", &key), None);
        assert_ne!(Key::of_object("abc"), Key::of_object("abd"));
    }
}
