//! Keys and mouse: what each input does on each screen and popup. Turns input into `Op`s and
//! `Effect`s; never touches git, the model or the terminal.
//!
//! Invariants: a key that records something (a comment, a tick, a decision) only acts while
//! the iteration waits for a decision; every other key only moves or opens a popup.

use super::*;

/// How far the help scrolls at most (it is drawn clamped to its length).
const HELP_MAX_SCROLL: usize = 200;

/// The keys each screen handles, in priority order (earlier wins where keys are shared) and
/// in the order its help lists them.
pub(super) const REVIEW_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::PageDown,
    Action::PageUp,
    Action::Top,
    Action::Bottom,
    Action::NextChange,
    Action::PrevChange,
    Action::NextHunk,
    Action::PrevHunk,
    Action::NextFile,
    Action::PrevFile,
    Action::NextThread,
    Action::PrevThread,
    Action::SwitchPane,
    Action::Confirm,
    Action::Zoom,
    Action::Output,
    Action::Wrap,
    Action::ScrollLeft,
    Action::ScrollRight,
    Action::SideBySide,
    Action::Interdiff,
    Action::DeleteComment,
    Action::Comment,
    Action::Note,
    Action::Resolve,
    Action::Tick,
    Action::Editor,
    Action::Revise,
    Action::Accept,
    Action::Reject,
];
pub(super) const DRAFTING_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::Top,
    Action::Bottom,
    Action::PageDown,
    Action::PageUp,
    Action::CancelDraft,
    Action::Confirm,
];
pub(super) const PLAN_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::Top,
    Action::Bottom,
    Action::Confirm,
    Action::AddTask,
    Action::Editor,
    Action::DeleteTask,
    Action::MoveTaskDown,
    Action::MoveTaskUp,
    Action::ToggleHuman,
    Action::Replan,
];

impl App {
    pub fn on_mouse(&mut self, kind: MouseEventKind) -> Vec<Effect> {
        let (now, wall) = self.now();
        self.clock.input(now, wall);
        let delta = match kind {
            MouseEventKind::ScrollDown => 3,
            MouseEventKind::ScrollUp => -3,
            _ => return vec![],
        };
        match &mut self.screen {
            Screen::Review(r) => {
                r.view.move_by(delta);
                self.highlight_visible()
            }
            Screen::Drafting => {
                self.activity_scroll = (self.activity_scroll as isize + delta).max(0) as usize;
                vec![]
            }
            _ => vec![],
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return vec![];
        }
        let (now, wall) = self.now();
        self.clock.input(now, wall);
        let fx = if self.popup.is_some() {
            self.popup_key(key)
        } else if matches!(self.screen, Screen::Brief(_)) {
            self.brief_key(key)
        } else {
            self.screen_key(key)
        };
        self.sync_clock();
        fx
    }

