//! The report model: a session's journal folded into `SessionReport` (the JSON schema), the
//! totals, and local dates.

use super::*;

/// A task's outcome as a client understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Criterion {
    pub text: String,
    /// Ticked by the reviewer (only the human ticks).
    pub met: bool,
    /// The checker's verdict on the latest draft (absent when it did not judge).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker: Option<CheckerVerdict>,
}

/// The checker's advice on one criterion of the latest draft.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CheckerVerdict {
    /// met, not_met or unclear.
    pub verdict: crate::core::journal::Judgement,
    /// One line: a file:line or a check's output.
    pub evidence: String,
    /// Not met now, though an earlier draft met it (the checker said so, or the reviewer
    /// ticked it).
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    /// The drafter's summary of every draft, oldest first (drafts without one left out): what
    /// the whole task delivered, not only its last round.
    pub summaries: Vec<DraftSummary>,
    /// The full commit id when accepted.
    pub commit: Option<String>,
    /// The files the latest draft changes, as accept commits them (paths accept leaves out
    /// are not listed): for an accepted task, the files delivered.
    pub files: Vec<String>,
    /// What was wrong with the latest draft as a draft: "no changes", "cut off",
    /// "incomplete" (empty when nothing).
    pub draft_flags: Vec<String>,
    /// The review threads (comments and notes) with every post and where each stands.
    pub threads: Vec<ThreadReport>,
    /// Files the plan says the task delivers (absent when none).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deliverables: Vec<String>,
    /// The latest draft's verification: each check and deliverable with its status (absent
    /// when nothing was verified).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::core::journal::CheckResult>,
    /// Failed checks and deliverables the drafter fixed before review, over all drafts.
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero")]
    pub caught_before_review: u32,
    /// Commands the drafter ran, over all drafts.
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub commands_run: usize,
    /// Lessons from earlier reviews the task's drafters were given (absent when none).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lessons_applied: Vec<String>,
    /// Lessons drawn from this task's review after it was accepted, and what became of each.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lessons_proposed: Vec<LessonReport>,
}

/// A proposed lesson and the reviewer's answer.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LessonReport {
    pub text: String,
    /// The review threads it came from.
    pub from: Vec<String>,
    /// None: not answered yet.
    pub kept: Option<bool>,
    /// The text kept, when the reviewer edited it.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_as: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A review thread as the report tells it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ThreadReport {
    /// `c1.2` (a comment) or `n1` (an iteration's note).
    pub id: String,
    /// `path:line` where it was written; None for a note.
    pub place: Option<String>,
    /// Where it stands at the task's latest draft: open, no reply, addressed, not done,
    /// question, resolved.
    pub status: String,
    pub posts: Vec<ThreadPost>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ThreadPost {
    pub iteration: u32,
    /// reviewer, reopened, resolved, or agent (`reply` says how it answered).
    pub by: String,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    pub text: String,
}

/// One draft's summary, as the drafter gave it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DraftSummary {
    pub iteration: u32,
    pub summary: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Totals {
    pub tasks: usize,
    pub accepted: usize,
    pub accepted_first_draft: usize,
    pub accepted_after_feedback: usize,
    /// Accepted with nothing committed (the draft changed no file): neither of the above.
    #[serde(default)]
    pub accepted_empty: usize,
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
    /// The lessons calls' share (drawing lessons from reviews); absent when none.
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub lessons_prompt_tokens: u64,
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub lessons_completion_tokens: u64,
    /// From the config's `[prices.<model>]`, six decimals; null when the model has no price.
    pub estimated_cost: Option<f64>,
    /// Structural failures (checks, deliverables) caught and sent back before review.
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero")]
    pub caught_before_review: u32,
    /// Exact review ms of decided iterations, kept to combine means across sessions.
    #[serde(skip)]
    pub(super) cycle_review_ms: u64,
}

/// One session's report; serialized as is, this is the `--format json` schema.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    /// The user dropped it (`tandem sessions abandon`): its open tasks will not be done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
    /// Where the session stands, as `tandem sessions` says it.
    pub progress: String,
    pub tasks: Vec<TaskReport>,
    /// Lessons drawn at the end of the session from every task's review (absent when none).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lessons_proposed: Vec<LessonReport>,
    pub totals: Totals,
}

/// `--all --format json`: every selected session, and totals over them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AllReport {
    pub schema_version: u32,
    pub sessions: Vec<SessionReport>,
    pub totals: Totals,
}

/// Round milliseconds to seconds the way the commit trailers do.
pub(super) fn secs(ms: u64) -> u64 {
    (ms + 500) / 1000
}

/// Whole seconds to hundredths of a minute, rounded half up: `round(s * 100 / 60)`.
pub(super) fn centiminutes(seconds: u64) -> u64 {
    Unit::CENTIMINUTE.of_seconds(seconds)
}

pub(super) fn minutes(seconds: u64) -> f64 {
    centiminutes(seconds) as f64 / 100.0
}

