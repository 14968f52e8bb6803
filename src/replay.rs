//! Read-only history of a session, for replay: load a journal (the local file, or the copy
//! stored under `refs/tandem/` after a fetch), describe each event in one line, rebuild the
//! state at any point quickly, and serve diffs of stored iterations.
//!
//! Invariants: nothing here writes — not the journal (no lock is taken, so a session that is
//! still running can be replayed), not the repository. It needs no model, no network, no key.
//! A torn last line (a killed process) is skipped like on resume.

use crate::engine::{self, EventTx, OpRx, OpTx};
use crate::journal::{Entry, JournalEvent, PlanSource, Purpose, TimeKind};
use crate::protocol::{Event, Op};
use crate::review_script::Action;
use crate::state::SessionState;
use std::path::Path;
use tokio::sync::mpsc;

/// States are kept every this many events, so seeking anywhere costs at most this many applies.
const CHECKPOINT_EVERY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "no tandem session{0} in this repository (see `tandem sessions`; fetch others with `git fetch origin 'refs/tandem/*:refs/tandem/*'`)"
    )]
    NotFound(String),
    #[error(transparent)]
    Core(#[from] engine::CoreError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

pub struct History {
    pub session: String,
    pub entries: Vec<Entry>,
    /// Where the journal came from, for the title.
    pub from_git: bool,
    checkpoints: Vec<SessionState>,
}

impl History {
    pub fn new(session: String, entries: Vec<Entry>, from_git: bool) -> History {
        let mut checkpoints = vec![SessionState::default()];
        let mut s = SessionState::default();
        for (i, e) in entries.iter().enumerate() {
            s.apply(e);
            if (i + 1) % CHECKPOINT_EVERY == 0 {
                checkpoints.push(s.clone());
            }
        }
        History {
            session,
            entries,
            from_git,
            checkpoints,
        }
    }

    /// The state after the first `n` events.
    pub fn state_after(&self, n: usize) -> SessionState {
        let n = n.min(self.entries.len());
        let k = (n / CHECKPOINT_EVERY).min(self.checkpoints.len() - 1);
        let mut s = self.checkpoints[k].clone();
        for e in &self.entries[k * CHECKPOINT_EVERY..n] {
            s.apply(e);
        }
        s
    }
}

/// Load a session's history: the named one, or the newest.
pub fn load(workdir: &Path, session: Option<&str>) -> Result<History, ReplayError> {
    let sessions = engine::list_sessions(workdir)?;
    let (id, _, local) = match session {
        Some(id) => sessions
            .into_iter()
            .find(|(s, ..)| s == id)
            .ok_or_else(|| ReplayError::NotFound(format!(" with id {id}")))?,
        None => sessions
            .into_iter()
            .next()
            .ok_or_else(|| ReplayError::NotFound(String::new()))?,
    };
    let repo = crate::gitops::open(workdir).map_err(engine::CoreError::from)?;
    if local {
        let read = crate::journal::read_file(&engine::journal_path(&repo, &id))?;
        return Ok(History::new(id, read.entries, false));
    }
    let bytes = crate::gitops::stored_journal(&repo, &id)
        .map_err(engine::CoreError::from)?
        .ok_or_else(|| ReplayError::NotFound(format!(" with id {id}")))?;
    let read = crate::journal::parse(&bytes, &format!("refs/tandem/sessions/{id}/journal"))?;
    Ok(History::new(id, read.entries, true))
}

/// The task and iteration an event is about, if any.
pub fn context(ev: &JournalEvent) -> Option<(usize, Option<u32>)> {
    use JournalEvent::*;
    match ev {
        ModelCall {
            task, iteration, ..
        } => task.map(|t| (t, *iteration)),
        ToolCall {
            task, iteration, ..
        }
        | DraftStarted {
            task, iteration, ..
        }
        | FileTouched {
            task, iteration, ..
        }
        | DraftAborted {
            task, iteration, ..
        }
        | IterationReady {
            task, iteration, ..
        }
        | CommentAdded {
            task, iteration, ..
        }
        | CommentEdited {
            task, iteration, ..
        }
        | CommentDeleted {
            task, iteration, ..
        }
        | NoteSet {
            task, iteration, ..
        }
        | CriterionTicked {
            task, iteration, ..
        }
        | HumanTime {
            task, iteration, ..
        }
        | Decision {
            task, iteration, ..
        }
        | HandEdited {
            task, iteration, ..
        }
        | Committed {
            task, iteration, ..
        }
        | Restored {
            task, iteration, ..
        }
        | FileWritten {
            task, iteration, ..
        }
        | UserBytesSaved {
            task, iteration, ..
        }
        | ConflictResolved {
            task, iteration, ..
        }
        | AcceptedEmpty {
            task, iteration, ..
        }
        | AcceptFailed {
            task, iteration, ..
        } => Some((*task, Some(*iteration))),
        SessionStarted { .. } | PlanSet { .. } | PlanApproved | SessionFinished => None,
    }
}

/// One line for the timeline.
pub fn describe(ev: &JournalEvent) -> String {
    use JournalEvent::*;
    let secs = |ms: &u64| format!("{}s", (ms + 500) / 1000);
    match ev {
        SessionStarted { model, branch, .. } => format!(
            "session started · model {model}{}",
            branch
                .as_deref()
                .map(|b| format!(" · branch {b}"))
                .unwrap_or_default()
        ),
        PlanSet { tasks, source } => format!(
            "plan {} · {} task(s)",
            match source {
                PlanSource::Planner => "proposed by the planner",
                PlanSource::File => "from a file",
                PlanSource::Edited => "edited",
            },
            tasks.len()
        ),
        PlanApproved => "plan approved".into(),
        ModelCall {
            purpose,
            prompt_tokens,
            completion_tokens,
            duration_ms,
            tool_calls,
            ..
        } => format!(
            "{} model call · {prompt_tokens}+{completion_tokens} tokens · {} · {}",
            match purpose {
                Purpose::Plan => "planner",
                Purpose::Draft => "drafter",
            },
            secs(duration_ms),
            if tool_calls.is_empty() {
                "text".to_string()
            } else {
                tool_calls.join(", ")
            }
        ),
        ToolCall { name, args, ok, .. } => {
            let path = args.get("path").and_then(|p| p.as_str()).unwrap_or("");
            format!("  {}{name} {path}", if *ok { "" } else { "✗ " })
                .trim_end()
                .to_string()
        }
        DraftStarted {
            task, iteration, ..
        } => format!("task {task} · iteration {iteration} · draft started"),
        FileTouched { path, preimage, .. } => format!(
            "  first write to {path}{}",
            if preimage.is_none() {
                " (new file)"
            } else {
                ""
            }
        ),
        DraftAborted { reason, .. } => format!("draft attempt dropped: {reason}"),
        IterationReady {
            task,
            iteration,
            files,
            agent_ms,
            incomplete,
            ..
        } => format!(
            "task {task} · iteration {iteration} ready{} · {} file(s) · agent {}",
            if *incomplete { " (incomplete)" } else { "" },
            files.len(),
            secs(agent_ms)
        ),
        CommentAdded {
            path, line, text, ..
        } => format!("comment {path}:{line}: {text}"),
        CommentEdited { id, text, .. } => format!("comment #{id} edited: {text}"),
        CommentDeleted { id, .. } => format!("comment #{id} deleted"),
        NoteSet { text, .. } => format!("note: {text}"),
        CriterionTicked { criterion, met, .. } => {
            format!(
                "criterion {criterion} {}",
                if *met { "ticked" } else { "unticked" }
            )
        }
        HumanTime { kind, ms, .. } => format!(
            "{} {}",
            match kind {
                TimeKind::Review => "review",
                TimeKind::HandEdit => "hand edit",
            },
            secs(ms)
        ),
        Decision {
            task,
            iteration,
            action,
        } => format!(
            "task {task} · iteration {iteration} · {}",
            match action {
                Action::Accept => "accepted",
                Action::Revise => "revision requested",
                Action::Reject => "rejected",
            }
        ),
        HandEdited { path, .. } => format!("hand edit of {path}"),
        Committed { commit, .. } => format!("committed {}", &commit[..commit.len().min(10)]),
        Restored { .. } => "files restored after reject".into(),
        FileWritten { path, blob, .. } => match blob {
            Some(_) => format!("  wrote {path}"),
            None => format!("  deleted {path}"),
        },
        UserBytesSaved { paths, commit, .. } => format!(
            "your changes to {} saved in {} before tandem wrote them",
            paths.join(", "),
            &commit[..commit.len().min(10)]
        ),
        ConflictResolved { choice, .. } => format!(
            "conflict answered: {}",
            match choice {
                crate::journal::ConflictChoice::KeepMine => "keep mine",
                crate::journal::ConflictChoice::Take => "take tandem's",
                crate::journal::ConflictChoice::KeepBoth => "keep both",
            }
        ),
        AcceptedEmpty { .. } => "accepted with an empty change: nothing committed".into(),
        AcceptFailed { reason, .. } => format!("accept failed, back in review: {reason}"),
        SessionFinished => "session finished".into(),
    }
}

/// A core for replay: it only serves diffs of stored commits. Same protocol as the live core.
pub fn spawn_core(workdir: &Path) -> (OpTx, engine::EventRx) {
    let (op_tx, op_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(workdir.to_path_buf(), op_rx, EventTx(ev_tx)));
    (op_tx, ev_rx)
}

async fn serve(workdir: std::path::PathBuf, mut ops: OpRx, events: EventTx) {
    while let Some(op) = ops.recv().await {
        match op {
            Op::DiffCommits(req) => engine::spawn_diff(&workdir, &events, req),
            Op::Shutdown => break,
            // Replay is read-only: anything else is not for it.
            _ => {}
        }
    }
    events.send(Event::Stopped);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_after_matches_a_full_fold_at_every_point() {
        let mut entries = Vec::new();
        entries.push(Entry {
            seq: 1,
            at: crate::journal::now_ms(),
            event: JournalEvent::PlanSet {
                tasks: vec![crate::plan::TaskSpec {
                    title: "t".into(),
                    instructions: "i".into(),
                    acceptance: vec!["a".into()],
                    human: false,
                }],
                source: PlanSource::File,
            },
        });
        for i in 0..700u64 {
            entries.push(Entry {
                seq: i + 2,
                at: crate::journal::now_ms(),
                event: if i == 0 {
                    JournalEvent::DraftStarted {
                        task: 1,
                        iteration: 1,
                        base: None,
                    }
                } else {
                    JournalEvent::HumanTime {
                        task: 1,
                        iteration: 1,
                        kind: TimeKind::Review,
                        ms: i,
                        started: crate::journal::now_ms(),
                    }
                },
            });
        }
        let h = History::new("s".into(), entries.clone(), false);
        for n in [0, 1, 2, 255, 256, 257, 511, 512, 600, 701, 5000] {
            let full = SessionState::from_entries(&entries[..n.min(entries.len())]);
            assert_eq!(h.state_after(n), full, "at {n}");
        }
    }
}
