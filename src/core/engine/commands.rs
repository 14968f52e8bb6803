//! The drafter's `run_command`: the policy decides whether a command runs, the sandbox runs it
//! (infra/sandbox.rs), and whatever it changed in the working tree is journaled as if the
//! tools had written it, so reject and crash recovery put back every byte.
//!
//! Invariants: `command_started` (with a tree of the working tree as it was) is journaled
//! before the command starts, and `command_ran` after its changes are journaled; a session that
//! stopped in between settles the command on resume (`settle_command`) before anything is put
//! back. Changes to paths the tools may not write (hooks, `.gitmodules`, nested repositories,
//! `.gitattributes` drivers) are put back at once and reported. Blocking work (the tree walk,
//! the command) runs off the async runtime; dropping the draft kills the command.

use super::*;
use crate::infra::config::CommandPolicy;
use crate::infra::gitops::manifest;
use crate::infra::sandbox::{self, Ran, Support};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Sets the flag when dropped: a cancelled draft drops its future, and the command's wait loop
/// sees the flag and kills the process group.
struct KillOnDrop(Arc<AtomicBool>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(serde::Deserialize)]
struct CommandArgs {
    command: String,
}

/// Whether `command` is covered by an allow-list entry: the entry itself, or the entry followed
/// by a space (so `pytest` allows `pytest -q` but not `pytestx`). Anything that chains another
/// command (`;`, `&&`, `|`, backticks, `$(`, newlines) is never covered by a prefix.
pub fn allowed_by(command: &str, allow: &[String]) -> bool {
    if allow.is_empty() {
        return true;
    }
    let chains = ["\n", ";", "&", "|", "`", "$(", ">", "<"];
    allow.iter().any(|p| {
        let p = p.trim();
        let rest = if command == p {
            Some("")
        } else {
            command.strip_prefix(p).and_then(|r| r.strip_prefix(' '))
        };
        rest.is_some_and(|r| !chains.iter().any(|c| r.contains(c)))
    })
}

impl Engine {
    /// What this kernel can enforce, probed once per engine (a process start).
    pub(super) async fn sandbox_support(&mut self) -> Result<Support, CoreError> {
        if let Some(s) = &self.sandbox {
            return Ok(s.clone());
        }
        let s = blocking(sandbox::probe).await?;
        self.sandbox = Some(s.clone());
        Ok(s)
    }

    /// Run one `run_command` call: (whether it ran, the result for the model).
    pub(super) async fn run_command_call(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        arguments: &str,
    ) -> Result<(bool, String), CoreError> {
        let command = match tools::parse_arguments(arguments)
            .and_then(|v| serde_json::from_value::<CommandArgs>(v).map_err(|e| e.to_string()))
        {
            Ok(a) => tools::clean_text(&a.command).trim().to_string(),
            Err(e) => {
                return Ok((
                    false,
                    format!("error: bad arguments for `run_command`: {e}"),
                ));
            }
        };
        if command.is_empty() {
            return Ok((false, "error: the command is empty".into()));
        }
        self.execute(task, iteration, step, &command, false).await
    }

