//! The engine's answers to the ops a reviewer sends while the session waits: comments,
//! notes, criteria, time, decisions, whole review submissions, diffs and hand edits.
//!
//! Invariants: each op is checked in full before anything is recorded, so a refused op leaves
//! no trace but the sentence sent back; everything recorded goes through `Recorder::record`.

use super::*;
use crate::core::threads::ThreadRef;

impl Engine {
    /// Ops that only record or read. An `Err` is a sentence for the user; nothing was recorded.
    /// Long by design: one short arm per op (check, then record), so every op the core accepts
    /// while waiting is visible in one place.
    pub(super) fn handle_op(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::SetPlan { tasks } => {
                if self.rec.state.plan_approved {
                    return Err("the plan is approved already; it can no longer be changed".into());
                }
                crate::core::plan::validate(&tasks).map_err(|e| e.to_string())?;
                self.record(JournalEvent::PlanSet {
                    tasks,
                    source: PlanSource::Edited,
                })
            }
            Op::ApprovePlan => {
                if self.rec.state.tasks.is_empty() {
                    return Err("there is no plan to approve yet".into());
                }
                if self.rec.state.plan_approved {
                    return Ok(());
                }
                self.record(JournalEvent::PlanApproved)?;
                self.store_recorded()
            }
            Op::AddComment {
                task,
                iteration,
                comment,
            } => {
                let ev = self.comment_event(task, iteration, &comment, 0)?;
                self.record(ev)
            }
            Op::EditComment {
                task,
                iteration,
                id,
                text,
            } => {
                self.open_iteration(task, iteration)?;
                self.comment_exists(task, iteration, id)?;
                self.record(JournalEvent::CommentEdited {
                    task,
                    iteration,
                    id,
                    text,
                })
            }
            Op::DeleteComment {
                task,
                iteration,
                id,
            } => {
                self.open_iteration(task, iteration)?;
                self.comment_exists(task, iteration, id)?;
                self.record(JournalEvent::CommentDeleted {
                    task,
                    iteration,
                    id,
                })
            }
            Op::ResolveThread {
                task,
                iteration,
                thread,
                resolved,
            } => {
                self.earlier_thread(task, iteration, thread)?;
                self.record(JournalEvent::ThreadResolved {
                    task,
                    iteration,
                    thread,
                    resolved,
                })
            }
            Op::AnswerThread {
                task,
                iteration,
                thread,
                text,
            } => {
                self.earlier_thread(task, iteration, thread)?;
                if text.trim().is_empty() {
                    return Err(format!("the answer to {thread} is empty"));
                }
                self.record(JournalEvent::ThreadAnswered {
                    task,
                    iteration,
                    thread,
                    text,
                })
            }
            Op::SetNote {
                task,
                iteration,
                text,
            } => {
                self.open_iteration(task, iteration)?;
                self.record(JournalEvent::NoteSet {
                    task,
                    iteration,
                    text,
                })
            }
            Op::TickCriterion {
                task,
                criterion,
                met,
            } => {
                let t = self
                    .rec
                    .state
                    .task(task)
                    .ok_or(format!("there is no task {task}"))?;
                if criterion == 0 || criterion > t.spec.acceptance.len() {
                    return Err(format!(
                        "task {task} has {} acceptance criteria; there is no criterion {criterion}",
                        t.spec.acceptance.len()
                    ));
                }
                let iteration = t.current().map(|i| i.number).unwrap_or(0);
                self.record(JournalEvent::CriterionTicked {
                    task,
                    iteration,
                    criterion,
                    met,
                })
            }
            Op::AddHumanTime {
                task,
                iteration,
                kind,
                ms,
                started,
            } => {
                if self.rec.state.iteration(task, iteration).is_none() {
                    return Err(format!("task {task} has no iteration {iteration}"));
                }
                self.record(JournalEvent::HumanTime {
                    task,
                    iteration,
                    kind,
                    ms,
                    started,
                })
            }
            Op::Decide {
                task,
                iteration,
                action,
            } => {
                self.open_iteration(task, iteration)?;
                self.record(JournalEvent::Decision {
                    task,
                    iteration,
                    action,
                })?;
                self.store_recorded()
            }
            Op::SubmitReview(sub) => self.submit_review(sub),
            Op::DecideLessons { task, choices } => self.decide_lessons(task, choices),
            Op::RequestDiff {
                request,
                task,
                iteration,
                against,
            } => self.request_diff(request, task, iteration, against),
            Op::DiffCommits(req) => {
                spawn_diff(&self.workdir, &self.rec.events, req);
                Ok(())
            }
            Op::BeginHandEdit {
                task,
                iteration,
                path,
                line,
            } => self.begin_hand_edit(task, iteration, &path, line),
            Op::EndHandEdit {
                task,
                iteration,
                path,
                ms,
                started,
            } => self.end_hand_edit(task, iteration, &path, ms, started),
            Op::ResolveConflict {
                task,
                iteration,
                choice,
                paths,
            } => {
                if self.rec.state.iteration(task, iteration).is_none() {
                    return Err(format!("task {task} has no iteration {iteration}"));
                }
                self.record(JournalEvent::ConflictResolved {
                    task,
                    iteration,
                    choice,
                    paths,
                })
            }
            Op::AnswerCommand { .. } => Err("no command is waiting for an answer".into()),
            Op::CancelDraft | Op::ResumeDraft | Op::Replan { .. } | Op::Shutdown => Ok(()),
        }
    }

    /// Store the journal in git after an op was recorded. A failure is said as an error, not
    /// as a refusal: the op itself is on record and the session goes on.
    pub(super) fn store_recorded(&mut self) -> Result<(), String> {
        if let Err(e) = self.store_journal() {
            self.emit(Event::Error {
                message: format!("the journal could not be stored in git: {e}"),
            });
        }
        Ok(())
    }

    pub(super) fn record(&mut self, ev: JournalEvent) -> Result<(), String> {
        self.rec.record(ev).map_err(|e| e.to_string())
    }

    /// The iteration must be ready for review and not decided yet.
    pub(super) fn open_iteration(&self, task: usize, iteration: u32) -> Result<(), String> {
        let it = self
            .rec
            .state
            .iteration(task, iteration)
            .ok_or(format!("task {task} has no iteration {iteration}"))?;
        if it.snapshot.is_none() {
            return Err(format!(
                "task {task}, iteration {iteration} is still being drafted"
            ));
        }
        if it.decision.is_some() {
            return Err(format!(
                "task {task}, iteration {iteration} is decided already"
            ));
        }
        Ok(())
    }

    /// A thread opened before `iteration`, which is open for review: the ones a reviewer
    /// answers or resolves (this iteration's own comments are edited instead).
    pub(super) fn earlier_thread(
        &self,
        task: usize,
        iteration: u32,
        thread: ThreadRef,
    ) -> Result<(), String> {
        self.open_iteration(task, iteration)?;
        let t = self
            .rec
            .state
            .task(task)
            .ok_or(format!("there is no task {task}"))?;
        match t.thread(thread) {
            Some(_) if thread.iteration < iteration => Ok(()),
            Some(_) => Err(format!(
                "{thread} was written in this iteration: edit or delete it instead"
            )),
            None => Err(format!("task {task} has no thread {thread}")),
        }
    }

    pub(super) fn comment_exists(
        &self,
        task: usize,
        iteration: u32,
        id: u32,
    ) -> Result<(), String> {
        let found = self
            .rec
            .state
            .iteration(task, iteration)
            .is_some_and(|it| it.comments.iter().any(|c| c.id == id));
        if found {
            Ok(())
        } else {
            Err(format!(
                "task {task}, iteration {iteration} has no comment #{id}"
            ))
        }
    }

    /// Validate a comment against the iteration's files and quote the line it is anchored to.
    pub(super) fn comment_event(
        &self,
        task: usize,
        iteration: u32,
        c: &NewComment,
        offset: u32,
    ) -> Result<JournalEvent, String> {
        self.open_iteration(task, iteration)?;
        let it = self
            .rec
            .state
            .iteration(task, iteration)
            .ok_or("no iteration")?;
        let snapshot = it.snapshot.clone().unwrap_or_default();
        let repo = gitops::open(&self.workdir).map_err(|e| e.to_string())?;
        let bytes = gitops::file_at(&repo, &snapshot, &c.path)
            .map_err(|e| e.to_string())?
            .ok_or(format!(
                "comment on {}: that file is not in task {task}, iteration {iteration}",
                c.path
            ))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        if c.line == 0 || c.line as usize > lines.len() {
            return Err(format!(
                "comment on {} line {}: the file has {} lines in task {task}, iteration {iteration}",
                c.path,
                c.line,
                lines.len()
            ));
        }
        if c.text.trim().is_empty() {
            return Err(format!(
                "comment on {} line {}: the text is empty",
                c.path, c.line
            ));
        }
        let id = it.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1 + offset;
        Ok(JournalEvent::CommentAdded {
            task,
            iteration,
            id,
            path: c.path.clone(),
            line: c.line,
            text: c.text.clone(),
            quote: lines[c.line as usize - 1].to_string(),
        })
    }

    /// A whole review cycle: checked in full first, so a bad comment records nothing.
    // Long: the whole cycle is checked before anything is recorded, then recorded event by event,
    // resuming after a cut: kept together so the check and the writes cannot drift apart.
    pub(super) fn submit_review(&mut self, sub: ReviewSubmission) -> Result<(), String> {
        let (task, iteration) = (sub.task, sub.iteration);
        self.open_iteration(task, iteration)?;
        let n_criteria = self
            .rec
            .state
            .task(task)
            .map(|t| t.spec.acceptance.len())
            .unwrap_or(0);
        let mut events = Vec::new();
        for (i, c) in sub.comments.iter().enumerate() {
            events.push(self.comment_event(task, iteration, c, i as u32)?);
        }
        for &k in &sub.criteria_met {
            if k == 0 || k > n_criteria {
                return Err(format!(
                    "task {task} has {n_criteria} acceptance criteria; there is no criterion {k}"
                ));
            }
            events.push(JournalEvent::CriterionTicked {
                task,
                iteration,
                criterion: k,
                met: true,
            });
        }
        for (thread, text) in &sub.answers {
            self.earlier_thread(task, iteration, *thread)?;
            events.push(JournalEvent::ThreadAnswered {
                task,
                iteration,
                thread: *thread,
                text: text.clone(),
            });
        }
        for thread in &sub.resolve {
            self.earlier_thread(task, iteration, *thread)?;
            events.push(JournalEvent::ThreadResolved {
                task,
                iteration,
                thread: *thread,
                resolved: true,
            });
        }
        if let Some(note) = sub.note.filter(|n| !n.trim().is_empty()) {
            events.push(JournalEvent::NoteSet {
                task,
                iteration,
                text: note,
            });
        }
        if sub.review_ms > 0 {
            events.push(JournalEvent::HumanTime {
                task,
                iteration,
                kind: crate::core::journal::TimeKind::Review,
                ms: sub.review_ms,
                // The span ended now, when the decision came in.
                started: crate::core::journal::now_ms()
                    - chrono::Duration::milliseconds(sub.review_ms as i64),
            });
        }
        events.push(JournalEvent::Decision {
            task,
            iteration,
            action: sub.action,
        });
        let done = self.review_already_recorded(task, iteration, &events);
        let mut next_id = self
            .rec
            .state
            .iteration(task, iteration)
            .and_then(|it| it.comments.iter().map(|c| c.id).max())
            .unwrap_or(0)
            + 1;
        for mut ev in events.into_iter().skip(done) {
            if let JournalEvent::CommentAdded { id, .. } = &mut ev {
                *id = next_id;
                next_id += 1;
            }
            self.record(ev)?;
        }
        self.store_recorded()
    }

    /// How many of a review's events are on record already because the same submission was cut
    /// short by a crash (it is recorded event by event); resubmitting it on resume completes it
    /// instead of doubling comments and review time. Ids and clock times are not compared.
    pub(super) fn review_already_recorded(
        &self,
        task: usize,
        iteration: u32,
        events: &[JournalEvent],
    ) -> usize {
        let ready = self.rec.history.iter().rposition(|e| {
            matches!(&e.event, JournalEvent::IterationReady { task: t, iteration: i, .. } if *t == task && *i == iteration)
        });
        let Some(ready) = ready else { return 0 };
        let same = |a: &JournalEvent, b: &JournalEvent| match (a, b) {
            (
                JournalEvent::CommentAdded {
                    path, line, text, ..
                },
                JournalEvent::CommentAdded {
                    path: p,
                    line: l,
                    text: t,
                    ..
                },
            ) => path == p && line == l && text == t,
            (
                JournalEvent::HumanTime { kind, ms, .. },
                JournalEvent::HumanTime { kind: k, ms: m, .. },
            ) => kind == k && ms == m,
            (a, b) => a == b,
        };
        let recorded: Vec<&JournalEvent> = self.rec.history[ready + 1..]
            .iter()
            .map(|e| &e.event)
            .filter(|e| match e {
                JournalEvent::CommentAdded {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::CriterionTicked {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::NoteSet {
                    task: t,
                    iteration: i,
                    ..
                }
                | JournalEvent::HumanTime {
                    task: t,
                    iteration: i,
                    ..
                } => *t == task && *i == iteration,
                _ => false,
            })
            .collect();
        let n = recorded.len();
        let is_prefix = n < events.len() && recorded.iter().zip(events).all(|(a, b)| same(a, b));
        if is_prefix { n } else { 0 }
    }

    pub(super) fn request_diff(
        &self,
        request: u64,
        task: usize,
        iteration: u32,
        against: DiffBase,
    ) -> Result<(), String> {
        let (from, to) = self
            .rec
            .state
            .diff_endpoints(task, iteration, against)
            .ok_or(format!(
                "task {task}, iteration {iteration} has no diff yet"
            ))?;
        let req = DiffRequest {
            request,
            task,
            iteration,
            against,
            from,
            to,
        };
        spawn_diff(&self.workdir, &self.rec.events, req);
        Ok(())
    }

    /// Journal the file's pre-task content (if the agent has not already) so a reject can
    /// still undo the reviewer's edit, then tell the driver it may open the editor.
    pub(super) fn begin_hand_edit(
        &mut self,
        task: usize,
        iteration: u32,
        path: &str,
        line: Option<u32>,
    ) -> Result<(), String> {
        self.open_iteration(task, iteration)?;
        let (abs, rel) = self.ws.confine(path, false).map_err(|e| e.to_string())?;
        let known = self
            .rec
            .state
            .task(task)
            .is_some_and(|t| t.touched.contains_key(&rel));
        if !known {
            let (old, old_exec) = match gitops::read_worktree(&self.workdir, &rel) {
                Ok(Some((b, x))) => (Some(b), x),
                Ok(None) => (None, false),
                Err(e) => return Err(format!("cannot read {rel}: {e}")),
            };
            let mut dirs = Vec::new();
            let mut acc = PathBuf::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                acc.push(part);
                if !self.workdir.join(&acc).exists() {
                    dirs.push(acc.to_string_lossy().to_string());
                }
            }
            touch(
                &mut self.rec,
                &self.workdir,
                task,
                iteration,
                &tools::PendingWrite {
                    rel: &rel,
                    old: old.as_deref(),
                    old_exec,
                    new: None,
                    created_dirs: &dirs,
                },
            )?;
        }
        self.emit(Event::HandEditReady {
            task,
            iteration,
            path: rel,
            abs_path: abs,
            line,
        });
        Ok(())
    }

    /// Fold a hand edit into the iteration: a new snapshot, and the time as the human's.
    pub(super) fn end_hand_edit(
        &mut self,
        task: usize,
        iteration: u32,
        path: &str,
        ms: u64,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        self.open_iteration(task, iteration)?;
        if ms > 0 {
            self.record(JournalEvent::HumanTime {
                task,
                iteration,
                kind: crate::core::journal::TimeKind::HandEdit,
                ms,
                started,
            })?;
        }
        let t = self.rec.state.task(task).ok_or("no such task")?;
        let summary = t.current().map(|i| i.summary.clone()).unwrap_or_default();
        let message = format!(
            "tandem: task {task} iteration {iteration} (hand edit of {path})\n\n{summary}\n"
        );
        let repo = gitops::open(&self.workdir).map_err(|e| e.to_string())?;
        let before = t
            .iterations
            .iter()
            .find(|i| i.number == iteration)
            .and_then(|i| i.worktree.clone());
        // The other files of the task as the iteration stored them: one that differs now was
        // changed outside tandem during the review. The new snapshot takes it in, so it is
        // marked as partly someone else's, and a reject asks before writing over it.
        let mut foreign = Vec::new();
        if let Some(stored) = &before {
            for other in t.touched.keys().filter(|p| p.as_str() != path) {
                let kept = gitops::file_at(&repo, stored, other)
                    .map_err(|e| e.to_string())?
                    .map(|b| gitops::raw_id(&b));
                let now = match gitops::on_disk(&self.workdir, other).map_err(|e| e.to_string())? {
                    gitops::OnDisk::File(id, _) => Some(id),
                    gitops::OnDisk::Absent => None,
                    gitops::OnDisk::Other => Some(git2::Oid::ZERO_SHA1),
                };
                if kept != now {
                    foreign.push(other.clone());
                }
            }
        }
        let (snap, files) =
            snapshot_blocking(&repo, &self.workdir, self.session(), t, iteration, &message)
                .map_err(|e| e.to_string())?;
        let files = file_stats(&files);
        // Same files as before (the editor closed without a change): nothing to record.
        let tree = |c: &str| {
            git2::Oid::from_str(c)
                .and_then(|o| repo.find_commit(o))
                .map(|c| c.tree_id())
                .ok()
        };
        if before.as_deref().and_then(tree).is_some()
            && before.as_deref().and_then(tree) == tree(&snap.snapshot.to_string())
        {
            return Ok(());
        }
        self.record(JournalEvent::HandEdited {
            task,
            iteration,
            path: path.to_string(),
            snapshot: snap.snapshot.to_string(),
            files,
            proposal: Some(snap.proposal.commit.to_string()),
            foreign,
        })
    }
}
