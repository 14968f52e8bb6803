//! Writing files so that nobody ever sees half of one: a temp file beside the target, synced,
//! then renamed over it. Used for the agent's writes, put-backs, `.mine` copies and reports.
//!
//! Invariants: a failed write leaves the old file as it was and no temp file behind; temp
//! files left by a kill between write and rename are named `.<file>.tandem-<pid>.tmp` and
//! `remove_stale_temps` clears them.

use std::path::Path;

/// Create the directory `path` will be written in, if it is missing.
pub fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p),
        _ => Ok(()),
    }
}

/// Write via a temp file in the same directory, synced, then renamed over the old file (whose
/// mode it keeps). The directory must exist (`create_parent`).
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?
        .to_string_lossy()
        .to_string();
    let tmp = dir.join(format!(".{name}.tandem-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove temp files `write_atomic` left next to `path` when a crash came between writing and
/// renaming, so putting a path back leaves no stray file behind.
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.tandem-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp"))
            && !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
