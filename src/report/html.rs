//! The HTML report: one self-contained page, no script, no external assets; every piece of
//! user text escaped.

use super::*;

/// One self-contained HTML file for a client: inline CSS and SVG, no script, no external asset.
pub fn to_html(reports: &[SessionReport]) -> String {
    to_html_in(reports, &chrono::Local)
}

pub(super) const CSS: &str = "\
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
ul.criteria{list-style:none;padding-left:0;margin:6px 0}ul.criteria li.met{color:var(--ok)}ul.criteria li.checker{padding-left:1.6em;color:var(--muted);font-size:.9em}ul.criteria li.regressed{color:var(--bad)}
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

pub(super) fn html_session<Tz: TimeZone>(out: &mut String, r: &SessionReport, tz: &Tz, level: u8)
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
        "<h{h2}>Plan</h{h2}>\n<p>{} task{}, {}.</p>",
        r.tasks.len(),
        if r.tasks.len() == 1 { "" } else { "s" },
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
            if let Some(v) = &c.checker {
                let _ = writeln!(
                    out,
                    "<li class=\"checker{}\">{}</li>",
                    if v.regressed { " regressed" } else { "" },
                    esc(&checker_words(v))
                );
            }
        }
        out.push_str("</ul>\n");
        if !t.checks.is_empty() {
            out.push_str("<p>Checks before review:</p>\n<ul class=\"checks\">\n");
            for c in &t.checks {
                let _ = writeln!(out, "<li>{}</li>", esc(&check_words(c)));
            }
            out.push_str("</ul>\n");
        }
        match summary_items(t).as_slice() {
            [] => {}
            [one] => {
                let _ = writeln!(out, "<p>{}: {}</p>", summary_label(t), esc(one));
            }
            many => {
                let _ = writeln!(
                    out,
                    "<p>{}:</p>\n<ul class=\"summaries\">",
                    summary_label(t)
                );
                for s in many {
                    let _ = writeln!(out, "<li>{}</li>", esc(s));
                }
                out.push_str("</ul>\n");
            }
        }
        if !t.review_seconds_per_cycle.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"meta\">Review per cycle: {}</p>",
                esc(&cycle_words(t))
            );
        }
        if !t.threads.is_empty() {
            out.push_str("<p>Review threads:</p>\n<ul class=\"threads\">\n");
            for th in &t.threads {
                let _ = write!(out, "<li>{}<ul>", esc(&thread_head(th)));
                for p in &th.posts {
                    let _ = write!(out, "<li>{}</li>", esc(&post_words(p)));
                }
                out.push_str("</ul></li>\n");
            }
            out.push_str("</ul>\n");
        }
    }
}

pub(super) fn html_totals(out: &mut String, t: &Totals) {
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

pub(super) fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Accepted => "accepted",
        Outcome::Rejected => "rejected",
        Outcome::Human => "human",
        Outcome::Open => "open",
    }
}

/// Horizontal bars of review minutes per task, as inline SVG.
pub(super) fn review_chart(tasks: &[TaskReport]) -> String {
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
pub(super) fn esc(s: &str) -> String {
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
