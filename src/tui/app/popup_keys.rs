//! Keys in popups: help, output, messages, the command and conflict questions,
//! confirmations, lessons and text fields; and what a refused op puts back in its field.

use super::*;

/// How far the help scrolls at most (it is drawn clamped to its length).
const HELP_MAX_SCROLL: usize = 200;

impl App {
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
            Popup::Help { scroll } => self.help_key(popup, scroll, key),
            Popup::Output { lines, scroll } => self.output_key(lines, scroll, key),
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
            Popup::Command { .. } => self.command_key(popup, key),
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
            Popup::Confirm(what) => self.confirm_key(what, key),
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

    /// A key in the help: scroll it, or close it.
    fn help_key(&mut self, popup: Popup, scroll: usize, key: KeyEvent) -> Vec<Effect> {
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

    /// A key in the draft's verification output: scroll it, or close it.
    fn output_key(&mut self, lines: Vec<String>, scroll: usize, key: KeyEvent) -> Vec<Effect> {
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

    /// A key in the command question: answer it, quit, or keep it open.
    fn command_key(&mut self, popup: Popup, key: KeyEvent) -> Vec<Effect> {
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

    /// A key in a confirmation: `y` or Enter does what it asks, any other key drops it.
    fn confirm_key(&mut self, what: Confirm, key: KeyEvent) -> Vec<Effect> {
        let yes = matches!(
            key.code,
            crossterm::event::KeyCode::Char('y') | crossterm::event::KeyCode::Enter
        );
        if !yes {
            return vec![];
        }
        match what {
            Confirm::Reject { task, iteration } => self.decide(task, iteration, Decision::Reject),
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
    // Long for its two matches over the op (what a refusal undoes, which field gets the text
    // back); their arms are short and read best side by side.
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
            Field::Task { index } => self.submit_task(index, input),
        }
    }

    /// A task typed on the plan screen: into the plan, or back in its field with the error.
    fn submit_task(&mut self, index: Option<usize>, input: TextInput) -> Vec<Effect> {
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
                        let last = tasks.len() - 1;
                        if let Some(p) = self.plan_view_mut() {
                            p.sel = last;
                        }
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
