//! Opening a session: the checks before one starts (`preflight`), a new session (`create`),
//! an old one resumed (`resume`), and the engine assembled around its journal.
//!
//! Invariants: a session starts only under the repository lock, with a commit identity, on a
//! clean tree (unless allowed dirty) and with no unfinished session beside it; resume folds the
//! journal exactly as it is on disk.

use super::*;

/// What must hold before a session starts in `workdir`: a repository with a commit identity
/// and, unless `allow_dirty`, no uncommitted changes to tracked files. The brief screen calls
/// it before asking for a brief, and `Engine::create` again before starting.
pub fn preflight(workdir: &Path, allow_dirty: bool) -> Result<(), CoreError> {
    let repo = gitops::open(workdir)?;
    gitops::signature(&repo)?;
    if !allow_dirty {
        let dirty = gitops::dirty_tracked_files(&repo)?;
        if !dirty.is_empty() {
            return Err(CoreError::DirtyTree(dirty));
        }
    }
    Ok(())
}

impl Engine {
    /// Start a new session in `workdir` (the root of a git working directory).
    pub fn create(
        workdir: &Path,
        setup: SessionSetup,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        if setup.brief.is_none() && setup.plan.is_none() {
            return Err(CoreError::NoBrief);
        }
        // The handle goes back to the pool before the checks below open it again: one handle
        // that has read the index serves the whole start (see `gitops::open`).
        let git_dir = gitops::open(workdir)?.path().to_path_buf();
        let session = sessions::new_id();
        let lock = crate::infra::lock::RepoLock::acquire(&git_dir, &session)?;
        // Under the lock: no other tandem is writing this tree while it is checked. An
        // unfinished session is named first: its drafts are what would make the tree dirty,
        // and a second session would leave it behind unseen.
        if let Some(id) = sessions::newest_unfinished(workdir)? {
            return Err(CoreError::Unfinished(id));
        }
        preflight(workdir, setup.allow_dirty)?;
        let repo = gitops::open(workdir)?;
        let (journal, _) = JournalWriter::open(&sessions::journal_path(&repo, &session))?;
        let mut engine = Engine::assemble(
            &repo,
            lock,
            workdir,
            journal,
            Vec::new(),
            model,
            prompts,
            settings,
            events,
        )?;
        engine.rec.record(JournalEvent::SessionStarted {
            session,
            tandem_version: env!("CARGO_PKG_VERSION").to_string(),
            model: engine.model.name().to_string(),
            branch: gitops::branch(&repo),
            head: gitops::head(&repo).map(|o| o.to_string()),
            brief: setup.brief,
            allow_dirty: setup.allow_dirty,
            author: gitops::signature(&repo)
                .ok()
                .and_then(|s| s.email().ok().map(str::to_string)),
        })?;
        if let Some(tasks) = setup.plan {
            engine.rec.record(JournalEvent::PlanSet {
                tasks,
                source: PlanSource::File,
            })?;
        }
        Ok(engine)
    }

    /// Give a resumed session whose planning failed (it has no plan yet) the user's own plan;
    /// a session with a plan keeps it (`HasPlan`), so nothing is silently replaced.
    pub fn supply_plan(&mut self, tasks: Vec<TaskSpec>) -> Result<(), CoreError> {
        if !self.rec.state.tasks.is_empty() {
            return Err(CoreError::HasPlan(self.session().to_string()));
        }
        self.rec.record(JournalEvent::PlanSet {
            tasks,
            source: PlanSource::File,
        })?;
        Ok(())
    }

    /// Re-open a session: the named one, or the newest unfinished one.
    pub fn resume(
        workdir: &Path,
        session: Option<&str>,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        gitops::signature(&*gitops::open(workdir)?)?;
        let id = match session {
            Some(id) => id.to_string(),
            None => {
                let listed = sessions::list(workdir)?;
                let unfinished = listed.iter().find(|l| l.resumable());
                match unfinished {
                    Some(l) => l.id.clone(),
                    // A journal that cannot be read (written by a newer tandem, damaged) may be
                    // the one meant: say so rather than "nothing to resume".
                    None => match listed
                        .into_iter()
                        .filter(|l| l.local)
                        .find_map(|l| l.summary.err())
                    {
                        Some(e) => return Err(e.into()),
                        None => {
                            return Err(CoreError::NoSession(
                                ": none is unfinished (see `tandem sessions`)".into(),
                            ));
                        }
                    },
                }
            }
        };
        if !sessions::valid_id(&id) {
            return Err(CoreError::NoSession(format!(
                " with id {id} (see `tandem sessions`)"
            )));
        }
        let repo = gitops::open(workdir)?;
        let path = sessions::journal_path(&repo, &id);
        if !path.is_file() {
            return Err(CoreError::NoSession(format!(
                " with id {id} (see `tandem sessions`)"
            )));
        }
        let lock = crate::infra::lock::RepoLock::acquire(repo.path(), &id)?;
        // A tandem killed while moving one of this session's refs left git's lock file behind,
        // and every later update of that ref would fail: under the repository lock, only a
        // tandem of this session writes there.
        gitops::clear_stale_ref_locks(&repo, &id)?;
        let (journal, entries) = JournalWriter::open(&path)?;
        if SessionState::from_entries(&entries).user_abandoned {
            return Err(CoreError::Abandoned(id));
        }
        Engine::assemble(
            &repo, lock, workdir, journal, entries, model, prompts, settings, events,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        repo: &git2::Repository,
        lock: crate::infra::lock::RepoLock,
        workdir: &Path,
        journal: JournalWriter,
        entries: Vec<Entry>,
        model: ModelClient,
        prompts: Prompts,
        settings: EngineSettings,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Engine, CoreError> {
        let hooks = repo
            .config()
            .ok()
            .and_then(|c| c.get_path("core.hooksPath").ok());
        let ws = Workspace::new(workdir)
            .map_err(|source| gitops::GitError::Io {
                path: workdir.display().to_string(),
                source,
            })?
            .with_hooks_path(hooks.as_deref());
        Ok(Engine {
            workdir: ws.root().to_path_buf(),
            ws,
            _lock: lock,
            rec: Recorder {
                journal,
                state: SessionState::from_entries(&entries),
                events: EventTx(events),
                history: entries,
            },
            model,
            prompts,
            settings,
            sandbox: None,
            answers: Answers::new(),
            waited: std::time::Duration::ZERO,
            knowledge: None,
            watched_command: false,
        })
    }
}
