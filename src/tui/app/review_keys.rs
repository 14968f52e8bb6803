//! Keys on the review screen: moving in the diff and the side panes, ticking criteria,
//! comments, the note, a hand edit and the decision.

use super::keys::step;
use super::*;

impl App {
    /// Moving in the review: scrolling, panes, files, interdiff and side by side. None: the
    /// key is not a move in the focused pane.
    // One arm per move; they all use the review `r` borrowed from `self.screen`, so they
    // cannot become methods on `self`, and they read best side by side.
    pub(super) fn review_move(&mut self, action: Action) -> Option<Vec<Effect>> {
        use Action::*;
        let page = self.diff_height.max(2) as isize - 1;
        let width = self.width;
        let n_criteria = review_in(&self.screen)
            .and_then(|r| self.state.task(r.task))
            .map(|t| t.spec.acceptance.len())
            .unwrap_or(0);
        let r = review_in_mut(&mut self.screen)?;
        let n_files = r.view.files.len();
        match (action, r.focus) {
            (Down | Up | PageDown | PageUp | Top | Bottom, Pane::Diff) => {
                let rows = r.view.rows.len() as isize;
                let delta = match action {
                    Down => 1,
                    Up => -1,
                    PageDown => page,
                    PageUp => -page,
                    Top => -rows,
                    _ => rows,
                };
                r.view.move_by(delta);
                Some(self.highlight_visible())
            }
            (NextChange | PrevChange | NextThread | PrevThread, _) => {
                r.focus = Pane::Diff;
                let moved = match action {
                    NextChange => r.view.jump_to_change(true),
                    PrevChange => r.view.jump_to_change(false),
                    NextThread => r.view.jump_to_thread(true),
                    _ => r.view.jump_to_thread(false),
                };
                if !moved {
                    self.status = Some(
                        match action {
                            NextChange => "no change below",
                            PrevChange => "no change above",
                            NextThread => "no open thread below",
                            _ => "no open thread above",
                        }
                        .into(),
                    );
                }
                Some(self.highlight_visible())
            }
            (NextHunk | PrevHunk | NextFile | PrevFile, _) => {
                r.focus = Pane::Diff;
                let forward = matches!(action, NextHunk | NextFile);
                let moved = if matches!(action, NextHunk | PrevHunk) {
                    r.view.jump_to_hunk(forward)
                } else {
                    r.view.jump_to_next_file(forward)
                };
                if let Some(f) = r.view.cursor_file() {
                    r.file_sel = f;
                }
                if !moved {
                    self.status = Some(
                        match action {
                            NextHunk => "no hunk below",
                            PrevHunk => "no hunk above",
                            NextFile => "no file below",
                            _ => "no file above",
                        }
                        .into(),
                    );
                }
                Some(self.highlight_visible())
            }
            (Wrap, _) => {
                let on = r.view.toggle_wrap();
                self.status = Some(
                    if on {
                        "wrap on"
                    } else {
                        "wrap off: ← → scroll sideways"
                    }
                    .into(),
                );
                Some(vec![])
            }
            (ScrollLeft | ScrollRight, _) => {
                if r.view.wraps(r.view.cursor_file().unwrap_or(0)) {
                    self.status = Some(format!(
                        "lines wrap here: {} turns wrap off to scroll sideways",
                        self.keymap.label(Wrap)
                    ));
                } else {
                    r.view
                        .scroll_sideways(if action == ScrollLeft { -8 } else { 8 });
                }
                Some(vec![])
            }
            (Output, _) => {
                let (task, iteration) = (r.task, r.iteration);
                match self
                    .state
                    .task(task)
                    .map(|t| super::verification_text(t, iteration))
                {
                    Some(lines) if !lines.is_empty() => {
                        self.popup = Some(Popup::Output { lines, scroll: 0 })
                    }
                    _ => {
                        self.status = Some("no checks, verdicts or commands for this draft".into())
                    }
                }
                Some(vec![])
            }
            (Zoom, _) => {
                self.zoom = !self.zoom;
                if self.zoom && r.focus != Pane::Diff {
                    r.focus = Pane::Diff;
                }
                Some(vec![])
            }
            (Down | Up | Top | Bottom, Pane::Files) => {
                r.file_sel = step(r.file_sel, action, n_files);
                r.view.jump_to_file(r.file_sel);
                Some(self.highlight_visible())
            }
            (Down | Up | Top | Bottom, Pane::Criteria) => {
                r.crit_sel = step(r.crit_sel, action, n_criteria);
                Some(vec![])
            }
            (SwitchPane, _) => {
                // The panes come back into view to be switched to.
                self.zoom = false;
                r.focus = match r.focus {
                    Pane::Diff => Pane::Files,
                    Pane::Files => Pane::Criteria,
                    Pane::Criteria => Pane::Diff,
                };
                Some(vec![])
            }
            (Confirm, Pane::Files) => {
                r.view.jump_to_file(r.file_sel);
                r.focus = Pane::Diff;
                Some(self.highlight_visible())
            }
            (Interdiff, _) => {
                let (task, iteration) = (r.task, r.iteration);
                if iteration < 2 {
                    self.status = Some(
                        "this is the first iteration: there is no earlier one to compare with"
                            .into(),
                    );
                    return Some(vec![]);
                }
                let against = match r.against {
                    DiffBase::TaskBase => DiffBase::PreviousIteration,
                    DiffBase::PreviousIteration => DiffBase::TaskBase,
                };
                Some(self.open_review(task, iteration, against))
            }
            (SideBySide, _) => {
                if !r.view.side_by_side && width < SIDE_BY_SIDE_COLUMNS {
                    self.status =
                        Some("side by side needs a terminal at least 120 columns wide".into());
                    Some(vec![])
                } else {
                    r.view.toggle_side_by_side();
                    Some(self.highlight_visible())
                }
            }
            _ => None,
        }
    }