pub(super) fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Split `total` into integer parts proportional to `weights` (largest remainder, ties to the
/// earlier part), so the parts always add up to `total` when any weight is non-zero.
pub(super) fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
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

pub(super) fn outcome(t: &TaskState) -> Outcome {
    match t.status {
        TaskStatus::Accepted => Outcome::Accepted,
        TaskStatus::Rejected => Outcome::Rejected,
        TaskStatus::Human => Outcome::Human,
        _ => Outcome::Open,
    }
}

// Long: one field of the task's report after another, each derived from the task's state.
pub(super) fn task_report(t: &TaskState) -> TaskReport {
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
            && t.commit.is_some()
            && t.iterations.len() == 1
            && t.iterations[0].decision == Some(Decision::Accept),
        draft_flags: t
            .iterations
            .last()
            .map(|i| i.flags().iter().map(|f| f.to_string()).collect())
            .unwrap_or_default(),
        criteria: t
            .spec
            .acceptance
            .iter()
            .enumerate()
            .map(|(i, text)| Criterion {
                text: text.clone(),
                met: t.criteria_met.get(i).copied().unwrap_or(false),
                checker: t.verdict(t.latest_ready(), i + 1).map(|v| CheckerVerdict {
                    verdict: v.verdict,
                    evidence: v.evidence.clone(),
                    regressed: t.regressed(t.latest_ready()).contains(&(i + 1)),
                }),
            })
            .collect(),
        lessons_applied: {
            let mut seen = Vec::new();
            for l in t.iterations.iter().flat_map(|i| &i.lessons) {
                if !seen.contains(l) {
                    seen.push(l.clone());
                }
            }
            seen
        },
        lessons_proposed: t.lessons.as_ref().map(lesson_reports).unwrap_or_default(),
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
        summaries: t
            .summaries(u32::MAX)
            .into_iter()
            .map(|(iteration, summary)| DraftSummary {
                iteration,
                summary: summary.to_string(),
            })
            .collect(),
        commit: t.commit.clone(),
        files: t
            .iterations
            .iter()
            .rev()
            .find(|i| i.ready.is_some())
            .map(|i| {
                i.files
                    .iter()
                    .filter(|f| !i.excluded.iter().any(|x| x.path == f.path))
                    .map(|f| f.path.clone())
                    .collect()
            })
            .unwrap_or_default(),
        threads: thread_reports(t),
        deliverables: t.spec.deliverables.clone(),
        checks: t
            .iterations
            .iter()
            .rev()
            .find(|i| i.ready.is_some())
            .map(|i| i.checks.clone())
            .unwrap_or_default(),
        caught_before_review: t.iterations.iter().map(|i| i.caught).sum(),
        commands_run: t.iterations.iter().map(|i| i.commands.len()).sum(),
    }
}

/// A proposal's lessons and what became of each.
fn lesson_reports(l: &crate::core::state::TaskLessons) -> Vec<LessonReport> {
    l.proposed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let choice = l
                .decided
                .as_ref()
                .and_then(|d| d.iter().find(|c| c.number == i + 1));
            LessonReport {
                text: p.text.clone(),
                from: p.from.clone(),
                kept: l.decided.as_ref().map(|_| choice.is_some_and(|c| c.keep)),
                kept_as: choice
                    .filter(|c| c.keep && c.text != p.text)
                    .map(|c| c.text.clone()),
            }
        })
        .collect()
}

fn thread_reports(t: &TaskState) -> Vec<ThreadReport> {
    use crate::core::threads::Author;
    let latest = t.latest_ready();
    t.threads
        .iter()
        .map(|th| ThreadReport {
            id: th.key.to_string(),
            place: th
                .anchors
                .get(&th.key.iteration)
                .or_else(|| th.anchors.values().next())
                .map(|a| match a.line {
                    Some(n) => format!("{}:{n}", a.path),
                    None => a.path.clone(),
                }),
            status: th.status(latest).label().to_string(),
            posts: th
                .posts
                .iter()
                .map(|p| {
                    let (by, reply) = match p.by {
                        Author::Reviewer => ("reviewer", None),
                        Author::Reopened => ("reopened", None),
                        Author::Resolved => ("resolved", None),
                        Author::Agent(r) => ("agent", Some(r.label().to_string())),
                    };
                    ThreadPost {
                        iteration: p.iteration,
                        by: by.to_string(),
                        reply,
                        text: p.text.clone(),
                    }
                })
                .collect(),
        })
        .collect()
}

impl Totals {
    /// Derived figures (minutes, mean) from the summed ones.
    fn finish(mut self) -> Self {
        self.accepted_after_feedback =
            self.accepted - self.accepted_first_draft - self.accepted_empty;
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
            t.accepted_empty += s.accepted_empty;
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
            t.lessons_prompt_tokens += s.lessons_prompt_tokens;
            t.lessons_completion_tokens += s.lessons_completion_tokens;
            t.cycle_review_ms += s.cycle_review_ms;
            t.caught_before_review += s.caught_before_review;
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
        lessons_prompt_tokens: state.lessons_prompt_tokens,
        lessons_completion_tokens: state.lessons_completion_tokens,
        prompt_tokens: state.planner_prompt_tokens + state.lessons_prompt_tokens,
        completion_tokens: state.planner_completion_tokens + state.lessons_completion_tokens,
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
        if t.status == Outcome::Accepted && t.commit.is_none() {
            totals.accepted_empty += 1;
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
        totals.caught_before_review += t.caught_before_review;
    }
    totals.estimated_cost = estimate_cost(&state.model, &totals, prices);
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
        abandoned: state.user_abandoned,
        progress: state.describe(),
        tasks,
        lessons_proposed: state
            .session_lessons
            .as_ref()
            .map(lesson_reports)
            .unwrap_or_default(),
        totals: totals.finish(),
    }
}

/// The tokens at the config's `[prices.<model>]`, six decimals; None when the model has none.
pub fn estimate_cost(
    model: &str,
    totals: &Totals,
    prices: &BTreeMap<String, Price>,
) -> Option<f64> {
    prices.get(model).map(|p| {
        round_to(
            (totals.prompt_tokens as f64 * p.input_per_mtok
                + totals.completion_tokens as f64 * p.output_per_mtok)
                / 1_000_000.0,
            6,
        )
    })
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

pub(super) fn local_date<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    t.with_timezone(tz).date_naive()
}

pub(super) fn local_stamp<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    t.with_timezone(tz).format("%Y-%m-%d %H:%M").to_string()
}
