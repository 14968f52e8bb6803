//! The agent's side of review threads: what a revision request tells the drafter about each
//! open thread, and checking the per-thread answers it gives with `finish`.
//!
//! Invariants: a reply is journaled only for a thread of the task that is not resolved, under
//! the label the agent was shown. A `finish` that leaves threads unanswered (or answers with
//! an unknown label or status) is sent back once with the reason; the second `finish` is taken
//! with its valid replies, so a weak model cannot loop until the step limit. Threads left
//! unanswered then show as "no reply", never as handled.

use super::*;
use crate::core::threads::{AgentReply, Author, ThreadRef};
use crate::infra::tools::FinishReply;

impl Engine {
    /// The unresolved threads of a task as the revision prompt lists them, placed where their
    /// lines are in the files as the previous iteration left them.
    pub(super) fn prompt_threads(&self, task: usize, iteration: u32) -> Vec<serde_json::Value> {
        let Some(t) = self.rec.state.task(task) else {
            return Vec::new();
        };
        t.unresolved()
            .filter(|th| th.key.iteration < iteration)
            .map(|th| {
                let anchor = th.anchor_at(iteration - 1);
                let history: Vec<_> = th
                    .posts
                    .iter()
                    .filter(|p| !(p.text.is_empty() && p.by == Author::Resolved))
                    .map(|p| {
                        let who = match p.by {
                            Author::Reviewer => "reviewer".to_string(),
                            Author::Reopened => "reviewer (re-opened)".to_string(),
                            Author::Resolved => "reviewer (resolved)".to_string(),
                            Author::Agent(r) => format!("you ({})", r.label()),
                        };
                        json!({"by": who, "iteration": p.iteration, "text": p.text})
                    })
                    .collect();
                json!({
                    "id": th.key.to_string(),
                    "note": th.key.is_note(),
                    "path": anchor.map(|a| a.path.clone()),
                    "line": anchor.and_then(|a| a.line),
                    "outdated": anchor.is_some_and(|a| a.outdated),
                    "quote": th.quote,
                    "history": history,
                    "awaits": th.awaits_agent(),
                })
            })
            .collect()
    }

    /// Check `finish`'s replies against the task's threads. `Ok`: the events to journal.
    /// `Err`: what to tell the model (only while `strict`).
    pub(super) fn check_replies(
        &self,
        task: usize,
        iteration: u32,
        replies: &[FinishReply],
        strict: bool,
    ) -> Result<Vec<JournalEvent>, String> {
        let Some(t) = self.rec.state.task(task) else {
            return Ok(Vec::new());
        };
        let mut problems = Vec::new();
        let mut events = Vec::new();
        let mut answered = BTreeSet::new();
        for r in replies {
            let thread = match r.thread.parse::<ThreadRef>() {
                Ok(k) if t.thread(k).is_some_and(|th| !th.resolved) && k.iteration < iteration => k,
                _ => {
                    problems.push(format!("there is no open thread `{}`", r.thread));
                    continue;
                }
            };
            let reply = match r.status.trim() {
                "addressed" => AgentReply::Addressed,
                "not_done" | "not done" => AgentReply::NotDone,
                "question" => AgentReply::Question,
                other => {
                    problems.push(format!(
                        "{thread}: status `{other}` is not one of addressed, not_done, question"
                    ));
                    continue;
                }
            };
            if reply != AgentReply::Addressed && r.text.trim().is_empty() {
                problems.push(format!("{thread}: say why it is not done, or what you ask"));
                continue;
            }
            if answered.insert(thread) {
                events.push(JournalEvent::ThreadReply {
                    task,
                    iteration,
                    thread,
                    reply,
                    text: r.text.trim().to_string(),
                });
            }
        }
        let missing: Vec<String> = t
            .unresolved()
            .filter(|th| th.key.iteration < iteration && th.awaits_agent())
            .filter(|th| !answered.contains(&th.key))
            .map(|th| th.key.to_string())
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "answer every open thread in `replies`; not answered: {}",
                missing.join(", ")
            ));
        }
        if strict && !problems.is_empty() {
            return Err(format!(
                "error: finish was not taken: {}. Call finish again with the replies.",
                problems.join("; ")
            ));
        }
        Ok(events)
    }
}
