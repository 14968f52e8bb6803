//! The detailed log (`--for me`) as HTML: `templates/report_me.html`, compiled in, rendered by
//! minijinja with HTML auto-escaping from a view of the reports (the wording shared with the
//! Markdown log); one self-contained page, no script, no external asset.

use super::*;

/// The detailed log (`--for me`) as one self-contained HTML file: inline CSS and SVG, no
/// script, no external asset.
pub fn to_html(reports: &[SessionReport]) -> Result<String, ReportError> {
    to_html_in(reports, &chrono::Local)
}

/// The shipped template of the detailed log.
pub const ME_TEMPLATE: &str = include_str!("../../templates/report_me.html");

#[derive(Serialize)]
struct Stat {
    value: String,
    label: String,
}

#[derive(Serialize)]
struct Bar {
    title: String,
    label: String,
    value: String,
    label_x: u64,
    text_y: u64,
    bar_x: u64,
    bar_y: u64,
    width: u64,
    height: u64,
    value_x: u64,
}

#[derive(Serialize)]
struct Chart {
    width: u64,
    height: u64,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct CriterionView {
    text: String,
    met: bool,
    checker: Option<String>,
    regressed: bool,
}

#[derive(Serialize)]
struct ThreadView {
    head: String,
    posts: Vec<String>,
}

#[derive(Serialize)]
struct TaskView {
    number: usize,
    title: String,
    class: &'static str,
    status: String,
    drafts: usize,
    comments: usize,
    review: String,
    agent: String,
    commit: Option<String>,
    commit_short: Option<String>,
    instructions: String,
    criteria: Vec<CriterionView>,
    checks: Vec<String>,
    summary_label: &'static str,
    summaries: Vec<String>,
    cycles: String,
    threads: Vec<ThreadView>,
}

#[derive(Serialize)]
struct SessionView {
    session: String,
    meta: String,
    started: String,
    task_count: usize,
    accepted: usize,
    review: String,
    brief: Option<String>,
    stats: Vec<Stat>,
    chart: Option<Chart>,
    plan_words: String,
    tasks: Vec<TaskView>,
}

pub fn to_html_in<Tz: TimeZone>(reports: &[SessionReport], tz: &Tz) -> Result<String, ReportError>
where
    Tz::Offset: Display,
{
    let title = match reports {
        [one] => format!("Work report: session {}", one.session),
        _ => "Work report".to_string(),
    };
    let sessions: Vec<SessionView> = reports.iter().map(|r| session_view(r, tz)).collect();
    let totals = totals_stats(&Totals::combine(reports.iter().map(|r| &r.totals)));
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A file ends with a newline, as every other report does.
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let fail = |e: minijinja::Error| ReportError::Template {
        file: "templates/report_me.html (built in)".into(),
        message: crate::infra::prompts::describe(&e),
    };
    // The name ends in .html, so minijinja escapes every value for HTML.
    env.add_template("report_me.html", ME_TEMPLATE)
        .map_err(fail)?;
    env.get_template("report_me.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                title => title, sessions => sessions, totals => totals,
            })
        })
        .map_err(fail)
}

fn session_view<Tz: TimeZone>(r: &SessionReport, tz: &Tz) -> SessionView
where
    Tz::Offset: Display,
{
    SessionView {
        session: r.session.clone(),
        meta: meta_line(r, tz, |s| s.to_string()),
        started: r.started.map(|t| local_stamp(t, tz)).unwrap_or_default(),
        task_count: r.totals.tasks,
        accepted: r.totals.accepted,
        review: fmt_minutes(r.totals.review_seconds),
        brief: r
            .brief
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .map(|b| b.trim_end().to_string()),
        stats: totals_stats(&r.totals),
        chart: review_chart(&r.tasks),
        plan_words: format!(
            "{} task{}, {}.",
            r.tasks.len(),
            if r.tasks.len() == 1 { "" } else { "s" },
            plan_source_words(r.plan_source)
        ),
        tasks: r.tasks.iter().map(task_view).collect(),
    }
}

