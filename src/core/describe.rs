//! One-line descriptions of journal events, shared by every view of a session: the replay
//! timeline, the TUI's activity log and the headless narration (`exec`, the demo) all say the same thing the same way.
//!
//! Invariants: pure functions of the event (no state, no I/O); counts come from the event's
//! own fields, never parsed back out of text meant for the model.

use crate::core::journal::{JournalEvent, PlanSource, Purpose, TimeKind};
use crate::core::threads::ThreadRef;
use crate::infra::tools::LineChange;

/// A tool call as a short line: "edit src/app.rs +12 −3", "read notes.md", "✗ write a: reason".
pub fn tool_call(
    name: &str,
    args: &serde_json::Value,
    ok: bool,
    result: &str,
    lines: Option<LineChange>,
) -> String {
    let path = args.get("path").and_then(|p| p.as_str()).unwrap_or("");
    let line = match name {
        "read_file" => format!("read {path}"),
        "list_files" => format!("list {}", if path.is_empty() { "." } else { path }),
        "search" => format!(
            "search {}",
            args.get("pattern").and_then(|p| p.as_str()).unwrap_or("")
        ),
        "write_file" => match lines {
            Some(l) => format!("write {path} ({} lines)", l.added),
            None => format!("write {path}"),
        },
        "edit_file" => match lines {
            Some(l) => format!("edit {path} +{} −{}", l.added, l.removed),
            None => format!("edit {path}"),
        },
        "delete_file" => format!("delete {path}"),
        "run_command" => {
            let cmd = first_line(args.get("command").and_then(|c| c.as_str()).unwrap_or(""));
            match ok {
                true => format!("$ {cmd} → {}", result.lines().next().unwrap_or("")),
                false => format!("$ {cmd}"),
            }
        }
        "move_file" => format!(
            "move {} → {}",
            args.get("from").and_then(|p| p.as_str()).unwrap_or(""),
            args.get("to").and_then(|p| p.as_str()).unwrap_or("")
        ),
        "finish" => "finish".into(),
        other => format!("{other} {path}"),
    };
    let line = line.trim_end().to_string();
    if ok {
        line
    } else {
        let why = result.trim_start_matches("error: ");
        format!("✗ {line}: {}", why.lines().next().unwrap_or(""))
    }
}

/// " · 2 open thread(s) carried over · 1 outdated" (empty without threads).
fn carried_over(anchors: &[crate::core::journal::ThreadAnchor]) -> String {
    if anchors.is_empty() {
        return String::new();
    }
    let outdated = anchors.iter().filter(|a| a.anchor.outdated).count();
    format!(
        " · {} open thread(s) carried over{}",
        anchors.len(),
        if outdated > 0 {
            format!(" · {outdated} outdated")
        } else {
            String::new()
        }
    )
}

/// The task and iteration an event is about, if any.
// Long: one arm per journal event.
pub fn context(ev: &JournalEvent) -> Option<(usize, Option<u32>)> {
    use JournalEvent::*;
    match ev {
        ModelCall {
            task, iteration, ..
        }
        | KnowledgeUsed {
            task, iteration, ..
        } => task.map(|t| (t, *iteration)),
        // Task 0: the end-of-session pass, about no one task.
        LessonsProposed { task, .. } | LessonsDecided { task, .. } => {
            (*task != crate::core::state::SESSION_LESSONS).then_some((*task, None))
        }
        ToolCall {
            task, iteration, ..
        }
        | DraftStarted {
            task, iteration, ..
        }
        | FileTouched {
            task, iteration, ..
        }
        | DraftAborted {
            task, iteration, ..
        }
        | IterationReady {
            task, iteration, ..
        }
        | CommentAdded {
            task, iteration, ..
        }
        | CommentEdited {
            task, iteration, ..
        }
        | CommentDeleted {
            task, iteration, ..
        }
        | NoteSet {
            task, iteration, ..
        }
        | CriterionTicked {
            task, iteration, ..
        }
        | HumanTime {
            task, iteration, ..
        }
        | Decision {
            task, iteration, ..
        }
        | HandEdited {
            task, iteration, ..
        }
        | Committed {
            task, iteration, ..
        }
        | Restored {
            task, iteration, ..
        }
        | FileWritten {
            task, iteration, ..
        }
        | UserBytesSaved {
            task, iteration, ..
        }
        | ConflictResolved {
            task, iteration, ..
        }
        | AcceptedEmpty {
            task, iteration, ..
        }
        | AcceptFailed {
            task, iteration, ..
        }
        | ThreadReply {
            task, iteration, ..
        }
        | ThreadResolved {
            task, iteration, ..
        }
        | ThreadAnswered {
            task, iteration, ..
        }
        | ThreadsAnchored {
            task, iteration, ..
        }
        | CommandStarted {
            task, iteration, ..
        }
        | ChecksRun {
            task, iteration, ..
        }
        | CriteriaJudged {
            task, iteration, ..
        }
        | CommandAnswered {
            task, iteration, ..
        }
        | CommandRan {
            task, iteration, ..
        } => Some((*task, Some(*iteration))),
        SessionStarted { .. }
        | PlanSet { .. }
        | PlanApproved
        | SessionFinished
        | TextProtocol { .. }
        | SessionAbandoned { .. } => None,
    }
}

