//! Wording shared by the Markdown and HTML reports.

use super::*;

pub(super) fn status_words(t: &TaskReport) -> String {
    let flags = if t.draft_flags.is_empty() {
        String::new()
    } else {
        format!(" (latest draft: {})", t.draft_flags.join(", "))
    };
    match t.status {
        Outcome::Accepted if t.commit.is_none() => {
            "accepted with no changes: nothing was committed".into()
        }
        Outcome::Accepted if t.first_draft_accepted => "accepted on first draft".into(),
        Outcome::Accepted => format!("accepted after feedback ({} drafts)", t.iterations),
        Outcome::Rejected => "rejected".into(),
        Outcome::Human => "done by hand".into(),
        Outcome::Open => format!("open{flags}"),
    }
}

/// Only accepted work was delivered; other summaries describe a draft.
pub(super) fn summary_label(t: &TaskReport) -> &'static str {
    if t.status == Outcome::Accepted {
        "Delivered"
    } else {
        "Last draft"
    }
}

/// What the summary line lists: for delivered work drafted more than once, every draft's
/// summary in order as "Iteration k: …" (the last round alone says only what changed in answer
/// to the last review, not what the client gets); otherwise the latest draft's summary alone,
/// as it always read.
pub(super) fn summary_items(t: &TaskReport) -> Vec<String> {
    if t.status == Outcome::Accepted && t.iterations > 1 {
        return t
            .summaries
            .iter()
            .map(|s| format!("Iteration {}: {}", s.iteration, s.summary))
            .collect();
    }
    t.summary.iter().cloned().collect()
}

pub(super) fn cycle_words(t: &TaskReport) -> String {
    t.review_seconds_per_cycle
        .iter()
        .map(|&s| fmt_minutes(s))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn plan_source_words(p: Option<PlanSource>) -> &'static str {
    match p {
        Some(PlanSource::Planner) => "drafted by the planner model",
        Some(PlanSource::File) => "written by hand",
        Some(PlanSource::Edited) => "planner draft, edited by hand",
        None => "not made yet",
    }
}

pub(super) fn fmt_minutes(seconds: u64) -> String {
    let c = centiminutes(seconds);
    format!("{}.{:02} min", c / 100, c % 100)
}

pub(super) fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// "; lessons 300 / 40" when lessons were drawn (they are in the totals too).
pub(super) fn lessons_tokens(t: &Totals) -> String {
    if t.lessons_prompt_tokens + t.lessons_completion_tokens == 0 {
        return String::new();
    }
    format!(
        "; lessons {} / {}",
        t.lessons_prompt_tokens, t.lessons_completion_tokens
    )
}

pub(super) fn cost_words(t: &Totals) -> Option<String> {
    t.estimated_cost.map(|c| format!("{c:.4}"))
}

/// One line per post of a thread: who said it, in which iteration ("you" is the reviewer,
/// reading their own report).
pub(super) fn post_words(p: &ThreadPost) -> String {
    let who = match (p.by.as_str(), &p.reply) {
        ("agent", Some(r)) => format!("agent, {r}"),
        ("reopened", _) => "re-opened".to_string(),
        ("resolved", _) => "resolved".to_string(),
        _ => "reviewer".to_string(),
    };
    if p.text.trim().is_empty() {
        format!("{who} (iteration {})", p.iteration)
    } else {
        format!("{who} (iteration {}): {}", p.iteration, p.text.trim())
    }
}

/// A thread's head line: its id, where, and where it stands.
pub(super) fn thread_head(th: &ThreadReport) -> String {
    match &th.place {
        Some(p) => format!("{} at {p} — {}", th.id, th.status),
        None => format!("{} (note) — {}", th.id, th.status),
    }
}

/// A check or deliverable of the latest draft, in words: "check `cmd`: FAILED (exit 1)".
pub(super) fn check_words(c: &crate::core::journal::CheckResult) -> String {
    use crate::core::journal::CheckStatus;
    let what = c.kind.word();
    let mark = match c.status {
        CheckStatus::Passed => "passed",
        CheckStatus::Failed => "FAILED",
        CheckStatus::NotRun => "not run",
    };
    let why = c.detail.lines().next().unwrap_or("");
    format!(
        "{what} `{}`: {mark}{}",
        one_line(&c.name).replace('`', "'"),
        if why.is_empty() || c.status == CheckStatus::Passed {
            String::new()
        } else {
            format!(" ({})", one_line(why))
        }
    )
}

/// The checker's verdict on a criterion, in words: "checker: not met — a.txt:3 … (regressed)".
pub(super) fn checker_words(v: &CheckerVerdict) -> String {
    format!(
        "checker: {}{}{}",
        v.verdict.words(),
        if v.evidence.is_empty() {
            String::new()
        } else {
            format!(" — {}", one_line(&v.evidence))
        },
        if v.regressed {
            " (regressed: an earlier draft met it)"
        } else {
            ""
        }
    )
}