fn task_view(t: &TaskReport) -> TaskView {
    TaskView {
        number: t.number,
        title: t.title.clone(),
        class: outcome_class(t.status),
        status: status_words(t),
        drafts: t.iterations,
        comments: t.comments,
        review: fmt_minutes(t.review_seconds),
        agent: fmt_minutes(t.agent_seconds),
        commit: t.commit.clone(),
        commit_short: t.commit.as_deref().map(|c| short(c).to_string()),
        instructions: t.instructions.trim_end().to_string(),
        criteria: t
            .criteria
            .iter()
            .map(|c| CriterionView {
                text: c.text.clone(),
                met: c.met,
                checker: c.checker.as_ref().map(checker_words),
                regressed: c.checker.as_ref().is_some_and(|v| v.regressed),
            })
            .collect(),
        checks: t.checks.iter().map(check_words).collect(),
        summary_label: summary_label(t),
        summaries: summary_items(t),
        cycles: cycle_words(t),
        threads: t
            .threads
            .iter()
            .map(|th| ThreadView {
                head: thread_head(th),
                posts: th.posts.iter().map(post_words).collect(),
            })
            .collect(),
    }
}

/// The summary cards: the figures a freelancer watches.
fn totals_stats(t: &Totals) -> Vec<Stat> {
    let stat = |value: String, label: &str| Stat {
        value,
        label: label.to_string(),
    };
    let mut stats = vec![
        stat(t.tasks.to_string(), "tasks"),
        stat(
            t.accepted_first_draft.to_string(),
            "accepted on first draft",
        ),
        stat(
            t.accepted_after_feedback.to_string(),
            "accepted after feedback",
        ),
        stat(t.rejected.to_string(), "rejected"),
        stat(fmt_minutes(t.review_seconds), "human review"),
        stat(t.review_cycles.to_string(), "review cycles"),
    ];
    if let Some(m) = t.mean_review_minutes_per_cycle {
        stats.push(stat(format!("{m:.2} min"), "mean review per cycle"));
    }
    if t.hand_edit_seconds > 0 {
        stats.push(stat(fmt_minutes(t.hand_edit_seconds), "hand edits"));
    }
    stats.push(stat(fmt_minutes(t.agent_seconds), "agent time"));
    stats.push(Stat {
        value: format!("{} / {}", t.prompt_tokens, t.completion_tokens),
        label: format!(
            "tokens in / out (planner {} / {}{})",
            t.planner_prompt_tokens,
            t.planner_completion_tokens,
            lessons_tokens(t)
        ),
    });
    if let Some(c) = cost_words(t) {
        stats.push(stat(c, "estimated model cost"));
    }
    stats
}

pub(super) fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Accepted => "accepted",
        Outcome::Rejected => "rejected",
        Outcome::Human => "human",
        Outcome::Open => "open",
    }
}

/// Horizontal bars of review minutes per task, for the inline SVG; None without review time.
fn review_chart(tasks: &[TaskReport]) -> Option<Chart> {
    let max = tasks.iter().map(|t| t.review_seconds).max().unwrap_or(0);
    if max == 0 {
        return None;
    }
    const ROW: u64 = 26;
    const LABEL: u64 = 250;
    const BAR: u64 = 330;
    const WIDTH: u64 = LABEL + BAR + 90;
    let bars = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let y = 4 + ROW * i as u64;
            let width = if t.review_seconds == 0 {
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
            Bar {
                title: format!("{label}: {}", fmt_minutes(t.review_seconds)),
                label: shown,
                value: fmt_minutes(t.review_seconds),
                label_x: LABEL - 8,
                text_y: y + 17,
                bar_x: LABEL,
                bar_y: y + 3,
                width,
                height: ROW - 8,
                value_x: LABEL + width + 6,
            }
        })
        .collect();
    Some(Chart {
        width: WIDTH,
        height: ROW * tasks.len() as u64 + 8,
        bars,
    })
}