/// What a planner or drafter was given of the project's knowledge, in one line.
pub fn knowledge_line(
    purpose: Purpose,
    sources: &[crate::core::journal::KnowledgeRef],
    unlisted: usize,
    client: Option<&str>,
) -> String {
    use crate::core::journal::KnowledgeGiven;
    let who = purpose.word();
    let short = |h: &str| h.get(..7).unwrap_or(h).to_string();
    let mut parts: Vec<String> = sources
        .iter()
        .map(|s| {
            format!(
                "{} {}{}",
                s.name,
                short(&s.hash),
                match s.given {
                    KnowledgeGiven::Whole => "",
                    KnowledgeGiven::Cut => " (cut)",
                    KnowledgeGiven::Indexed => " (indexed)",
                }
            )
        })
        .collect();
    if unlisted > 0 {
        parts.push(format!("{unlisted} more not indexed"));
    }
    format!(
        "  {who} knew{}: {}",
        client.map(|c| format!(" (client {c})")).unwrap_or_default(),
        parts.join(", ")
    )
}

/// One line for an event, as the replay timeline, the live activity log and `exec` show it.
/// One arm per journal event; long by design.
pub fn event(ev: &JournalEvent) -> String {
    use JournalEvent::*;
    let secs = |ms: &u64| format!("{}s", (ms + 500) / 1000);
    match ev {
        SessionStarted { model, branch, .. } => format!(
            "session started · model {model}{}",
            branch
                .as_deref()
                .map(|b| format!(" · branch {b}"))
                .unwrap_or_default()
        ),
        PlanSet { tasks, source } => format!(
            "plan {} · {} task(s)",
            match source {
                PlanSource::Planner => "proposed by the planner",
                PlanSource::File => "from a file",
                PlanSource::Edited => "edited",
            },
            tasks.len()
        ),
        PlanApproved => "plan approved".into(),
        KnowledgeUsed {
            purpose,
            sources,
            unlisted,
            client,
            lessons,
            ..
        } => {
            let mut line = knowledge_line(*purpose, sources, *unlisted, client.as_deref());
            if !lessons.is_empty() {
                line.push_str(&format!(
                    "; {} lesson(s): {}",
                    lessons.len(),
                    lessons.join(" · ")
                ));
            }
            line
        }
        LessonsProposed {
            task,
            lessons,
            problem,
        } => match problem {
            Some(p) if lessons.is_empty() && *task == crate::core::state::SESSION_LESSONS => {
                format!("  no lessons drawn from the whole session: {p}")
            }
            Some(p) if lessons.is_empty() => format!("  no lessons drawn from task {task}: {p}"),
            _ => format!(
                "  lessons proposed from {}: {}",
                if *task == crate::core::state::SESSION_LESSONS {
                    "the whole session's reviews".to_string()
                } else {
                    format!("task {task}'s review")
                },
                lessons
                    .iter()
                    .enumerate()
                    .map(|(i, l)| if l.from.is_empty() {
                        format!("{}. {}", i + 1, l.text)
                    } else {
                        format!("{}. {} [{}]", i + 1, l.text, l.from.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        },
        LessonsDecided {
            choices, stored, ..
        } => {
            let kept: Vec<String> = choices
                .iter()
                .filter(|c| c.keep)
                .map(|c| format!("\"{}\"", c.text))
                .collect();
            let dropped = choices.len() - kept.len();
            format!(
                "  lessons: {} approved{}{}",
                kept.len(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!(" ({}) → {}", kept.join(", "), stored.join(", "))
                },
                if dropped > 0 {
                    format!(", {dropped} discarded")
                } else {
                    String::new()
                }
            )
        }
        ModelCall {
            purpose,
            prompt_tokens,
            completion_tokens,
            duration_ms,
            tool_calls,
            ..
        } => format!(
            "{} model call · {prompt_tokens}+{completion_tokens} tokens · {} · {}",
            purpose.word(),
            secs(duration_ms),
            if tool_calls.is_empty() {
                "text".to_string()
            } else {
                tool_calls.join(", ")
            }
        ),
        ToolCall {
            name,
            args,
            ok,
            result,
            lines,
            ..
        } => format!("  {}", tool_call(name, args, *ok, result, *lines)),
        DraftStarted {
            task, iteration, ..
        } => format!("task {task} · iteration {iteration} · draft started"),
        FileTouched { path, preimage, .. } => format!(
            "  first write to {path}{}",
            if preimage.is_none() {
                " (new file)"
            } else {
                ""
            }
        ),
        DraftAborted { reason, .. } => format!("draft attempt dropped: {reason}"),
        IterationReady {
            task,
            iteration,
            files,
            agent_ms,
            incomplete,
            cut_off,
            anchors,
            ..
        } => {
            let flags = crate::core::state::draft_flags(files.is_empty(), *cut_off, *incomplete);
            format!(
                "task {task} · iteration {iteration} ready{} · {} file(s) · agent {}{}",
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                },
                files.len(),
                secs(agent_ms),
                carried_over(anchors)
            )
        }
        CommentAdded {
            iteration,
            id,
            path,
            line,
            text,
            ..
        } => format!(
            "comment {} {path}:{line}: {text}",
            ThreadRef::comment(*iteration, *id)
        ),
        CommentEdited {
            iteration,
            id,
            text,
            ..
        } => format!(
            "comment {} edited: {text}",
            ThreadRef::comment(*iteration, *id)
        ),
        CommentDeleted { iteration, id, .. } => {
            format!("comment {} deleted", ThreadRef::comment(*iteration, *id))
        }
        NoteSet { text, .. } => format!("note: {text}"),
        ThreadReply {
            thread,
            reply,
            text,
            ..
        } => format!("  agent on {thread}: {} · {text}", reply.label()),
        ThreadResolved {
            thread, resolved, ..
        } => format!(
            "{thread} {}",
            if *resolved { "resolved" } else { "re-opened" }
        ),
        ThreadAnswered { thread, text, .. } => format!("answer on {thread}: {text}"),
        ThreadsAnchored { anchors, .. } => carried_over(anchors).trim_start_matches(" · ").into(),
        CriterionTicked { criterion, met, .. } => {
            format!(
                "criterion {criterion} {}",
                if *met { "ticked" } else { "unticked" }
            )
        }
        HumanTime { kind, ms, .. } => format!(
            "{} {}",
            match kind {
                TimeKind::Review => "review",
                TimeKind::HandEdit => "hand edit",
            },
            secs(ms)
        ),
        Decision {
            task,
            iteration,
            action,
        } => format!(
            "task {task} · iteration {iteration} · {}",
            match action {
                crate::core::Decision::Accept => "accepted",
                crate::core::Decision::Revise => "revision requested",
                crate::core::Decision::Reject => "rejected",
            }
        ),
        HandEdited { path, .. } => format!("hand edit of {path}"),
        Committed { commit, .. } => format!("committed {}", &commit[..commit.len().min(10)]),
        Restored { .. } => "files restored after reject".into(),
        FileWritten { path, blob, .. } => match blob {
            Some(_) => format!("  wrote {path}"),
            None => format!("  deleted {path}"),
        },
        UserBytesSaved { paths, commit, .. } => format!(
            "your changes to {} saved in {} before tandem wrote them",
            paths.join(", "),
            &commit[..commit.len().min(10)]
        ),
        ConflictResolved { choice, .. } => format!(
            "conflict answered: {}",
            match choice {
                crate::core::journal::ConflictChoice::KeepMine => "keep mine",
                crate::core::journal::ConflictChoice::Take => "take tandem's",
                crate::core::journal::ConflictChoice::KeepBoth => "keep both",
            }
        ),
        AcceptedEmpty { .. } => "accepted with an empty change: nothing committed".into(),
        AcceptFailed { reason, .. } => format!("accept failed, back in review: {reason}"),
        SessionFinished => "session finished".into(),
        TextProtocol { reason } => format!("text protocol from here on: {reason}"),
        ChecksRun {
            round,
            results,
            sent_back,
            ..
        } => checks_line(*round, results, *sent_back),
        CriteriaJudged {
            verdicts, problem, ..
        } => verdicts_line(verdicts, problem.as_deref()),
        CommandAnswered {
            command,
            approved,
            always,
            sandboxed,
            ..
        } => format!(
            "  $ {}: {}{}",
            first_line(command),
            match (approved, always) {
                (true, true) => "allowed by the reviewer for the rest of the session",
                (true, false) => "allowed by the reviewer",
                (false, _) => "declined by the reviewer",
            },
            if *sandboxed { "" } else { " (unsandboxed)" }
        ),
        CommandStarted {
            command, sandboxed, ..
        } => format!(
            "  $ {}{}",
            first_line(command),
            if *sandboxed { "" } else { " (not sandboxed)" }
        ),
        CommandRan {
            command,
            ending,
            duration_ms,
            changed,
            reverted,
            ..
        } => {
            let mut line = format!(
                "  $ {} → {ending}, {:.1} s",
                first_line(command),
                *duration_ms as f64 / 1000.0
            );
            if !changed.is_empty() {
                line.push_str(&format!(" · changed {}", changed.join(", ")));
            }
            if !reverted.is_empty() {
                line.push_str(&format!(" · put back {}", reverted.join(", ")));
            }
            line
        }
        SessionAbandoned { left } if left.is_empty() => "session abandoned".into(),
        SessionAbandoned { left } => {
            format!("session abandoned · left as they were: {}", left.join(", "))
        }
    }
}

/// A command's first line, for one-line views (the journal has the whole of it).
fn first_line(command: &str) -> String {
    let mut lines = command.lines();
    let first = lines.next().unwrap_or("").to_string();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first
    }
}

/// The checker's verdicts in one line: "checker: ✓ 1 · ✗ 2 · ? 3" (criteria by number), or
/// why it gave none.
pub fn verdicts_line(
    verdicts: &[crate::core::journal::CriterionVerdict],
    problem: Option<&str>,
) -> String {
    if verdicts.is_empty() {
        return format!("checker: no verdicts ({})", problem.unwrap_or("none given"));
    }
    let marks: Vec<String> = verdicts
        .iter()
        .map(|v| format!("{} {}", v.verdict.mark(), v.criterion))
        .collect();
    format!("checker: {}", marks.join(" · "))
}

/// A verification round in one line: "checks: ✓ 2 · ✗ data.json line 4: … (sent back, round 1)".
pub fn checks_line(
    round: u32,
    results: &[crate::core::journal::CheckResult],
    sent_back: bool,
) -> String {
    use crate::core::journal::CheckStatus;
    let passed = results
        .iter()
        .filter(|r| r.status == CheckStatus::Passed)
        .count();
    let mut parts = vec![format!("✓ {passed}")];
    for r in results {
        match r.status {
            CheckStatus::Passed => {}
            CheckStatus::Failed => {
                parts.push(format!("✗ {}", r.detail.lines().next().unwrap_or(&r.name)))
            }
            CheckStatus::NotRun => parts.push(format!("– {} not run", first_line(&r.name))),
        }
    }
    let tail = if sent_back {
        format!(" (sent back to the drafter, round {round})")
    } else {
        String::new()
    };
    format!("checks: {}{tail}", parts.join(" · "))
}
