//! The reducer: how each journal event changes a session's state. One arm per event, so the
//! whole fold reads in one place; the helpers it calls live beside the types in `mod.rs`.
//!
//! Invariant: pure. The same entries always fold to the same state; nothing here reads a clock,
//! a file or git.

use super::*;

impl SessionState {
    /// Fold one entry in. Events that name a task or iteration that does not exist are ignored:
    /// the engine never writes them, and a reader must not crash on a hand-edited journal.
    /// One arm per journal event, so the whole reducer reads in one place; long by design.
    pub fn apply(&mut self, entry: &Entry) {
        self.events = entry.seq;
        self.last_event = Some(entry.at);
        self.fold_thread(&entry.event);
        match &entry.event {
            JournalEvent::SessionStarted {
                session,
                model,
                branch,
                head,
                brief,
                allow_dirty,
                author,
                ..
            } => {
                self.session = session.clone();
                self.author = author.clone();
                self.model = model.clone();
                self.branch = branch.clone();
                self.head = head.clone();
                self.brief = brief.clone();
                self.allow_dirty = *allow_dirty;
                self.started = Some(entry.at);
            }
            JournalEvent::PlanSet { tasks, source } => {
                self.plan_source = Some(*source);
                self.plan_approved = false;
                self.tasks = tasks
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| TaskState {
                        number: i + 1,
                        spec: spec.clone(),
                        status: if spec.human {
                            TaskStatus::Human
                        } else {
                            TaskStatus::Pending
                        },
                        base: None,
                        iterations: Vec::new(),
                        criteria_met: vec![false; spec.acceptance.len()],
                        touched: BTreeMap::new(),
                        commit: None,
                        conflict_choice: None,
                        threads: Vec::new(),
                        lessons: None,
                    })
                    .collect();
            }
            JournalEvent::PlanApproved => self.plan_approved = true,
            JournalEvent::ModelCall {
                purpose,
                task,
                iteration,
                prompt_tokens,
                completion_tokens,
                ..
            } => match (purpose, task, iteration) {
                // The checker's calls are part of the draft's cost.
                (
                    crate::core::journal::Purpose::Draft | crate::core::journal::Purpose::Check,
                    Some(t),
                    Some(k),
                ) => {
                    if let Some(it) = self.iteration_mut(*t, *k) {
                        it.prompt_tokens += prompt_tokens;
                        it.completion_tokens += completion_tokens;
                        it.model_calls += 1;
                    }
                }
                (crate::core::journal::Purpose::Lessons, _, _) => {
                    self.lessons_prompt_tokens += prompt_tokens;
                    self.lessons_completion_tokens += completion_tokens;
                }
                _ => {
                    self.planner_prompt_tokens += prompt_tokens;
                    self.planner_completion_tokens += completion_tokens;
                }
            },
            JournalEvent::ToolCall {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.tool_calls += 1;
                }
            }
            JournalEvent::DraftStarted {
                task,
                iteration,
                base,
            } => {
                let at = entry.at;
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Drafting;
                    if t.base.is_none() {
                        t.base = base.clone();
                    }
                    if let Some(existing) = t.iterations.iter_mut().find(|i| i.number == *iteration)
                    {
                        // A new attempt at the same iteration: what the checker said about the
                        // dropped one does not describe this one.
                        existing.started = at;
                        existing.in_progress = true;
                        existing.verdicts.clear();
                        existing.checker_problem = None;
                    } else {
                        let ticked = t.iterations.last().map(|i| i.ticked.clone());
                        t.iterations.push(Iteration {
                            number: *iteration,
                            started: at,
                            ready: None,
                            snapshot: None,
                            base: None,
                            worktree: None,
                            excluded: Vec::new(),
                            summary: String::new(),
                            agent_ms: 0,
                            incomplete: false,
                            cut_off: false,
                            files: Vec::new(),
                            comments: Vec::new(),
                            note: None,
                            review_ms: 0,
                            hand_edit_ms: 0,
                            decision: None,
                            decided: None,
                            prompt_tokens: 0,
                            completion_tokens: 0,
                            model_calls: 0,
                            tool_calls: 0,
                            aborted_attempts: 0,
                            in_progress: true,
                            hand_edits: 0,
                            commands: Vec::new(),
                            checks: Vec::new(),
                            fix_rounds: 0,
                            caught: 0,
                            verdicts: Vec::new(),
                            checker_problem: None,
                            knowledge: Vec::new(),
                            lessons: Vec::new(),
                            ticked: ticked.unwrap_or_default(),
                        });
                    }
                }
            }
            JournalEvent::FileTouched {
                task,
                iteration,
                path,
                preimage,
                created_dirs,
                exec,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    t.touched.entry(path.clone()).or_insert(Touched {
                        preimage: preimage.clone(),
                        exec: *exec,
                        created_dirs: created_dirs.clone(),
                        first_iteration: *iteration,
                        written: Vec::new(),
                        foreign: false,
                        foreign_when_ready: false,
                    });
                }
            }
            JournalEvent::FileWritten {
                task,
                path,
                blob,
                foreign,
                ..
            } => {
                if let Some(f) = self.task_mut(*task).and_then(|t| t.touched.get_mut(path)) {
                    f.written.push(blob.clone());
                    f.foreign |= *foreign;
                }
            }
            JournalEvent::UserBytesSaved { .. } => {}
            JournalEvent::ConflictResolved {
                task,
                iteration,
                choice,
                paths,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    t.conflict_choice = Some((*iteration, *choice, paths.clone()));
                }
            }
            JournalEvent::AcceptFailed {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.decision = None;
                    it.decided = None;
                }
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::InReview;
                }
            }
            JournalEvent::AcceptedEmpty { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.conflict_choice = None;
                }
            }
            JournalEvent::DraftAborted {
                task, iteration, ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.aborted_attempts += 1;
                    it.in_progress = false;
                }
                // The abort put the attempt's new paths back to their preimages, so they are
                // untouched again: a restart journals them afresh, and the journal of every
                // attempt stands on its own. Earlier iterations' paths are back as those left
                // them, the user's edits then included: their marks stay, so a reject asks.
                if let Some(t) = self.task_mut(*task) {
                    t.touched.retain(|_, f| f.first_iteration != *iteration);
                    t.touched.values_mut().for_each(|f| {
                        f.written.clear();
                        f.foreign = f.foreign_when_ready;
                    });
                    t.conflict_choice = None;
                }
            }
            JournalEvent::IterationReady {
                task,
                iteration,
                snapshot,
                base,
                summary,
                agent_ms,
                incomplete,
                cut_off,
                files,
                proposal,
                review_base,
                excluded,
                foreign,
                ..
            } => {
                let at = entry.at;
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::InReview;
                    for (path, f) in t.touched.iter_mut() {
                        f.written.clear();
                        f.foreign |= foreign.contains(path);
                        f.foreign_when_ready = f.foreign;
                    }
                }
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.ready = Some(at);
                    it.in_progress = false;
                    it.snapshot = Some(proposal.clone().unwrap_or_else(|| snapshot.clone()));
                    it.base = Some(review_base.clone().unwrap_or_else(|| base.clone()));
                    it.worktree = Some(snapshot.clone());
                    it.excluded = excluded.clone();
                    it.summary = summary.clone();
                    it.agent_ms += agent_ms;
                    it.incomplete = *incomplete;
                    it.cut_off = *cut_off;
                    it.files = files.clone();
                }
            }
            JournalEvent::CommentAdded {
                task,
                iteration,
                id,
                path,
                line,
                text,
                quote,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.comments.push(Comment {
                        id: *id,
                        path: path.clone(),
                        line: *line,
                        text: text.clone(),
                        quote: quote.clone(),
                    });
                }
            }
            JournalEvent::CommentEdited {
                task,
                iteration,
                id,
                text,
            } => {
                if let Some(c) = self
                    .iteration_mut(*task, *iteration)
                    .and_then(|it| it.comments.iter_mut().find(|c| c.id == *id))
                {
                    c.text = text.clone();
                }
            }
            JournalEvent::CommentDeleted {
                task,
                iteration,
                id,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.comments.retain(|c| c.id != *id);
                }
            }
            JournalEvent::NoteSet {
                task,
                iteration,
                text,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.note = (!text.trim().is_empty()).then(|| text.clone());
                }
            }
            // Threads are folded by `fold_thread`, above.
            JournalEvent::ThreadReply { .. }
            | JournalEvent::ThreadResolved { .. }
            | JournalEvent::ThreadAnswered { .. }
            | JournalEvent::ThreadsAnchored { .. } => {}
            JournalEvent::CriterionTicked {
                task,
                iteration,
                criterion,
                met,
            } => {
                if let Some(slot) = self
                    .task_mut(*task)
                    .and_then(|t| t.criteria_met.get_mut(criterion.wrapping_sub(1)))
                {
                    *slot = *met;
                }
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    match met {
                        true => it.ticked.insert(*criterion),
                        false => it.ticked.remove(criterion),
                    };
                }
            }
            JournalEvent::HumanTime {
                task,
                iteration,
                kind,
                ms,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    match kind {
                        TimeKind::Review => it.review_ms += ms,
                        TimeKind::HandEdit => it.hand_edit_ms += ms,
                    }
                }
            }
            JournalEvent::Decision {
                task,
                iteration,
                action,
            } => {
                let at = entry.at;
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.decision = Some(*action);
                    it.decided = Some(at);
                }
                if let Some(t) = self.task_mut(*task) {
                    t.status = match action {
                        Decision::Accept => TaskStatus::Accepting,
                        Decision::Reject => TaskStatus::Rejecting,
                        Decision::Revise => TaskStatus::Drafting,
                    };
                }
            }
            JournalEvent::HandEdited {
                task,
                iteration,
                snapshot,
                files,
                proposal,
                foreign,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.snapshot = Some(proposal.clone().unwrap_or_else(|| snapshot.clone()));
                    it.worktree = Some(snapshot.clone());
                    it.files = files.clone();
                    it.hand_edits += 1;
                }
                if let Some(t) = self.task_mut(*task) {
                    for (path, f) in t.touched.iter_mut() {
                        if foreign.contains(path) {
                            f.foreign = true;
                            f.foreign_when_ready = true;
                        }
                    }
                }
            }
            JournalEvent::Committed { task, commit, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Accepted;
                    t.commit = Some(commit.clone());
                }
            }
            JournalEvent::Restored { task, .. } => {
                if let Some(t) = self.task_mut(*task) {
                    t.status = TaskStatus::Rejected;
                    t.conflict_choice = None;
                }
            }
            JournalEvent::SessionFinished => self.finished = true,
            JournalEvent::SessionAbandoned { .. } => self.user_abandoned = true,
            JournalEvent::TextProtocol { reason } => self.text_protocol = Some(reason.clone()),
            JournalEvent::CommandAnswered {
                command,
                approved: true,
                always: true,
                sandboxed,
                ..
            } => {
                match sandboxed {
                    true => &mut self.always_allowed,
                    false => &mut self.always_unsandboxed,
                }
                .insert(command.clone());
            }
            JournalEvent::CommandAnswered { .. } => {}
            JournalEvent::KnowledgeUsed {
                purpose: crate::core::journal::Purpose::Draft,
                task: Some(task),
                iteration: Some(iteration),
                sources,
                lessons,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.knowledge = sources.clone();
                    it.lessons = lessons.clone();
                }
            }
            JournalEvent::KnowledgeUsed { .. } => {}
            JournalEvent::LessonsProposed {
                task,
                lessons,
                problem,
            } => {
                let proposal = TaskLessons {
                    proposed: lessons.clone(),
                    problem: problem.clone(),
                    decided: None,
                };
                if *task == SESSION_LESSONS {
                    self.session_lessons = Some(proposal);
                } else if let Some(t) = self.task_mut(*task) {
                    t.lessons = Some(proposal);
                }
            }
            JournalEvent::LessonsDecided { task, choices, .. } => {
                if let Some(l) = self.lessons_mut(*task) {
                    l.decided = Some(choices.clone());
                }
            }
            JournalEvent::CriteriaJudged {
                task,
                iteration,
                verdicts,
                problem,
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.verdicts = verdicts.clone();
                    it.checker_problem = problem.clone();
                }
            }
            JournalEvent::ChecksRun {
                task,
                iteration,
                results,
                sent_back,
                ..
            } => {
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.checks = results.clone();
                    it.fix_rounds += u32::from(*sent_back);
                    if *sent_back {
                        it.caught += results
                            .iter()
                            .filter(|r| r.status == crate::core::journal::CheckStatus::Failed)
                            .count() as u32;
                    }
                }
            }
            JournalEvent::CommandStarted {
                task,
                iteration,
                step,
                command,
                before,
                sandboxed,
            } => {
                self.pending_command = Some(PendingCommand {
                    task: *task,
                    iteration: *iteration,
                    step: *step,
                    command: command.clone(),
                    before: before.clone(),
                    sandboxed: *sandboxed,
                })
            }
            JournalEvent::CommandRan {
                task,
                iteration,
                command,
                exit_code,
                ending,
                duration_ms,
                output,
                sandboxed,
                changed,
                reverted,
                ..
            } => {
                self.pending_command = None;
                if let Some(it) = self.iteration_mut(*task, *iteration) {
                    it.commands.push(CommandRecord {
                        command: command.clone(),
                        exit_code: *exit_code,
                        ending: ending.clone(),
                        duration_ms: *duration_ms,
                        output: output.clone(),
                        sandboxed: *sandboxed,
                        changed: changed.clone(),
                        reverted: reverted.clone(),
                    });
                }
            }
        }
    }
}
