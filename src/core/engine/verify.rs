//! Verified drafts: when the drafter calls finish, the task's deliverables are validated and its
//! checks run (the plan's and the configs'); failures go back to the drafter with the exact
//! problem, for a bounded number of fix rounds, before the draft reaches review — and it reaches
//! review marked with whatever still fails.
//!
//! Invariants: every round is journaled (`checks_run`), so review, replay and reports show what
//! was caught; checks run through the same policy, sandbox and change capture as `run_command`
//! (what a check writes is put back on reject too); a check the policy does not let run is
//! reported as not run, never as passed, and never sends the draft back.

use super::*;
use crate::core::journal::{CheckKind, CheckResult, CheckStatus};

/// What finish should do after verification.
pub(super) enum Verdict {
    /// Go to review (with whatever the last round found).
    Review,
    /// Back to the drafter: this text is the finish call's result.
    FixFirst(String),
}

impl Engine {
    /// The task's checks: the plan's, then the configs' not already named.
    pub(super) fn task_checks(&self, task: usize) -> Vec<String> {
        let mut checks = self
            .rec
            .state
            .task(task)
            .map(|t| t.spec.checks.clone())
            .unwrap_or_default();
        for c in &self.settings.checks {
            if !checks.contains(c) {
                checks.push(c.clone());
            }
        }
        checks
    }

    // Long: runs the checks and the deliverables and folds both into one verdict, in the order
    // the reviewer reads them.
    pub(super) async fn verify(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
    ) -> Result<Verdict, CoreError> {
        let Some(t) = self.rec.state.task(task) else {
            return Ok(Verdict::Review);
        };
        let deliverables = t.spec.deliverables.clone();
        let checks = self.task_checks(task);
        let Some(t) = self.rec.state.task(task) else {
            return Ok(Verdict::Review);
        };
        if deliverables.is_empty() && checks.is_empty() {
            return Ok(Verdict::Review);
        }
        let done_rounds = t
            .iterations
            .iter()
            .find(|i| i.number == iteration)
            .map_or(0, |i| i.fix_rounds);
        let round = done_rounds + 1;
        let mut results = Vec::new();
        for c in checks {
            let (ran, text) = self.execute(task, iteration, step, &c, true).await?;
            // It ran: its `command_ran` is the iteration's last command.
            let passed = ran
                && self
                    .rec
                    .state
                    .iteration(task, iteration)
                    .and_then(|i| i.commands.last())
                    .is_some_and(|c| c.succeeded());
            results.push(CheckResult {
                kind: CheckKind::Check,
                status: match (ran, passed) {
                    (true, true) => CheckStatus::Passed,
                    (true, false) => CheckStatus::Failed,
                    (false, _) => CheckStatus::NotRun,
                },
                detail: if passed {
                    String::new()
                } else {
                    check_detail(&c, &text)
                },
                name: c,
            });
        }
        let ws = self.ws.clone();
        let found = blocking(move || {
            deliverables
                .iter()
                .map(|d| (d.clone(), crate::infra::deliverables::check(&ws, d)))
                .collect::<Vec<_>>()
        })
        .await?;
        for (name, problem) in found {
            results.push(CheckResult {
                kind: CheckKind::Deliverable,
                status: if problem.is_some() {
                    CheckStatus::Failed
                } else {
                    CheckStatus::Passed
                },
                detail: problem.unwrap_or_default(),
                name,
            });
        }
        let failed: Vec<&CheckResult> = results
            .iter()
            .filter(|r| r.status == CheckStatus::Failed)
            .collect();
        let sent_back = !failed.is_empty() && done_rounds < self.settings.fix_rounds;
        let text = sent_back.then(|| {
            let mut text = format!(
                "error: the draft is not ready for review: {} failed (fix round {round} of {}).\n",
                failed.len(),
                self.settings.fix_rounds
            );
            for r in &failed {
                match r.kind {
                    CheckKind::Deliverable => {
                        text.push_str(&format!("- deliverable: {}\n", r.detail))
                    }
                    CheckKind::Check => text.push_str(&format!("- {}\n", r.detail)),
                }
            }
            text.push_str("Fix these, then call finish again.");
            text
        });
        self.rec.record(JournalEvent::ChecksRun {
            task,
            iteration,
            round,
            results,
            sent_back,
        })?;
        Ok(match text {
            Some(t) => Verdict::FixFirst(t),
            None => Verdict::Review,
        })
    }
}

/// A failed check for the drafter and the reviewer: the command, how it ended, and the end of
/// its output (where test runners put the failures).
fn check_detail(command: &str, result: &str) -> String {
    let result = result.trim_start_matches("error: ");
    let mut lines = result.lines();
    let ending = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    let tail = rest[rest.len().saturating_sub(30)..].join("\n");
    if tail.trim().is_empty() {
        format!("check `{command}`: {ending}")
    } else {
        format!("check `{command}`: {ending}\n{tail}")
    }
}
