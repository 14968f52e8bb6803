//! The headless driver loop shared by `tandem exec` and the headless demo: it answers the
//! core's questions from a review script (or `--auto-accept`) and narrates progress; with
//! `--json` it prints every core `Event` as a line.
//!
//! Invariants: it only talks to the core through `Op`/`Event`. When the script has no decision
//! for an iteration, it stops and the session stays resumable at exactly that review. Nothing
//! it prints reaches the terminal raw: control characters are dropped and the key redacted.

use crate::core::Decision;
use crate::core::engine::{self, Engine, RunEnd};
use crate::core::journal::JournalEvent;
use crate::core::protocol::{Event, NewComment, Op, ReviewSubmission};
use crate::core::state::SessionState;
use crate::drivers::review_script::ReviewScript;
use anyhow::bail;
use std::io::Write;

/// Exit code when exec stopped at a review the script does not answer.
pub const EXIT_NEEDS_DECISION: i32 = 3;

/// Run a session to completion (or to a review nobody answers), printing as it goes.
// Long: one arm per core event the headless driver answers (plan, review, lessons, commands,
// conflicts), printing as it goes; they read side by side.
pub async fn drive(
    engine: Engine,
    events: engine::EventRx,
    script: Option<&ReviewScript>,
    auto_accept: bool,
    on_conflict: Option<crate::core::journal::ConflictChoice>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let journal = engine.journal_path().to_path_buf();
    let mut core = engine::start(engine, events);
    let mut state = SessionState::default();
    let mut code = 0;
    // Model and server text can carry terminal escapes: none reaches the terminal raw.
    let mut safe = crate::infra::model::redact::Sanitized(out);
    let mut printer = Printer {
        out: &mut safe,
        json,
        text_open: false,
        said: None,
    };
    while let Some(ev) = core.recv().await {
        printer.event(&ev, &state)?;
        match &ev {
            Event::SessionLoaded { entries, session } => {
                state = SessionState::from_entries(entries);
                if !json {
                    let verb = if entries.len() > 1 {
                        "resuming"
                    } else {
                        "session"
                    };
                    writeln!(printer.out, "{verb} {session} ({})", journal.display())?;
                }
            }
            Event::Recorded(entry) => state.apply(entry),
            Event::AwaitingPlanApproval => {
                core.submit(Op::ApprovePlan);
            }
            Event::AwaitingReview { task, iteration } => {
                let decision = script.and_then(|s| s.decision_for(*task, *iteration));
                let refused = decision.and_then(|d| quiet_accept(d, &state, *task));
                let op = match (decision, refused) {
                    (Some(_), Some(why)) => {
                        if !json {
                            writeln!(
                                printer.out,
                                "\nstopped: the review script accepts task {task}, iteration {iteration} with {why}.\n\
                                 Revise it, tick them (criteria_met), resolve them (resolve = [\"c1.1\"]), or say accept_anyway = true in that [[decision]], and run:\n  tandem exec --resume {} --review FILE",
                                state.session
                            )?;
                        }
                        code = EXIT_NEEDS_DECISION;
                        Op::Shutdown
                    }
                    (Some(d), None) => submission(d, *task, *iteration),
                    (None, _) if auto_accept && *iteration == 1 => {
                        match flagged(&state, *task, *iteration) {
                            None => Op::Decide {
                                task: *task,
                                iteration: *iteration,
                                action: Decision::Accept,
                            },
                            Some(flags) => {
                                if !json {
                                    writeln!(
                                        printer.out,
                                        "\nstopped: --auto-accept does not accept a draft marked {flags} (task {task}, iteration {iteration}).\n\
                                         Review it: tandem (the TUI) resumes it, or give a review file with a [[decision]] for it (accept_anyway = true to accept it as it is):\n  tandem exec --resume {} --review FILE",
                                        state.session
                                    )?;
                                }
                                code = EXIT_NEEDS_DECISION;
                                Op::Shutdown
                            }
                        }
                    }
                    (None, _) => {
                        if !json {
                            writeln!(
                                printer.out,
                                "\nstopped: the review script has no decision for task {task}, iteration {iteration}.\n\
                                 Add a [[decision]] for task {task} (its decision number {iteration} for that task) and run:\n  tandem exec --resume {} --review FILE",
                                state.session
                            )?;
                        }
                        code = EXIT_NEEDS_DECISION;
                        Op::Shutdown
                    }
                };
                core.submit(op);
            }
            Event::LessonsProposed { task, lessons, .. } => {
                // Kept only where the review file says so; otherwise discarded.
                let choices = script
                    .map(|s| s.lesson_choices(*task, lessons.len()))
                    .unwrap_or_default();
                core.submit(Op::DecideLessons {
                    task: *task,
                    choices,
                });
            }
            Event::CommandApproval {
                command, sandboxed, ..
            } => {
                // Asked only when the script has approve_commands (exec sets can_ask so).
                let approve = script.is_some_and(|s| s.approves(command, *sandboxed));
                core.submit(Op::AnswerCommand {
                    approve,
                    always: false,
                });
            }
            Event::Conflict {
                task,
                iteration,
                doing,
                paths,
                saved,
            } => {
                let op = match on_conflict {
                    Some(choice) => Op::ResolveConflict {
                        task: *task,
                        iteration: *iteration,
                        choice,
                        paths: paths.clone(),
                    },
                    None => {
                        if !json {
                            let listed: Vec<String> =
                                paths.iter().map(|p| format!("  {p}")).collect();
                            writeln!(
                                printer.out,
                                "stopped: to {doing} (task {task}), tandem would write over files you changed since it last wrote them:\n{}\nNothing was written; your versions are also saved in commit {saved}.\nDecide and run: tandem exec --resume {} --on-conflict keep-mine|take|keep-both",
                                listed.join("\n"),
                                state.session
                            )?;
                        }
                        code = 1;
                        Op::Shutdown
                    }
                };
                core.submit(op);
            }
            Event::Error { .. } | Event::Refused { .. } | Event::DraftPaused { .. } => {
                // Headless: nobody is there to fix it now; stop resumably and say so.
                code = 1;
                core.submit(Op::Shutdown);
            }
            Event::SessionComplete | Event::Stopped => break,
            _ => {}
        }
    }
    match core.finished().await {
        Ok(RunEnd::Complete) => {
            if !json {
                print_summary(printer.out, &state)?;
            }
            Ok(code)
        }
        Ok(RunEnd::Stopped) => Ok(if code == 0 { 1 } else { code }),
        // Planning failed: the session exists and resumes at the plan step.
        Err(e @ (engine::CoreError::Model(_) | engine::CoreError::PlanFailed { .. })) => {
            bail!("{e}\nThe session is saved; fix this and continue with: tandem exec --resume")
        }
        Err(e) => Err(e.into()),
    }
}

