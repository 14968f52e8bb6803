//! What the screen teaches and offers: the demo's tutor line and the hint bar's keys for the
//! screen the user is on.

use super::*;

impl App {
    /// A line of teaching for the demo, tied to where the user is.
    pub fn tutor_tip(&self) -> Option<String> {
        if !self.tutor {
            return None;
        }
        let k = |a| self.keymap.label(a);
        Some(match (&self.awaiting, &self.screen) {
            (_, Screen::Summary(_)) => {
                let committed = self
                    .state
                    .tasks
                    .iter()
                    .filter(|t| t.commit.is_some())
                    .count();
                match committed {
                    0 => format!(
                        "Done: nothing was committed, since you accepted no task. {} quits.",
                        k(Action::Quit)
                    ),
                    n => format!(
                        "Done: {} committed with your review time in the trailers. {} quits; `git log` in the demo repo shows {}.",
                        if n == self.state.tasks.len() && n > 1 {
                            "every task is".to_string()
                        } else {
                            plural(n, "task is", "tasks are")
                        },
                        k(Action::Quit),
                        if n == 1 { "it" } else { "them" }
                    ),
                }
            }
            (Awaiting::PlanApproval, _) => format!(
                "The model proposed this plan. {}/{} move, {} edits a task, {} approves it and drafting starts.",
                k(Action::Down),
                k(Action::Up),
                k(Action::Editor),
                k(Action::Confirm)
            ),
            (Awaiting::Review { task: 1, iteration: 1 }, _) => format!(
                "Review the draft. Move to the greeting line ({}/{}), press {} to comment, then {} to request a revision.",
                k(Action::Down),
                k(Action::Up),
                k(Action::Comment),
                k(Action::Revise)
            ),
            (Awaiting::Review { task, iteration }, _) if *iteration > 1 => {
                let open = self.state.task(*task).map_or(0, |t| t.unresolved().count());
                if open > 0 {
                    format!(
                        "The agent answered each of your threads (under its line; {} jumps to it). {} resolves one when you agree, {} answers it. {} shows only what changed.",
                        k(Action::NextThread),
                        k(Action::Resolve),
                        k(Action::Comment),
                        k(Action::Interdiff)
                    )
                } else {
                    format!(
                        "{} to the criteria, {} ticks them, {} accepts and commits.",
                        k(Action::SwitchPane),
                        k(Action::Tick),
                        k(Action::Accept)
                    )
                }
            }
            (Awaiting::Review { .. }, _) => format!(
                "Accept with {}, or reject with {} (the files go back as they were).",
                k(Action::Accept),
                k(Action::Reject)
            ),
            (_, Screen::Drafting(_)) => "The agent is drafting: each tool call appears as a line. The clock is paused while it works.".into(),
            _ => return None,
        })
    }

    /// Keys worth showing in the hint bar right now.
    pub fn hint_actions(&self) -> Vec<Action> {
        use Action::*;
        match self.popup {
            // Answered only by its own letters (shown in it); quitting leaves it for later.
            Some(Popup::Conflict { .. } | Popup::Command { .. } | Popup::Lessons(_)) => {
                return vec![Quit];
            }
            Some(_) => return vec![Close],
            None => {}
        }
        if self.plan_overlay.is_some() {
            return vec![Down, Up, Close, Help];
        }
        match self.screen {
            Screen::Brief(_) => vec![],
            Screen::Plan(_) if self.plan_editable() => {
                vec![
                    Down,
                    Up,
                    Confirm,
                    Editor,
                    AddTask,
                    DeleteTask,
                    MoveTaskDown,
                    ToggleHuman,
                    Replan,
                    Help,
                    Quit,
                ]
            }
            Screen::Plan(_) => vec![Down, Up, Help, Quit],
            Screen::Drafting(ref d) => match self.awaiting {
                Awaiting::Paused { .. } => vec![Confirm, Plan, Help, Quit],
                _ if d.started.is_some() => vec![Down, Up, CancelDraft, Plan, Help, Quit],
                _ => vec![Down, Up, Plan, Help, Quit],
            },
            Screen::Review(ref r) => {
                let threads = self
                    .state
                    .task(r.task)
                    .is_some_and(|t| t.unresolved().any(|th| th.key.iteration < r.iteration));
                let mut keys = vec![NextChange, Comment, Note];
                if threads {
                    keys.extend([NextThread, Resolve]);
                }
                if r.focus == Pane::Criteria {
                    keys.push(Tick);
                }
                // `i` is offered where there is something to read in full.
                if self
                    .state
                    .task(r.task)
                    .is_some_and(|t| !verification_text(t, r.iteration).is_empty())
                {
                    keys.push(Output);
                }
                keys.extend([SwitchPane, Revise, Accept, Reject, Editor, Help, Quit]);
                keys
            }
            Screen::Summary(_) => vec![Down, Up, Plan, Help, Quit],
        }
    }

    /// The keys the current screen handles, for the help's first section.
    pub fn screen_actions(&self) -> Vec<Action> {
        use Action::*;
        let mut keys: Vec<Action> = match self.screen {
            _ if self.plan_overlay.is_some() => vec![Down, Up, Close],
            Screen::Review(_) => keys::REVIEW_KEYS.to_vec(),
            Screen::Drafting(_) => keys::DRAFTING_KEYS.to_vec(),
            Screen::Plan(_) => keys::PLAN_KEYS.to_vec(),
            Screen::Summary(_) => keys::SUMMARY_KEYS.to_vec(),
            Screen::Brief(_) => vec![],
        };
        keys.extend([Plan, Help, Quit]);
        keys
    }
}