    pub(super) fn brief_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Screen::Brief(input) = &mut self.screen else {
            return vec![];
        };
        match input.key(key) {
            EditResult::Submit if !input.text.trim().is_empty() => {
                let brief = input.text.clone();
                self.screen = Screen::Plan;
                self.status = Some("planning the job…".into());
                vec![Effect::StartSession { brief }]
            }
            EditResult::Submit => {
                self.status = Some("the brief is empty".into());
                vec![]
            }
            EditResult::Cancel => {
                self.quitting = true;
                vec![Effect::Quit]
            }
            EditResult::Editing => vec![],
        }
    }

    /// Rows a key scrolls a popup by (0: it does not scroll).
    fn scroll_step(&self, key: &KeyEvent) -> isize {
        match self.keymap.lookup(
            key,
            &[Action::Down, Action::Up, Action::PageDown, Action::PageUp],
        ) {
            Some(Action::Down) => 1,
            Some(Action::Up) => -1,
            Some(Action::PageDown) => 10,
            Some(Action::PageUp) => -10,
            _ => 0,
        }
    }

    pub(super) fn popup_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(popup) = self.popup.take() else {
            return vec![];
        };
        match popup {
            Popup::Help { scroll } => {
                let step = self.scroll_step(&key);
                if step != 0 {
                    self.popup = Some(Popup::Help {
                        scroll: scroll.saturating_add_signed(step).min(HELP_MAX_SCROLL),
                    });
                } else if !(self.keymap.is(Action::Close, &key)
                    || self.keymap.is(Action::Confirm, &key)
                    || self.keymap.is(Action::Help, &key)
                    || self.keymap.is(Action::Quit, &key))
                {
                    self.popup = Some(popup);
                }
                vec![]
            }
            Popup::Output { lines, scroll } => {
                let step = self.scroll_step(&key);
                let closes = self.keymap.is(Action::Close, &key)
                    || self.keymap.is(Action::Confirm, &key)
                    || self.keymap.is(Action::Output, &key)
                    || self.keymap.is(Action::Quit, &key);
                if !closes {
                    // The draw clamps to the rows the wrapped text takes.
                    let scroll = scroll.saturating_add_signed(step);
                    self.popup = Some(Popup::Output { lines, scroll });
                }
                vec![]
            }
            Popup::Message { .. } => {
                if !(self.keymap.is(Action::Close, &key)
                    || self.keymap.is(Action::Confirm, &key)
                    || self.keymap.is(Action::Help, &key)
                    || self.keymap.is(Action::Quit, &key))
                {
                    self.popup = Some(popup);
                }
                vec![]
            }
            Popup::Command { .. } if self.scroll_step(&key) != 0 => {
                // The draw clamps to the command's rows.
                let step = self.scroll_step(&key);
                let mut popup = popup;
                if let Popup::Command { scroll, .. } = &mut popup {
                    *scroll = scroll.saturating_add_signed(step);
                }
                self.popup = Some(popup);
                vec![]
            }
            Popup::Lessons(mut l) => self.lessons_key(&mut l, key).unwrap_or_else(|| {
                self.popup = Some(Popup::Lessons(l));
                vec![]
            }),
            Popup::Command { .. } => {
                let (approve, always) = match key.code {
                    crossterm::event::KeyCode::Char('y') => (true, false),
                    crossterm::event::KeyCode::Char('a') => (true, true),
                    crossterm::event::KeyCode::Char('n') => (false, false),
                    _ if self.keymap.is(Action::Quit, &key) => {
                        // Quit without answering: nothing ran; the draft starts again on resume.
                        return self.screen_key(key);
                    }
                    _ => {
                        self.popup = Some(popup);
                        return vec![];
                    }
                };
                vec![Effect::Op(Op::AnswerCommand { approve, always })]
            }
            Popup::Conflict {
                task,
                iteration,
                ref paths,
                ..
            } => {
                use crate::core::journal::ConflictChoice;
                let choice = match key.code {
                    crossterm::event::KeyCode::Char('m') => ConflictChoice::KeepMine,
                    crossterm::event::KeyCode::Char('t') => ConflictChoice::Take,
                    crossterm::event::KeyCode::Char('b') => ConflictChoice::KeepBoth,
                    _ if self.keymap.is(Action::Quit, &key) => {
                        // Quit without answering: nothing is written; resume asks again.
                        return self.screen_key(key);
                    }
                    _ => {
                        self.popup = Some(popup);
                        return vec![];
                    }
                };
                vec![Effect::Op(Op::ResolveConflict {
                    task,
                    iteration,
                    choice,
                    paths: paths.clone(),
                })]
            }
            Popup::Confirm(what) => {
                let yes = matches!(
                    key.code,
                    crossterm::event::KeyCode::Char('y') | crossterm::event::KeyCode::Enter
                );
                if !yes {
                    return vec![];
                }
                match what {
                    Confirm::Reject { task, iteration } => {
                        self.decide(task, iteration, Decision::Reject)
                    }
                    Confirm::Accept {
                        task, iteration, ..
                    } => self.decide(task, iteration, Decision::Accept),
                    Confirm::CancelDraft => vec![Effect::Op(Op::CancelDraft)],
                    Confirm::DeleteTask(i) => {
                        let mut tasks = self.plan_tasks();
                        if i < tasks.len() {
                            tasks.remove(i);
                        }
                        self.set_plan(tasks)
                    }
                }
            }
            Popup::Input {
                field, mut input, ..
            } => match input.key(key) {
                EditResult::Editing => {
                    self.popup = Some(Popup::Input {
                        field,
                        input,
                        error: None,
                    });
                    vec![]
                }
                EditResult::Cancel => vec![],
                EditResult::Submit => self.submit_field(field, input),
            },
        }
    }

    /// A key in the lessons popup. Some: the popup is done (answered, or left to quit).
    fn lessons_key(&mut self, l: &mut super::LessonsReview, key: KeyEvent) -> Option<Vec<Effect>> {
        use crossterm::event::KeyCode;
        if let Some(input) = l.editing.as_mut() {
            match input.key(key) {
                EditResult::Editing => {}
                EditResult::Cancel => l.editing = None,
                EditResult::Submit => {
                    let text = input.text.trim().to_string();
                    if let Some(item) = l.items.get_mut(l.sel)
                        && !text.is_empty()
                    {
                        item.text = text;
                        item.keep = Some(true);
                    }
                    l.editing = None;
                }
            }
            return None;
        }
        let step = self.scroll_step(&key).signum();
        if step != 0 {
            l.sel = l
                .sel
                .saturating_add_signed(step)
                .min(l.items.len().saturating_sub(1));
            return None;
        }
        let item = l.items.get_mut(l.sel)?;
        match key.code {
            KeyCode::Char('y') => {
                item.keep = Some(true);
                l.sel = (l.sel + 1).min(l.items.len() - 1);
            }
            KeyCode::Char('n') | KeyCode::Char('d') => {
                item.keep = Some(false);
                l.sel = (l.sel + 1).min(l.items.len() - 1);
            }
            KeyCode::Char('e') => l.editing = Some(TextInput::new(&item.text, false)),
            KeyCode::Char('c') if l.client.is_some() => item.for_client = !item.for_client,
            KeyCode::Enter => {
                let choices = l
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| crate::core::journal::LessonChoice {
                        number: i + 1,
                        keep: it.keep == Some(true),
                        text: it.text.clone(),
                        scope: if it.for_client {
                            crate::core::journal::LessonScope::Client
                        } else {
                            crate::core::journal::LessonScope::Repo
                        },
                    })
                    .collect();
                return Some(vec![Effect::Op(Op::DecideLessons {
                    task: l.task,
                    choices,
                })]);
            }
            // Quit without answering: nothing is stored; resume asks again.
            _ if self.keymap.is(Action::Quit, &key) => return Some(self.screen_key(key)),
            _ => {}
        }
        None
    }

    /// The core refused an op. What the user typed for it comes back in its field with the
    /// reason, to fix and send again; anything else is shown as a problem.
    pub(super) fn refused(&mut self, op: Op, reason: String) {
        match &op {
            // The core did not take the decision: the iteration still waits for one.
            Op::Decide {
                task, iteration, ..
            } => {
                self.awaiting = Awaiting::Review {
                    task: *task,
                    iteration: *iteration,
                };
            }
            // The feedback a revision would carry was not recorded after all.
            Op::AddComment { .. } | Op::SetNote { .. } | Op::AnswerThread { .. } => {
                if let Some(r) = review_in_mut(&mut self.screen) {
                    r.feedback_sent = false;
                }
            }
            _ => {}
        }
        // Never over something the user is in the middle of (typing, answering a conflict).
        if self.popup.is_some() {
            self.status = Some(format!("not recorded: {reason}"));
            return;
        }
        let (field, text) = match op {
            Op::AddComment {
                task,
                iteration,
                comment,
            } => (
                Field::Comment {
                    task,
                    iteration,
                    path: comment.path,
                    line: comment.line,
                },
                comment.text,
            ),
            Op::EditComment {
                task,
                iteration,
                id,
                text,
            } => (
                Field::EditComment {
                    task,
                    iteration,
                    id,
                },
                text,
            ),
            Op::SetNote {
                task,
                iteration,
                text,
            } => (Field::Note { task, iteration }, text),
            Op::AnswerThread {
                task,
                iteration,
                thread,
                text,
            } => (
                Field::Answer {
                    task,
                    iteration,
                    thread,
                },
                text,
            ),
            _ => {
                self.popup = Some(Popup::Message {
                    title: "Problem".into(),
                    text: reason,
                });
                return;
            }
        };
        self.popup = Some(Popup::Input {
            field,
            input: TextInput::new(&text, false),
            error: Some(reason),
        });
    }

    pub(super) fn submit_field(&mut self, field: Field, input: TextInput) -> Vec<Effect> {
        let text = input.text.trim().to_string();
        match field {
            Field::Comment {
                task,
                iteration,
                path,
                line,
            } => {
                if text.is_empty() {
                    return vec![];
                }
                self.note_feedback();
                vec![Effect::Op(Op::AddComment {
                    task,
                    iteration,
                    comment: NewComment { path, line, text },
                })]
            }
            Field::EditComment {
                task,
                iteration,
                id,
            } => {
                if text.is_empty() {
                    return vec![Effect::Op(Op::DeleteComment {
                        task,
                        iteration,
                        id,
                    })];
                }
                vec![Effect::Op(Op::EditComment {
                    task,
                    iteration,
                    id,
                    text,
                })]
            }
            Field::Answer {
                task,
                iteration,
                thread,
            } => {
                if text.is_empty() {
                    return vec![];
                }
                self.note_feedback();
                vec![Effect::Op(Op::AnswerThread {
                    task,
                    iteration,
                    thread,
                    text,
                })]
            }
            Field::Note { task, iteration } => {
                if !text.is_empty() {
                    self.note_feedback();
                }
                vec![Effect::Op(Op::SetNote {
                    task,
                    iteration,
                    text,
                })]
            }
            Field::Replan => vec![Effect::Op(Op::Replan { note: text })],
            Field::Task { index } => {
                let toml_text = format!("[[task]]\n{}", input.text);
                match crate::core::plan::parse(&toml_text, "task") {
                    Ok(mut parsed) if parsed.len() == 1 => {
                        let task = parsed.remove(0);
                        let mut tasks = self.plan_tasks();
                        match index {
                            Some(i) if i < tasks.len() => {
                                tasks[i] = TaskSpec {
                                    human: tasks[i].human,
                                    ..task
                                }
                            }
                            _ => {
                                tasks.push(task);
                                self.plan_sel = tasks.len() - 1;
                            }
                        }
                        self.set_plan(tasks)
                    }
                    Ok(_) => vec![],
                    Err(e) => {
                        // Keep what was typed; say what is wrong.
                        // Line numbers count the `[[task]]` header added above; the user never saw it.
                        let message = e.to_string().replace("task: ", "");
                        let message = regex::Regex::new(r"line (\d+)")
                            .map(|re| {
                                re.replace(&message, |c: &regex::Captures<'_>| {
                                    let n: usize = c[1].parse().unwrap_or(1);
                                    format!("line {}", n.saturating_sub(1).max(1))
                                })
                                .to_string()
                            })
                            .unwrap_or(message);
                        self.popup = Some(Popup::Input {
                            field: Field::Task { index },
                            input,
                            error: Some(message),
                        });
                        vec![]
                    }
                }
            }
        }
    }

    pub(super) fn note_feedback(&mut self) {
        if let Some(r) = review_in_mut(&mut self.screen) {
            r.feedback_sent = true;
        }
    }

    pub(super) fn plan_tasks(&self) -> Vec<TaskSpec> {
        self.state.tasks.iter().map(|t| t.spec.clone()).collect()
    }

    pub(super) fn set_plan(&mut self, tasks: Vec<TaskSpec>) -> Vec<Effect> {
        if tasks.is_empty() {
            self.status = Some("a plan needs at least one task".into());
            return vec![];
        }
        vec![Effect::Op(Op::SetPlan { tasks })]
    }

    pub(super) fn decide(&mut self, task: usize, iteration: u32, action: Decision) -> Vec<Effect> {
        let mut fx = self.flush_time();
        fx.push(Effect::Op(Op::Decide {
            task,
            iteration,
            action,
        }));
        self.awaiting = Awaiting::Nothing;
        fx
    }

    pub(super) fn screen_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.keymap.is(Action::Help, &key) {
            self.popup = Some(Popup::Help { scroll: 0 });
            return vec![];
        }
        if self.keymap.is(Action::Quit, &key) {
            let mut fx = self.flush_time();
            self.quitting = true;
            if self.stopped {
                fx.push(Effect::Quit);
            } else {
                fx.push(Effect::Op(Op::Shutdown));
            }
            return fx;
        }
        if self.keymap.is(Action::Plan, &key) && !matches!(self.screen, Screen::Plan) {
            self.plan_overlay = !self.plan_overlay;
            return vec![];
        }
        if self.plan_overlay || matches!(self.screen, Screen::Plan) {
            if self.plan_overlay && self.keymap.is(Action::Close, &key) {
                self.plan_overlay = false;
                return vec![];
            }
            return self.plan_key(key);
        }
        match self.screen {
            Screen::Drafting => self.drafting_key(key),
            Screen::Review(_) => self.review_key(key),
            _ => vec![],
        }
    }

    pub(super) fn plan_editable(&self) -> bool {
        !self.state.plan_approved && matches!(self.awaiting, Awaiting::PlanApproval)
    }

    pub(super) fn plan_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let n = self.state.tasks.len();
        let Some(action) = self.keymap.lookup(&key, PLAN_KEYS) else {
            return vec![];
        };
        match action {
            Down => self.plan_sel = (self.plan_sel + 1).min(n.saturating_sub(1)),
            Up => self.plan_sel = self.plan_sel.saturating_sub(1),
            Top => self.plan_sel = 0,
            Bottom => self.plan_sel = n.saturating_sub(1),
            _ if !self.plan_editable() => {
                self.status = Some("the plan is approved; it can be viewed, not changed".into());
            }
            Confirm => return vec![Effect::Op(Op::ApprovePlan)],
            AddTask => {
                self.popup = Some(Popup::Input {
                    field: Field::Task { index: None },
                    input: TextInput::new(
                        "title = \"\"\ninstructions = \"\"\nacceptance = [\"\"]\n",
                        true,
                    ),
                    error: None,
                });
            }
            Editor => {
                if let Some(t) = self.state.tasks.get(self.plan_sel) {
                    let text = crate::core::plan::to_toml(std::slice::from_ref(&t.spec))
                        .trim_start_matches("[[task]]\n")
                        .to_string();
                    self.popup = Some(Popup::Input {
                        field: Field::Task {
                            index: Some(self.plan_sel),
                        },
                        input: TextInput::new(&text, true),
                        error: None,
                    });
                }
            }
            DeleteTask if n > 0 => {
                self.popup = Some(Popup::Confirm(self::Confirm::DeleteTask(self.plan_sel)))
            }
            MoveTaskDown | MoveTaskUp => {
                let mut tasks = self.plan_tasks();
                let i = self.plan_sel;
                let j = if action == MoveTaskDown {
                    i + 1
                } else {
                    i.wrapping_sub(1)
                };
                if j < tasks.len() {
                    tasks.swap(i, j);
                    self.plan_sel = j;
                    return self.set_plan(tasks);
                }
            }
            ToggleHuman => {
                let mut tasks = self.plan_tasks();
                if let Some(t) = tasks.get_mut(self.plan_sel) {
                    t.human = !t.human;
                    return self.set_plan(tasks);
                }
            }
            Replan => {
                self.popup = Some(Popup::Input {
                    field: Field::Replan,
                    input: TextInput::new("", false),
                    error: None,
                });
            }
            _ => {}
        }
        vec![]
    }

    pub(super) fn drafting_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let n = self.state.tasks.len();
        match self.keymap.lookup(&key, DRAFTING_KEYS) {
            Some(Down) => self.task_sel = (self.task_sel + 1).min(n.saturating_sub(1)),
            Some(Up) => self.task_sel = self.task_sel.saturating_sub(1),
            Some(Top) => self.task_sel = 0,
            Some(Bottom) => self.task_sel = n.saturating_sub(1),
            Some(PageDown) => self.activity_scroll += 10,
            Some(PageUp) => self.activity_scroll = self.activity_scroll.saturating_sub(10),
            Some(CancelDraft) if self.draft_started.is_some() => {
                self.popup = Some(Popup::Confirm(self::Confirm::CancelDraft));
            }
            Some(Confirm) if matches!(self.awaiting, Awaiting::Paused { .. }) => {
                self.awaiting = Awaiting::Nothing;
                return vec![Effect::Op(Op::ResumeDraft)];
            }
            _ => {}
        }
        vec![]
    }

    /// Keys on the review screen: moving around (always), then feedback and the decision
    /// (only while this iteration waits for one).
    pub(super) fn review_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let Some(r) = review_in(&self.screen) else {
            return vec![];
        };
        let (task, iteration) = (r.task, r.iteration);
        let decidable = matches!(self.awaiting, Awaiting::Review { task: t, iteration: i } if t == task && i == iteration);
        let Some(action) = self.keymap.lookup(&key, REVIEW_KEYS) else {
            return vec![];
        };
        if let Some(fx) = self.review_move(action) {
            return fx;
        }
        if !decidable {
            self.status = Some("this iteration is decided already".into());
            return vec![];
        }
        match action {
            Revise | Accept | Reject => self.review_decide(action, task, iteration),
            _ => self.review_feedback(action, task, iteration),
        }
    }

    /// Moving in the review: scrolling, panes, files, interdiff and side by side. None: the
    /// key is not a move in the focused pane.
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
                if !r.view.side_by_side && width < 120 {
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
            why.push(format!("the draft is marked {}", it.flags().join(", ")));
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

/// "1 task", "2 tasks".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn step(sel: usize, action: Action, n: usize) -> usize {
    match action {
        Action::Down => (sel + 1).min(n.saturating_sub(1)),
        Action::Up => sel.saturating_sub(1),
        Action::Top => 0,
        _ => n.saturating_sub(1),
    }
}
