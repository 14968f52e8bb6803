//! Session reports and timesheets: `tandem report`.
//!
//! A report is computed from a session's journal alone: `build` folds a `SessionState` (and the
//! entries it came from) into a `SessionReport`, and the renderers turn reports into Markdown or
//! HTML for a client, JSON for other tools, or a CSV timesheet for an invoicing tool.
//!
//! Invariants:
//! - `build` and the renderers do no I/O and give the same output for the same input (the public
//!   renderers show times in the machine's local zone; the `*_in` variants take the zone), so a
//!   report made in a clone of the repository equals one made where the work happened.
//! - Seconds are rounded exactly as the commit trailers round them (`(ms + 500) / 1000` per task),
//!   so `review_seconds` of a task is its `Tandem-Review-Seconds`.
//! - Timesheet minutes have two decimals, and rounding each row on its own would let the total
//!   drift from what the commits record. Rows are therefore apportioned by largest remainder from
//!   the sheet's total down to tasks and then to spans, so the review minutes of a whole sheet,
//!   times 60 and rounded, equal the sum of the tasks' trailer seconds.
//! - `SessionReport` is the JSON schema. `schema_version` changes when a field is renamed,
//!   removed or changes meaning; adding a field does not change it.
//! - Every piece of user text (brief, titles, criteria, summaries) is escaped for the format it is
//!   written into; nothing a model or a client wrote can add markup or a CSV column.

use crate::config::Price;
use crate::journal::{Entry, JournalEvent, PlanSource, TimeKind};
use crate::review_script::Action;
use crate::state::{SessionState, TaskState, TaskStatus};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Version of the JSON shape; see the module invariants for when it changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Git(#[from] crate::gitops::GitError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Core(#[from] crate::engine::CoreError),
    #[error("no tandem sessions in {0}{1}")]
    NoSessions(String, String),
    #[error("there is no session {0} in this repository (`tandem sessions` lists them)")]
    UnknownSession(String),
    #[error("session {session} started on {date}, outside {range}")]
    OutOfRange {
        session: String,
        date: String,
        range: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A task's outcome as a client understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Committed.
    Accepted,
    /// Rejected and its files put back.
    Rejected,
    /// Planned as the human's own work; the agent never drafted it.
    Human,
    /// Not decided yet (or decided and the commit/restore is still pending).
    Open,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    pub text: String,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    pub number: usize,
    pub title: String,
    pub instructions: String,
    pub status: Outcome,
    /// Drafts made for the task.
    pub iterations: usize,
    /// Accepted and committed from its first draft, with no revision.
    pub first_draft_accepted: bool,
    pub criteria: Vec<Criterion>,
    /// Review comments left on the task's drafts (after edits and deletions).
    pub comments: usize,
    /// Human review time on the task, as in the `Tandem-Review-Seconds` trailer.
    pub review_seconds: u64,
    /// One entry per review cycle (an iteration that got a decision), in order. Apportioned so
    /// they add up to the rounded total of the decided iterations' review time.
    pub review_seconds_per_cycle: Vec<u64>,
    pub hand_edit_seconds: u64,
    /// Time the agent spent drafting, as in the `Tandem-Agent-Seconds` trailer.
    pub agent_seconds: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The drafter's summary of its latest draft.
    pub summary: Option<String>,
    /// The full commit id when accepted.
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub tasks: usize,
    pub accepted: usize,
    pub accepted_first_draft: usize,
    pub accepted_after_feedback: usize,
    pub rejected: usize,
    pub human: usize,
    pub open: usize,
    pub review_cycles: usize,
    /// Sum of the tasks' `review_seconds`.
    pub review_seconds: u64,
    /// `review_seconds / 60`, two decimals (what the timesheet adds up to).
    pub review_minutes: f64,
    /// Review time of decided iterations per cycle, two decimals; null without cycles.
    pub mean_review_minutes_per_cycle: Option<f64>,
    pub hand_edit_seconds: u64,
    pub hand_edit_minutes: f64,
    pub agent_seconds: u64,
    pub agent_minutes: f64,
    /// All model calls: planner and drafts.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The planner's share of the above.
    pub planner_prompt_tokens: u64,
    pub planner_completion_tokens: u64,
    /// From the config's `[prices.<model>]`, six decimals; null when the model has no price.
    pub estimated_cost: Option<f64>,
    /// Exact review ms of decided iterations, kept to combine means across sessions.
    #[serde(skip)]
    cycle_review_ms: u64,
}

/// One session's report; serialized as is, this is the `--format json` schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    pub schema_version: u32,
    pub session: String,
    /// The tandem version that started the session.
    pub tandem_version: Option<String>,
    pub model: String,
    pub branch: Option<String>,
    /// HEAD when the session began.
    pub head_at_start: Option<String>,
    pub brief: Option<String>,
    pub plan_source: Option<PlanSource>,
    pub started: Option<DateTime<Utc>>,
    pub last_activity: Option<DateTime<Utc>>,
    pub finished: bool,
    /// Where the session stands, as `tandem sessions` says it.
    pub progress: String,
    pub tasks: Vec<TaskReport>,
    pub totals: Totals,
}

/// `--all --format json`: every selected session, and totals over them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllReport {
    pub schema_version: u32,
    pub sessions: Vec<SessionReport>,
    pub totals: Totals,
}

/// Round milliseconds to seconds the way the commit trailers do.
fn secs(ms: u64) -> u64 {
    (ms + 500) / 1000
}

/// Whole seconds to hundredths of a minute, rounded half up: `round(s * 100 / 60)`.
fn centiminutes(seconds: u64) -> u64 {
    (seconds * 10 + 3) / 6
}

