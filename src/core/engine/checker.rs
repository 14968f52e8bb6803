//! The checker: before a finished draft reaches the reviewer, a separate role (its own prompt,
//! `prompts/checker.md`; read-only tools) judges each acceptance criterion against the diff
//! that goes to review and the checks' results — met, not met or unclear, with one line of
//! evidence — and the verdicts are journaled (`criteria_judged`) beside the draft.
//!
//! Invariants: the checker advises and never decides — only the human ticks criteria, and a
//! verdict never blocks or accepts anything. It cannot write: it is offered only `list_files`,
//! `read_file`, `search` and `submit_verdicts`, and any other name is refused before it reaches
//! the workspace (whose write hook refuses too). A checker that fails (the model errs, runs out
//! of steps, answers nonsense) never costs the draft: the draft goes to review with the problem
//! journaled instead of verdicts. Every criterion is judged every iteration, so a revision that
//! breaks a criterion an earlier one met shows up as a regression (`TaskState::regressed`).

use super::*;
use crate::core::journal::{CheckStatus, CriterionVerdict, Judgement};

/// How the status line ends while the checker runs: drivers read it to say what cancel does.
pub const CANCEL_SKIPS_CHECK: &str = "(cancel skips the check)";

/// Model calls one judgement may take (reads, then the verdicts).
const CHECKER_STEPS: u32 = 6;

impl Engine {
    /// Judge the draft's criteria against `files` (task base → the iteration's snapshot) and
    /// journal the verdicts. Skipped when the checker is off, the task has no criteria or the
    /// draft changed nothing (that is flagged already).
    pub(super) async fn judge(
        &mut self,
        task: usize,
        iteration: u32,
        summary: &str,
        files: &[diff::FileDiff],
    ) -> Result<(), CoreError> {
        let Some(t) = self.rec.state.task(task) else {
            return Ok(());
        };
        let criteria = t.spec.acceptance.len();
        if !self.settings.checker || criteria == 0 || files.is_empty() {
            return Ok(());
        }
        self.emit(Event::Status {
            message: format!(
                "checking task {task}'s draft against its {criteria} criteria {CANCEL_SKIPS_CHECK}"
            ),
        });
        // While the flag is up, `race` turns a cancel into a skip: the draft is finished, and
        // throwing it away to stop an advisory check would cost the reviewer the whole draft.
        // Race and this future share one task, so no skip can land after the select below.
        let (checking, skip) = (
            self.answers.checking.clone(),
            self.answers.skip_check.clone(),
        );
        checking.store(true, std::sync::atomic::Ordering::Relaxed);
        let asked = tokio::select! {
            r = self.ask_checker(task, iteration, summary, files) => Some(r),
            _ = skip.notified() => None,
        };
        checking.store(false, std::sync::atomic::Ordering::Relaxed);
        let (verdicts, problem) = match asked {
            None => (
                Vec::new(),
                Some("the reviewer skipped the check (cancel while it ran)".to_string()),
            ),
            Some(Ok((verdicts, problem))) => (verdicts, problem),
            // Only a journal that cannot be written stops the session; anything else the
            // checker meets (the model, a broken prompt override, git) is its own problem,
            // told beside the draft.
            Some(Err(e @ CoreError::Journal(_))) => return Err(e),
            Some(Err(e)) => (Vec::new(), Some(format!("the checker failed: {e}"))),
        };
        let verdicts = complete(verdicts, criteria);
        let problem = problem.or_else(|| {
            verdicts
                .iter()
                .any(|v| v.evidence == NO_VERDICT)
                .then(|| "the checker did not judge every criterion".to_string())
        });
        self.rec.record(JournalEvent::CriteriaJudged {
            task,
            iteration,
            verdicts: if verdicts.iter().all(|v| v.evidence == NO_VERDICT) {
                Vec::new()
            } else {
                verdicts
            },
            problem,
        })?;
        Ok(())
    }

