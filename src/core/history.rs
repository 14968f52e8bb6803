//! Read-only history of a session, for replay: load a journal through `sessions::load` (the
//! local file, or the copy stored under `refs/tandem/` after a fetch), rebuild the state at any
//! point quickly, and serve diffs of stored iterations. Lines per event are `core::describe`'s.
//!
//! Invariants: nothing here writes — not the journal (no lock is taken, so a session that is
//! still running can be replayed), not the repository. It needs no model, no network, no key.
//! A torn last line (a killed process) is skipped like on resume.

use crate::core::engine::{self, CoreHandle, EventTx, OpRx};
use crate::core::journal::Entry;
use crate::core::protocol::{Event, Op, Submission};
use crate::core::sessions::{self, SessionsError};
use crate::core::state::SessionState;
use std::path::Path;
use tokio::sync::mpsc;

/// States are kept every this many events, so seeking anywhere costs at most this many applies.
const CHECKPOINT_EVERY: usize = 256;

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
pub fn load(workdir: &Path, session: Option<&str>) -> Result<History, SessionsError> {
    let l = sessions::load(workdir, session)?;
    Ok(History::new(l.id, l.entries, l.from_git))
}

/// A core for replay: it only serves diffs of stored commits. Same protocol as the live core.
pub fn spawn_core(workdir: &Path) -> CoreHandle {
    let (op_tx, op_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let workdir = workdir.to_path_buf();
    tokio::spawn(async move {
        serve(workdir, op_rx, EventTx(ev_tx)).await;
        let _ = done_tx.send(Ok(engine::RunEnd::Stopped));
    });
    CoreHandle::from_parts(op_tx, ev_rx, done_rx)
}

async fn serve(workdir: std::path::PathBuf, mut ops: OpRx, events: EventTx) {
    while let Some(Submission { op, .. }) = ops.recv().await {
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
    use crate::core::journal::{JournalEvent, PlanSource, TimeKind};

    #[test]
    fn state_after_matches_a_full_fold_at_every_point() {
        let mut entries = Vec::new();
        entries.push(Entry {
            seq: 1,
            at: crate::core::journal::now_ms(),
            event: JournalEvent::PlanSet {
                tasks: vec![crate::core::plan::TaskSpec {
                    title: "t".into(),
                    instructions: "i".into(),
                    acceptance: vec!["a".into()],
                    human: false,
                    ..Default::default()
                }],
                source: PlanSource::File,
            },
        });
        for i in 0..700u64 {
            entries.push(Entry {
                seq: i + 2,
                at: crate::core::journal::now_ms(),
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
                        started: crate::core::journal::now_ms(),
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