    /// Run `command` if the policy and the sandbox allow it (a `check` from the plan or config
    /// skips the allow-list: the plan or config named it). Returns (whether it ran, the text for
    /// the model); when it did not run, the text says why.
    // Long: the policy's decisions (screening, allow-list, ask, sandbox level) in the order they
    // are made, each with its reason for the model.
    pub(super) async fn execute(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        command: &str,
        check: bool,
    ) -> Result<(bool, String), CoreError> {
        // A check comes from the plan (a model wrote it) or config: screened like the drafter's
        // own commands before it reaches a terminal or the journal.
        let command = tools::clean_text(command).trim().to_string();
        if command.is_empty() {
            return Ok((false, "error: the command is empty".into()));
        }
        let cs = self.settings.commands.clone();
        if !cs.offered() {
            let why = match cs.policy {
                CommandPolicy::Never => "commands are off (commands.policy = \"never\")",
                _ => {
                    "commands need someone to allow each one, and nobody can here (commands.policy = \"ask\"); the reviewer can set it to \"allow\""
                }
            };
            return Ok((
                false,
                format!("error: {why}; make the change with the file tools"),
            ));
        }
        if !check && cs.policy == CommandPolicy::Allow && !allowed_by(&command, &cs.allow) {
            return Ok((
                false,
                format!(
                    "error: `{command}` is not on the allow-list (commands.allow: {}); run one of those, or make the change with the file tools",
                    cs.allow.join(", ")
                ),
            ));
        }
        let support = self.sandbox_support().await?;
        let sandboxed = support.sandboxed();
        let may_ask_unsandboxed = cs.ask_without_sandbox && cs.can_ask;
        if !(sandboxed || may_ask_unsandboxed) {
            let why = if cs.ask_without_sandbox {
                "nobody can be asked to allow an unsandboxed command here"
            } else {
                "tandem does not run commands without a sandbox (commands.without_sandbox = \"refuse\")"
            };
            return Ok((false, format!("error: {}; {why}", support.describe())));
        }
        // "ask" asks for every command (checks too: the plan that named them came from a
        // model); an unsandboxed one is always asked about, whatever the policy.
        let ask = cs.policy == CommandPolicy::Ask || !sandboxed;
        // "Always" holds for the confinement it was given under, not for a weaker one.
        let always = match sandboxed {
            true => &self.rec.state.always_allowed,
            false => &self.rec.state.always_unsandboxed,
        };
        if ask
            && !always.contains(&command)
            && !self
                .ask_reviewer(task, iteration, step, &command, &support, check)
                .await?
        {
            return Ok((
                false,
                format!(
                    "error: the reviewer declined to run `{command}`; do without it (make the change with the file tools) and say in finish what you could not check"
                ),
            ));
        }
        let workdir = self.workdir.clone();
        let before = blocking(move || -> Result<String, CoreError> {
            let repo = gitops::open(&workdir)?;
            let m = manifest::take(&repo, &workdir, None)?;
            Ok(manifest::store(&repo, &m)?.to_string())
        })
        .await??;
        self.rec.record(JournalEvent::CommandStarted {
            task,
            iteration,
            step,
            command: command.clone(),
            before,
            sandboxed,
        })?;
        self.watched_command = true;
        self.emit(Event::Status {
            message: format!("running: {command}"),
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let _kill = KillOnDrop(cancel.clone());
        let workdir = self.workdir.clone();
        let protected = self.ws.protected_top_level();
        let network = support.network();
        let ran = blocking(move || {
            sandbox::run(
                &command, &workdir, network, &protected, &cs.env, cs.limits, &cancel,
            )
        })
        .await?;
        let ran = ran.map_err(|e| e.to_string());
        self.settle_command(Some(ran)).await
    }

    /// Show the command to the reviewer and wait for the answer (`Op::AnswerCommand`, through
    /// `race`); the answer is journaled. A cancel or shutdown while waiting drops the draft as
    /// usual: nothing ran.
    async fn ask_reviewer(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        command: &str,
        support: &Support,
        check: bool,
    ) -> Result<bool, CoreError> {
        let sandboxed = support.sandboxed();
        // An answer left over from an earlier question (sent twice) must not answer this one.
        while self.answers.rx.try_recv().is_ok() {}
        self.emit(Event::CommandApproval {
            task,
            iteration,
            command: command.to_string(),
            sandboxed,
            confinement: support.confinement(),
            check,
        });
        let started = Instant::now();
        // The sender lives in the engine too, so this only ends with an answer.
        let (approved, always) = self.answers.rx.recv().await.unwrap_or((false, false));
        let waited = started.elapsed();
        self.waited += waited;
        self.rec.record(JournalEvent::CommandAnswered {
            task,
            iteration,
            step,
            command: command.to_string(),
            approved,
            always: approved && always,
            waited_ms: waited.as_millis() as u64,
            sandboxed,
        })?;
        Ok(approved)
    }

    /// Journal what the pending command changed and how it ended. `ran` is None when the
    /// command was interrupted (tandem stopped or the draft was dropped while it ran).
    // Long: what the command changed, each change journaled, then how it ended: the order the
    // journal records them in.
    pub(super) async fn settle_command(
        &mut self,
        ran: Option<Result<Ran, String>>,
    ) -> Result<(bool, String), CoreError> {
        let Some(p) = self.rec.state.pending_command.clone() else {
            return Ok((false, "error: no command was running".into()));
        };
        // A command left pending by a tandem that stopped: whatever changed since it started
        // may also be the user's (edits made before this resume), so each change is marked as
        // partly someone else's and putting it back asks first (the bytes saved meanwhile).
        let unwatched = !std::mem::take(&mut self.watched_command);
        let workdir = self.workdir.clone();
        let before_tree = p.before.clone();
        let changes = blocking(move || -> Result<Vec<manifest::Change>, CoreError> {
            let repo = gitops::open(&workdir)?;
            let oid = git2::Oid::from_str(&before_tree)
                .map_err(|e| CoreError::Join(format!("bad tree id in the journal: {e}")))?;
            let before = manifest::load(&repo, oid)?;
            let after = manifest::take(&repo, &workdir, Some(&before))?;
            Ok(manifest::changes(&before, &after))
        })
        .await??;
        let (mut changed, mut reverted) = (Vec::new(), Vec::new());
        for c in changes {
            let allowed = self.ws.confine_write(&c.path).and_then(|_| {
                let attrs =
                    c.after.is_some() && c.path.rsplit('/').next() == Some(".gitattributes");
                match attrs {
                    true if std::fs::read(self.workdir.join(&c.path))
                        .is_ok_and(|b| tools::sets_a_driver(&b)) =>
                    {
                        Err("it sets a filter, diff or merge driver".to_string())
                    }
                    _ => Ok(()),
                }
            });
            if let Err(why) = allowed {
                self.undo_forbidden(&c)?;
                reverted.push(format!("{} ({why})", c.path));
                continue;
            }
            self.record_command_change(p.task, p.iteration, &c, unwatched)?;
            changed.push(c.path.clone());
        }
        let (exit_code, ending, duration_ms, output, output_bytes, ok) = match &ran {
            Some(Ok(r)) => (
                r.exit_code,
                r.ending(&self.settings.commands.limits),
                r.duration_ms,
                r.output.clone(),
                r.output_bytes,
                true,
            ),
            Some(Err(e)) => (
                None,
                format!("could not start: {e}"),
                0,
                String::new(),
                0,
                false,
            ),
            None => (
                None,
                "interrupted (tandem stopped while it ran)".into(),
                0,
                String::new(),
                0,
                false,
            ),
        };
        self.rec.record(JournalEvent::CommandRan {
            task: p.task,
            iteration: p.iteration,
            step: p.step,
            command: p.command.clone(),
            exit_code,
            ending: ending.clone(),
            duration_ms,
            output: agent::clip(&output, 4000),
            output_bytes,
            sandboxed: p.sandboxed,
            changed: changed.clone(),
            reverted: reverted.clone(),
        })?;
        let mut text = format!(
            "{ending} in {:.1} s{}",
            duration_ms as f64 / 1000.0,
            if p.sandboxed { "" } else { " (not sandboxed)" }
        );
        if !changed.is_empty() {
            text.push_str(&format!("; changed {}", changed.join(", ")));
        }
        text.push('\n');
        if !reverted.is_empty() {
            text.push_str(&format!(
                "put back (the agent may not change these): {}\n",
                reverted.join(", ")
            ));
        }
        if output.is_empty() {
            text.push_str("(no output)");
        } else {
            text.push_str(&output);
        }
        Ok((ok, if ok { text } else { format!("error: {text}") }))
    }

    /// Journal one path a command changed, as a tool write would be: its pre-task content the
    /// first time the task touches it, then what the command left.
    fn record_command_change(
        &mut self,
        task: usize,
        iteration: u32,
        c: &manifest::Change,
        unwatched: bool,
    ) -> Result<(), CoreError> {
        let repo = gitops::open(&self.workdir)?;
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let left = last_left(&repo, t, iteration, &c.path)?;
        let foreign = unwatched || left.is_some_and(|left| left != c.before.map(|(b, _)| b));
        if left.is_none() {
            self.rec.record(JournalEvent::FileTouched {
                task,
                iteration,
                path: c.path.clone(),
                preimage: c.before.map(|(b, _)| b.to_string()),
                created_dirs: c.created_dirs.clone(),
                exec: c.before.map(|(_, x)| x),
            })?;
        }
        self.rec.record(JournalEvent::FileWritten {
            task,
            iteration,
            path: c.path.clone(),
            blob: c.after.map(|(b, _)| b.to_string()),
            foreign,
        })?;
        Ok(())
    }

    /// Put one path back as it was before the command (it wrote where the agent may not).
    fn undo_forbidden(&self, c: &manifest::Change) -> Result<(), CoreError> {
        let repo = gitops::open(&self.workdir)?;
        let mut contents = BTreeMap::new();
        let content = match c.before {
            Some((blob, exec)) => Some((gitops::read_blob(&repo, &blob.to_string())?, exec)),
            None => None,
        };
        contents.insert(c.path.clone(), content);
        gitops::restore_paths(&self.workdir, &contents, &c.created_dirs)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_by;

    #[test]
    fn allow_list_prefixes_cover_arguments_but_not_chained_commands() {
        let allow = vec!["python3 -m pytest".to_string(), "make".to_string()];
        assert!(allowed_by("python3 -m pytest -q tests", &allow));
        assert!(allowed_by("make", &allow));
        assert!(!allowed_by("makefoo", &allow));
        assert!(!allowed_by("make; rm -rf ~", &allow));
        assert!(!allowed_by("make && curl x", &allow));
        assert!(!allowed_by("make $(evil)", &allow));
        assert!(!allowed_by("python3 evil.py", &allow));
        assert!(allowed_by("anything at all", &[]));
    }
}
