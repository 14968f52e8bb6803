//! Folding review threads: the part of the reducer that keeps `TaskState::threads`.
//!
//! Invariants: pure like the rest of `state`. A comment or note opens its thread in the
//! iteration it was written in; editing it edits the opening post; deleting a comment (or
//! clearing a note) before anyone answered removes the thread. Events naming a thread that does
//! not exist are ignored, as every event naming a missing task is.

use super::SessionState;
use crate::core::journal::JournalEvent;
use crate::core::threads::{Anchor, Author, Post, Thread, ThreadRef};
use std::collections::BTreeMap;

impl SessionState {
    // Long: one arm per thread event, as in `apply`.
    pub(super) fn fold_thread(&mut self, ev: &JournalEvent) {
        match ev {
            JournalEvent::CommentAdded {
                task,
                iteration,
                id,
                path,
                line,
                text,
                quote,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    let key = ThreadRef::comment(*iteration, *id);
                    t.threads.retain(|th| th.key != key);
                    t.threads.push(Thread {
                        key,
                        quote: quote.clone(),
                        posts: vec![opening(*iteration, text)],
                        resolved: false,
                        anchors: BTreeMap::from([(
                            *iteration,
                            Anchor {
                                path: path.clone(),
                                line: Some(*line),
                                outdated: false,
                            },
                        )]),
                    });
                }
            }
            JournalEvent::CommentEdited {
                task,
                iteration,
                id,
                text,
            } => self.edit_opening(*task, ThreadRef::comment(*iteration, *id), text),
            JournalEvent::CommentDeleted {
                task,
                iteration,
                id,
            } => {
                if let Some(t) = self.task_mut(*task) {
                    let key = ThreadRef::comment(*iteration, *id);
                    t.threads.retain(|th| th.key != key);
                }
            }
            JournalEvent::NoteSet {
                task,
                iteration,
                text,
            } => {
                let key = ThreadRef::note(*iteration);
                let Some(t) = self.task_mut(*task) else {
                    return;
                };
                if text.trim().is_empty() {
                    t.threads.retain(|th| th.key != key);
                } else if t.threads.iter().any(|th| th.key == key) {
                    self.edit_opening(*task, key, text);
                } else {
                    t.threads.push(Thread {
                        key,
                        quote: String::new(),
                        posts: vec![opening(*iteration, text)],
                        resolved: false,
                        anchors: BTreeMap::new(),
                    });
                }
            }
            JournalEvent::ThreadReply {
                task,
                iteration,
                thread,
                reply,
                text,
            } => self.post(
                *task,
                *thread,
                *iteration,
                Author::Agent(*reply),
                text,
                None,
            ),
            JournalEvent::ThreadResolved {
                task,
                iteration,
                thread,
                resolved,
            } => {
                let by = if *resolved {
                    Author::Resolved
                } else {
                    Author::Reopened
                };
                self.post(*task, *thread, *iteration, by, "", Some(*resolved));
            }
            JournalEvent::ThreadAnswered {
                task,
                iteration,
                thread,
                text,
            } => self.post(
                *task,
                *thread,
                *iteration,
                Author::Reviewer,
                text,
                Some(false),
            ),
            JournalEvent::ThreadsAnchored {
                task,
                iteration,
                anchors,
            }
            | JournalEvent::IterationReady {
                task,
                iteration,
                anchors,
                ..
            } => {
                if let Some(t) = self.task_mut(*task) {
                    for a in anchors {
                        if let Some(th) = t.threads.iter_mut().find(|th| th.key == a.thread) {
                            th.anchors.insert(*iteration, a.anchor.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn edit_opening(&mut self, task: usize, key: ThreadRef, text: &str) {
        if let Some(p) = self
            .task_mut(task)
            .and_then(|t| t.threads.iter_mut().find(|th| th.key == key))
            .and_then(|th| th.posts.first_mut())
        {
            p.text = text.to_string();
        }
    }

    fn post(
        &mut self,
        task: usize,
        key: ThreadRef,
        iteration: u32,
        by: Author,
        text: &str,
        resolved: Option<bool>,
    ) {
        if let Some(th) = self
            .task_mut(task)
            .and_then(|t| t.threads.iter_mut().find(|th| th.key == key))
        {
            // A re-open or a resolve with no words is a status change, not a message; keep it
            // as a post anyway, so the history shows who closed what and when.
            th.posts.push(Post {
                iteration,
                by,
                text: text.to_string(),
            });
            if let Some(r) = resolved {
                th.resolved = r;
            }
        }
    }
}

fn opening(iteration: u32, text: &str) -> Post {
    Post {
        iteration,
        by: Author::Reviewer,
        text: text.to_string(),
    }
}
