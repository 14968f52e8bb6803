//! What the working tree holds, file by file, as git blob ids: taken before and after a command
//! so that whatever the command changed can be journaled like a tool write (and put back on
//! reject), even though tandem did not make the write itself.
//!
//! Invariants: every file's content is in the object database once it is in a manifest, so a
//! manifest (stored as a tree) is enough to restore any file it lists. Folders gitignore
//! excludes (build output, caches), `.git`, nested repositories and symlinks are not listed;
//! files it excludes one by one (a `.env`, a local config) are, up to `IGNORED_MAX` bytes, so a
//! command that changes one is journaled and put back on reject like any other change. Files
//! whose size, mtime and inode match the index (or the previous manifest) are not read again.

use super::{Ctx, GitError, Result};
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub blob: Oid,
    pub exec: bool,
    stat: Stat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stat {
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    ino: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub files: BTreeMap<String, Entry>,
    pub dirs: BTreeSet<String>,
}

/// One path a command changed: its entry before and after (None: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub before: Option<(Oid, bool)>,
    pub after: Option<(Oid, bool)>,
    /// Directories the change created, outermost first.
    pub created_dirs: Vec<String>,
}

/// Ignored files larger than this are left out (a database, a log): a put-back of those is not
/// worth copying them into the object database before every command.
pub const IGNORED_MAX: u64 = 1 << 20;
/// More ignored files than this, one by one, is build output (`*.o` beside the sources): then
/// none are listed.
pub const IGNORED_FILES_MAX: usize = 200;

/// List the working tree before a command (`prev` None) or after it (`prev` the listing from
/// before: its unchanged files are not read again, and its ignored files are looked at again).
pub fn take(repo: &Repository, workdir: &Path, prev: Option<&Manifest>) -> Result<Manifest> {
    let index = super::index(repo)?;
    let converts = conversions_possible(repo, &index);
    let mut m = Manifest::default();
    let walker = ignore::WalkBuilder::new(workdir)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let git = name
                .trim_end_matches(['.', ' '])
                .eq_ignore_ascii_case(".git");
            // A nested repository or submodule is someone else's tree.
            let nested = e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && e.path().join(".git").exists();
            !git && !nested
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| GitError::Io {
            path: workdir.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let Ok(rel) = entry.path().strip_prefix(workdir) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.is_empty() {
            continue;
        }
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            m.dirs.insert(rel);
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let meta = std::fs::symlink_metadata(entry.path()).map_err(super::io_err(entry.path()))?;
        let e = entry_of(repo, &index, converts, prev, &rel, entry.path(), &meta)?;
        m.files.insert(rel, e);
    }
    // Files gitignore excludes one by one: before a command, those there are (few and small:
    // a `.env`, a local config); after it, the same paths again, so one the command changed or
    // deleted shows, while the build output it made (new ignored files) does not.
    let ignored = match prev {
        None => ignored_files(repo)?
            .into_iter()
            .filter(|rel| {
                std::fs::symlink_metadata(workdir.join(rel))
                    .is_ok_and(|m| m.is_file() && m.len() <= IGNORED_MAX)
            })
            .collect::<Vec<_>>(),
        Some(before) => before
            .files
            .keys()
            .filter(|rel| !m.files.contains_key(*rel))
            .cloned()
            .collect(),
    };
    // A tree of many (object files next to their sources): build output, not the user's.
    if prev.is_some() || ignored.len() <= IGNORED_FILES_MAX {
        for rel in ignored {
            let path = workdir.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || m.files.contains_key(&rel) {
                continue;
            }
            let e = entry_of(repo, &index, converts, prev, &rel, &path, &meta)?;
            m.files.insert(rel, e);
        }
    }
    Ok(m)
}