fn minutes(seconds: u64) -> f64 {
    centiminutes(seconds) as f64 / 100.0
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Split `total` into integer parts proportional to `weights` (largest remainder, ties to the
/// earlier part), so the parts always add up to `total` when any weight is non-zero.
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = 0u64;
    for (i, &w) in weights.iter().enumerate() {
        let p = u128::from(total) * u128::from(w);
        let q = (p / sum) as u64;
        parts.push(q);
        given += q;
        remainders.push((p % sum, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((total - given) as usize) {
        parts[i] += 1;
    }
    parts
}

fn outcome(t: &TaskState) -> Outcome {
    match t.status {
        TaskStatus::Accepted => Outcome::Accepted,
        TaskStatus::Rejected => Outcome::Rejected,
        TaskStatus::Human => Outcome::Human,
        _ => Outcome::Open,
    }
}

fn task_report(t: &TaskState) -> TaskReport {
    let status = outcome(t);
    let cycles: Vec<u64> = t
        .iterations
        .iter()
        .filter(|i| i.decision.is_some())
        .map(|i| i.review_ms)
        .collect();
    let cycle_total = secs(cycles.iter().sum());
    TaskReport {
        number: t.number,
        title: t.spec.title.clone(),
        instructions: t.spec.instructions.clone(),
        status,
        iterations: t.iterations.len(),
        first_draft_accepted: status == Outcome::Accepted
            && t.iterations.len() == 1
            && t.iterations[0].decision == Some(Action::Accept),
        criteria: t
            .spec
            .acceptance
            .iter()
            .enumerate()
            .map(|(i, text)| Criterion {
                text: text.clone(),
                met: t.criteria_met.get(i).copied().unwrap_or(false),
            })
            .collect(),
        comments: t.iterations.iter().map(|i| i.comments.len()).sum(),
        review_seconds: secs(t.review_ms()),
        review_seconds_per_cycle: apportion(cycle_total, &cycles),
        hand_edit_seconds: secs(t.iterations.iter().map(|i| i.hand_edit_ms).sum()),
        agent_seconds: secs(t.agent_ms()),
        prompt_tokens: t.iterations.iter().map(|i| i.prompt_tokens).sum(),
        completion_tokens: t.iterations.iter().map(|i| i.completion_tokens).sum(),
        summary: t
            .iterations
            .iter()
            .rev()
            .find(|i| i.ready.is_some())
            .map(|i| i.summary.clone())
            .filter(|s| !s.trim().is_empty()),
        commit: t.commit.clone(),
    }
}

impl Totals {
    /// Derived figures (minutes, mean) from the summed ones.
    fn finish(mut self) -> Self {
        self.accepted_after_feedback = self.accepted - self.accepted_first_draft;
        self.review_minutes = minutes(self.review_seconds);
        self.hand_edit_minutes = minutes(self.hand_edit_seconds);
        self.agent_minutes = minutes(self.agent_seconds);
        self.mean_review_minutes_per_cycle = (self.review_cycles > 0).then(|| {
            round_to(
                self.cycle_review_ms as f64 / self.review_cycles as f64 / 60_000.0,
                2,
            )
        });
        self
    }

    /// Totals over several sessions. A cost is given only when every session has one: a sum
    /// that silently leaves some sessions out would read as the whole bill.
    pub fn combine<'a>(all: impl IntoIterator<Item = &'a Totals>) -> Totals {
        let mut t = Totals {
            estimated_cost: Some(0.0),
            ..Totals::default()
        };
        for s in all {
            t.tasks += s.tasks;
            t.accepted += s.accepted;
            t.accepted_first_draft += s.accepted_first_draft;
            t.rejected += s.rejected;
            t.human += s.human;
            t.open += s.open;
            t.review_cycles += s.review_cycles;
            t.review_seconds += s.review_seconds;
            t.hand_edit_seconds += s.hand_edit_seconds;
            t.agent_seconds += s.agent_seconds;
            t.prompt_tokens += s.prompt_tokens;
            t.completion_tokens += s.completion_tokens;
            t.planner_prompt_tokens += s.planner_prompt_tokens;
            t.planner_completion_tokens += s.planner_completion_tokens;
            t.cycle_review_ms += s.cycle_review_ms;
            t.estimated_cost = match (t.estimated_cost, s.estimated_cost) {
                (Some(a), Some(b)) => Some(round_to(a + b, 6)),
                _ => None,
            };
        }
        t.finish()
    }
}

/// The report of one session. `entries` are the journal entries `state` was folded from;
/// `prices` maps model names to prices (the config's `[prices]`).
pub fn build(
    state: &SessionState,
    entries: &[Entry],
    prices: &BTreeMap<String, Price>,
) -> SessionReport {
    let tasks: Vec<TaskReport> = state.tasks.iter().map(task_report).collect();
    let mut totals = Totals {
        tasks: tasks.len(),
        planner_prompt_tokens: state.planner_prompt_tokens,
        planner_completion_tokens: state.planner_completion_tokens,
        prompt_tokens: state.planner_prompt_tokens,
        completion_tokens: state.planner_completion_tokens,
        ..Totals::default()
    };
    for (t, state_task) in tasks.iter().zip(&state.tasks) {
        match t.status {
            Outcome::Accepted => totals.accepted += 1,
            Outcome::Rejected => totals.rejected += 1,
            Outcome::Human => totals.human += 1,
            Outcome::Open => totals.open += 1,
        }
        if t.first_draft_accepted {
            totals.accepted_first_draft += 1;
        }
        totals.review_cycles += t.review_seconds_per_cycle.len();
        totals.cycle_review_ms += state_task
            .iterations
            .iter()
            .filter(|i| i.decision.is_some())
            .map(|i| i.review_ms)
            .sum::<u64>();
        totals.review_seconds += t.review_seconds;
        totals.hand_edit_seconds += t.hand_edit_seconds;
        totals.agent_seconds += t.agent_seconds;
        totals.prompt_tokens += t.prompt_tokens;
        totals.completion_tokens += t.completion_tokens;
    }
    totals.estimated_cost = prices.get(&state.model).map(|p| {
        round_to(
            (totals.prompt_tokens as f64 * p.input_per_mtok
                + totals.completion_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0,
            6,
        )
    });
    let tandem_version = entries.iter().find_map(|e| match &e.event {
        JournalEvent::SessionStarted { tandem_version, .. } => Some(tandem_version.clone()),
        _ => None,
    });
    SessionReport {
        schema_version: SCHEMA_VERSION,
        session: state.session.clone(),
        tandem_version,
        model: state.model.clone(),
        branch: state.branch.clone(),
        head_at_start: state.head.clone(),
        brief: state.brief.clone(),
        plan_source: state.plan_source,
        started: state.started,
        last_activity: state.last_event,
        finished: state.finished,
        progress: state.describe(),
        tasks,
        totals: totals.finish(),
    }
}

/// Several sessions' reports with totals over them.
pub fn combine(sessions: Vec<SessionReport>) -> AllReport {
    let totals = Totals::combine(sessions.iter().map(|s| &s.totals));
    AllReport {
        schema_version: SCHEMA_VERSION,
        sessions,
        totals,
    }
}

pub fn to_json(report: &SessionReport) -> Result<String, ReportError> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}

pub fn all_to_json(report: &AllReport) -> Result<String, ReportError> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Inclusive range of local dates; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl DateRange {
    pub fn is_set(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        self.since.is_none_or(|s| d >= s) && self.until.is_none_or(|u| d <= u)
    }
}

impl Display for DateRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.since, self.until) {
            (Some(s), Some(u)) => write!(f, "--since {s} --until {u}"),
            (Some(s), None) => write!(f, "--since {s}"),
            (None, Some(u)) => write!(f, "--until {u}"),
            (None, None) => write!(f, "any date"),
        }
    }
}

/// `--since`/`--until` values: a calendar date, exactly `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31"))
}

fn local_date<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    t.with_timezone(tz).date_naive()
}

fn local_stamp<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    t.with_timezone(tz).format("%Y-%m-%d %H:%M").to_string()
}

// ---------------------------------------------------------------------------------------------
// CSV timesheet

/// One session's input to a timesheet: its state and the entries it was folded from.
pub type Sheet<'a> = (&'a SessionState, &'a [Entry]);