/// A review script's decision as the one op that records the whole review cycle.
fn submission(
    d: &crate::drivers::review_script::ScriptDecision,
    task: usize,
    iteration: u32,
) -> Op {
    Op::SubmitReview(ReviewSubmission {
        task,
        iteration,
        action: d.action,
        note: d.note.clone(),
        comments: d
            .comment
            .iter()
            .map(|c| NewComment {
                path: c.path.clone(),
                line: c.line,
                text: c.text.clone(),
            })
            .collect(),
        criteria_met: d.criteria_met.clone(),
        review_ms: d.review_seconds.unwrap_or(0) * 1000,
        resolve: d.resolve.clone(),
        answers: d
            .answer
            .iter()
            .map(|a| (a.thread, a.text.clone()))
            .collect(),
    })
}

/// Why a script's accept must not go through as written: a draft that changed nothing, was
/// cut off or did not finish, criteria it leaves unticked or threads it leaves open, unless it
/// says `accept_anyway`. None: go ahead.
fn quiet_accept(
    d: &crate::drivers::review_script::ScriptDecision,
    state: &SessionState,
    task: usize,
) -> Option<String> {
    if d.action != Decision::Accept || d.accept_anyway {
        return None;
    }
    let t = state.task(task)?;
    let flags = t.iterations.last().map(|i| i.flags()).unwrap_or_default();
    let unticked: Vec<String> = (1..=t.spec.acceptance.len())
        .filter(|k| !t.criteria_met[k - 1] && !d.criteria_met.contains(k))
        .map(|k| k.to_string())
        .collect();
    let open: Vec<String> = t
        .unresolved()
        .filter(|th| !d.resolve.contains(&th.key))
        .map(|th| th.key.to_string())
        .collect();
    let mut why = Vec::new();
    if !flags.is_empty() {
        why.push(format!("a draft marked {}", flags.join(", ")));
    }
    if !unticked.is_empty() {
        why.push(format!("criteria {} unticked", unticked.join(", ")));
    }
    if !open.is_empty() {
        why.push(format!("threads {} open", open.join(", ")));
    }
    (!why.is_empty()).then(|| why.join(" and "))
}

/// The draft's flags ("no changes", "cut off", "incomplete") joined, when it has any.
fn flagged(state: &SessionState, task: usize, iteration: u32) -> Option<String> {
    let flags = state.iteration(task, iteration)?.flags();
    (!flags.is_empty()).then(|| flags.join(", "))
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    json: bool,
    text_open: bool,
    /// The last error printed: the dropped attempt and the pause that follow it name the
    /// same failure, which is said once.
    said: Option<String>,
}

