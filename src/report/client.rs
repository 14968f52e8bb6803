//! The client report: what a freelancer sends the client. Built from the same `SessionReport`s
//! as the detailed log (`--for me`), it keeps what a client reads — the project, the period, the
//! brief, each task with its criteria and where they stand, what was delivered in which files,
//! the checks passed, and the time in h:mm — and leaves out models, tokens, agent time and
//! first-draft rates.
//!
//! Invariants:
//! - `client_report` does no I/O; the renderers (Markdown, plain-text milestone, HTML in
//!   `client_html.rs`) only lay out a `ClientReport`, so all three say the same thing.
//! - Time is the human's (review and hand edits). Per-task minutes are apportioned from the
//!   report's total, so the tasks' h:mm add up to the total shown.
//! - An accepted task with a criterion the reviewer did not tick says so beside it: a client
//!   never sees an unexplained empty box under delivered work.

use super::*;

/// Who the work is for and by: from flags, `.tandem/config.toml`'s `[client]` and the user
/// config's `[me]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub client: Option<String>,
    pub project: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Where `[me]` is read from, for errors that name the setting.
    pub config_file: String,
}

impl Identity {
    /// First and last name: the explicit ones, else the full name split at its first space.
    pub fn first_last(&self) -> (Option<String>, Option<String>) {
        let split = self.name.as_deref().map(str::trim).and_then(|n| {
            n.split_once(char::is_whitespace)
                .map(|(f, l)| (f.to_string(), l.trim().to_string()))
        });
        let first = self
            .first_name
            .clone()
            .or_else(|| split.as_ref().map(|s| s.0.clone()))
            .or_else(|| self.name.clone());
        let last = self.last_name.clone().or_else(|| split.map(|s| s.1));
        (nonempty(first), nonempty(last))
    }
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientReport {
    /// The project's name, or "Work report".
    pub title: String,
    pub client: Option<String>,
    pub author: Option<String>,
    /// "10 March 2026" or "10 March 2026 – 12 March 2026".
    pub period: String,
    pub tasks: usize,
    pub delivered: usize,
    /// "2 of 3 tasks delivered · 1 not delivered · 0:05 of work".
    pub summary: String,
    /// Human time over the report, h:mm.
    pub time: String,
    pub sessions: Vec<ClientSession>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientSession {
    /// "Work of 10 March 2026" when the report has several sessions.
    pub heading: Option<String>,
    /// The brief as the client wrote it (Markdown).
    pub brief: Option<String>,
    pub tasks: Vec<ClientTask>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientTask {
    pub number: usize,
    pub title: String,
    /// Delivered, Not delivered, In progress, Done by hand, Accepted with no changes.
    pub status: &'static str,
    /// accepted, rejected, open or human (a CSS class in the HTML).
    pub outcome: Outcome,
    /// What was delivered, in the drafter's words: the first draft, then each revision.
    pub delivered: Vec<String>,
    pub criteria: Vec<ClientCriterion>,
    pub files: Vec<String>,
    /// Short commit id of the delivered work.
    pub commit: Option<String>,
    pub checks: Vec<ClientCheck>,
    /// Human time on the task, h:mm.
    pub time: String,
    pub minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientCriterion {
    pub text: String,
    pub met: bool,
    /// Why an empty box stands under delivered work.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientCheck {
    /// "check" or "deliverable".
    pub kind: &'static str,
    /// The command, or the deliverable's path.
    pub name: String,
    pub passed: bool,
    pub status: &'static str,
}

/// "h:mm" from minutes.
pub(super) fn hours_minutes(minutes: u64) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

fn long_date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// The period a report covers: the date range asked for, else the sessions' first and last
/// days.
fn period<Tz: TimeZone>(reports: &[SessionReport], range: DateRange, tz: &Tz) -> String {
    let first = reports
        .iter()
        .filter_map(|r| r.started)
        .min()
        .map(|t| local_date(t, tz));
    let last = reports
        .iter()
        .filter_map(|r| r.last_activity.or(r.started))
        .max()
        .map(|t| local_date(t, tz));
    let from = range.since.or(first);
    let to = range.until.or(last);
    match (from, to) {
        (Some(a), Some(b)) if a == b => long_date(a),
        (Some(a), Some(b)) => format!("{} – {}", long_date(a), long_date(b)),
        (Some(a), None) => format!("from {}", long_date(a)),
        (None, Some(b)) => format!("until {}", long_date(b)),
        (None, None) => "no dates recorded".into(),
    }
}

fn client_status(t: &TaskReport, abandoned: bool) -> &'static str {
    match t.status {
        // The work stopped for good: an open task will not be done, not "in progress".
        Outcome::Open if abandoned => "Not done (work stopped)",
        Outcome::Accepted if t.commit.is_none() => "Accepted with no changes",
        Outcome::Accepted => "Delivered",
        Outcome::Rejected => "Not delivered",
        Outcome::Human => "Done by hand",
        Outcome::Open => "In progress",
    }
}

fn delivered_words(t: &TaskReport) -> Vec<String> {
    if t.status != Outcome::Accepted {
        return Vec::new();
    }
    t.summaries
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let text = one_line(&s.summary);
            if i == 0 {
                text
            } else {
                format!("Revised after review: {text}")
            }
        })
        .collect()
}

/// The client report over `reports` (oldest first), in `tz`.
// Long: the minutes are apportioned once over every task, then the sessions, tasks and
// summary are built from them in the order the report reads.
pub fn client_report<Tz: TimeZone>(
    reports: &[SessionReport],
    who: &Identity,
    range: DateRange,
    tz: &Tz,
) -> ClientReport {
    // Minutes per task, apportioned per activity from the report's totals (each rounded once,
    // as a timesheet in minutes rounds them), so the tasks add up to the total and the total
    // is the timesheet's.
    let tasks: Vec<&TaskReport> = reports.iter().flat_map(|r| &r.tasks).collect();
    let per_activity = |seconds: Vec<u64>| {
        let total = Unit::MINUTE.of_seconds(seconds.iter().sum());
        apportion(total, &seconds)
    };
    let review = per_activity(tasks.iter().map(|t| t.review_seconds).collect());
    let hand = per_activity(tasks.iter().map(|t| t.hand_edit_seconds).collect());
    let task_minutes: Vec<u64> = review.iter().zip(&hand).map(|(r, h)| r + h).collect();
    let total_minutes: u64 = task_minutes.iter().sum();
    let mut minutes = task_minutes.into_iter();
    let several = reports.len() > 1;
    let sessions: Vec<ClientSession> = reports
        .iter()
        .map(|r| ClientSession {
            heading: several.then(|| match r.started {
                Some(t) => format!("Work of {}", long_date(local_date(t, tz))),
                None => "Work".to_string(),
            }),
            brief: r.brief.clone().filter(|b| !b.trim().is_empty()),
            tasks: r
                .tasks
                .iter()
                .map(|t| {
                    let status = client_status(t, r.abandoned);
                    let task_minutes = minutes.next().unwrap_or(0);
                    let accepted = t.status == Outcome::Accepted;
                    ClientTask {
                        number: t.number,
                        title: one_line(&t.title),
                        status,
                        outcome: t.status,
                        delivered: delivered_words(t),
                        criteria: t
                            .criteria
                            .iter()
                            .map(|c| ClientCriterion {
                                text: one_line(&c.text),
                                met: c.met,
                                note: (accepted && !c.met).then(|| {
                                    "not confirmed in review: the work was accepted without it"
                                        .to_string()
                                }),
                            })
                            .collect(),
                        // Accepted with no changes committed nothing: no files to name.
                        files: if (accepted && t.commit.is_some()) || t.status == Outcome::Open {
                            t.files.clone()
                        } else {
                            Vec::new()
                        },
                        commit: t.commit.as_deref().map(|c| short(c).to_string()),
                        checks: if accepted {
                            t.checks.iter().map(client_check).collect()
                        } else {
                            Vec::new()
                        },
                        time: hours_minutes(task_minutes),
                        minutes: task_minutes,
                    }
                })
                .collect(),
        })
        .collect();
    let all: Vec<&ClientTask> = sessions.iter().flat_map(|s| &s.tasks).collect();
    let count = |o: Outcome| all.iter().filter(|t| t.outcome == o).count();
    // Delivered is what was committed: a task accepted with no changes delivered nothing.
    let unchanged = all
        .iter()
        .filter(|t| t.outcome == Outcome::Accepted && t.commit.is_none())
        .count();
    let stopped = all
        .iter()
        .filter(|t| t.status == "Not done (work stopped)")
        .count();
    let (delivered, rejected, open, by_hand) = (
        count(Outcome::Accepted) - unchanged,
        count(Outcome::Rejected),
        count(Outcome::Open) - stopped,
        count(Outcome::Human),
    );
    let mut summary = vec![format!(
        "{delivered} of {} task{} delivered",
        all.len(),
        if all.len() == 1 { "" } else { "s" }
    )];
    if rejected > 0 {
        summary.push(format!("{rejected} not delivered"));
    }
    if open > 0 {
        summary.push(format!("{open} in progress"));
    }
    if stopped > 0 {
        summary.push(format!("{stopped} not done (work stopped)"));
    }
    if by_hand > 0 {
        summary.push(format!("{by_hand} done by hand"));
    }
    if unchanged > 0 {
        summary.push(format!("{unchanged} accepted with no changes"));
    }
    summary.push(format!("{} of work", hours_minutes(total_minutes)));
    ClientReport {
        title: who
            .project
            .clone()
            .unwrap_or_else(|| "Work report".to_string()),
        client: who.client.clone(),
        author: who.name.clone().or_else(|| match who.first_last() {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        }),
        period: period(reports, range, tz),
        tasks: all.len(),
        delivered,
        summary: summary.join(" · "),
        time: hours_minutes(total_minutes),
        sessions,
    }
}

fn client_check(c: &crate::core::journal::CheckResult) -> ClientCheck {
    use crate::core::journal::CheckStatus;
    let (passed, status) = match c.status {
        CheckStatus::Passed => (true, "passed"),
        CheckStatus::Failed => (false, "failed"),
        CheckStatus::NotRun => (false, "not run"),
    };
    ClientCheck {
        kind: c.kind.word(),
        name: one_line(&c.name),
        passed,
        status,
    }
}

/// The "for" line: "for Acme GmbH · prepared by Ada Lovelace · 10 March 2026".
fn byline(r: &ClientReport) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &r.client {
        parts.push(format!("for {}", one_line(c)));
    }
    if let Some(a) = &r.author {
        parts.push(format!("prepared by {}", one_line(a)));
    }
    parts.push(r.period.clone());
    parts.join(" · ")
}