/// A timesheet in local time: one row per review or hand-edit span, `range` filtering rows by
/// their local start date. See `to_csv_in`.
pub fn to_csv(sheets: &[Sheet<'_>], range: DateRange) -> String {
    to_csv_in(sheets, range, &chrono::Local)
}

struct Span {
    start: DateTime<Utc>,
    ms: u64,
    task: String,
    kind: TimeKind,
    /// Index into the apportioning groups.
    group: usize,
    centiminutes: u64,
}

/// The timesheet with times shown in `tz`. Columns `date,start,end,minutes,task,activity`, CRLF
/// line ends and the task quoted, per RFC 4180. Spans the reducer ignores (naming a task or
/// iteration that does not exist) are left out, as are empty ones.
///
/// Minutes are apportioned before the date filter, over all sheets together and per activity:
/// the sheet total is `round(sum of per-task rounded seconds / 60)` in hundredths, split over
/// tasks by their seconds, then over a task's spans by their milliseconds. So an unfiltered
/// sheet's review minutes × 60, rounded, equal the summed `Tandem-Review-Seconds` of its tasks.
pub fn to_csv_in<Tz: TimeZone>(sheets: &[Sheet<'_>], range: DateRange, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let mut spans: Vec<Span> = Vec::new();
    // (sheet, task, is review) → group index; TimeKind is not Hash.
    let mut groups: HashMap<(usize, usize, bool), usize> = HashMap::new();
    let mut group_ms: Vec<u64> = Vec::new();
    let mut group_kind: Vec<TimeKind> = Vec::new();
    for (si, (state, entries)) in sheets.iter().enumerate() {
        for e in entries.iter() {
            let JournalEvent::HumanTime {
                task,
                iteration,
                kind,
                ms,
                started,
            } = &e.event
            else {
                continue;
            };
            if *ms == 0 || state.iteration(*task, *iteration).is_none() {
                continue;
            }
            let Some(t) = state.task(*task) else { continue };
            let group = *groups
                .entry((si, *task, *kind == TimeKind::Review))
                .or_insert_with(|| {
                    group_ms.push(0);
                    group_kind.push(*kind);
                    group_ms.len() - 1
                });
            group_ms[group] += ms;
            spans.push(Span {
                start: *started,
                ms: *ms,
                task: format!("{} {}", t.number, one_line(&t.spec.title)),
                kind: *kind,
                group,
                centiminutes: 0,
            });
        }
    }
    for kind in [TimeKind::Review, TimeKind::HandEdit] {
        let ids: Vec<usize> = (0..group_ms.len())
            .filter(|&g| group_kind[g] == kind)
            .collect();
        let seconds: Vec<u64> = ids.iter().map(|&g| secs(group_ms[g])).collect();
        let total = centiminutes(seconds.iter().sum());
        for (&g, share) in ids.iter().zip(apportion(total, &seconds)) {
            let members: Vec<usize> = (0..spans.len()).filter(|&i| spans[i].group == g).collect();
            let weights: Vec<u64> = members.iter().map(|&i| spans[i].ms).collect();
            for (&i, c) in members.iter().zip(apportion(share, &weights)) {
                spans[i].centiminutes = c;
            }
        }
    }
    // Chronological; the stable sort keeps journal order for spans that start together.
    spans.sort_by_key(|s| s.start);
    let mut out = String::from("date,start,end,minutes,task,activity\r\n");
    for s in spans {
        let start = s.start.with_timezone(tz);
        if !range.contains(start.date_naive()) {
            continue;
        }
        let end = (s.start + chrono::Duration::milliseconds(s.ms as i64)).with_timezone(tz);
        let _ = write!(
            out,
            "{},{},{},{}.{:02},{},{}\r\n",
            start.format("%Y-%m-%d"),
            start.format("%H:%M:%S"),
            end.format("%H:%M:%S"),
            s.centiminutes / 100,
            s.centiminutes % 100,
            csv_quote(&s.task),
            match s.kind {
                TimeKind::Review => "review",
                TimeKind::HandEdit => "hand edit",
            }
        );
    }
    out
}

/// Line breaks and tabs become spaces: an invoicing tool shows a task as one line.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn csv_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

// ---------------------------------------------------------------------------------------------
// Human-readable wording shared by Markdown and HTML

fn status_words(t: &TaskReport) -> String {
    match t.status {
        Outcome::Accepted if t.first_draft_accepted => "accepted on first draft".into(),
        Outcome::Accepted => format!("accepted after feedback ({} drafts)", t.iterations),
        Outcome::Rejected => "rejected".into(),
        Outcome::Human => "done by hand".into(),
        Outcome::Open => "open".into(),
    }
}

/// Only accepted work was delivered; other summaries describe a draft.
fn summary_label(t: &TaskReport) -> &'static str {
    if t.status == Outcome::Accepted {
        "Delivered"
    } else {
        "Last draft"
    }
}

fn cycle_words(t: &TaskReport) -> String {
    t.review_seconds_per_cycle
        .iter()
        .map(|&s| fmt_minutes(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plan_source_words(p: Option<PlanSource>) -> &'static str {
    match p {
        Some(PlanSource::Planner) => "drafted by the planner model",
        Some(PlanSource::File) => "written by hand",
        Some(PlanSource::Edited) => "planner draft, edited by hand",
        None => "not made yet",
    }
}

fn fmt_minutes(seconds: u64) -> String {
    let c = centiminutes(seconds);
    format!("{}.{:02} min", c / 100, c % 100)
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

fn cost_words(t: &Totals) -> Option<String> {
    t.estimated_cost.map(|c| format!("{c:.4}"))
}

// ---------------------------------------------------------------------------------------------
// Markdown

/// A Markdown report for a client; several sessions get an overview first.
pub fn to_markdown(reports: &[SessionReport]) -> String {
    to_markdown_in(reports, &chrono::Local)
}

pub fn to_markdown_in<Tz: TimeZone>(reports: &[SessionReport], tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let mut out = String::new();
    match reports {
        [] => out.push_str("# Work report\n\nNo sessions to report.\n"),
        [one] => md_session(&mut out, one, tz, "#"),
        many => {
            out.push_str("# Work report\n\n");
            let _ = writeln!(out, "{} sessions.\n", many.len());
            out.push_str("## Overview\n\n");
            out.push_str(
                "| Session | Started | Tasks | Accepted | Review |\n|---|---|---|---|---|\n",
            );
            for r in many {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    md_cell(&r.session),
                    r.started.map(|t| local_stamp(t, tz)).unwrap_or_default(),
                    r.totals.tasks,
                    r.totals.accepted,
                    fmt_minutes(r.totals.review_seconds)
                );
            }
            out.push('\n');
            md_totals(
                &mut out,
                &Totals::combine(many.iter().map(|r| &r.totals)),
                "###",
            );
            for r in many {
                out.push('\n');
                md_session(&mut out, r, tz, "##");
            }
        }
    }
    out
}

/// "started … · model … · branch … · progress", each value escaped for the target format.
fn meta_line<Tz: TimeZone, E: Fn(&str) -> String>(r: &SessionReport, tz: &Tz, escape: E) -> String
where
    Tz::Offset: Display,
{
    let mut meta = Vec::new();
    if let Some(t) = r.started {
        meta.push(format!("started {}", local_stamp(t, tz)));
    }
    if !r.model.is_empty() {
        meta.push(format!("model {}", escape(&r.model)));
    }
    if let Some(b) = &r.branch {
        meta.push(format!("branch {}", escape(b)));
    }
    meta.push(escape(&r.progress));
    meta.join(" · ")
}

fn md_session<Tz: TimeZone>(out: &mut String, r: &SessionReport, tz: &Tz, h: &str)
where
    Tz::Offset: Display,
{
    let _ = writeln!(out, "{h} Work report: session {}\n", md_inline(&r.session));
    let _ = writeln!(out, "{}\n", meta_line(r, tz, md_inline));

    let _ = writeln!(out, "{h}# Brief\n");
    match r.brief.as_deref().filter(|b| !b.trim().is_empty()) {
        Some(b) => {
            for line in md_block(b).lines() {
                if line.is_empty() {
                    out.push_str(">\n");
                } else {
                    let _ = writeln!(out, "> {line}");
                }
            }
            out.push('\n');
        }
        None => out.push_str("No brief: the work was given as a plan.\n\n"),
    }

    let _ = writeln!(out, "{h}# Plan\n");
    let _ = writeln!(
        out,
        "{} tasks, {}.\n",
        r.tasks.len(),
        plan_source_words(r.plan_source)
    );
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "{h}## {}. {}\n",
            t.number,
            md_inline(&one_line(&t.title))
        );
        let _ = writeln!(out, "Status: **{}**\n", status_words(t));
        for line in md_block(&t.instructions).lines() {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("\nAcceptance criteria:\n\n");
        for c in &t.criteria {
            let _ = writeln!(
                out,
                "- [{}] {}",
                if c.met { "x" } else { " " },
                md_inline(&one_line(&c.text))
            );
        }
        out.push('\n');
        if let Some(s) = &t.summary {
            let _ = writeln!(out, "{}: {}\n", summary_label(t), md_inline(&one_line(s)));
        }
        if !t.review_seconds_per_cycle.is_empty() {
            let _ = writeln!(out, "Review per cycle: {}\n", cycle_words(t));
        }
    }

    let _ = writeln!(out, "{h}# Delivered\n");
    out.push_str(
        "| # | Task | Status | Drafts | Comments | Review | Agent | Commit |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            t.number,
            md_cell(&t.title),
            status_words(t),
            t.iterations,
            t.comments,
            fmt_minutes(t.review_seconds),
            fmt_minutes(t.agent_seconds),
            t.commit
                .as_deref()
                .map(|c| format!("`{}`", short(c)))
                .unwrap_or_else(|| "—".into())
        );
    }
    out.push('\n');
    md_totals(out, &r.totals, &format!("{h}#"));
}

fn md_totals(out: &mut String, t: &Totals, h: &str) {
    let _ = writeln!(out, "{h} Human review\n");
    let _ = writeln!(
        out,
        "- Tasks: {} — {} accepted on first draft, {} accepted after feedback, {} rejected{}{}",
        t.tasks,
        t.accepted_first_draft,
        t.accepted_after_feedback,
        t.rejected,
        if t.human > 0 {
            format!(", {} done by hand", t.human)
        } else {
            String::new()
        },
        if t.open > 0 {
            format!(", {} open", t.open)
        } else {
            String::new()
        },
    );
    let _ = writeln!(
        out,
        "- Review: {} over {} review cycles{}",
        fmt_minutes(t.review_seconds),
        t.review_cycles,
        t.mean_review_minutes_per_cycle
            .map(|m| format!(" (mean {m:.2} min per cycle)"))
            .unwrap_or_default()
    );
    if t.hand_edit_seconds > 0 {
        let _ = writeln!(out, "- Hand edits: {}", fmt_minutes(t.hand_edit_seconds));
    }
    let _ = writeln!(out, "- Agent: {}", fmt_minutes(t.agent_seconds));
    let _ = writeln!(
        out,
        "- Tokens: {} in, {} out (planner: {} in, {} out)",
        t.prompt_tokens, t.completion_tokens, t.planner_prompt_tokens, t.planner_completion_tokens
    );
    if let Some(c) = cost_words(t) {
        let _ = writeln!(out, "- Estimated model cost: {c}");
    }
}

/// Inline user text for Markdown: its own Markdown (code spans, emphasis) is kept, but a `<`
/// that could open raw HTML outside a code span is escaped, so it cannot inject markup.
fn md_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // Length of the backtick run that opened the current code span, if inside one.
    let mut open: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let run = chars[i..].iter().take_while(|&&b| b == '`').count();
            match open {
                Some(n) if n == run => open = None,
                None if closes(&chars[i + run..], run) => open = Some(run),
                _ => {}
            }
            out.extend(std::iter::repeat_n('`', run));
            i += run;
            continue;
        }
        let starts_tag = c == '<'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?'));
        if open.is_none() && starts_tag {
            out.push_str("\\<");
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Whether a backtick run of exactly `run` follows: only that closes a code span (CommonMark).
fn closes(rest: &[char], run: usize) -> bool {
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == '`' {
            let n = rest[i..].iter().take_while(|&&b| b == '`').count();
            if n == run {
                return true;
            }
            i += n;
        } else {
            i += 1;
        }
    }
    false
}