/// Whether git may store some file other than byte for byte (line endings, a filter driver,
/// `ident`): `core.autocrlf`, or any attributes file it reads. Then an index entry's blob is
/// not necessarily the file's raw bytes.
fn conversions_possible(repo: &Repository, index: &git2::Index) -> bool {
    let config = repo.config().ok();
    let autocrlf = config
        .as_ref()
        .and_then(|c| c.get_string("core.autocrlf").ok())
        .is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            )
        });
    let attributes_file = config
        .as_ref()
        .and_then(|c| c.get_path("core.attributesFile").ok())
        .or_else(|| {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
            Some(base.join("git/attributes"))
        })
        .is_some_and(|p| p.is_file());
    autocrlf
        || attributes_file
        || repo.path().join("info/attributes").is_file()
        || index
            .iter()
            .any(|e| e.path == b".gitattributes" || e.path.ends_with(b"/.gitattributes"))
}

/// One file's entry: its blob from `prev` or the index when its stat data says it is unchanged,
/// else read and stored.
fn entry_of(
    repo: &Repository,
    index: &git2::Index,
    converts: bool,
    prev: Option<&Manifest>,
    rel: &str,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<Entry> {
    let stat = stat_of(meta);
    let exec = super::is_executable(meta);
    let known = prev
        .and_then(|p| p.files.get(rel))
        .filter(|e| e.stat == stat && e.exec == exec)
        .map(|e| e.blob)
        .or_else(|| {
            let ie = index.get_path(Path::new(rel), 0)?;
            let same = u64::from(ie.file_size) == stat.size
                && i64::from(ie.mtime.seconds()) == stat.mtime
                && i64::from(ie.mtime.nanoseconds()) == stat.mtime_ns
                && (ie.ino == 0 || u64::from(ie.ino) == stat.ino & 0xffff_ffff);
            // An index entry newer than the file's mtime could be racy-clean: read it.
            // Where git may convert, the blob is the file's only when it is as large (a
            // converted file's blob, CRLF to LF, an LFS pointer, an encrypted copy, is not).
            let raw = !converts
                || repo
                    .odb()
                    .and_then(|db| db.read_header(ie.id))
                    .is_ok_and(|(size, _)| size as u64 == stat.size);
            (same && raw).then_some(ie.id)
        });
    let blob = match known {
        Some(b) => b,
        None => {
            let bytes = std::fs::read(path).map_err(super::io_err(path))?;
            super::write_blob(repo, &bytes)?
        }
    };
    Ok(Entry { blob, exec, stat })
}

/// The files gitignore excludes one by one, outside ignored folders (which are not entered).
fn ignored_files(repo: &Repository) -> Result<Vec<String>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_ignored(true)
        .recurse_ignored_dirs(false)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .exclude_submodules(true)
        .include_unmodified(false);
    let statuses = repo.statuses(Some(&mut opts)).ctx("list ignored files")?;
    Ok(statuses
        .iter()
        .filter(|s| s.status().is_ignored())
        .filter_map(|s| s.path().ok().map(str::to_string))
        .filter(|p| !p.ends_with('/'))
        .collect())
}

#[cfg(unix)]
fn stat_of(meta: &std::fs::Metadata) -> Stat {
    use std::os::unix::fs::MetadataExt;
    Stat {
        size: meta.len(),
        mtime: meta.mtime(),
        mtime_ns: meta.mtime_nsec(),
        ino: meta.ino(),
    }
}
#[cfg(not(unix))]
fn stat_of(meta: &std::fs::Metadata) -> Stat {
    Stat {
        size: meta.len(),
        ..Stat::default()
    }
}

/// Store a manifest as a tree (for the journal: a crash during a command can still tell what it
/// changed).
pub fn store(repo: &Repository, m: &Manifest) -> Result<Oid> {
    let mut index = git2::Index::new().ctx("make an index")?;
    for (path, e) in &m.files {
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: if e.exec { 0o100755 } else { 0o100644 },
            uid: 0,
            gid: 0,
            file_size: 0,
            id: e.blob,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).ctx("add to the manifest")?;
    }
    index.write_tree_to(repo).ctx("write the manifest tree")
}

