//! The user's `pre-commit` and `commit-msg` hooks, run for an accept when the config asks
//! (`accept_runs_hooks = true`), the way `git commit` runs them.
//!
//! Invariants: the hooks see the commit tandem is about to make, not the user's index: a
//! temporary index holding the commit's tree is handed over in `GIT_INDEX_FILE`, so a hook that
//! checks "what is staged" checks exactly the reviewed change. A hook that fails stops the
//! accept before anything is committed; `commit-msg` may rewrite the message, as with git.

use super::{GitError, Result, io_err};
use git2::{Repository, Tree};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run the hooks for a commit of `tree` with `message`; the message as `commit-msg` left it.
pub fn before_commit(
    repo: &Repository,
    workdir: &Path,
    tree: &Tree<'_>,
    message: &str,
) -> Result<String> {
    let dir = hooks_dir(repo, workdir);
    let scratch = repo.path().join("tandem").join(format!(
        "hooks-{}-{:04x}",
        std::process::id(),
        fastrand::u16(..)
    ));
    std::fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
    let result = (|| {
        let index_path = scratch.join("index");
        let mut index = git2::Index::open(&index_path).map_err(|e| GitError::Op {
            context: "temporary index".into(),
            message: e.message().to_string(),
        })?;
        index.read_tree(tree).map_err(|e| GitError::Op {
            context: "temporary index".into(),
            message: e.message().to_string(),
        })?;
        index.write().map_err(|e| GitError::Op {
            context: "temporary index".into(),
            message: e.message().to_string(),
        })?;
        run(&dir, "pre-commit", workdir, &index_path, &[])?;
        let msg_file = scratch.join("COMMIT_EDITMSG");
        std::fs::write(&msg_file, message).map_err(io_err(&msg_file))?;
        run(
            &dir,
            "commit-msg",
            workdir,
            &index_path,
            &[msg_file.to_string_lossy().as_ref()],
        )?;
        std::fs::read_to_string(&msg_file).map_err(io_err(&msg_file))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// `core.hooksPath` (relative to the working directory) or `.git/hooks`.
fn hooks_dir(repo: &Repository, workdir: &Path) -> PathBuf {
    match repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.hooksPath").ok())
    {
        Some(p) if p.is_absolute() => p,
        Some(p) => workdir.join(p),
        None => repo.path().join("hooks"),
    }
}

fn run(dir: &Path, hook: &str, workdir: &Path, index: &Path, args: &[&str]) -> Result<()> {
    let path = dir.join(hook);
    if !is_runnable(&path) {
        return Ok(());
    }
    let out = Command::new(&path)
        .args(args)
        .current_dir(workdir)
        .env("GIT_INDEX_FILE", index)
        .output()
        .map_err(|e| GitError::Hook {
            hook: hook.to_string(),
            output: format!("it could not be started: {e}"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !output.is_empty() {
            output.push('\n');
        }
        output.push_str(err.trim());
    }
    Err(GitError::Hook {
        hook: hook.to_string(),
        output: crate::infra::tools::clean_text(&output),
    })
}

#[cfg(unix)]
fn is_runnable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
#[cfg(not(unix))]
fn is_runnable(path: &Path) -> bool {
    path.is_file()
}