impl Printer<'_> {
    fn event(&mut self, ev: &Event, state: &SessionState) -> std::io::Result<()> {
        if self.json {
            let line = serde_json::to_string(ev).map_err(std::io::Error::other)?;
            return writeln!(self.out, "{line}");
        }
        match ev {
            Event::Recorded(entry) => self.recorded(&entry.event, state),
            Event::Retrying {
                attempt,
                max,
                delay_ms,
                reason,
            } => writeln!(
                self.out,
                "  retrying in {}s (attempt {attempt}/{max}): {reason}",
                delay_ms.div_ceil(1000)
            ),
            Event::Error { message } => {
                self.said = Some(message.clone());
                writeln!(self.out, "error: {message}")
            }
            Event::Refused { reason, .. } => writeln!(self.out, "error: {reason}"),
            Event::Notice { message } => writeln!(self.out, "note: {message}"),
            Event::DraftPaused { reason, .. } if self.said.as_ref() == Some(reason) => {
                writeln!(self.out, "draft stopped; resume with: tandem exec --resume")
            }
            Event::DraftPaused { reason, .. } => writeln!(
                self.out,
                "draft stopped: {reason}\nresume with: tandem exec --resume"
            ),
            _ => Ok(()),
        }
    }

    /// One arm per journal event exec narrates; long by design.
    fn recorded(&mut self, ev: &JournalEvent, state: &SessionState) -> std::io::Result<()> {
        let title = |n: usize| {
            state
                .task(n)
                .map(|t| t.spec.title.clone())
                .unwrap_or_default()
        };
        let _ = self.text_open;
        match ev {
            JournalEvent::PlanSet { tasks, source } => {
                writeln!(
                    self.out,
                    "plan ({}):",
                    serde_json::to_string(source)
                        .unwrap_or_default()
                        .trim_matches('"')
                )?;
                for (i, t) in tasks.iter().enumerate() {
                    writeln!(
                        self.out,
                        "  {}. {}{}",
                        i + 1,
                        t.title,
                        if t.human { " (human)" } else { "" }
                    )?;
                    for c in &t.acceptance {
                        writeln!(self.out, "       - {c}")?;
                    }
                }
                Ok(())
            }
            JournalEvent::DraftStarted {
                task, iteration, ..
            } => {
                writeln!(
                    self.out,
                    "\n▸ task {task} «{}», iteration {iteration}: drafting",
                    title(*task)
                )
            }
            JournalEvent::ToolCall {
                name,
                args,
                ok,
                result,
                lines,
                ..
            } => writeln!(
                self.out,
                "  {}",
                crate::core::describe::tool_call(name, args, *ok, result, *lines)
            ),
            JournalEvent::DraftAborted {
                task,
                iteration,
                reason,
            } if self.said.as_ref() == Some(reason) => writeln!(
                self.out,
                "  task {task}, iteration {iteration}: attempt dropped; files put back"
            ),
            JournalEvent::DraftAborted {
                task,
                iteration,
                reason,
            } => writeln!(
                self.out,
                "  task {task}, iteration {iteration}: attempt dropped ({reason}); files put back"
            ),
            JournalEvent::ChecksRun {
                round,
                results,
                sent_back,
                ..
            } => {
                writeln!(
                    self.out,
                    "  {}",
                    crate::core::describe::checks_line(*round, results, *sent_back)
                )?;
                for r in results {
                    if r.status == crate::core::journal::CheckStatus::Failed
                        && r.detail.lines().count() > 1
                    {
                        for l in r.detail.lines().skip(1).take(10) {
                            writeln!(self.out, "      {l}")?;
                        }
                    }
                }
                Ok(())
            }
            JournalEvent::CriteriaJudged {
                task,
                iteration,
                verdicts,
                problem,
            } => {
                writeln!(
                    self.out,
                    "  {}",
                    crate::core::describe::verdicts_line(verdicts, problem.as_deref())
                )?;
                // Printed before the event is applied: earlier iterations are in the state.
                let t = state.task(*task);
                let regressed = t
                    .map(|t| t.regressed_among(*iteration, verdicts))
                    .unwrap_or_default();
                for v in verdicts {
                    let criterion = t
                        .and_then(|t| t.spec.acceptance.get(v.criterion.wrapping_sub(1)))
                        .map_or("", String::as_str);
                    writeln!(
                        self.out,
                        "    {} {}. {criterion}{}{}",
                        v.verdict.mark(),
                        v.criterion,
                        if v.evidence.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", v.evidence)
                        },
                        if regressed.contains(&v.criterion) {
                            " (REGRESSED: met before)"
                        } else {
                            ""
                        }
                    )?;
                }
                if let (false, Some(p)) = (verdicts.is_empty(), problem) {
                    writeln!(self.out, "    ({p})")?;
                }
                Ok(())
            }
            JournalEvent::IterationReady {
                task,
                iteration,
                files,
                summary,
                incomplete,
                cut_off,
                excluded,
                ..
            } => {
                let (a, r) = files
                    .iter()
                    .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
                // Printed before the event is applied: the checks are in the state already.
                let mut flags =
                    crate::core::state::draft_flags(files.is_empty(), *cut_off, *incomplete);
                if state
                    .iteration(*task, *iteration)
                    .is_some_and(|i| i.failing_checks() > 0)
                {
                    flags.push("checks failing");
                }
                writeln!(
                    self.out,
                    "  ready for review{}: {} file(s), +{a} −{r}\n  summary: {summary}",
                    if flags.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", flags.join(", ").to_uppercase())
                    },
                    files.len()
                )?;
                for f in files {
                    writeln!(self.out, "    {} +{} −{}", f.path, f.added, f.removed)?;
                }
                for x in excluded {
                    writeln!(self.out, "    {} — {}", x.path, x.reason)?;
                }
                Ok(())
            }
            JournalEvent::CommentAdded {
                iteration,
                id,
                path,
                line,
                text,
                ..
            } => {
                let key = crate::core::threads::ThreadRef::comment(*iteration, *id);
                writeln!(self.out, "  comment [{key}] {path}:{line}: {text}")
            }
            JournalEvent::NoteSet {
                iteration, text, ..
            } => {
                let key = crate::core::threads::ThreadRef::note(*iteration);
                writeln!(self.out, "  note [{key}]: {text}")
            }
            JournalEvent::ThreadReply {
                thread,
                reply,
                text,
                ..
            } => writeln!(
                self.out,
                "  reply on [{thread}]: {} — {text}",
                reply.label()
            ),
            JournalEvent::ThreadResolved {
                thread, resolved, ..
            } => writeln!(
                self.out,
                "  [{thread}] {}",
                if *resolved { "resolved" } else { "re-opened" }
            ),
            JournalEvent::ThreadAnswered { thread, text, .. } => {
                writeln!(self.out, "  answer on [{thread}]: {text}")
            }
            JournalEvent::Decision { action, .. } => {
                writeln!(
                    self.out,
                    "  decision: {}",
                    match action {
                        Decision::Accept => "accept",
                        Decision::Revise => "revise",
                        Decision::Reject => "reject",
                    }
                )
            }
            JournalEvent::Committed { commit, .. } => {
                writeln!(
                    self.out,
                    "  ✓ committed {}",
                    &commit[..commit.len().min(10)]
                )
            }
            JournalEvent::Restored { .. } => writeln!(
                self.out,
                "  ✗ rejected: the task's files are back as they were"
            ),
            JournalEvent::AcceptFailed { .. } => writeln!(
                self.out,
                "  ✗ accept failed: nothing was committed; the task is back in review"
            ),
            JournalEvent::AcceptedEmpty { .. } => writeln!(
                self.out,
                "  ✓ accepted, but the reviewed change is empty: nothing was committed"
            ),
            JournalEvent::UserBytesSaved { paths, commit, .. } => writeln!(
                self.out,
                "  your changes to {} saved in commit {}",
                paths.join(", "),
                &commit[..commit.len().min(10)]
            ),
            JournalEvent::ConflictResolved { choice, .. } => writeln!(
                self.out,
                "  conflict: {}",
                match choice {
                    crate::core::journal::ConflictChoice::KeepMine => "keeping your versions",
                    crate::core::journal::ConflictChoice::Take => "taking tandem's versions",
                    crate::core::journal::ConflictChoice::KeepBoth =>
                        "taking tandem's versions, yours beside them as .mine",
                }
            ),
            JournalEvent::TextProtocol { reason } => writeln!(
                self.out,
                "  text protocol from here on (changes written as text blocks): {reason}"
            ),
            JournalEvent::CommandAnswered { .. }
            | JournalEvent::LessonsProposed { .. }
            | JournalEvent::LessonsDecided { .. }
            | JournalEvent::KnowledgeUsed { .. } => {
                writeln!(self.out, "{}", crate::core::describe::event(ev))
            }
            _ => Ok(()),
        }
    }
}

fn print_summary(out: &mut dyn Write, state: &SessionState) -> std::io::Result<()> {
    writeln!(out, "\nsession {} finished", state.session)?;
    for t in &state.tasks {
        let status: &str = t.status.into();
        writeln!(
            out,
            "  {}. {:<40} {:<9} iterations {}  review {}s  agent {}s{}",
            t.number,
            t.spec.title,
            status,
            t.iterations.len(),
            (t.review_ms() + 500) / 1000,
            (t.agent_ms() + 500) / 1000,
            t.commit
                .as_deref()
                .map(|c| format!("  {}", &c[..c.len().min(10)]))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