/// A stored manifest back (directories are those the files imply).
pub fn load(repo: &Repository, tree: Oid) -> Result<Manifest> {
    let tree = repo.find_tree(tree).ctx("read the manifest tree")?;
    let mut m = Manifest::default();
    tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
        let path = format!("{root}{}", e.name().unwrap_or(""));
        match e.kind() {
            Some(git2::ObjectType::Tree) => {
                m.dirs.insert(path);
            }
            Some(git2::ObjectType::Blob) => {
                m.files.insert(
                    path,
                    Entry {
                        blob: e.id(),
                        exec: e.filemode() == 0o100755,
                        stat: Stat::default(),
                    },
                );
            }
            _ => {}
        }
        git2::TreeWalkResult::Ok
    })
    .ctx("read the manifest tree")?;
    Ok(m)
}

/// What changed between two manifests, path by path, in path order.
pub fn changes(before: &Manifest, after: &Manifest) -> Vec<Change> {
    let paths: BTreeSet<&String> = before.files.keys().chain(after.files.keys()).collect();
    let mut out = Vec::new();
    for path in paths {
        let b = before.files.get(path).map(|e| (e.blob, e.exec));
        let a = after.files.get(path).map(|e| (e.blob, e.exec));
        if b == a {
            continue;
        }
        let mut created_dirs = Vec::new();
        if b.is_none() {
            let parts: Vec<&str> = path.split('/').collect();
            for k in 1..parts.len() {
                let dir = parts[..k].join("/");
                if !before.dirs.contains(&dir) {
                    created_dirs.push(dir);
                }
            }
        }
        out.push(Change {
            path: path.clone(),
            before: b,
            after: a,
            created_dirs,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_added_changed_and_deleted_files_and_new_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("keep.txt"), "k").unwrap();
        std::fs::write(dir.path().join("gone.txt"), "g").unwrap();
        std::fs::write(dir.path().join("edit.txt"), "1").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "cache/\n.env\n*.log\n").unwrap();
        std::fs::write(dir.path().join(".env"), "secret=1").unwrap();
        let before = take(&repo, dir.path(), None).unwrap();
        let stored = load(&repo, store(&repo, &before).unwrap()).unwrap();
        assert_eq!(
            stored.files.keys().collect::<Vec<_>>(),
            before.files.keys().collect::<Vec<_>>()
        );
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        std::fs::write(dir.path().join("edit.txt"), "2").unwrap();
        std::fs::create_dir_all(dir.path().join("out/deep")).unwrap();
        std::fs::write(dir.path().join("out/deep/new.txt"), "n").unwrap();
        std::fs::create_dir(dir.path().join("cache")).unwrap();
        std::fs::write(dir.path().join("cache/x"), "ignored").unwrap();
        std::fs::write(dir.path().join(".env"), "secret=2").unwrap();
        // Ignored and new (build output): not the user's, not listed.
        std::fs::write(dir.path().join("build.log"), "made").unwrap();
        let after = take(&repo, dir.path(), Some(&before)).unwrap();
        let got: Vec<(String, bool, bool, Vec<String>)> = changes(&before, &after)
            .into_iter()
            .map(|c| {
                (
                    c.path,
                    c.before.is_some(),
                    c.after.is_some(),
                    c.created_dirs,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                // Ignored one by one: listed; the ignored cache/ folder is not.
                (".env".into(), true, true, vec![]),
                ("edit.txt".into(), true, true, vec![]),
                ("gone.txt".into(), true, false, vec![]),
                (
                    "out/deep/new.txt".into(),
                    false,
                    true,
                    vec!["out".into(), "out/deep".into()]
                ),
            ]
        );
        // Every listed blob is readable: enough to put the file back.
        let blob = before.files["gone.txt"].blob;
        assert_eq!(repo.find_blob(blob).unwrap().content(), b"g");
    }
}