    fn checker_messages(
        &self,
        task: usize,
        iteration: u32,
        summary: &str,
        files: &[diff::FileDiff],
    ) -> Result<Vec<Message>, CoreError> {
        let st = &self.rec.state;
        let t = st.task(task).ok_or(CoreError::NoTask(task))?;
        let checks: Vec<String> = st
            .iteration(task, iteration)
            .map(|i| {
                i.checks
                    .iter()
                    .map(|c| match c.status {
                        CheckStatus::Passed => format!("passed: `{}`", c.name),
                        CheckStatus::Failed => format!("FAILED: {}", c.detail),
                        CheckStatus::NotRun => format!("not run: `{}`", c.name),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let system = self.prompts.render(
            "checker",
            json!({
                "number": task, "title": t.spec.title, "instructions": t.spec.instructions,
                "acceptance": t.spec.acceptance, "summary": summary, "checks": checks,
                "text_protocol": st.text_protocol.is_some(),
            }),
        )?;
        let mut unified = diff::to_unified(files);
        let budget = self.settings.text_context_chars.max(2000);
        if unified.len() > budget {
            let mut end = budget;
            while !unified.is_char_boundary(end) {
                end -= 1;
            }
            let rest = unified.len() - end;
            unified.truncate(end);
            unified.push_str(&format!(
                "\n… ({rest} more characters of the diff are cut here; read the files for the rest)\n"
            ));
        }
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        Ok(vec![
            Message::system(system),
            Message::user(format!(
                "The draft changes {}. The diff under review (task base → this draft):\n```diff\n{unified}```",
                names.join(", ")
            )),
        ])
    }

    /// The checker's conversation. Returns the verdicts it gave (possibly not all) and, when it
    /// gave none it could be held to, why.
    // Long: the checker's bounded conversation: ask, run its tool calls, collect verdicts; the
    // turns share the conversation.
    async fn ask_checker(
        &mut self,
        task: usize,
        iteration: u32,
        summary: &str,
        files: &[diff::FileDiff],
    ) -> Result<(Vec<CriterionVerdict>, Option<String>), CoreError> {
        let criteria = self
            .rec
            .state
            .task(task)
            .map_or(0, |t| t.spec.acceptance.len());
        let cap = self.settings.checker_max_tokens;
        let mut messages = self.checker_messages(task, iteration, summary, files)?;
        let mut nudged = false;
        let mut step = 0;
        while step < CHECKER_STEPS {
            // The checker's calls count in the draft's tokens, so the task's budget binds it.
            if self.over_budget(task, 0) {
                return Ok((
                    Vec::new(),
                    Some("the task's token budget (max_task_tokens) is spent".into()),
                ));
            }
            let text = self.rec.state.text_protocol.is_some();
            let tools = if text {
                Vec::new()
            } else {
                tools::checker_tool_schemas()
            };
            let started = Instant::now();
            let Some(resp) = self.ask(&messages, &tools, cap).await? else {
                // The server refused tools: the session is in the text protocol now.
                messages = self.checker_messages(task, iteration, summary, files)?;
                continue;
            };
            step += 1;
            self.record_model_call(
                Purpose::Check,
                Some(task),
                Some(iteration),
                step,
                &resp,
                started,
            )?;
            messages.push(resp.as_message());
            if resp.tool_calls.is_empty() {
                let found = verdicts_from_text(&resp.content, criteria);
                if !found.is_empty() {
                    return Ok((found, None));
                }
                if nudged {
                    return Ok((
                        Vec::new(),
                        Some("the checker answered without verdicts".into()),
                    ));
                }
                nudged = true;
                messages.push(Message::user(if text {
                    "Answer with one line per criterion: its number, met / not_met / unclear, and the evidence.".to_string()
                } else {
                    "Call submit_verdicts with a verdict for every criterion. If you cannot call tools, write one line per criterion: its number, met / not_met / unclear, and the evidence.".to_string()
                }));
                continue;
            }
            let mut given = None;
            for call in &resp.tool_calls {
                let result = match call.name.as_str() {
                    "submit_verdicts" => match verdicts_from_json(&call.arguments, criteria) {
                        Ok(v) => {
                            given = Some(v);
                            "ok".to_string()
                        }
                        Err(e) => format!("error: {e}"),
                    },
                    name if tools::CHECKER_READ_TOOLS.contains(&name) => {
                        let mut refuse =
                            |_: &tools::PendingWrite<'_>| Err("the checker only reads".to_string());
                        match self.ws.run(name, &call.arguments, &mut refuse) {
                            Outcome::Continue { text, .. } | Outcome::Wrote { text, .. } => text,
                            Outcome::Finish { .. } => "error: the checker cannot finish".into(),
                        }
                    }
                    other => format!(
                        "error: the checker only reads (list_files, read_file, search) and answers with submit_verdicts; `{other}` is not one of its tools"
                    ),
                };
                messages.push(Message::tool(&call.id, result));
            }
            if let Some(v) = given {
                return Ok((v, None));
            }
        }
        Ok((
            Vec::new(),
            Some(format!(
                "the checker gave no verdicts in {CHECKER_STEPS} model calls"
            )),
        ))
    }
}

/// The evidence of a criterion the checker left out.
const NO_VERDICT: &str = "(the checker gave no verdict)";

/// One verdict per criterion, in order: the checker's (the first it gave for each), and
/// `unclear` for any it left out.
fn complete(given: Vec<CriterionVerdict>, criteria: usize) -> Vec<CriterionVerdict> {
    (1..=criteria)
        .map(|c| {
            given
                .iter()
                .find(|v| v.criterion == c)
                .cloned()
                .unwrap_or(CriterionVerdict {
                    criterion: c,
                    verdict: Judgement::Unclear,
                    evidence: NO_VERDICT.into(),
                })
        })
        .collect()
}

/// Evidence for terminals and commit-free places: one line, no escapes, bounded.
fn one_line(s: &str) -> String {
    let s = tools::clean_text(s);
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    agent::clip(line, 300)
}

fn judgement(word: &str) -> Option<Judgement> {
    let w: String = word
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    match w.as_str() {
        "met" | "yes" | "pass" | "passed" => Some(Judgement::Met),
        "not_met" | "notmet" | "unmet" | "no" | "fail" | "failed" => Some(Judgement::NotMet),
        "unclear" | "unknown" | "unsure" => Some(Judgement::Unclear),
        _ => None,
    }
}

/// `submit_verdicts`'s arguments. Criteria out of range are an error the checker can fix.
fn verdicts_from_json(arguments: &str, criteria: usize) -> Result<Vec<CriterionVerdict>, String> {
    #[derive(serde::Deserialize)]
    struct Args {
        verdicts: Vec<Raw>,
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        criterion: usize,
        verdict: String,
        #[serde(default)]
        evidence: String,
    }
    let v = tools::parse_arguments(arguments).map_err(|e| format!("not valid JSON: {e}"))?;
    let args: Args = serde_json::from_value(v).map_err(|e| {
        format!("submit_verdicts needs {{\"verdicts\": [{{\"criterion\", \"verdict\", \"evidence\"}}]}}: {e}")
    })?;
    let mut out = Vec::new();
    for r in args.verdicts {
        if r.criterion == 0 || r.criterion > criteria {
            return Err(format!(
                "there are {criteria} criteria; there is no criterion {}",
                r.criterion
            ));
        }
        let verdict = judgement(&r.verdict).ok_or(format!(
            "`{}` is not a verdict: use met, not_met or unclear",
            r.verdict
        ))?;
        out.push(CriterionVerdict {
            criterion: r.criterion,
            verdict,
            evidence: one_line(&r.evidence),
        });
    }
    if out.is_empty() {
        return Err("no verdicts: give one for every criterion".into());
    }
    Ok(out)
}

/// Verdicts written as text, one per line: `2. not_met — examples.json:2 …` (also `2)`,
/// `2:`, `- 2.`, `**2.**`, "not met", a colon or dash before the evidence).
fn verdicts_from_text(text: &str, criteria: usize) -> Vec<CriterionVerdict> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line
            .trim()
            .trim_start_matches(['-', '*', ' '])
            .replace("**", "");
        let digits: String = line.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<usize>() else {
            continue;
        };
        if n == 0 || n > criteria || out.iter().any(|v: &CriterionVerdict| v.criterion == n) {
            continue;
        }
        let rest = line[digits.len()..].trim_start_matches(['.', ')', ':', ' ']);
        let lower = rest.to_ascii_lowercase();
        // Longest words first: "not met" must not read as "met".
        let Some((verdict, len)) = [
            ("not_met", Judgement::NotMet),
            ("not met", Judgement::NotMet),
            ("unclear", Judgement::Unclear),
            ("met", Judgement::Met),
        ]
        .into_iter()
        .find(|(w, _)| {
            lower.starts_with(w)
                && !lower[w.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric())
        })
        .map(|(w, j)| (j, w.len())) else {
            continue;
        };
        let evidence = rest[len..].trim_start_matches([' ', '—', '–', '-', ':', ',']);
        out.push(CriterionVerdict {
            criterion: n,
            verdict,
            evidence: one_line(evidence),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_verdicts_read_the_usual_shapes_and_never_take_not_met_for_met() {
        let text = "Here is my judgement:\n1. met — README.md:5 adds Usage\n**2.** Not met: examples.json:2 says \"Hello\"\n- 3) unclear - no test covers it\n4. metropolitan nonsense\n9. met — out of range\n1. not_met — a second verdict for 1 is ignored\n";
        let v = verdicts_from_text(text, 4);
        assert_eq!(
            v.iter()
                .map(|v| (v.criterion, v.verdict, v.evidence.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (1, Judgement::Met, "README.md:5 adds Usage"),
                (2, Judgement::NotMet, "examples.json:2 says \"Hello\""),
                (3, Judgement::Unclear, "no test covers it"),
            ]
        );
    }

    #[test]
    fn json_verdicts_are_checked_and_missing_ones_become_unclear() {
        let ok = verdicts_from_json(
            r#"{"verdicts":[{"criterion":2,"verdict":"not_met","evidence":"a.txt:1\nmore"}]}"#,
            2,
        )
        .unwrap();
        let all = complete(ok, 2);
        assert_eq!(all[0].verdict, Judgement::Unclear);
        assert_eq!(all[0].evidence, NO_VERDICT);
        assert_eq!(all[1].verdict, Judgement::NotMet);
        assert_eq!(all[1].evidence, "a.txt:1");
        let err = verdicts_from_json(
            r#"{"verdicts":[{"criterion":3,"verdict":"met","evidence":""}]}"#,
            2,
        )
        .unwrap_err();
        assert!(err.contains("no criterion 3"), "{err}");
        let err = verdicts_from_json(
            r#"{"verdicts":[{"criterion":1,"verdict":"great","evidence":""}]}"#,
            2,
        )
        .unwrap_err();
        assert!(err.contains("not a verdict"), "{err}");
    }
}