    /// Feedback on the iteration under review: criteria, comments, the note, a hand edit.
    // One arm per key; they use the review `r` borrowed from `self.screen` and return early,
    // so they cannot become methods on `self`, and they read best side by side.
    pub(super) fn review_feedback(
        &mut self,
        action: Action,
        task: usize,
        iteration: u32,
    ) -> Vec<Effect> {
        use Action::*;
        let Some(r) = review_in(&self.screen) else {
            return vec![];
        };
        match (action, r.focus) {
            (Tick, Pane::Diff | Pane::Files) => {
                // A stray space must not tick a criterion the reviewer is not looking at.
                self.status = Some(format!(
                    "{} to the criteria pane to tick one",
                    self.keymap.label(SwitchPane)
                ));
            }
            (Tick, Pane::Criteria) | (Confirm, Pane::Criteria) => {
                let crit = r.crit_sel;
                let t = self.state.task(task);
                let n_criteria = t.map(|t| t.spec.acceptance.len()).unwrap_or(0);
                let met = t
                    .and_then(|t| t.criteria_met.get(crit).copied())
                    .unwrap_or(false);
                if crit < n_criteria {
                    return vec![Effect::Op(Op::TickCriterion {
                        task,
                        criterion: crit + 1,
                        met: !met,
                    })];
                }
            }
            (Comment | Confirm, Pane::Diff) => {
                let pins = r.view.pins_at_cursor();
                let mine = pins.iter().find(|p| p.mine);
                let earlier = pins.iter().find(|p| !p.mine);
                if let Some(p) = mine {
                    let text = p.posts.first().map(|x| x.2.clone()).unwrap_or_default();
                    self.popup = Some(Popup::Input {
                        field: Field::EditComment {
                            task,
                            iteration,
                            id: p.key.id,
                        },
                        input: TextInput::new(&text, false),
                        error: None,
                    });
                } else if let Some(p) = earlier {
                    self.popup = Some(Popup::Input {
                        field: Field::Answer {
                            task,
                            iteration,
                            thread: p.key,
                        },
                        input: TextInput::new("", false),
                        error: None,
                    });
                } else if let Some((path, line)) = r.view.cursor_anchor() {
                    self.popup = Some(Popup::Input {
                        field: Field::Comment {
                            task,
                            iteration,
                            path,
                            line,
                        },
                        input: TextInput::new("", false),
                        error: None,
                    });
                } else if action == Comment {
                    self.status = Some(
                        "put the cursor on an added or unchanged line to comment on it".into(),
                    );
                }
            }
            (DeleteComment, Pane::Diff) => {
                if let Some(p) = r.view.pins_at_cursor().into_iter().find(|p| p.mine) {
                    return vec![Effect::Op(Op::DeleteComment {
                        task,
                        iteration,
                        id: p.key.id,
                    })];
                }
            }
            (Resolve, _) => {
                let Some(p) = r.view.pins_at_cursor().into_iter().find(|p| !p.mine) else {
                    self.status = Some(format!(
                        "put the cursor on a line with a thread from an earlier iteration ({} jumps to the next)",
                        self.keymap.label(NextThread)
                    ));
                    return vec![];
                };
                let resolved = p.status != crate::core::threads::ThreadStatus::Resolved;
                return vec![Effect::Op(Op::ResolveThread {
                    task,
                    iteration,
                    thread: p.key,
                    resolved,
                })];
            }
            (Note, _) => {
                let note = self
                    .state
                    .iteration(task, iteration)
                    .and_then(|i| i.note.clone())
                    .unwrap_or_default();
                self.popup = Some(Popup::Input {
                    field: Field::Note { task, iteration },
                    input: TextInput::new(&note, false),
                    error: None,
                });
            }
            (Editor, _) => {
                let anchor = r.view.cursor_anchor().or_else(|| {
                    r.view
                        .cursor_file()
                        .map(|f| (r.view.files[f].path.clone(), 1))
                });
                if let Some((path, line)) = anchor {
                    if !self.editor_available {
                        self.status = Some("set $EDITOR (or $VISUAL) to edit files by hand".into());
                        return vec![];
                    }
                    return vec![Effect::Op(Op::BeginHandEdit {
                        task,
                        iteration,
                        path,
                        line: Some(line),
                    })];
                }
                self.status = Some("no file in this diff to edit by hand".into());
            }
            _ => {}
        }
        vec![]
    }