/// A block of user Markdown (brief, instructions): fenced code is kept verbatim, every other
/// line goes through `md_inline`.
fn md_block(s: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<&str> = None;
    for line in s.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (Some(f), Some(m)) if f == m => {
                fence = None;
                out.push_str(line);
            }
            (Some(_), _) => out.push_str(line),
            (None, Some(m)) => {
                fence = Some(m);
                out.push_str(line);
            }
            (None, None) => out.push_str(&md_inline(line)),
        }
        out.push('\n');
    }
    out
}

/// A table cell: one line, pipes escaped (GFM needs that even inside code spans).
fn md_cell(s: &str) -> String {
    md_inline(&one_line(s)).replace('|', "\\|")
}

// ---------------------------------------------------------------------------------------------
// HTML

/// One self-contained HTML file for a client: inline CSS and SVG, no script, no external asset.
pub fn to_html(reports: &[SessionReport]) -> String {
    to_html_in(reports, &chrono::Local)
}

const CSS: &str = "\
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee7;--accent:#2f6fdb;--ok:#1f7a3a;--bad:#a8322d;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;background:#f4f6f9;color:var(--fg);font:15px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:920px;margin:0 auto;padding:32px 24px;background:var(--bg)}
h1{font-size:1.7em;margin:0 0 4px}h2{font-size:1.3em;margin:32px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:1.08em;margin:20px 0 4px}
.meta{color:var(--muted);margin:0 0 16px}
.brief,.instructions{white-space:pre-wrap;background:#f7f8fa;border-left:3px solid var(--line);padding:10px 14px;margin:8px 0}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.9em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.status{font-weight:600}.accepted{color:var(--ok)}.rejected{color:var(--bad)}.open,.human{color:var(--muted)}
ul.criteria{list-style:none;padding-left:0;margin:6px 0}ul.criteria li.met{color:var(--ok)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin:10px 0}
.stat{border:1px solid var(--line);border-radius:6px;padding:8px 12px}.stat b{display:block;font-size:1.35em}
.stat span{color:var(--muted);font-size:.88em}
svg{max-width:100%;height:auto}
@media print{body{background:#fff}main{padding:0}}
";

pub fn to_html_in<Tz: TimeZone>(reports: &[SessionReport], tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let title = match reports {
        [one] => format!("Work report: session {}", one.session),
        _ => "Work report".to_string(),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    match reports {
        [] => out.push_str("<h1>Work report</h1>\n<p>No sessions to report.</p>\n"),
        [one] => html_session(&mut out, one, tz, 1),
        many => {
            out.push_str("<h1>Work report</h1>\n");
            let _ = writeln!(out, "<p class=\"meta\">{} sessions</p>", many.len());
            out.push_str("<h2>Overview</h2>\n<table>\n<tr><th>Session</th><th>Started</th><th>Tasks</th><th>Accepted</th><th>Review</th></tr>\n");
            for r in many {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    esc(&r.session),
                    r.started.map(|t| local_stamp(t, tz)).unwrap_or_default(),
                    r.totals.tasks,
                    r.totals.accepted,
                    fmt_minutes(r.totals.review_seconds)
                );
            }
            out.push_str("</table>\n");
            html_totals(&mut out, &Totals::combine(many.iter().map(|r| &r.totals)));
            for r in many {
                out.push_str("<article>\n");
                html_session(&mut out, r, tz, 2);
                out.push_str("</article>\n");
            }
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn html_session<Tz: TimeZone>(out: &mut String, r: &SessionReport, tz: &Tz, level: u8)
where
    Tz::Offset: Display,
{
    let (h1, h2, h3) = (level, level + 1, level + 2);
    let _ = writeln!(
        out,
        "<h{h1}>Work report: session <code>{}</code></h{h1}>",
        esc(&r.session)
    );
    let _ = writeln!(out, "<p class=\"meta\">{}</p>", meta_line(r, tz, esc));

    let _ = writeln!(out, "<h{h2}>Brief</h{h2}>");
    match r.brief.as_deref().filter(|b| !b.trim().is_empty()) {
        Some(b) => {
            let _ = writeln!(out, "<div class=\"brief\">{}</div>", esc(b.trim_end()));
        }
        None => out.push_str("<p>No brief: the work was given as a plan.</p>\n"),
    }

    let _ = writeln!(out, "<h{h2}>Summary</h{h2}>");
    html_totals(out, &r.totals);

    let _ = writeln!(out, "<h{h2}>Review time per task</h{h2}>");
    out.push_str(&review_chart(&r.tasks));

    let _ = writeln!(out, "<h{h2}>Delivered</h{h2}>");
    out.push_str("<table>\n<tr><th>#</th><th>Task</th><th>Status</th><th>Drafts</th><th>Comments</th><th>Review</th><th>Agent</th><th>Commit</th></tr>\n");
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"status {}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            t.number,
            esc(&t.title),
            outcome_class(t.status),
            esc(&status_words(t)),
            t.iterations,
            t.comments,
            fmt_minutes(t.review_seconds),
            fmt_minutes(t.agent_seconds),
            t.commit
                .as_deref()
                .map(|c| format!("<code title=\"{}\">{}</code>", esc(c), esc(short(c))))
                .unwrap_or_else(|| "—".into())
        );
    }
    out.push_str("</table>\n");

    let _ = writeln!(
        out,
        "<h{h2}>Plan</h{h2}>\n<p>{} tasks, {}.</p>",
        r.tasks.len(),
        plan_source_words(r.plan_source)
    );
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "<h{h3}>{}. {} <span class=\"status {}\">— {}</span></h{h3}>",
            t.number,
            esc(&t.title),
            outcome_class(t.status),
            esc(&status_words(t))
        );
        let _ = writeln!(
            out,
            "<div class=\"instructions\">{}</div>",
            esc(t.instructions.trim_end())
        );
        out.push_str("<ul class=\"criteria\">\n");
        for c in &t.criteria {
            let _ = writeln!(
                out,
                "<li{}>{} {}</li>",
                if c.met { " class=\"met\"" } else { "" },
                if c.met { "☑" } else { "☐" },
                esc(&c.text)
            );
        }
        out.push_str("</ul>\n");
        if let Some(s) = &t.summary {
            let _ = writeln!(out, "<p>{}: {}</p>", summary_label(t), esc(s));
        }
        if !t.review_seconds_per_cycle.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"meta\">Review per cycle: {}</p>",
                esc(&cycle_words(t))
            );
        }
    }
}

