//! Abandoning a session (`tandem sessions abandon ID`): an unfinished session is marked as
//! dropped, so `tandem` and `tandem exec` start a new one instead of resuming it.
//!
//! Invariants: like every domain change it is one journal event (`SessionAbandoned`), recorded
//! through `Recorder::record` under the repository's lock and the journal's own; the stored
//! copy under `refs/tandem/` is updated so the history travels. It writes nothing in the working
//! tree and deletes nothing: the journal and the iteration refs stay for replay and reports.
//! While the agent's uncommitted changes are on disk it refuses unless forced, because
//! afterwards no tandem command would put those files back.

use super::*;

/// A path left as it was, still holding the agent's uncommitted changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftFile {
    pub task: usize,
    pub path: String,
    /// The file did not exist before the task: discarding the change means deleting it.
    pub new: bool,
}

/// What `abandon` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandoned {
    /// Recorded now. `left`: paths that still hold the agent's uncommitted changes (only with
    /// `force`; empty when there were none).
    Now { left: Vec<LeftFile> },
    /// It was abandoned before; nothing was written.
    Already,
}

/// Mark the local session `id` as abandoned. Without `force`, refused while a task has the
/// agent's uncommitted changes in the working tree (`CoreError::AgentChanges`).
pub fn abandon(workdir: &Path, id: &str, force: bool) -> Result<Abandoned, CoreError> {
    let not_found = || CoreError::NoSession(format!(" with id {id} (see `tandem sessions`)"));
    if !sessions::valid_id(id) {
        return Err(not_found());
    }
    let repo = gitops::open(workdir)?;
    let path = sessions::journal_path(&repo, id);
    if !path.is_file() {
        return Err(match gitops::stored_journal(&repo, id)? {
            Some(_) => CoreError::NotLocal(id.to_string()),
            None => not_found(),
        });
    }
    // Under the repository's lock no tandem runs a session meanwhile, so the state checked here
    // is the state the event is appended to.
    let _lock = crate::infra::lock::RepoLock::acquire(repo.path(), id)?;
    // A kill mid-update may have left a ref lock; the journal is stored below.
    gitops::clear_stale_ref_locks(&repo, id)?;
    let (journal, entries) = JournalWriter::open(&path)?;
    let state = SessionState::from_entries(&entries);
    if state.user_abandoned {
        return Ok(Abandoned::Already);
    }
    if state.finished {
        return Err(CoreError::AlreadyFinished(id.to_string()));
    }
    let left: Vec<LeftFile> = state
        .tasks
        .iter()
        .flat_map(|t| {
            t.uncommitted_agent_paths()
                .into_iter()
                .map(move |p| LeftFile {
                    task: t.number,
                    path: p.to_string(),
                    new: t.touched.get(p).is_some_and(|f| f.preimage.is_none()),
                })
        })
        .collect();
    if !force && let Some(first) = left.first() {
        return Err(CoreError::AgentChanges {
            id: id.to_string(),
            task: first.task,
            paths: left.iter().map(|f| f.path.clone()).collect(),
        });
    }
    // Recorded the one way state changes; no driver listens, so the announcement goes nowhere.
    let (events, _) = mpsc::unbounded_channel();
    let mut rec = Recorder {
        journal,
        state,
        events: EventTx(events),
        history: entries,
    };
    rec.record(JournalEvent::SessionAbandoned {
        left: left.iter().map(|f| f.path.clone()).collect(),
    })?;
    gitops::store_journal(&repo, id, rec.journal.bytes())?;
    debug_assert!(rec.state.abandoned());
    Ok(Abandoned::Now { left })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journal::FileStat;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "Test").unwrap();
        cfg.set_str("user.email", "test@example.com").unwrap();
        dir
    }

    /// A session in `dir` whose journal holds `events` after its start and plan.
    fn session(dir: &Path, id: &str, events: Vec<JournalEvent>) {
        let repo = gitops::open(dir).unwrap();
        let (mut w, _) = JournalWriter::open(&sessions::journal_path(&repo, id)).unwrap();
        w.append(JournalEvent::SessionStarted {
            session: id.into(),
            tandem_version: "test".into(),
            model: "m".into(),
            branch: None,
            head: None,
            brief: Some("b".into()),
            allow_dirty: false,
            author: None,
        })
        .unwrap();
        w.append(JournalEvent::PlanSet {
            tasks: vec![TaskSpec {
                title: "t".into(),
                instructions: "i".into(),
                acceptance: vec!["a".into()],
                human: false,
                ..Default::default()
            }],
            source: PlanSource::File,
        })
        .unwrap();
        w.append(JournalEvent::PlanApproved).unwrap();
        for e in events {
            w.append(e).unwrap();
        }
    }

    fn in_review() -> Vec<JournalEvent> {
        vec![
            JournalEvent::DraftStarted {
                task: 1,
                iteration: 1,
                base: None,
            },
            JournalEvent::FileTouched {
                task: 1,
                iteration: 1,
                path: "new.txt".into(),
                preimage: None,
                created_dirs: vec![],
                exec: None,
            },
            JournalEvent::IterationReady {
                task: 1,
                iteration: 1,
                snapshot: "s".into(),
                base: "b".into(),
                summary: "sum".into(),
                agent_ms: 1,
                incomplete: false,
                cut_off: false,
                files: vec![FileStat {
                    path: "new.txt".into(),
                    added: 1,
                    removed: 0,
                    binary: false,
                }],
                proposal: None,
                review_base: None,
                excluded: vec![],
                foreign: vec![],
                anchors: vec![],
            },
        ]
    }

    fn state(dir: &Path, id: &str) -> SessionState {
        let repo = gitops::open(dir).unwrap();
        let read = crate::core::journal::read_file(&sessions::journal_path(&repo, id)).unwrap();
        SessionState::from_entries(&read.entries)
    }

    #[test]
    fn a_session_with_no_agent_changes_is_abandoned_and_no_longer_resumable() {
        let dir = repo();
        session(dir.path(), "s-1", vec![]);
        assert_eq!(
            sessions::newest_unfinished(dir.path()).unwrap().as_deref(),
            Some("s-1")
        );
        assert_eq!(
            abandon(dir.path(), "s-1", false).unwrap(),
            Abandoned::Now { left: vec![] }
        );
        let s = state(dir.path(), "s-1");
        assert!(s.user_abandoned && s.abandoned() && !s.finished);
        assert_eq!(s.next_step(), NextStep::Done);
        assert_eq!(s.describe(), "abandoned at: drafting task 1, iteration 1");
        assert_eq!(sessions::newest_unfinished(dir.path()).unwrap(), None);
        // Once is enough; the stored copy in git has the event too.
        assert_eq!(
            abandon(dir.path(), "s-1", false).unwrap(),
            Abandoned::Already
        );
        let repo = gitops::open(dir.path()).unwrap();
        let stored = gitops::stored_journal(&repo, "s-1").unwrap().unwrap();
        assert!(String::from_utf8_lossy(&stored).contains("\"session_abandoned\""));
    }

    #[test]
    fn agent_changes_on_disk_refuse_unless_forced_and_are_left_alone() {
        let dir = repo();
        session(dir.path(), "s-2", in_review());
        std::fs::write(dir.path().join("new.txt"), "agent\n").unwrap();
        let err = abandon(dir.path(), "s-2", false).unwrap_err();
        let said = err.to_string();
        assert!(
            matches!(err, CoreError::AgentChanges { task: 1, .. })
                && said.contains("new.txt")
                && said.contains("--force")
                && said.contains("tandem exec --resume s-2"),
            "{said}"
        );
        assert!(!state(dir.path(), "s-2").user_abandoned, "nothing recorded");
        let done = abandon(dir.path(), "s-2", true).unwrap();
        assert_eq!(
            done,
            Abandoned::Now {
                left: vec![LeftFile {
                    task: 1,
                    path: "new.txt".into(),
                    new: true,
                }]
            }
        );
        // The working tree is as it was.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new.txt")).unwrap(),
            "agent\n"
        );
        assert!(state(dir.path(), "s-2").user_abandoned);
    }

    #[test]
    fn finished_unknown_and_bad_ids_are_refused() {
        let dir = repo();
        session(dir.path(), "s-3", vec![JournalEvent::SessionFinished]);
        assert!(matches!(
            abandon(dir.path(), "s-3", true),
            Err(CoreError::AlreadyFinished(_))
        ));
        assert!(matches!(
            abandon(dir.path(), "nope", true),
            Err(CoreError::NoSession(_))
        ));
        assert!(matches!(
            abandon(dir.path(), "../..", true),
            Err(CoreError::NoSession(_))
        ));
    }
}