    /// Revise (only with feedback to carry), accept, or reject (after a confirmation).
    pub(super) fn review_decide(
        &mut self,
        action: Action,
        task: usize,
        iteration: u32,
    ) -> Vec<Effect> {
        match action {
            Action::Revise => {
                let it = self.state.iteration(task, iteration);
                let sent = review_in(&self.screen).is_some_and(|r| r.feedback_sent);
                let has_feedback =
                    sent || it.is_some_and(|i| !i.comments.is_empty() || i.note.is_some());
                if !has_feedback {
                    self.status = Some(
                        "add a comment (c) or a note (n) first: the revision request carries them"
                            .into(),
                    );
                    return vec![];
                }
                self.decide(task, iteration, Decision::Revise)
            }
            Action::Accept => match self.accept_warning(task) {
                Some(why) => {
                    self.popup = Some(Popup::Confirm(self::Confirm::Accept {
                        task,
                        iteration,
                        why,
                    }));
                    vec![]
                }
                None => self.decide(task, iteration, Decision::Accept),
            },
            Action::Reject => {
                self.popup = Some(Popup::Confirm(self::Confirm::Reject { task, iteration }));
                vec![]
            }
            _ => vec![],
        }
    }
}

impl App {
    /// What an accept of `task` would leave behind: a draft that changed nothing, was cut off
    /// or did not finish, unticked criteria, unresolved threads.
    fn accept_warning(&self, task: usize) -> Option<String> {
        let t = self.state.task(task)?;
        let unticked = t.criteria_met.iter().filter(|m| !**m).count();
        let open = t.unresolved().count();
        let mut why = Vec::new();
        if let Some(it) = t.iterations.last()
            && !it.flags().is_empty()
        {
            why.push(format!("a draft marked {}", it.flags().join(", ")));
        }
        if unticked > 0 {
            why.push(plural(unticked, "criterion unticked", "criteria unticked"));
        }
        if open > 0 {
            why.push(plural(open, "thread open", "threads open"));
        }
        (!why.is_empty()).then(|| why.join(" and "))
    }
}