fn html_totals(out: &mut String, t: &Totals) {
    let mut stats: Vec<(String, String)> = vec![
        (t.tasks.to_string(), "tasks".into()),
        (
            t.accepted_first_draft.to_string(),
            "accepted on first draft".into(),
        ),
        (
            t.accepted_after_feedback.to_string(),
            "accepted after feedback".into(),
        ),
        (t.rejected.to_string(), "rejected".into()),
        (fmt_minutes(t.review_seconds), "human review".into()),
        (t.review_cycles.to_string(), "review cycles".into()),
    ];
    if let Some(m) = t.mean_review_minutes_per_cycle {
        stats.push((format!("{m:.2} min"), "mean review per cycle".into()));
    }
    if t.hand_edit_seconds > 0 {
        stats.push((fmt_minutes(t.hand_edit_seconds), "hand edits".into()));
    }
    stats.push((fmt_minutes(t.agent_seconds), "agent time".into()));
    stats.push((
        format!("{} / {}", t.prompt_tokens, t.completion_tokens),
        format!(
            "tokens in / out (planner {} / {})",
            t.planner_prompt_tokens, t.planner_completion_tokens
        ),
    ));
    if let Some(c) = cost_words(t) {
        stats.push((c, "estimated model cost".into()));
    }
    out.push_str("<div class=\"stats\">\n");
    for (value, label) in stats {
        let _ = writeln!(
            out,
            "<div class=\"stat\"><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(&label)
        );
    }
    out.push_str("</div>\n");
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Accepted => "accepted",
        Outcome::Rejected => "rejected",
        Outcome::Human => "human",
        Outcome::Open => "open",
    }
}

/// Horizontal bars of review minutes per task, as inline SVG.
fn review_chart(tasks: &[TaskReport]) -> String {
    let max = tasks.iter().map(|t| t.review_seconds).max().unwrap_or(0);
    if max == 0 {
        return "<p>No review time recorded.</p>\n".into();
    }
    const ROW: u64 = 26;
    const LABEL: u64 = 250;
    const BAR: u64 = 330;
    const WIDTH: u64 = LABEL + BAR + 90;
    let height = ROW * tasks.len() as u64 + 8;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Review minutes per task\" font-family=\"system-ui, sans-serif\" font-size=\"13\">"
    );
    for (i, t) in tasks.iter().enumerate() {
        let y = 4 + ROW * i as u64;
        let w = if t.review_seconds == 0 {
            0
        } else {
            (BAR * t.review_seconds / max).max(2)
        };
        let label = format!("{}. {}", t.number, one_line(&t.title));
        let shown: String = if label.chars().count() > 34 {
            label.chars().take(33).collect::<String>() + "…"
        } else {
            label.clone()
        };
        let _ = writeln!(
            svg,
            "<g><title>{}</title><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#1d2430\">{}</text>\
             <rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{}\" rx=\"3\" fill=\"#2f6fdb\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"#5b6575\">{}</text></g>",
            esc(&format!("{label}: {}", fmt_minutes(t.review_seconds))),
            LABEL - 8,
            y + 17,
            esc(&shown),
            LABEL,
            y + 3,
            ROW - 8,
            LABEL + w + 6,
            y + 17,
            esc(&fmt_minutes(t.review_seconds)),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Escape text for HTML/SVG content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Loading and the CLI

/// Read a session's journal: the local file when there is one (it is the newest), else the copy
/// stored under `refs/tandem/` (a session fetched from elsewhere). A torn last line, from a
/// session still being written or killed, is left out as the journal reader always does.
pub fn load_session(workdir: &Path, id: &str) -> Result<(SessionState, Vec<Entry>), ReportError> {
    // The id becomes a path; never let it leave the sessions directory.
    if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\']) {
        return Err(ReportError::UnknownSession(id.to_string()));
    }
    let repo = crate::gitops::open(workdir)?;
    let path = crate::engine::journal_path(&repo, id);
    let entries = if path.is_file() {
        crate::journal::read_file(&path)?.entries
    } else {
        let Some(bytes) = crate::gitops::stored_journal(&repo, id)? else {
            return Err(ReportError::UnknownSession(id.to_string()));
        };
        crate::journal::parse(&bytes, &crate::gitops::journal_ref(id))?.entries
    };
    let state = SessionState::from_entries(&entries);
    Ok((state, entries))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Markdown for a client.
    #[default]
    Md,
    /// One self-contained HTML page for a client.
    Html,
    /// One JSON object for other tools (schema in the README).
    Json,
    /// A timesheet: one row per review or hand-edit span.
    Csv,
}

/// `tandem report`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The repository directory (set from the global `-C`).
    #[arg(skip)]
    pub dir: PathBuf,
    /// The session to report on (default: the newest).
    #[arg(value_name = "SESSION", conflicts_with = "all")]
    pub session: Option<String>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report on every session of the repository.
    #[arg(long)]
    pub all: bool,
    /// From this local date on: csv rows by their date, other formats sessions by start date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub since: Option<NaiveDate>,
    /// Up to and including this local date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub until: Option<NaiveDate>,
}

