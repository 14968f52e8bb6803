//! The engine's git side: iteration snapshots, accept (commit the reviewed proposal), and the
//! put-backs of reject and of an interrupted draft, which never write over the user's bytes
//! without asking (`Event::Conflict`).
//!
//! Invariants: snapshots, accept and put-backs run on the blocking pool (`blocking`); storing
//! the journal in git runs on the engine's own thread. Nothing here writes a path whose
//! content is not what tandem left there.

use super::*;

impl Engine {
    pub(super) fn store_journal(&self) -> Result<(), CoreError> {
        let repo = gitops::open_for_refs(&self.workdir)?;
        gitops::store_journal(&repo, self.session(), self.rec.journal.bytes())?;
        Ok(())
    }

    pub(super) async fn snapshot(
        &mut self,
        task: usize,
        iteration: u32,
        end: super::text_protocol::DraftEnd,
        started: Instant,
    ) -> Result<(), CoreError> {
        // Model text goes into commit messages and onto terminals: no NUL, no escapes, no key
        // (the answer was redacted already; this is the backstop before a pushable ref).
        let summary = crate::infra::model::redact::Redactor::global()
            .redact(&tools::clean_text(&end.summary));
        let t = self
            .rec
            .state
            .task(task)
            .ok_or(CoreError::NoTask(task))?
            .clone();
        let workdir = self.workdir.clone();
        let session = self.session().to_string();
        let message = format!(
            "tandem: task {task} iteration {iteration}: {}\n\n{summary}\n",
            t.spec.title
        );
        let (snap, files, foreign, anchors) = blocking(move || {
            // Files someone else changed since tandem last wrote them in this draft.
            let repo = gitops::open(&workdir)?;
            let mut foreign = Vec::new();
            for path in t.touched.keys() {
                let now = match gitops::on_disk(&workdir, path)? {
                    gitops::OnDisk::File(id, _) => Some(id),
                    gitops::OnDisk::Absent => None,
                    gitops::OnDisk::Other => Some(git2::Oid::ZERO_SHA1),
                };
                if last_left(&repo, &t, iteration, path)?.is_some_and(|left| left != now) {
                    foreign.push(path.clone());
                }
            }
            let (snap, files) =
                snapshot_blocking(&repo, &workdir, &session, &t, iteration, &message)?;
            let anchors = anchor_threads(
                &repo,
                &t,
                iteration,
                &snap.proposal.commit.to_string(),
                &files,
            )?;
            Ok::<_, CoreError>((snap, files, foreign, anchors))
        })
        .await??;
        // Judged before the draft is ready, on exactly the diff that goes to review.
        self.judge(task, iteration, &summary, &files).await?;
        self.rec.record(JournalEvent::IterationReady {
            task,
            iteration,
            snapshot: snap.snapshot.to_string(),
            base: snap.base.to_string(),
            summary,
            // Waiting for the reviewer to answer a command is the reviewer's time, not the agent's.
            agent_ms: started.elapsed().saturating_sub(self.waited).as_millis() as u64,
            incomplete: end.incomplete,
            cut_off: end.cut_off,
            files: file_stats(&files),
            proposal: Some(snap.proposal.commit.to_string()),
            review_base: Some(snap.proposal.base.to_string()),
            excluded: snap
                .proposal
                .excluded
                .iter()
                .map(|(path, reason)| crate::core::journal::Excluded {
                    path: path.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            foreign,
            anchors,
        })?;
        Ok(())
    }

    /// Undo a draft that did not finish: put every path it may have written back to how it was
    /// when this iteration began, then record that the attempt was dropped. False: the user
    /// changed some of those files meanwhile; nothing was written and `Event::Conflict` asks.
    // Long: settle a running command, plan the put-back, then write or ask: steps that must run
    // in this order.
    pub(super) async fn abort_draft(
        &mut self,
        task: usize,
        iteration: u32,
        reason: &str,
    ) -> Result<bool, CoreError> {
        // A command that was running: its changes are journaled first, so they are put back too.
        // (A dropped draft kills it within milliseconds; give the kill that long.)
        if self
            .rec
            .state
            .pending_command
            .as_ref()
            .is_some_and(|p| p.task == task)
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            self.settle_command(None).await?;
        }
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let prev_worktree = t
            .iterations
            .iter()
            .find(|i| i.number + 1 == iteration)
            .and_then(|i| i.worktree.clone());
        let touched = t.touched.clone();
        let base = t.base.clone();
        let workdir = self.workdir.clone();
        let plan = blocking(move || -> Result<PutBack, CoreError> {
            let repo = gitops::open(&workdir)?;
            let base = base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
            let mut targets: BTreeMap<String, Content> = BTreeMap::new();
            let mut dirs = Vec::new();
            let mut preimages = BTreeMap::new();
            for (path, t) in &touched {
                match (&prev_worktree, t.first_iteration < iteration) {
                    (Some(snap), true) => {
                        let bytes = gitops::file_at(&repo, snap, path)?;
                        let exec = gitops::read_worktree(&workdir, path)?.is_some_and(|(_, x)| x);
                        targets.insert(path.clone(), bytes.map(|b| (b, exec)));
                    }
                    _ => {
                        preimages.insert(path.clone(), t.preimage());
                        dirs.extend(t.created_dirs.iter().cloned());
                    }
                }
            }
            targets.extend(gitops::preimage_contents(&repo, base, &preimages)?);
            // What the disk may hold: the content the attempt started from, or anything the
            // agent wrote in it.
            let mut expected = BTreeMap::new();
            for (path, t) in &touched {
                if t.foreign {
                    // Partly the user's: nothing on disk counts as only tandem's.
                    expected.insert(path.clone(), BTreeSet::new());
                    continue;
                }
                let mut ok: BTreeSet<Option<git2::Oid>> = t
                    .written
                    .iter()
                    .map(|w| w.as_deref().and_then(|b| git2::Oid::from_str(b).ok()))
                    .collect();
                ok.insert(
                    targets
                        .get(path)
                        .and_then(|c| c.as_ref())
                        .map(|(b, _)| gitops::raw_id(b)),
                );
                expected.insert(path.clone(), ok);
            }
            Ok(PutBack {
                targets,
                dirs,
                expected,
                unstage: None,
            })
        })
        .await??;
        if !self
            .put_back(task, iteration, "undo the interrupted draft", plan)
            .await?
        {
            return Ok(false);
        }
        self.rec.record(JournalEvent::DraftAborted {
            task,
            iteration,
            reason: reason.to_string(),
        })?;
        Ok(true)
    }

    /// Write `plan.targets` back, unless a path holds content tandem did not leave there: then
    /// the user's bytes are saved under refs/tandem/ first and the recorded choice decides
    /// (none yet: `Event::Conflict`, and false).
    // Long: check every path, save the user's bytes, then write back or ask: steps that must run
    // in this order.
    pub(super) async fn put_back(
        &mut self,
        task: usize,
        iteration: u32,
        doing: &str,
        mut plan: PutBack,
    ) -> Result<bool, CoreError> {
        let workdir = self.workdir.clone();
        let check = (plan.expected.clone(), plan.targets.clone());
        let found = blocking(move || -> Result<Vec<String>, CoreError> {
            let (expected, targets) = check;
            let mut found = gitops::conflicts(&workdir, &expected)?;
            // Already what tandem would write: nothing to overwrite.
            found.retain(|p| {
                let want = match targets.get(p) {
                    Some(Some((b, x))) => gitops::OnDisk::File(gitops::raw_id(b), *x),
                    _ => gitops::OnDisk::Absent,
                };
                gitops::on_disk(&workdir, p).ok() != Some(want)
            });
            Ok(found)
        })
        .await??;
        if !found.is_empty() {
            // Saved already when the conflict was first met, unless the files changed since.
            let earlier = self.rec.history.iter().rev().find_map(|e| match &e.event {
                JournalEvent::UserBytesSaved {
                    task: t,
                    iteration: i,
                    paths,
                    commit,
                } if *t == task && *i == iteration && *paths == found => Some(commit.clone()),
                _ => None,
            });
            let workdir = self.workdir.clone();
            let session = self.session().to_string();
            let paths = found.clone();
            let (saved, fresh) = blocking(move || -> Result<(git2::Oid, bool), CoreError> {
                let repo = gitops::open(&workdir)?;
                if let Some(c) = earlier
                    && gitops::still_saved(&repo, &workdir, &c, &paths)?
                {
                    return Ok((
                        git2::Oid::from_str(&c).unwrap_or(git2::Oid::ZERO_SHA1),
                        false,
                    ));
                }
                Ok((
                    gitops::rescue(&repo, &workdir, &session, task, &paths)?,
                    true,
                ))
            })
            .await??;
            if fresh {
                self.rec.record(JournalEvent::UserBytesSaved {
                    task,
                    iteration,
                    paths: found.clone(),
                    commit: saved.to_string(),
                })?;
            }
            // An answer holds only for the files it was given for.
            let choice = self
                .rec
                .state
                .task(task)
                .and_then(|t| t.conflict_choice.as_ref())
                .filter(|(i, _, paths)| *i == iteration && found.iter().all(|p| paths.contains(p)))
                .map(|(_, c, _)| *c);
            match choice {
                None => {
                    self.store_journal()?;
                    self.emit(Event::Conflict {
                        task,
                        iteration,
                        doing: doing.to_string(),
                        paths: found,
                        saved: saved.to_string(),
                    });
                    return Ok(false);
                }
                Some(ConflictChoice::KeepMine) => {
                    for p in &found {
                        plan.targets.remove(p);
                    }
                }
                Some(ConflictChoice::Take) => {}
                Some(ConflictChoice::KeepBoth) => {
                    let workdir = self.workdir.clone();
                    let paths = found.clone();
                    blocking(move || keep_beside(&workdir, &paths)).await??;
                }
            }
        }
        let workdir = self.workdir.clone();
        blocking(move || -> Result<(), CoreError> {
            gitops::restore_paths(&workdir, &plan.targets, &plan.dirs)?;
            if let Some((base, commits)) = plan.unstage {
                let repo = gitops::open(&workdir)?;
                let paths: Vec<String> = plan.expected.keys().cloned().collect();
                let agent = gitops::blobs_in(&repo, &commits, &paths);
                gitops::unstage_agent_content(&repo, &workdir, base, &paths, &agent)?;
            }
            Ok(())
        })
        .await??;
        Ok(true)
    }

    pub(super) async fn commit(&mut self, task: usize, iteration: u32) -> Result<(), CoreError> {
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let it = t.iterations.iter().find(|i| i.number == iteration);
        let (Some(review_base), Some(proposal)) = (
            it.and_then(|i| i.base.clone()),
            it.and_then(|i| i.snapshot.clone()),
        ) else {
            return Err(CoreError::NoTask(task));
        };
        let message = commit_message(&self.rec.state, t, iteration);
        let task_base = t.base.clone();
        let workdir = self.workdir.clone();
        let session = self.session().to_string();
        let run_hooks = self.settings.run_hooks;
        let done = blocking(move || -> Result<gitops::Accepted, CoreError> {
            let repo = gitops::open(&workdir)?;
            let oid = |s: &str| {
                git2::Oid::from_str(s).map_err(|e| gitops::GitError::Op {
                    context: "read the review".into(),
                    message: e.message().to_string(),
                })
            };
            let task_base = task_base
                .as_deref()
                .and_then(|b| git2::Oid::from_str(b).ok());
            if let Some((done, on_head)) =
                gitops::find_accepted_commit(&repo, &session, task, iteration, task_base)
            {
                // Committed before a crash; only the journal line (and maybe the index) is
                // missing. On another branch (switched to since): nothing to stage here.
                if on_head {
                    gitops::stage_reviewed(&repo, &workdir, oid(&review_base)?, oid(&proposal)?)?;
                }
                return Ok(gitops::Accepted::Committed(done));
            }
            Ok(gitops::commit_reviewed(
                &repo,
                &workdir,
                oid(&review_base)?,
                oid(&proposal)?,
                &message,
                run_hooks,
            )?)
        })
        .await??;
        match done {
            gitops::Accepted::Committed(oid) => self.rec.record(JournalEvent::Committed {
                task,
                iteration,
                commit: oid.to_string(),
            })?,
            gitops::Accepted::Nothing => {
                self.rec
                    .record(JournalEvent::AcceptedEmpty { task, iteration })?;
                self.emit(Event::Status {
                    message: format!(
                        "task {task} was accepted, but its reviewed change is empty: nothing was committed"
                    ),
                });
            }
        }
        self.store_journal()?;
        Ok(())
    }

    /// Put a rejected task's files back as they were before it. False: the user changed some of
    /// them since tandem last wrote them; `Event::Conflict` asks what to do.
    pub(super) async fn restore(&mut self, task: usize, iteration: u32) -> Result<bool, CoreError> {
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let preimages: BTreeMap<String, gitops::Preimage> = t
            .touched
            .iter()
            .map(|(p, t)| (p.clone(), t.preimage()))
            .collect();
        let dirs: Vec<String> = t
            .touched
            .values()
            .flat_map(|t| t.created_dirs.clone())
            .collect();
        let base = t.base.clone();
        let worktree = t.current().and_then(|i| i.worktree.clone());
        let foreign: BTreeSet<String> = t
            .touched
            .iter()
            .filter(|(_, f)| f.foreign)
            .map(|(p, _)| p.clone())
            .collect();
        // Every object the agent's content lives in, to find it in the index.
        let commits: Vec<String> = t
            .iterations
            .iter()
            .flat_map(|i| [i.snapshot.clone(), i.worktree.clone()])
            .flatten()
            .collect();
        let workdir = self.workdir.clone();
        let plan = blocking(move || -> Result<PutBack, CoreError> {
            let repo = gitops::open(&workdir)?;
            let base = base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
            let targets = gitops::preimage_contents(&repo, base, &preimages)?;
            let mut expected = BTreeMap::new();
            for path in preimages.keys() {
                if foreign.contains(path) {
                    // Partly the user's (changed during the draft): always ask.
                    expected.insert(path.clone(), BTreeSet::new());
                    continue;
                }
                let left = match &worktree {
                    Some(w) => gitops::file_at(&repo, w, path)?.map(|b| gitops::raw_id(&b)),
                    None => None,
                };
                // The user made it executable (or not) since: that is theirs too, so ask.
                let mode_left = match &worktree {
                    Some(w) => gitops::exec_at(&repo, w, path)?,
                    None => None,
                };
                let mode_now = gitops::read_worktree(&workdir, path)?.map(|(_, x)| x);
                if mode_left.is_some() && mode_now.is_some() && mode_left != mode_now {
                    expected.insert(path.clone(), BTreeSet::new());
                    continue;
                }
                expected.insert(path.clone(), BTreeSet::from([left]));
            }
            Ok(PutBack {
                targets,
                dirs,
                expected,
                unstage: Some((base, commits)),
            })
        })
        .await??;
        if !self
            .put_back(task, iteration, "reject the task", plan)
            .await?
        {
            return Ok(false);
        }
        self.rec
            .record(JournalEvent::Restored { task, iteration })?;
        self.store_journal()?;
        Ok(true)
    }
}

/// The message accept commits `t` with at `iteration`: the title, the whole task in the
/// drafter's words (every draft's summary when there were several, so the body does not
/// describe only the last round), the acceptance criteria as ticked, and the trailers.
pub(super) fn commit_message(
    state: &SessionState,
    t: &crate::core::state::TaskState,
    iteration: u32,
) -> String {
    let mut message = format!("{}\n\n", t.spec.title.trim());
    let summary = t.summary_text(iteration);
    if !summary.is_empty() {
        message.push_str(&summary);
        message.push_str("\n\n");
    }
    message.push_str("Acceptance criteria:\n");
    for (i, c) in t.spec.acceptance.iter().enumerate() {
        let mark = if t.criteria_met.get(i).copied().unwrap_or(false) {
            "x"
        } else {
            " "
        };
        message.push_str(&format!("- [{mark}] {c}\n"));
    }
    message.push_str(&format!(
        "\nTandem-Session: {}\nTandem-Task: {}\nTandem-Iteration: {iteration}\nTandem-Review-Seconds: {}\nTandem-Agent-Seconds: {}\nTandem-Model: {}\n",
        state.session,
        t.number,
        (t.review_ms() + 500) / 1000,
        (t.agent_ms() + 500) / 1000,
        state.model,
    ));
    crate::infra::tools::clean_text(&message)
}

/// What a put-back writes and what it may find on disk first.
pub(super) struct PutBack {
    targets: BTreeMap<String, Content>,
    dirs: Vec<String>,
    /// Per path, the raw contents tandem may find there (None: absent).
    expected: BTreeMap<String, BTreeSet<Option<git2::Oid>>>,
    /// After a reject: the task base and the commits whose content to take out of the index.
    unstage: Option<(Option<git2::Oid>, Vec<String>)>,
}

/// "Keep both": the user's version of each path is copied beside it as `<path>.mine` (or
/// `.mine.2`, …) before tandem's version is written.
pub(super) fn keep_beside(workdir: &Path, paths: &[String]) -> Result<(), CoreError> {
    'paths: for rel in paths {
        let path = workdir.join(rel);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mut k = 1;
        let dest = loop {
            let name = if k == 1 {
                format!("{rel}.mine")
            } else {
                format!("{rel}.mine.{k}")
            };
            match std::fs::read(workdir.join(&name)) {
                // Kept already (a crash came after it): once is enough; on to the next path.
                Ok(kept) if kept == bytes => continue 'paths,
                Ok(_) => k += 1,
                Err(_) => break workdir.join(name),
            }
        };
        crate::infra::files::write_atomic(&dest, &bytes).map_err(|source| {
            gitops::GitError::Io {
                path: dest.display().to_string(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Compute a diff on the blocking pool and send it as an event: a 20,000-line diff must not
/// hold up whatever asked for it.
pub fn spawn_diff(workdir: &Path, events: &EventTx, req: DiffRequest) {
    let workdir = workdir.to_path_buf();
    let events = events.clone();
    tokio::task::spawn_blocking(move || {
        let result = gitops::open(&workdir)
            .map_err(|e| e.to_string())
            .and_then(|repo| {
                diff::between(&repo, &req.from, &req.to).map_err(|e| e.message().to_string())
            });
        match result {
            Ok(files) => events.send(Event::Diff {
                request: req.request,
                task: req.task,
                iteration: req.iteration,
                against: req.against,
                files,
            }),
            Err(message) => events.send(Event::Error {
                message: format!("cannot compute the diff: {message}"),
            }),
        }
    });
}

/// Store the task's touched files as the iteration's snapshot and diff it against its base.
pub(super) fn snapshot_blocking(
    repo: &git2::Repository,
    workdir: &Path,
    session: &str,
    t: &crate::core::state::TaskState,
    iteration: u32,
    message: &str,
) -> Result<(gitops::Snapshot, Vec<diff::FileDiff>), CoreError> {
    let preimages: BTreeMap<String, gitops::Preimage> = t
        .touched
        .iter()
        .map(|(p, t)| (p.clone(), t.preimage()))
        .collect();
    let base = t.base.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
    let snap = gitops::snapshot_iteration(
        repo, workdir, session, t.number, iteration, base, &preimages, message,
    )?;
    // The stats describe what the reviewer sees: the proposal against its base.
    let files = diff::between(
        repo,
        &snap.proposal.base.to_string(),
        &snap.proposal.commit.to_string(),
    )
    .map_err(|e| gitops::GitError::Op {
        context: "diff".into(),
        message: e.message().to_string(),
    })?;
    Ok((snap, files))
}

/// Where each unresolved comment thread of the task is in the new iteration's commit `now`:
/// followed from the iteration it was last placed in (`threads::reanchor`); when its file is
/// gone, looked for (by its quoted line, found exactly once) in the files this iteration
/// changed, as a rename leaves it.
fn anchor_threads(
    repo: &git2::Repository,
    t: &crate::core::state::TaskState,
    iteration: u32,
    now: &str,
    files: &[diff::FileDiff],
) -> Result<Vec<crate::core::journal::ThreadAnchor>, CoreError> {
    use crate::core::threads::{Anchor, reanchor};
    let text = |commit: &str, path: &str| -> Result<Option<String>, CoreError> {
        Ok(gitops::file_at(repo, commit, path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    let mut out = Vec::new();
    for th in t.unresolved().filter(|th| !th.key.is_note()) {
        let Some((&k, was)) = th.anchors.range(..iteration).next_back() else {
            continue;
        };
        let before = t
            .iterations
            .iter()
            .find(|i| i.number == k)
            .and_then(|i| i.snapshot.clone());
        let anchor = match (was.line, before) {
            (Some(line), Some(before)) => {
                match (text(&before, &was.path)?, text(now, &was.path)?) {
                    (Some(old), Some(new)) => {
                        let (line, moved_out) = reanchor(&old, line, &th.quote, &new);
                        Anchor {
                            path: was.path.clone(),
                            line: Some(line),
                            outdated: was.outdated || moved_out,
                        }
                    }
                    (_, None) => renamed(th, files, |p| text(now, p))?.unwrap_or(Anchor {
                        path: was.path.clone(),
                        line: None,
                        outdated: true,
                    }),
                    (None, Some(_)) => was.clone(),
                }
            }
            _ => was.clone(),
        };
        out.push(crate::core::journal::ThreadAnchor {
            thread: th.key,
            anchor,
        });
    }
    Ok(out)
}

/// The thread's quoted line, found exactly once in one of the files this iteration changed.
fn renamed(
    th: &crate::core::threads::Thread,
    files: &[diff::FileDiff],
    mut text: impl FnMut(&str) -> Result<Option<String>, CoreError>,
) -> Result<Option<crate::core::threads::Anchor>, CoreError> {
    let wanted = th.quote.trim();
    if wanted.is_empty() {
        return Ok(None);
    }
    let mut found = None;
    for f in files.iter().filter(|f| f.status != 'D') {
        let Some(body) = text(&f.path)? else { continue };
        for (i, l) in body.lines().enumerate() {
            if l.trim() == wanted {
                if found.is_some() {
                    return Ok(None);
                }
                found = Some(crate::core::threads::Anchor {
                    path: f.path.clone(),
                    line: Some(i as u32 + 1),
                    outdated: false,
                });
            }
        }
    }
    Ok(found)
}

pub(super) fn file_stats(files: &[diff::FileDiff]) -> Vec<crate::core::journal::FileStat> {
    files
        .iter()
        .map(|f| crate::core::journal::FileStat {
            path: f.path.clone(),
            added: f.added,
            removed: f.removed,
            binary: f.binary,
        })
        .collect()
}

/// What tandem last left at `path` in this draft of `t` (the raw blob id; None inside: absent),
/// or None when tandem has not touched it yet in this task.
pub(super) fn last_left(
    repo: &git2::Repository,
    t: &crate::core::state::TaskState,
    iteration: u32,
    path: &str,
) -> Result<Option<Option<git2::Oid>>, CoreError> {
    let Some(f) = t.touched.get(path) else {
        return Ok(None);
    };
    let oid = |b: &Option<String>| b.as_deref().and_then(|b| git2::Oid::from_str(b).ok());
    if let Some(last) = f.written.last() {
        return Ok(Some(oid(last)));
    }
    if f.first_iteration < iteration {
        let prev = t
            .iterations
            .iter()
            .find(|i| i.number + 1 == iteration)
            .and_then(|i| i.worktree.clone());
        if let Some(w) = prev {
            return Ok(Some(
                gitops::file_at(repo, &w, path)?.map(|b| gitops::raw_id(&b)),
            ));
        }
    }
    Ok(Some(oid(&f.preimage)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, status: char) -> diff::FileDiff {
        diff::FileDiff {
            path: path.into(),
            old_path: None,
            status,
            binary: false,
            mode: None,
            added: 0,
            removed: 0,
            hunks: vec![],
        }
    }

    fn thread_quoting(quote: &str) -> crate::core::threads::Thread {
        crate::core::threads::Thread {
            key: "c1.1".parse().unwrap(),
            quote: quote.into(),
            posts: vec![],
            resolved: false,
            anchors: Default::default(),
        }
    }

    #[test]
    fn a_thread_follows_its_line_into_a_renamed_file() {
        let files = [
            file("src/old.rs", 'D'),
            file("src/total.rs", 'R'),
            file("README.md", 'M'),
        ];
        let body = |p: &str| -> Result<Option<String>, CoreError> {
            Ok(match p {
                "src/total.rs" => Some("// sums\nfn total() -> u32 {\n    3\n}\n".into()),
                "README.md" => Some("# Totals\n".into()),
                _ => None,
            })
        };
        let th = thread_quoting("    fn total() -> u32 {");
        let a = renamed(&th, &files, body).unwrap().unwrap();
        assert_eq!(
            (a.path.as_str(), a.line, a.outdated),
            ("src/total.rs", Some(2), false)
        );
        // A line found nowhere, or in two places, is not guessed at.
        assert_eq!(
            renamed(&thread_quoting("gone()"), &files, body).unwrap(),
            None
        );
        let twice = |p: &str| -> Result<Option<String>, CoreError> {
            Ok((p != "src/old.rs").then(|| "x = 1\n".to_string()))
        };
        assert_eq!(
            renamed(&thread_quoting("x = 1"), &files, twice).unwrap(),
            None
        );
    }

    /// A one-task session whose drafts gave these summaries; the last one is accepted.
    fn accepted_after(summaries: &[&str]) -> SessionState {
        let mut events = vec![
            JournalEvent::SessionStarted {
                session: "s-1".into(),
                tandem_version: "test".into(),
                model: "m".into(),
                branch: Some("main".into()),
                head: None,
                brief: None,
                allow_dirty: false,
                author: None,
            },
            JournalEvent::PlanSet {
                tasks: vec![TaskSpec {
                    title: "Greet by name".into(),
                    instructions: "i".into(),
                    acceptance: vec!["uses the name".into()],
                    human: false,
                    ..Default::default()
                }],
                source: PlanSource::File,
            },
            JournalEvent::PlanApproved,
        ];
        for (k, summary) in summaries.iter().enumerate() {
            let iteration = k as u32 + 1;
            events.push(JournalEvent::DraftStarted {
                task: 1,
                iteration,
                base: Some("base".into()),
            });
            events.push(JournalEvent::IterationReady {
                task: 1,
                iteration,
                snapshot: format!("snap{iteration}"),
                base: "base".into(),
                summary: summary.to_string(),
                agent_ms: 1500,
                incomplete: false,
                cut_off: false,
                files: vec![],
                proposal: None,
                review_base: None,
                excluded: vec![],
                foreign: vec![],
                anchors: vec![],
            });
            events.push(JournalEvent::Decision {
                task: 1,
                iteration,
                action: if k + 1 == summaries.len() {
                    crate::core::Decision::Accept
                } else {
                    crate::core::Decision::Revise
                },
            });
        }
        let entries: Vec<Entry> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry {
                seq: i as u64 + 1,
                at: crate::core::journal::now_ms(),
                event,
            })
            .collect();
        SessionState::from_entries(&entries)
    }

    fn message_of(summaries: &[&str]) -> String {
        let state = accepted_after(summaries);
        let t = state.task(1).unwrap();
        commit_message(&state, t, summaries.len() as u32)
    }

    #[test]
    fn one_draft_commits_its_summary_as_it_is() {
        assert_eq!(
            message_of(&["  greet takes a name\n"]),
            "Greet by name\n\ngreet takes a name\n\nAcceptance criteria:\n- [ ] uses the name\n\n\
             Tandem-Session: s-1\nTandem-Task: 1\nTandem-Iteration: 1\nTandem-Review-Seconds: 0\n\
             Tandem-Agent-Seconds: 2\nTandem-Model: m\n"
        );
        assert_eq!(
            message_of(&[""]),
            "Greet by name\n\nAcceptance criteria:\n- [ ] uses the name\n\n\
             Tandem-Session: s-1\nTandem-Task: 1\nTandem-Iteration: 1\nTandem-Review-Seconds: 0\n\
             Tandem-Agent-Seconds: 2\nTandem-Model: m\n"
        );
    }

    #[test]
    fn several_drafts_commit_every_summary_in_order() {
        let message = message_of(&["greet takes a name", "friendlier, as asked"]);
        assert!(
            message.starts_with(
                "Greet by name\n\nIteration 1: greet takes a name\n\n\
                 Iteration 2: friendlier, as asked\n\nAcceptance criteria:\n"
            ),
            "{message}"
        );
        // The trailers are the same as ever: the accepted iteration and the task's totals.
        assert!(
            message.ends_with(
                "\nTandem-Session: s-1\nTandem-Task: 1\nTandem-Iteration: 2\n\
                 Tandem-Review-Seconds: 0\nTandem-Agent-Seconds: 3\nTandem-Model: m\n"
            ),
            "{message}"
        );
        // A draft that said nothing is left out; the others keep their numbers.
        let message = message_of(&["a", " ", "c"]);
        assert!(
            message.contains("\n\nIteration 1: a\n\nIteration 3: c\n\nAcceptance"),
            "{message}"
        );
        assert!(!message.contains("Iteration 2"), "{message}");
    }

    #[test]
    fn keep_both_keeps_every_path_even_when_the_first_was_kept_before_a_crash() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), "mine a").unwrap();
        // Kept before a crash: nothing new for a.txt, but b.txt still needs its copy.
        std::fs::write(d.path().join("a.txt.mine"), "mine a").unwrap();
        std::fs::write(d.path().join("b.txt"), "mine b").unwrap();
        keep_beside(d.path(), &["a.txt".into(), "b.txt".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("b.txt.mine")).unwrap(),
            "mine b"
        );
        assert!(!d.path().join("a.txt.mine.2").exists());
    }
}
