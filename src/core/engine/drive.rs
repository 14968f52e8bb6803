//! The session loop: what the engine does next (`NextStep`), ops from the driver handled
//! between steps, and a long step raced against cancel and shutdown (`race`).
//!
//! Invariant: every state change goes through the journal (`Recorder::record`); the loop only
//! decides which step runs next from the folded state.

use super::*;

impl Engine {
    /// Drive the session until it is complete or the driver says stop. One arm per next step,
    /// each a call or a few lines, so the order of a session reads in one place.
    pub async fn run(mut self, mut ops: OpRx) -> Result<RunEnd, CoreError> {
        self.emit(Event::SessionLoaded {
            session: self.session().to_string(),
            entries: self.rec.history.clone(),
        });
        if self.settings.commands.offered() && !self.rec.state.finished {
            let support = self.sandbox_support().await?;
            let ask = if self.settings.commands.policy == crate::infra::config::CommandPolicy::Ask {
                "; each command is shown for your yes or no first (commands.policy = \"ask\")"
            } else {
                ""
            };
            self.emit(Event::Notice {
                message: format!("{}{ask}", support.describe()),
            });
        }
        let mut pending: VecDeque<Submission> = VecDeque::new();
        let mut paused = false;
        let end = loop {
            match self.rec.state.next_step() {
                NextStep::Plan => {
                    let brief = self.rec.state.brief.clone().ok_or_else(|| {
                        CoreError::NoSession(format!(
                            ": session {} stopped before its plan was recorded; start a new one with --plan or --brief",
                            self.session()
                        ))
                    })?;
                    self.emit(Event::Status {
                        message: "planning the job".into(),
                    });
                    let fwd = self.answers.forward();
                    match race(self.plan(&brief, None), &mut ops, &mut pending, &fwd).await {
                        Ok(r) => r?,
                        Err(_) => break RunEnd::Stopped,
                    }
                }
                NextStep::ApprovePlan => {
                    self.emit(Event::AwaitingPlanApproval);
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Draft {
                    task,
                    iteration,
                    restart,
                } => {
                    let go_on = self
                        .draft_step(
                            task,
                            iteration,
                            restart,
                            &mut paused,
                            &mut ops,
                            &mut pending,
                        )
                        .await?;
                    if !go_on {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Review { task, iteration } => {
                    self.emit(Event::AwaitingReview { task, iteration });
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Commit { task, iteration } => {
                    if !self
                        .commit_step(task, iteration, &mut ops, &mut pending)
                        .await?
                    {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Restore { task, iteration } => {
                    if !self.restore(task, iteration).await?
                        && !self.wait_for_human(&mut ops, &mut pending).await?
                    {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Lessons { task } => {
                    let lessons = self
                        .rec
                        .state
                        .lessons(task)
                        .map(|l| l.proposed.clone())
                        .unwrap_or_default();
                    self.emit(Event::LessonsProposed {
                        task,
                        lessons,
                        client: self.settings.knowledge.client.clone(),
                    });
                    if !self.wait_for_human(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Finish => {
                    if !self.finish_step(&mut ops, &mut pending).await? {
                        break RunEnd::Stopped;
                    }
                }
                NextStep::Done => {
                    self.emit(Event::SessionComplete);
                    break RunEnd::Complete;
                }
            }
        };
        self.store_journal()?;
        if end == RunEnd::Stopped {
            self.emit(Event::Stopped);
        }
        Ok(end)
    }

    /// Commit the accepted iteration, then ask for its lessons. A commit git refuses (the
    /// branch or HEAD moved, signing or a hook failed) goes back to review with the reason.
    /// False: the driver stopped.
    async fn commit_step(
        &mut self,
        task: usize,
        iteration: u32,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        match self.commit(task, iteration).await {
            Ok(()) => {
                // Lessons come after the commit: the accepted work is safe first.
                // A cancel skips them; a shutdown stops as ever.
                let fwd = self.answers.forward();
                match race(self.propose_lessons(task), ops, pending, &fwd).await {
                    Ok(r) => r?,
                    Err(Interrupt::Cancel) => {}
                    Err(Interrupt::Shutdown) => return Ok(false),
                }
            }
            // Nothing was committed and nothing is lost: back to review, where the
            // user can reject, revise or accept again once the cause is fixed.
            Err(CoreError::Git(
                e @ (gitops::GitError::BranchMoved(_)
                | gitops::GitError::HeadMoved
                | gitops::GitError::Sign { .. }
                | gitops::GitError::Hook { .. }),
            )) => {
                let reason = e.to_string();
                self.rec.record(JournalEvent::AcceptFailed {
                    task,
                    iteration,
                    reason: reason.clone(),
                })?;
                self.store_journal()?;
                self.emit(Event::Error { message: reason });
            }
            Err(e) => return Err(e),
        }
        Ok(true)
    }

    /// The end of the session: the end-of-session lessons pass when due, else the session is
    /// recorded as finished. False: the driver stopped.
    async fn finish_step(
        &mut self,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        if self.session_lessons_due() {
            // The end-of-session pass: recurring points across every task's
            // review. A cancel skips it for good (journaled, so resume does not
            // ask the model again).
            let fwd = self.answers.forward();
            match race(self.propose_lessons(SESSION_LESSONS), ops, pending, &fwd).await {
                Ok(r) => r?,
                Err(Interrupt::Cancel) => {
                    self.rec.record(JournalEvent::LessonsProposed {
                        task: SESSION_LESSONS,
                        lessons: Vec::new(),
                        problem: Some("skipped: cancelled".into()),
                    })?;
                }
                Err(Interrupt::Shutdown) => return Ok(false),
            }
            return Ok(true);
        }
        self.rec.record(JournalEvent::SessionFinished)?;
        self.store_journal()?;
        Ok(true)
    }

    /// One turn of the draft step: undo an interrupted attempt, wait after a pause, or draft;
    /// a model failure or a cancel puts the files back and pauses. False: the driver stopped.
    async fn draft_step(
        &mut self,
        task: usize,
        iteration: u32,
        restart: bool,
        paused: &mut bool,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        if restart {
            let done = self
                .abort_draft(task, iteration, "the previous attempt was interrupted")
                .await?;
            if !done && !self.wait_for_human(ops, pending).await? {
                return Ok(false);
            }
            return Ok(true);
        }
        if *paused {
            if !self.wait_for_human(ops, pending).await? {
                return Ok(false);
            }
            *paused = false;
            return Ok(true);
        }
        self.emit(Event::Status {
            message: format!("drafting task {task}, iteration {iteration}"),
        });
        let fwd = self.answers.forward();
        let outcome = race(self.draft(task, iteration), ops, pending, &fwd).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(CoreError::Model(e))) => {
                // Said first: a conflict the undo meets must be the last thing shown.
                self.emit(Event::Error {
                    message: e.to_string(),
                });
                let done = self.abort_draft(task, iteration, &e.to_string()).await?;
                self.emit(Event::DraftPaused {
                    task,
                    iteration,
                    reason: e.to_string(),
                });
                *paused = true;
                if !done && !self.wait_for_human(ops, pending).await? {
                    return Ok(false);
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(Interrupt::Cancel) => {
                let done = self
                    .abort_draft(task, iteration, "cancelled by the reviewer")
                    .await?;
                self.emit(Event::DraftPaused {
                    task,
                    iteration,
                    reason: "cancelled".into(),
                });
                *paused = true;
                if !done && !self.wait_for_human(ops, pending).await? {
                    return Ok(false);
                }
            }
            Err(Interrupt::Shutdown) => {
                self.abort_draft(task, iteration, "stopped by the user")
                    .await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Handle ops until one changes what the session needs next. False: the driver stopped.
    async fn wait_for_human(
        &mut self,
        ops: &mut OpRx,
        pending: &mut VecDeque<Submission>,
    ) -> Result<bool, CoreError> {
        let step = self.rec.state.next_step();
        loop {
            let Submission { id, op } = match pending.pop_front() {
                Some(sub) => sub,
                None => match ops.recv().await {
                    Some(sub) => sub,
                    None => return Ok(false),
                },
            };
            match op {
                Op::Shutdown => return Ok(false),
                Op::ResumeDraft => return Ok(true),
                Op::Replan { note } => {
                    if self.rec.state.plan_approved {
                        self.emit(Event::Refused {
                            submission: id,
                            op: Op::Replan { note },
                            reason: "the plan is approved already; it can no longer be re-planned"
                                .into(),
                        });
                        continue;
                    }
                    let brief = self.rec.state.brief.clone().unwrap_or_default();
                    let fwd = self.answers.forward();
                    match race(self.plan(&brief, Some(&note)), ops, pending, &fwd).await {
                        Ok(Ok(())) => {}
                        Ok(Err(CoreError::Model(e))) => self.emit(Event::Error {
                            message: e.to_string(),
                        }),
                        Ok(Err(CoreError::PlanFailed { attempts, last })) => {
                            self.emit(Event::Error {
                                message: format!(
                                    "re-planning failed after {attempts} attempts: {last}"
                                ),
                            })
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Ok(false),
                    }
                    return Ok(true);
                }
                other => {
                    let resolves = matches!(other, Op::ResolveConflict { .. });
                    // Kept to hand back with a refusal: a driver restores what the user typed.
                    let copy = other.clone();
                    if let Err(reason) = self.handle_op(other) {
                        self.emit(Event::Refused {
                            submission: id,
                            op: copy,
                            reason,
                        });
                    } else if resolves {
                        // The step stays the same; the put-back runs again with the answer.
                        return Ok(true);
                    }
                }
            }
            if self.rec.state.next_step() != step {
                return Ok(true);
            }
        }
    }
}

enum Interrupt {
    Cancel,
    Shutdown,
}

/// Run `fut` while still listening to the driver: cancel and shutdown interrupt it (dropping it
/// at its next await), answers to a command approval go to the waiting draft (`answers`), a
/// cancel while the checker runs skips the check (the draft itself is finished), anything else
/// waits in `pending` until the engine is free.
async fn race<T>(
    fut: impl Future<Output = T>,
    ops: &mut OpRx,
    pending: &mut VecDeque<Submission>,
    fwd: &Forward,
) -> Result<T, Interrupt> {
    tokio::pin!(fut);
    let mut open = true;
    loop {
        tokio::select! {
            res = &mut fut => return Ok(res),
            sub = ops.recv(), if open => match sub {
                None => open = false,
                Some(Submission { op: Op::Shutdown, .. }) => return Err(Interrupt::Shutdown),
                Some(Submission { op: Op::CancelDraft, .. }) => {
                    if fwd.checking.load(std::sync::atomic::Ordering::Relaxed) {
                        fwd.skip_check.notify_one();
                    } else {
                        return Err(Interrupt::Cancel);
                    }
                }
                Some(Submission { op: Op::AnswerCommand { approve, always }, .. }) => {
                    // The receiver lives in the engine, which outlives this call.
                    let _ = fwd.answers.send((approve, always));
                }
                Some(other) => pending.push_back(other),
            },
        }
    }
}