/// `tandem report`: pick the sessions, build, render, write. Exit code 0.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let root = crate::exec::open_repo(&args.dir, false)?;
    let range = DateRange {
        since: args.since,
        until: args.until,
    };
    // A timesheet filters rows by date; every other format filters sessions by start date.
    let session_range = if args.format == Format::Csv {
        DateRange::default()
    } else {
        range
    };
    let in_range = |s: &SessionState| {
        !session_range.is_set()
            || s.started
                .is_some_and(|t| session_range.contains(local_date(t, &chrono::Local)))
    };
    let ids: Vec<String> = match &args.session {
        Some(id) => vec![id.clone()],
        None => {
            let listed = crate::engine::list_sessions(&root)?;
            let mut ids: Vec<String> = listed
                .iter()
                .filter(|(_, s, _)| in_range(s))
                .map(|(id, _, _)| id.clone())
                .collect();
            if ids.is_empty() && !args.all {
                let why = if listed.is_empty() || !session_range.is_set() {
                    String::new()
                } else {
                    format!(" that started within {session_range}")
                };
                return Err(ReportError::NoSessions(root.display().to_string(), why).into());
            }
            if args.all {
                // Listed newest first; a report reads in the order the work happened.
                ids.reverse();
            } else {
                ids.truncate(1);
            }
            ids
        }
    };
    let mut loaded = Vec::with_capacity(ids.len());
    for id in &ids {
        let (state, entries) = load_session(&root, id)?;
        if args.session.is_some() && !in_range(&state) {
            return Err(ReportError::OutOfRange {
                session: id.clone(),
                date: state
                    .started
                    .map(|t| local_date(t, &chrono::Local).to_string())
                    .unwrap_or_else(|| "an unknown date".into()),
                range: session_range.to_string(),
            }
            .into());
        }
        loaded.push((state, entries));
    }
    let prices = crate::config::Config::load()?.prices;
    let text = if args.format == Format::Csv {
        let sheets: Vec<Sheet<'_>> = loaded.iter().map(|(s, e)| (s, e.as_slice())).collect();
        to_csv(&sheets, range)
    } else {
        let reports: Vec<SessionReport> =
            loaded.iter().map(|(s, e)| build(s, e, &prices)).collect();
        match args.format {
            Format::Json if args.all => all_to_json(&combine(reports))?,
            Format::Json => match reports.first() {
                Some(r) => to_json(r)?,
                None => {
                    return Err(
                        ReportError::NoSessions(root.display().to_string(), String::new()).into(),
                    );
                }
            },
            Format::Html => to_html(&reports),
            Format::Md | Format::Csv => to_markdown(&reports),
        }
    };
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| ReportError::Write {
                    path: "standard output".into(),
                    source,
                })?;
        }
    }
    Ok(0)
}

