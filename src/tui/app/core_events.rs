//! How the review app follows the core: each `Event` it receives, and each journal line it
//! folds (`recorded`), turned into screen changes and effects.
//!
//! Invariant: domain state changes only by folding the core's `Recorded` events; everything
//! else here is what the screen shows.

use super::*;

impl App {
    /// One arm per core event; long by design.
    pub fn on_core_event(&mut self, ev: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            Event::SessionLoaded { entries, .. } => {
                self.state = SessionState::from_entries(&entries);
                self.screen = match self.state.next_step() {
                    NextStep::Plan | NextStep::ApprovePlan => Screen::Plan(PlanView::default()),
                    NextStep::Done | NextStep::Finish => Screen::Summary(SummaryView::default()),
                    // The task the session stands at is the one selected.
                    NextStep::Draft { task, .. }
                    | NextStep::Review { task, .. }
                    | NextStep::Commit { task, .. }
                    | NextStep::Restore { task, .. } => Screen::Drafting(Box::new(Drafting {
                        task_sel: task - 1,
                        ..Drafting::default()
                    })),
                    NextStep::Lessons { .. } => Screen::Drafting(Box::default()),
                };
            }
            Event::Recorded(entry) => {
                if matches!(entry.event, JournalEvent::ModelCall { .. }) {
                    self.stop_waiting();
                    self.model_answered();
                }
                if matches!(
                    entry.event,
                    JournalEvent::CriteriaJudged { .. }
                        | JournalEvent::IterationReady { .. }
                        | JournalEvent::DraftAborted { .. }
                ) && let Some(d) = self.drafting_mut()
                {
                    d.checking = false;
                }
                self.state.apply(&entry);
                fx.extend(self.recorded(&entry.event));
            }
            Event::Status { message } | Event::Notice { message } => {
                if message.ends_with(crate::core::engine::CANCEL_SKIPS_CHECK)
                    && let Some(d) = self.drafting_mut()
                {
                    d.checking = true;
                }
                self.status = Some(message)
            }
            Event::ModelWaiting { prompt_tokens } => {
                self.status = Some(format!("reading the prompt (~{prompt_tokens} tokens)…"));
            }
            Event::ModelText { text } => {
                self.stop_waiting();
                self.model_answered();
                // Only the drafting screen shows what the model says as it says it.
                if let Some(d) = self.drafting_mut() {
                    let live = &mut d.live_text;
                    live.push_str(&text);
                    if live.len() > LIVE_TEXT_MAX {
                        let mut cut = live.len() - LIVE_TEXT_MAX / 2;
                        while !live.is_char_boundary(cut) {
                            cut += 1;
                        }
                        live.drain(..cut);
                    }
                }
            }
            Event::ToolStarted { name } => self.status = Some(format!("calling {name}…")),
            Event::Retrying {
                attempt,
                max,
                delay_ms,
                reason,
            } => {
                let line = format!(
                    "retrying in {}s (attempt {attempt}/{max}): {reason}",
                    delay_ms.div_ceil(1000)
                );
                // The request ended: no longer "reading the prompt".
                self.stop_waiting();
                // Beside the spinner of whoever waits for the model; elsewhere (a lessons
                // pass during review) on the status line.
                match &mut self.screen {
                    Screen::Drafting(d) => d.retry = Some(line),
                    Screen::Plan(p) => p.retry = Some(line),
                    _ => self.status = Some(line),
                }
            }
            Event::AwaitingPlanApproval => {
                self.awaiting = Awaiting::PlanApproval;
                self.status = None;
                if !matches!(self.screen, Screen::Plan(_)) {
                    self.screen = Screen::Plan(PlanView::default());
                }
            }
            Event::AwaitingReview { task, iteration } => {
                self.awaiting = Awaiting::Review { task, iteration };
                self.status = None;
                fx.extend(self.open_review(task, iteration, DiffBase::TaskBase));
            }
            Event::DraftPaused {
                task,
                iteration,
                reason,
            } => {
                self.awaiting = Awaiting::Paused {
                    task,
                    iteration,
                    reason,
                };
                self.model_answered();
                self.stop_waiting();
            }
            Event::Diff { request, files, .. } => {
                if let Some(r) = review_in_mut(&mut self.screen).filter(|r| r.request == request) {
                    r.view.set_files(files);
                    r.loading = false;
                    let pins = self
                        .state
                        .task(r.task)
                        .map(|t| pins_for(t, r.iteration))
                        .unwrap_or_default();
                    r.view.set_pins(pins);
                    // On the line the reviewer was on, else on the first change (not on a
                    // file header).
                    let back = r
                        .start_at
                        .take()
                        .is_some_and(|(path, line)| r.view.jump_to_line(&path, line));
                    if !back {
                        r.view.jump_to_change(true);
                    }
                }
                fx.extend(self.highlight_visible());
            }
            Event::HandEditReady {
                task,
                iteration,
                path,
                abs_path,
                line,
            } => {
                fx.extend(self.flush_time());
                self.hand_edit = Some(self.now());
                fx.push(Effect::Editor {
                    path: abs_path,
                    line,
                    task,
                    iteration,
                    rel: path,
                });
            }
            Event::LessonsProposed {
                task,
                lessons,
                client,
            } => {
                self.status = None;
                self.offer(Popup::Lessons(LessonsReview {
                    task,
                    items: lessons
                        .into_iter()
                        .map(|l| LessonItem {
                            text: l.text,
                            from: l.from,
                            keep: None,
                            for_client: false,
                        })
                        .collect(),
                    sel: 0,
                    editing: None,
                    client,
                }));
            }
            Event::CommandApproval {
                task,
                command,
                sandboxed,
                confinement,
                check,
                ..
            } => {
                self.offer(Popup::Command {
                    task,
                    command,
                    sandboxed,
                    confinement,
                    check,
                    scroll: 0,
                });
            }
            Event::Conflict {
                task,
                iteration,
                doing,
                paths,
                saved,
            } => {
                self.offer(Popup::Conflict {
                    task,
                    iteration,
                    doing,
                    paths,
                    saved,
                });
            }
            Event::Error { message } => {
                self.offer(Popup::Message {
                    title: "Problem".into(),
                    text: message,
                });
            }
            Event::Refused { op, reason, .. } => self.refused(op, reason),
            Event::SessionComplete => {
                self.awaiting = Awaiting::Nothing;
                self.screen = Screen::Summary(SummaryView::default());
            }
            Event::Stopped => {
                self.stopped = true;
                if self.quitting {
                    fx.push(Effect::Quit);
                }
            }
        }
        self.next_popup();
        self.sync_clock();
        fx
    }

    /// A journal line the core recorded, folded into the state and into what the screen shows.
    /// One arm per event that changes the screen, so they read side by side; long by design.
    fn recorded(&mut self, ev: &JournalEvent) -> Vec<Effect> {
        let mut fx = Vec::new();
        match ev {
            JournalEvent::PlanSet { tasks, .. } => {
                if let Some(p) = self.plan_view_mut() {
                    p.sel = p.sel.min(tasks.len().saturating_sub(1));
                }
            }
            JournalEvent::DraftStarted {
                task, iteration, ..
            } => {
                self.screen = Screen::Drafting(Box::new(Drafting {
                    task_sel: task - 1,
                    activity: vec![format!("task {task}, iteration {iteration}: drafting")],
                    started: Some(self.time.now()),
                    ..Drafting::default()
                }));
                self.plan_overlay = None;
                self.awaiting = Awaiting::Nothing;
            }
            JournalEvent::ToolCall {
                name,
                args,
                ok,
                result,
                lines,
                ..
            } => {
                if let Some(d) = self.drafting_mut() {
                    // What the agent said before the call stays in the log, above the call.
                    let said = std::mem::take(&mut d.live_text);
                    d.activity.extend(
                        said.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(|l| format!("» {l}")),
                    );
                    let line = crate::core::describe::tool_call(name, args, *ok, result, *lines);
                    d.activity.push(line);
                }
            }
            JournalEvent::DraftAborted { task, reason, .. } => {
                self.drop_command_questions(*task);
                if let Some(d) = self.drafting_mut() {
                    d.activity.push(format!("attempt dropped: {reason}"));
                }
            }
            JournalEvent::IterationReady {
                task,
                files,
                incomplete,
                cut_off,
                ..
            } => {
                self.drop_command_questions(*task);
                let (a, r) = files
                    .iter()
                    .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
                let flags =
                    crate::core::state::draft_flags(files.is_empty(), *cut_off, *incomplete);
                if let Some(d) = self.drafting_mut() {
                    d.activity.push(format!(
                        "ready for review{}: {} file(s) +{a} −{r}",
                        if flags.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", flags.join(", "))
                        },
                        files.len()
                    ));
                    d.started = None;
                }
            }
            JournalEvent::CommentAdded {
                task, iteration, ..
            }
            | JournalEvent::CommentEdited {
                task, iteration, ..
            }
            | JournalEvent::CommentDeleted {
                task, iteration, ..
            }
            | JournalEvent::ThreadResolved {
                task, iteration, ..
            }
            | JournalEvent::ThreadAnswered {
                task, iteration, ..
            }
            | JournalEvent::NoteSet {
                task, iteration, ..
            } => {
                let pins = self
                    .state
                    .task(*task)
                    .map(|t| pins_for(t, *iteration))
                    .unwrap_or_default();
                if let Some(r) = self
                    .review_mut()
                    .filter(|r| r.task == *task && r.iteration == *iteration)
                {
                    r.view.set_pins(pins);
                }
            }
            JournalEvent::HandEdited {
                task, iteration, ..
            } => {
                if let Some(r) = review_in(&self.screen)
                    && r.task == *task
                    && r.iteration == *iteration
                {
                    let against = r.against;
                    fx.extend(self.open_review(*task, *iteration, against));
                }
            }
            JournalEvent::Committed { task, commit, .. } => {
                self.status = Some(format!(
                    "task {task} committed as {}",
                    &commit[..commit.len().min(10)]
                ));
            }
            JournalEvent::Restored { task, .. } => {
                self.status = Some(format!(
                    "task {task} rejected; its files are back as they were"
                ));
            }
            _ => {}
        }
        fx
    }

    /// The model answered: a retry line waiting for it is done with.
    fn model_answered(&mut self) {
        match &mut self.screen {
            Screen::Drafting(d) => d.retry = None,
            Screen::Plan(p) => p.retry = None,
            _ => {}
        }
    }

    pub(super) fn open_review(
        &mut self,
        task: usize,
        iteration: u32,
        against: DiffBase,
    ) -> Vec<Effect> {
        let request = self.next_request;
        self.next_request += 1;
        let keep = self
            .review()
            .filter(|r| r.task == task && r.iteration == iteration);
        let (focus, crit_sel, side, feedback_sent) = keep
            .map(|r| (r.focus, r.crit_sel, r.view.side_by_side, r.feedback_sent))
            .unwrap_or((Pane::Diff, 0, false, false));
        // Wrap is the reviewer's reading preference: it carries to the next review.
        let wrap = self.review().and_then(|r| r.view.wrap);
        let start_at = keep.and_then(|r| r.view.cursor_anchor());
        if keep.is_none() {
            let already = self
                .state
                .iteration(task, iteration)
                .map_or(0, |it| it.review_ms);
            self.clock.reset_cycle(Duration::from_millis(already));
        }
        let mut view = DiffView::default();
        view.wrap = wrap;
        if side {
            view.toggle_side_by_side();
        }
        self.screen = Screen::Review(Box::new(Review {
            task,
            iteration,
            against,
            view,
            request,
            loading: true,
            focus,
            file_sel: 0,
            crit_sel,
            feedback_sent,
            start_at,
        }));
        self.plan_overlay = None;
        vec![Effect::Op(Op::RequestDiff {
            request,
            task,
            iteration,
            against,
        })]
    }
}