/// The client report as Markdown: every piece of user text escaped; the brief quoted as the
/// client wrote it.
// Long: the client report's Markdown from top to bottom, in reading order.
pub fn client_markdown(r: &ClientReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md_inline(&one_line(&r.title)));
    let _ = writeln!(out, "{}\n", md_inline(&byline(r)));
    let _ = writeln!(out, "**{}**\n", md_inline(&r.summary));
    for s in &r.sessions {
        let h = if let Some(head) = &s.heading {
            let _ = writeln!(out, "## {}\n", md_inline(head));
            "###"
        } else {
            "##"
        };
        if let Some(b) = &s.brief {
            let _ = writeln!(out, "{h} Brief\n");
            for line in md_block(b.trim_end()).lines() {
                if line.is_empty() {
                    out.push_str(">\n");
                } else {
                    let _ = writeln!(out, "> {line}");
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{h} Tasks\n");
        for t in &s.tasks {
            let _ = writeln!(
                out,
                "{h}# {}. {} — {}\n",
                t.number,
                md_inline(&t.title),
                t.status
            );
            if !t.delivered.is_empty() {
                for d in &t.delivered {
                    let _ = writeln!(out, "{}\n", md_inline(d));
                }
            }
            if !t.criteria.is_empty() {
                out.push_str("Acceptance criteria:\n\n");
                for c in &t.criteria {
                    let _ = writeln!(
                        out,
                        "- [{}] {}{}",
                        if c.met { "x" } else { " " },
                        md_inline(&c.text),
                        c.note
                            .as_deref()
                            .map(|n| format!(" _({n})_"))
                            .unwrap_or_default()
                    );
                }
                out.push('\n');
            }
            if !t.files.is_empty() {
                let label = if t.outcome == Outcome::Accepted {
                    "Files delivered"
                } else {
                    "Files changed so far"
                };
                let commit = t
                    .commit
                    .as_deref()
                    .map(|c| format!(" (commit `{c}`)"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{label}{commit}:\n");
                for f in &t.files {
                    let _ = writeln!(out, "- {}", md_code(f));
                }
                out.push('\n');
            }
            if !t.checks.is_empty() {
                out.push_str("Checks:\n\n");
                for c in &t.checks {
                    let _ = writeln!(
                        out,
                        "- {} {} {}: {}",
                        if c.passed { "✓" } else { "✗" },
                        c.kind,
                        md_code(&c.name),
                        c.status
                    );
                }
                out.push('\n');
            }
            if t.minutes > 0 {
                let _ = writeln!(out, "Time: {}\n", t.time);
            }
        }
    }
    let _ = writeln!(out, "---\n\nTotal time: {}", r.time);
    out
}

/// A path as a Markdown code span, fenced with more backticks than it contains.
fn md_code(s: &str) -> String {
    let s = one_line(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Plain text to paste into a marketplace milestone or an email: what was delivered, against
/// which criteria. `task` keeps one task (by number, in every session given).
pub fn milestone_text(r: &ClientReport, task: Option<usize>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", one_line(&r.title));
    let _ = writeln!(out, "{}", byline(r));
    out.push('\n');
    let mut time = 0u64;
    let mut shown = 0usize;
    for s in &r.sessions {
        for t in s
            .tasks
            .iter()
            .filter(|t| task.is_none_or(|n| n == t.number))
        {
            shown += 1;
            time += t.minutes;
            let _ = writeln!(out, "{}. {} — {}", t.number, t.title, t.status);
            for d in &t.delivered {
                let _ = writeln!(out, "   {d}");
            }
            if !t.criteria.is_empty() {
                out.push_str("   Acceptance criteria:\n");
                for c in &t.criteria {
                    let _ = writeln!(
                        out,
                        "   [{}] {}{}",
                        if c.met { "x" } else { " " },
                        c.text,
                        c.note
                            .as_deref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    );
                }
            }
            if !t.files.is_empty() {
                let _ = writeln!(
                    out,
                    "   Files: {}{}",
                    t.files
                        .iter()
                        .map(|f| one_line(f))
                        .collect::<Vec<_>>()
                        .join(", "),
                    t.commit
                        .as_deref()
                        .map(|c| format!(" (commit {c})"))
                        .unwrap_or_default()
                );
            }
            let passed = t.checks.iter().filter(|c| c.passed).count();
            if !t.checks.is_empty() {
                let _ = writeln!(out, "   Checks: {passed} of {} passed", t.checks.len());
            }
            out.push('\n');
        }
    }
    if shown == 0 {
        out.push_str("No tasks.\n");
    } else if task.is_some() {
        let _ = writeln!(out, "Time: {}", hours_minutes(time));
    } else {
        let _ = writeln!(out, "{}", r.summary);
    }
    out
}