/// Write through a temp file in the same directory and a rename, so a reader never sees half a
/// report and an old one survives a failed write.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(std::io::Error::other("not a file name")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tandem-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalEvent as E;
    use crate::plan::TaskSpec;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn spec(title: &str, criteria: usize) -> TaskSpec {
        TaskSpec {
            title: title.into(),
            instructions: format!("Do {title}."),
            acceptance: (1..=criteria).map(|i| format!("criterion {i}")).collect(),
            human: false,
        }
    }

    fn call(task: Option<usize>, iteration: Option<u32>, p: u64, c: u64) -> E {
        E::ModelCall {
            purpose: if task.is_some() {
                crate::journal::Purpose::Draft
            } else {
                crate::journal::Purpose::Plan
            },
            task,
            iteration,
            step: 1,
            prompt_tokens: p,
            completion_tokens: c,
            duration_ms: 10,
            finish_reason: None,
            text: String::new(),
            tool_calls: vec![],
        }
    }

    fn draft(task: usize, iteration: u32, agent_ms: u64, summary: &str) -> Vec<E> {
        vec![
            E::DraftStarted {
                task,
                iteration,
                base: Some("base".into()),
            },
            E::IterationReady {
                task,
                iteration,
                snapshot: format!("snap{task}{iteration}"),
                base: "base".into(),
                summary: summary.into(),
                agent_ms,
                incomplete: false,
                files: vec![],
                proposal: None,
                review_base: None,
                excluded: vec![],
                foreign: vec![],
            },
        ]
    }

    fn time(task: usize, iteration: u32, kind: TimeKind, ms: u64, started: &str) -> E {
        E::HumanTime {
            task,
            iteration,
            kind,
            ms,
            started: t(started),
        }
    }

    fn decide(task: usize, iteration: u32, action: Action) -> E {
        E::Decision {
            task,
            iteration,
            action,
        }
    }

    const EVIL: &str = "Greet <script>alert('x')</script> & \"friends\"";

    /// Four tasks: revised then accepted, accepted first time, rejected, and a human one.
    fn session() -> (SessionState, Vec<Entry>) {
        let mut human = spec("Call the client", 1);
        human.human = true;
        let mut ev = vec![
            E::SessionStarted {
                session: "20260310-090000-abcd".into(),
                tandem_version: "0.1.0".into(),
                model: "gpt-x".into(),
                branch: Some("main".into()),
                head: Some("h0".into()),
                brief: Some("Make <b>it</b> nice.\n\n```\nlet v: Vec<u8>;\n```\n".into()),
                allow_dirty: false,
            },
            call(None, None, 100, 50),
            E::PlanSet {
                tasks: vec![
                    spec(EVIL, 2),
                    spec("Docs, \"quoted\"", 1),
                    spec("Reject me", 1),
                    human,
                ],
                source: PlanSource::Planner,
            },
            E::PlanApproved,
        ];
        ev.extend(draft(1, 1, 1500, "first try"));
        ev.push(call(Some(1), Some(1), 1000, 200));
        ev.extend([
            E::CommentAdded {
                task: 1,
                iteration: 1,
                id: 1,
                path: "a".into(),
                line: 1,
                text: "x".into(),
                quote: "q".into(),
            },
            E::CommentAdded {
                task: 1,
                iteration: 1,
                id: 2,
                path: "a".into(),
                line: 2,
                text: "y".into(),
                quote: "q".into(),
            },
            E::CommentDeleted {
                task: 1,
                iteration: 1,
                id: 2,
            },
            time(1, 1, TimeKind::Review, 60_000, "2026-03-10T09:00:00Z"),
            time(1, 1, TimeKind::Review, 40_400, "2026-03-10T09:05:00Z"),
            // Ignored like the reducer ignores them: empty, and a task that does not exist.
            time(1, 1, TimeKind::Review, 0, "2026-03-10T09:06:00Z"),
            time(9, 1, TimeKind::Review, 99_000, "2026-03-10T09:07:00Z"),
            decide(1, 1, Action::Revise),
        ]);
        ev.extend(draft(1, 2, 1500, "friendlier"));
        ev.push(call(Some(1), Some(2), 800, 100));
        ev.extend([
            E::CriterionTicked {
                task: 1,
                iteration: 2,
                criterion: 1,
                met: true,
            },
            time(1, 2, TimeKind::HandEdit, 30_000, "2026-03-10T09:10:00Z"),
            time(1, 2, TimeKind::Review, 20_600, "2026-03-10T09:11:00Z"),
            decide(1, 2, Action::Accept),
            E::Committed {
                task: 1,
                iteration: 2,
                commit: "c1c1c1c1c1c1c1c1c1c1".into(),
            },
        ]);
        ev.extend(draft(2, 1, 1500, ""));
        ev.push(call(Some(2), Some(1), 500, 80));
        ev.extend([
            time(2, 1, TimeKind::Review, 47_000, "2026-03-11T23:59:30Z"),
            decide(2, 1, Action::Accept),
            E::Committed {
                task: 2,
                iteration: 1,
                commit: "c2".into(),
            },
        ]);
        ev.extend(draft(3, 1, 2000, "guide"));
        ev.push(call(Some(3), Some(1), 300, 40));
        ev.extend([
            time(3, 1, TimeKind::Review, 7_000, "2026-03-12T08:00:00Z"),
            decide(3, 1, Action::Reject),
            E::Restored {
                task: 3,
                iteration: 1,
            },
            E::SessionFinished,
        ]);
        let entries: Vec<Entry> = ev
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry {
                seq: i as u64 + 1,
                at: t("2026-03-10T09:00:00Z") + chrono::Duration::seconds(i as i64),
                event,
            })
            .collect();
        (SessionState::from_entries(&entries), entries)
    }

    fn prices() -> BTreeMap<String, Price> {
        BTreeMap::from([(
            "gpt-x".to_string(),
            Price {
                input_per_mtok: 2.0,
                output_per_mtok: 8.0,
            },
        )])
    }

    #[test]
    fn json_has_every_number() {
        let (state, entries) = session();
        let report = build(&state, &entries, &prices());
        let v: serde_json::Value = serde_json::from_str(&to_json(&report).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["session"], "20260310-090000-abcd");
        assert_eq!(v["tandem_version"], "0.1.0");
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["branch"], "main");
        assert_eq!(v["head_at_start"], "h0");
        assert_eq!(v["plan_source"], "planner");
        assert_eq!(v["started"], "2026-03-10T09:00:00Z");
        assert_eq!(v["finished"], true);
        assert_eq!(v["progress"], "finished: 2/4 tasks accepted");
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 4);
        assert_eq!(
            tasks[0],
            json!({
                "number": 1,
                "title": EVIL,
                "instructions": format!("Do {EVIL}."),
                "status": "accepted",
                "iterations": 2,
                "first_draft_accepted": false,
                "criteria": [{"text": "criterion 1", "met": true}, {"text": "criterion 2", "met": false}],
                "comments": 1,
                "review_seconds": 121,
                // 100.4 s and 20.6 s, apportioned to add up to 121.
                "review_seconds_per_cycle": [100, 21],
                "hand_edit_seconds": 30,
                "agent_seconds": 3,
                "prompt_tokens": 1800,
                "completion_tokens": 300,
                "summary": "friendlier",
                "commit": "c1c1c1c1c1c1c1c1c1c1",
            })
        );
        assert_eq!(tasks[1]["status"], "accepted");
        assert_eq!(tasks[1]["first_draft_accepted"], true);
        assert_eq!(tasks[1]["review_seconds_per_cycle"], json!([47]));
        assert_eq!(tasks[1]["agent_seconds"], 2);
        assert_eq!(tasks[1]["summary"], serde_json::Value::Null);
        assert_eq!(tasks[1]["commit"], "c2");
        assert_eq!(tasks[2]["status"], "rejected");
        assert_eq!(tasks[2]["first_draft_accepted"], false);
        assert_eq!(tasks[2]["review_seconds"], 7);
        assert_eq!(tasks[2]["commit"], serde_json::Value::Null);
        assert_eq!(tasks[3]["status"], "human");
        assert_eq!(tasks[3]["iterations"], 0);
        assert_eq!(tasks[3]["review_seconds_per_cycle"], json!([]));
        assert_eq!(
            v["totals"],
            json!({
                "tasks": 4,
                "accepted": 2,
                "accepted_first_draft": 1,
                "accepted_after_feedback": 1,
                "rejected": 1,
                "human": 1,
                "open": 0,
                "review_cycles": 4,
                "review_seconds": 175,
                "review_minutes": 2.92,
                // 175 s over 4 cycles = 0.729 min.
                "mean_review_minutes_per_cycle": 0.73,
                "hand_edit_seconds": 30,
                "hand_edit_minutes": 0.5,
                "agent_seconds": 7,
                "agent_minutes": 0.12,
                "prompt_tokens": 2700,
                "completion_tokens": 470,
                "planner_prompt_tokens": 100,
                "planner_completion_tokens": 50,
                // (2700 × 2 + 470 × 8) / 1e6
                "estimated_cost": 0.00916,
            })
        );
        // Without a price for the model there is no cost, not a zero one.
        let unpriced = build(&state, &entries, &BTreeMap::new());
        assert_eq!(unpriced.totals.estimated_cost, None);
    }

    #[test]
    fn open_tasks_and_empty_sessions() {
        let (_, entries) = session();
        // Cut just before task 1's commit: accepted by the reviewer, not yet committed.
        let cut = entries
            .iter()
            .position(|e| matches!(e.event, E::Committed { .. }))
            .unwrap();
        let partial = SessionState::from_entries(&entries[..cut]);
        let r = build(&partial, &entries[..cut], &prices());
        assert_eq!(r.tasks[0].status, Outcome::Open);
        assert_eq!(r.totals.open, 3);
        assert_eq!(r.totals.accepted, 0);
        assert!(!r.finished);
        let empty = build(&SessionState::default(), &[], &BTreeMap::new());
        assert_eq!(empty.totals.mean_review_minutes_per_cycle, None);
        assert_eq!(empty.totals.review_minutes, 0.0);
        assert!(to_markdown(std::slice::from_ref(&empty)).contains("No brief"));
        assert!(to_html(&[empty]).contains("No review time recorded."));
    }

    #[test]
    fn combined_totals_add_up() {
        let (state, entries) = session();
        let one = build(&state, &entries, &prices());
        let all = combine(vec![one.clone(), one.clone()]);
        assert_eq!(all.schema_version, 1);
        assert_eq!(all.totals.tasks, 8);
        assert_eq!(all.totals.review_seconds, 350);
        assert_eq!(all.totals.review_minutes, 5.83);
        assert_eq!(all.totals.mean_review_minutes_per_cycle, Some(0.73));
        assert_eq!(all.totals.accepted_after_feedback, 2);
        assert_eq!(all.totals.estimated_cost, Some(0.01832));
        let unpriced = build(&state, &entries, &BTreeMap::new());
        assert_eq!(combine(vec![one, unpriced]).totals.estimated_cost, None);
        let v: serde_json::Value = serde_json::from_str(&all_to_json(&all).unwrap()).unwrap();
        assert_eq!(v["sessions"].as_array().unwrap().len(), 2);
        assert!(v["totals"].get("cycle_review_ms").is_none());
    }

    fn minutes_of(csv: &str) -> Vec<(String, u64)> {
        csv.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.splitn(5, ',').collect();
                let (m, c) = f[3].split_once('.').unwrap();
                let cm = m.parse::<u64>().unwrap() * 100 + c.parse::<u64>().unwrap();
                (l.rsplit(',').next().unwrap().to_string(), cm)
            })
            .collect()
    }

    #[test]
    fn csv_rows_and_sums_match_the_trailers() {
        let (state, entries) = session();
        let csv = to_csv_in(&[(&state, &entries)], DateRange::default(), &Utc);
        assert_eq!(
            csv,
            "date,start,end,minutes,task,activity\r\n\
             2026-03-10,09:00:00,09:01:00,1.00,\"1 Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
             2026-03-10,09:05:00,09:05:40,0.68,\"1 Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
             2026-03-10,09:10:00,09:10:30,0.50,\"1 Greet <script>alert('x')</script> & \"\"friends\"\"\",hand edit\r\n\
             2026-03-10,09:11:00,09:11:20,0.34,\"1 Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
             2026-03-11,23:59:30,00:00:17,0.78,\"2 Docs, \"\"quoted\"\"\",review\r\n\
             2026-03-12,08:00:00,08:00:07,0.12,\"3 Reject me\",review\r\n"
        );
        let rows = minutes_of(&csv);
        let review: u64 = rows
            .iter()
            .filter(|(a, _)| a == "review")
            .map(|(_, c)| c)
            .sum();
        // Trailers: 121 + 47 + 7 seconds.
        assert_eq!((review * 60 + 50) / 100, 175);
        let report = build(&state, &entries, &prices());
        assert_eq!(review as f64 / 100.0, report.totals.review_minutes);

        // Several sessions in one sheet still add up to all their trailers.
        let two = to_csv_in(
            &[(&state, &entries), (&state, &entries)],
            DateRange::default(),
            &Utc,
        );
        let review: u64 = minutes_of(&two)
            .iter()
            .filter(|(a, _)| a == "review")
            .map(|(_, c)| c)
            .sum();
        assert_eq!((review * 60 + 50) / 100, 350);

        // Local dates decide the filter: 23:59:30 UTC on the 11th is the 12th two hours east.
        let east = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        let day = parse_date("2026-03-12").unwrap();
        let only = DateRange {
            since: Some(day),
            until: Some(day),
        };
        let csv = to_csv_in(&[(&state, &entries)], only, &east);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[1].starts_with("2026-03-12,01:59:30,02:00:17,0.78,\"2 Docs"));
        assert!(lines[2].starts_with("2026-03-12,10:00:00,10:00:07,0.12,\"3 Reject"));
    }

    #[test]
    fn csv_sum_equals_trailers_for_any_durations() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let n_tasks = rng.usize(1..6);
            let mut ev = vec![E::PlanSet {
                tasks: (0..n_tasks).map(|i| spec(&format!("t{i}"), 1)).collect(),
                source: PlanSource::File,
            }];
            for task in 1..=n_tasks {
                ev.extend(draft(task, 1, 0, ""));
                for _ in 0..rng.usize(0..5) {
                    let ms = if rng.bool() {
                        rng.u64(0..5_000)
                    } else {
                        rng.u64(0..4_000_000)
                    };
                    ev.push(time(task, 1, TimeKind::Review, ms, "2026-01-01T10:00:00Z"));
                }
            }
            let entries: Vec<Entry> = ev
                .into_iter()
                .enumerate()
                .map(|(i, event)| Entry {
                    seq: i as u64 + 1,
                    at: t("2026-01-01T10:00:00Z"),
                    event,
                })
                .collect();
            let state = SessionState::from_entries(&entries);
            let trailers: u64 = state.tasks.iter().map(|t| secs(t.review_ms())).sum();
            let csv = to_csv_in(&[(&state, &entries)], DateRange::default(), &Utc);
            let cm: u64 = minutes_of(&csv).iter().map(|(_, c)| c).sum();
            assert_eq!((cm * 60 + 50) / 100, trailers, "{csv}");
            // No row strays far from its own duration: spans all start together here, so the
            // rows keep journal order.
            let spans: Vec<u64> = entries
                .iter()
                .filter_map(|e| match e.event {
                    E::HumanTime { ms, .. } if ms > 0 => Some(ms),
                    _ => None,
                })
                .collect();
            let rows = minutes_of(&csv);
            assert_eq!(rows.len(), spans.len());
            for ((_, c), ms) in rows.iter().zip(spans) {
                let exact = ms as f64 / 600.0;
                assert!((*c as f64 - exact).abs() < 3.0, "{c} vs {exact}");
            }
        }
    }

    #[test]
    fn apportion_keeps_the_total() {
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(0, &[5, 7]), vec![0, 0]);
        assert_eq!(apportion(5, &[0, 0]), vec![0, 0]);
        assert_eq!(apportion(121, &[100_400, 20_600]), vec![100, 21]);
        assert_eq!(apportion(7, &[]), Vec::<u64>::new());
        assert_eq!(centiminutes(1), 2);
        assert_eq!(centiminutes(3), 5);
        assert_eq!(centiminutes(175), 292);
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let (state, entries) = session();
        let report = build(&state, &entries, &prices());
        let html = to_html(std::slice::from_ref(&report));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(html.contains(
            "Greet &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;"
        ));
        assert!(html.contains("Make &lt;b&gt;it&lt;/b&gt; nice."));
        assert!(!html.contains("<b>it</b>"));
        for external in ["src=", "href=", "<link", "@import", "url(", "<iframe"] {
            assert!(!html.contains(external), "{external} in html");
        }
        // The chart: one bar per task, the longest for the most review time.
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches("<rect").count(), 4);
        assert!(html.contains("width=\"330\" height=\"18\""));
        assert!(html.contains("2.02 min") && html.contains("0.78 min"));
        assert!(html.contains("<code title=\"c1c1c1c1c1c1c1c1c1c1\">c1c1c1c1c1</code>"));
        assert!(html.contains("accepted after feedback (2 drafts)"));
        assert!(html.contains("0.0092"));
        assert!(html.contains("Last draft: guide"));
        assert!(html.contains("Review per cycle: 1.67 min, 0.35 min"));
        assert!(html.contains("<li class=\"met\">☑ criterion 1</li>\n<li>☐ criterion 2</li>"));
        // Several sessions: one document with an overview.
        let two = to_html(&[report.clone(), report]);
        assert_eq!(two.matches("<!DOCTYPE html>").count(), 1);
        assert_eq!(two.matches("<article>").count(), 2);
        assert!(two.contains("5.83 min"));
    }

    #[test]
    fn markdown_reads_like_a_report() {
        let (state, entries) = session();
        let report = build(&state, &entries, &prices());
        let md = to_markdown_in(std::slice::from_ref(&report), &Utc);
        for needle in [
            "# Work report: session 20260310-090000-abcd",
            "started 2026-03-10 09:00 · model gpt-x · branch main · finished: 2/4 tasks accepted",
            "## Brief",
            "> Make \\<b>it\\</b> nice.",
            // Code in the brief stays as written.
            "> let v: Vec<u8>;",
            "drafted by the planner model",
            "### 1. Greet \\<script>alert('x')\\</script> & \"friends\"",
            "Status: **accepted after feedback (2 drafts)**",
            "- [x] criterion 1",
            "- [ ] criterion 2",
            "Delivered: friendlier",
            "Review per cycle: 1.67 min, 0.35 min",
            "Last draft: guide",
            "| 2 | Docs, \"quoted\" | accepted on first draft | 1 | 0 | 0.78 min | 0.03 min | `c2` |",
            "| 3 | Reject me | rejected |",
            "| 4 | Call the client | done by hand | 0 | 0 | 0.00 min | 0.00 min | — |",
            "`c1c1c1c1c1`",
            "- Tasks: 4 — 1 accepted on first draft, 1 accepted after feedback, 1 rejected, 1 done by hand",
            "- Review: 2.92 min over 4 review cycles (mean 0.73 min per cycle)",
            "- Hand edits: 0.50 min",
            "- Agent: 0.12 min",
            "- Tokens: 2700 in, 470 out (planner: 100 in, 50 out)",
            "- Estimated model cost: 0.0092",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        // Every `<` that could open a tag is escaped.
        assert!(!md.replace("\\<", "").contains("<script"), "{md}");
        let many = to_markdown_in(&[report.clone(), report], &Utc);
        assert!(many.starts_with("# Work report\n\n2 sessions."));
        assert!(many.contains("## Work report: session 20260310-090000-abcd"));
        assert!(many.contains("### Plan"));
    }

    #[test]
    fn markdown_escaping_respects_code() {
        assert_eq!(md_inline("a <b> `<c>` <"), "a \\<b> `<c>` <");
        assert_eq!(md_inline("``x <y> ``` <z>"), "``x \\<y> ``` \\<z>");
        assert_eq!(md_cell("a | b\nc"), "a \\| b c");
        assert_eq!(
            md_block("<i>\n```html\n<i>\n```\n<i>"),
            "\\<i>\n```html\n<i>\n```\n\\<i>\n"
        );
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(
            parse_date("2026-03-01").unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert!(parse_date("03/01/2026").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_date("2026-02-30").is_err());
        let r = DateRange {
            since: parse_date("2026-03-01").ok(),
            until: None,
        };
        assert!(r.contains(parse_date("2026-03-01").unwrap()));
        assert!(!r.contains(parse_date("2026-02-28").unwrap()));
        assert_eq!(r.to_string(), "--since 2026-03-01");
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.html");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/r.html");
        assert!(matches!(
            write_atomically(&missing, b"x"),
            Err(ReportError::Write { .. })
        ));
    }
}
