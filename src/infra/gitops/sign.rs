//! Making the accept commit on HEAD the way `git commit` would: signed when the user's git
//! config says `commit.gpgsign=true` (`gpg.format` openpgp, x509 or ssh; `gpg.program`,
//! `gpg.<format>.program`, `user.signingkey`), and with the branch moved only if it still points
//! where it did.
//!
//! Invariants: a signing failure makes no commit and moves no ref; the error names the program
//! and what it said. The commit buffer is handed to the signing program exactly as git2 wrote
//! it, so the signature verifies with `git verify-commit`.

use super::{Ctx, GitError, Result, signature};
use git2::{Oid, Repository, Tree};
use std::io::Write;
use std::process::{Command, Stdio};

/// Commit `tree` with `message` on top of `head` (None: the first commit) and move HEAD's
/// branch — only if it still points at `head`, so a commit the user made meanwhile (while hooks
/// ran, say) is never undone.
pub fn commit_on_head(
    repo: &Repository,
    head: Option<Oid>,
    tree: &Tree<'_>,
    message: &str,
) -> Result<Oid> {
    let sig = signature(repo)?;
    if super::head(repo) != head {
        return Err(GitError::HeadMoved);
    }
    let parents = match head {
        Some(h) => vec![repo.find_commit(h).ctx("find HEAD")?],
        None => vec![],
    };
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let config = repo.config().ctx("read git config")?;
    if !config.get_bool("commit.gpgsign").unwrap_or(false) {
        // libgit2 refuses when HEAD's tip is no longer the first parent.
        return repo
            .commit(Some("HEAD"), &sig, &sig, message, tree, &parent_refs)
            .map_err(|e| match e.code() {
                git2::ErrorCode::Modified => GitError::HeadMoved,
                _ => GitError::Op {
                    context: "commit".into(),
                    message: e.message().to_string(),
                },
            });
    }
    let buf = repo
        .commit_create_buffer(&sig, &sig, message, tree, &parent_refs)
        .ctx("build commit")?;
    let content = buf.as_str().map_err(|_| GitError::Sign {
        program: "git".into(),
        message: "the commit text is not UTF-8".into(),
    })?;
    // As git: no carriage returns and no trailing newline, so the commit bytes match `git
    // commit -S`'s.
    let signature = sign(repo, &config, content, &sig)?
        .replace('\r', "")
        .trim_end_matches('\n')
        .to_string();
    let oid = repo
        .commit_signed(content, &signature, Some("gpgsig"))
        .ctx("write signed commit")?;
    let subject = message.lines().next().unwrap_or_default();
    move_head(repo, oid, head, &format!("commit: {subject}"))?;
    Ok(oid)
}

/// Point HEAD's branch (or a detached HEAD) at `oid`, only if it still points at `old`.
fn move_head(repo: &Repository, oid: Oid, old: Option<Oid>, log: &str) -> Result<()> {
    let head = repo.find_reference("HEAD").ctx("read HEAD")?;
    match head.symbolic_target().ok().flatten() {
        Some(branch) => {
            let branch = branch.to_string();
            match old {
                Some(old) => repo
                    .reference_matching(&branch, oid, true, old, log)
                    .ctx("move branch")?,
                None => repo
                    .reference(&branch, oid, false, log)
                    .ctx("move branch")?,
            };
        }
        None => repo.set_head_detached(oid).ctx("move HEAD")?,
    }
    Ok(())
}

