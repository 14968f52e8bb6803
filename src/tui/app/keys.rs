//! Keys and mouse: what each input does on each screen and popup (the popups' keys are in
//! `popup_keys`, the review screen's in `review_keys`). Turns input into `Op`s and `Effect`s;
//! never touches git, the model or the terminal.
//!
//! Invariants: a key that records something (a comment, a tick, a decision) only acts while
//! the iteration waits for a decision; every other key only moves or opens a popup.

use super::*;

pub(super) use crate::tui::keymap::{DRAFTING_KEYS, PLAN_KEYS, REVIEW_KEYS, SUMMARY_KEYS};

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
            // Rows up from the newest activity: scrolling down comes back towards it.
            Screen::Drafting(d) => {
                d.activity_scroll = (d.activity_scroll as isize - delta).max(0) as usize;
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
        self.next_popup();
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
                self.screen = Screen::Plan(PlanView::default());
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
        if self.keymap.is(Action::Plan, &key) && !matches!(self.screen, Screen::Plan(_)) {
            self.plan_overlay = match self.plan_overlay {
                Some(_) => None,
                // Opened on the task being drafted or reviewed.
                None => Some(PlanView {
                    sel: self.current_task_index(),
                    retry: None,
                }),
            };
            return vec![];
        }
        if self.plan_view().is_some() {
            if self.plan_overlay.is_some() && self.keymap.is(Action::Close, &key) {
                self.plan_overlay = None;
                return vec![];
            }
            return self.plan_key(key);
        }
        match self.screen {
            Screen::Summary(ref mut v) => {
                if let Some(a) = self.keymap.lookup(&key, SUMMARY_KEYS) {
                    v.sel = step(v.sel, a, self.state.tasks.len());
                }
                vec![]
            }
            Screen::Drafting(_) => self.drafting_key(key),
            Screen::Review(_) => self.review_key(key),
            _ => vec![],
        }
    }

    pub(super) fn plan_editable(&self) -> bool {
        !self.state.plan_approved && matches!(self.awaiting, Awaiting::PlanApproval)
    }

    // Long: one arm per plan key, each a line or a popup.
    pub(super) fn plan_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        use Action::*;
        let n = self.state.tasks.len();
        let Some(action) = self.keymap.lookup(&key, PLAN_KEYS) else {
            return vec![];
        };
        let Some(sel) = self.plan_view().map(|p| p.sel) else {
            return vec![];
        };
        match action {
            Down | Up | Top | Bottom => {
                if let Some(p) = self.plan_view_mut() {
                    p.sel = step(sel, action, n);
                }
            }
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
                if let Some(t) = self.state.tasks.get(sel) {
                    let text = crate::core::plan::to_toml(std::slice::from_ref(&t.spec))
                        .trim_start_matches("[[task]]\n")
                        .to_string();
                    self.popup = Some(Popup::Input {
                        field: Field::Task { index: Some(sel) },
                        input: TextInput::new(&text, true),
                        error: None,
                    });
                }
            }
            DeleteTask if n > 0 => {
                self.popup = Some(Popup::Confirm(self::Confirm::DeleteTask(sel)))
            }
            MoveTaskDown | MoveTaskUp => {
                let mut tasks = self.plan_tasks();
                let j = if action == MoveTaskDown {
                    sel + 1
                } else {
                    sel.wrapping_sub(1)
                };
                if j < tasks.len() {
                    tasks.swap(sel, j);
                    if let Some(p) = self.plan_view_mut() {
                        p.sel = j;
                    }
                    return self.set_plan(tasks);
                }
            }
            ToggleHuman => {
                let mut tasks = self.plan_tasks();
                if let Some(t) = tasks.get_mut(sel) {
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
        let action = self.keymap.lookup(&key, DRAFTING_KEYS);
        let Screen::Drafting(d) = &mut self.screen else {
            return vec![];
        };
        match action {
            Some(a @ (Down | Up | Top | Bottom)) => d.task_sel = step(d.task_sel, a, n),
            Some(PageUp) => d.activity_scroll += 10,
            Some(PageDown) => d.activity_scroll = d.activity_scroll.saturating_sub(10),
            Some(CancelDraft) if d.started.is_some() => {
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