fn sign(
    repo: &Repository,
    config: &git2::Config,
    content: &str,
    sig: &git2::Signature<'_>,
) -> Result<String> {
    let format = config
        .get_string("gpg.format")
        .unwrap_or_else(|_| "openpgp".into());
    let key = config.get_string("user.signingkey").ok();
    let program = |default: &str| {
        config
            .get_string(&format!("gpg.{format}.program"))
            .or_else(|_| {
                if format == "openpgp" {
                    config.get_string("gpg.program")
                } else {
                    Err(git2::Error::from_str("unset"))
                }
            })
            .unwrap_or_else(|_| default.to_string())
    };
    match format.as_str() {
        "ssh" => {
            let key = key.ok_or_else(|| GitError::Sign {
                program: "ssh-keygen".into(),
                message: "gpg.format is ssh but user.signingkey is not set".into(),
            })?;
            ssh_sign(repo, &program("ssh-keygen"), &key, content)
        }
        "openpgp" | "x509" => {
            let program = program(if format == "x509" { "gpgsm" } else { "gpg" });
            // As git: the committer's identity when no key is named.
            let key = key.unwrap_or_else(|| {
                format!(
                    "{} <{}>",
                    sig.name().unwrap_or_default(),
                    sig.email().unwrap_or_default()
                )
            });
            gpg_sign(&program, &key, content)
        }
        other => Err(GitError::Sign {
            program: "git".into(),
            message: format!("gpg.format `{other}` is not one tandem knows (openpgp, x509, ssh)"),
        }),
    }
}

fn run(program: &str, args: &[&str], stdin: &[u8]) -> Result<(Vec<u8>, String)> {
    let fail = |message: String| GitError::Sign {
        program: program.to_string(),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin)
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("it did not finish: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(fail(if stderr.is_empty() {
            format!("it exited with {}", out.status)
        } else {
            stderr
        }));
    }
    Ok((out.stdout, stderr))
}

fn gpg_sign(program: &str, key: &str, content: &str) -> Result<String> {
    let (stdout, status) = run(
        program,
        &["--status-fd=2", "-bsau", key],
        content.as_bytes(),
    )?;
    if !status.contains("SIG_CREATED") {
        return Err(GitError::Sign {
            program: program.to_string(),
            message: format!("it made no signature: {status}"),
        });
    }
    String::from_utf8(stdout).map_err(|_| GitError::Sign {
        program: program.to_string(),
        message: "its signature is not text".into(),
    })
}

/// `ssh-keygen -Y sign`, as git runs it: the key is a file, or a literal public key (`key::…`
/// or `ssh-…`) whose private half is in the ssh agent.
fn ssh_sign(repo: &Repository, program: &str, key: &str, content: &str) -> Result<String> {
    let dir = repo.path().join("tandem").join(format!(
        "sign-{}-{:04x}",
        std::process::id(),
        fastrand::u16(..)
    ));
    std::fs::create_dir_all(&dir).map_err(super::io_err(&dir))?;
    let result = (|| {
        let literal = key.strip_prefix("key::").or_else(|| {
            (key.starts_with("ssh-") || key.starts_with("ecdsa-") || key.starts_with("sk-"))
                .then_some(key)
        });
        let key_file = match literal {
            Some(public) => {
                let p = dir.join("key.pub");
                std::fs::write(&p, format!("{public}\n")).map_err(super::io_err(&p))?;
                p
            }
            None => expand_home(key),
        };
        let buffer = dir.join("commit");
        std::fs::write(&buffer, content).map_err(super::io_err(&buffer))?;
        let key_arg = key_file.to_string_lossy().to_string();
        let buf_arg = buffer.to_string_lossy().to_string();
        let mut args = vec!["-Y", "sign", "-n", "git", "-f", key_arg.as_str()];
        if literal.is_some() {
            args.push("-U");
        }
        args.push(buf_arg.as_str());
        run(program, &args, b"")?;
        let sig_file = dir.join("commit.sig");
        std::fs::read_to_string(&sig_file).map_err(|e| GitError::Sign {
            program: program.to_string(),
            message: format!("it wrote no signature ({e})"),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn expand_home(path: &str) -> std::path::PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => directories::BaseDirs::new()
            .map(|b| b.home_dir().join(rest))
            .unwrap_or_else(|| rest.into()),
        None => path.into(),
    }
}
