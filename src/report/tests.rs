use super::*;
use crate::core::journal::JournalEvent as E;
use crate::core::plan::TaskSpec;
use serde_json::json;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `events` as a journal, numbered from 1, all at `at`, and the state folded from it.
pub(super) fn journal_at(events: Vec<E>, at: &str) -> (SessionState, Vec<Entry>) {
    let entries: Vec<Entry> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Entry {
            seq: i as u64 + 1,
            at: t(at),
            event,
        })
        .collect();
    (SessionState::from_entries(&entries), entries)
}

fn spec(title: &str, criteria: usize) -> TaskSpec {
    TaskSpec {
        title: title.into(),
        instructions: format!("Do {title}."),
        acceptance: (1..=criteria).map(|i| format!("criterion {i}")).collect(),
        human: false,
        ..Default::default()
    }
}

fn call(task: Option<usize>, iteration: Option<u32>, p: u64, c: u64) -> E {
    E::ModelCall {
        purpose: if task.is_some() {
            crate::core::journal::Purpose::Draft
        } else {
            crate::core::journal::Purpose::Plan
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
            cut_off: false,
            files: vec![crate::core::journal::FileStat {
                path: "a".into(),
                added: 1,
                removed: 0,
                binary: false,
            }],
            proposal: None,
            review_base: None,
            excluded: vec![],
            foreign: vec![],
            anchors: vec![],
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

fn decide(task: usize, iteration: u32, action: Decision) -> E {
    E::Decision {
        task,
        iteration,
        action,
    }
}

pub(super) const EVIL: &str = "Greet <script>alert('x')</script> & \"friends\"";

/// Four tasks: revised then accepted, accepted first time, rejected, and a human one.
pub(super) fn session() -> (SessionState, Vec<Entry>) {
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
            author: None,
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
        decide(1, 1, Decision::Revise),
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
        decide(1, 2, Decision::Accept),
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
        decide(2, 1, Decision::Accept),
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
        decide(3, 1, Decision::Reject),
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

pub(super) fn prices() -> BTreeMap<String, Price> {
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
            "summaries": [
                {"iteration": 1, "summary": "first try"},
                {"iteration": 2, "summary": "friendlier"},
            ],
            "commit": "c1c1c1c1c1c1c1c1c1c1",
            "files": ["a"],
            "draft_flags": [],
            // Commented in iteration 1; iteration 2 was drafted without a word on it.
            "threads": [{
                "id": "c1.1",
                "place": "a:1",
                "status": "no reply",
                "posts": [{"iteration": 1, "by": "reviewer", "text": "x"}],
            }],
        })
    );
    assert_eq!(tasks[1]["status"], "accepted");
    assert_eq!(tasks[1]["first_draft_accepted"], true);
    assert_eq!(tasks[1]["review_seconds_per_cycle"], json!([47]));
    assert_eq!(tasks[1]["agent_seconds"], 2);
    assert_eq!(tasks[1]["summary"], serde_json::Value::Null);
    assert_eq!(tasks[1]["summaries"], json!([]));
    assert_eq!(
        tasks[2]["summaries"],
        json!([{"iteration": 1, "summary": "guide"}])
    );
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
            "accepted_empty": 0,
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
    assert!(
        to_html(&[empty])
            .unwrap()
            .contains("No review time recorded.")
    );
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

/// tandem's own timesheet in `tz`, with spans merged only when they touch or overlap.
fn to_csv_in<Tz: TimeZone>(sheets: &[Sheet<'_>], range: DateRange, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let opts = TimesheetOptions {
        range,
        gap: chrono::Duration::zero(),
        ..TimesheetOptions::default()
    };
    timesheet_in(sheets, &opts, tz).unwrap()
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
         2026-03-10,09:00:00,09:01:00,1.00,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
         2026-03-10,09:05:00,09:05:40,0.68,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
         2026-03-10,09:10:00,09:10:30,0.50,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",hand edit\r\n\
         2026-03-10,09:11:00,09:11:20,0.34,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
         2026-03-11,23:59:30,00:00:17,0.78,\"2. Docs, \"\"quoted\"\"\",review\r\n\
         2026-03-12,08:00:00,08:00:07,0.12,\"3. Reject me\",review\r\n"
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
    assert!(lines[1].starts_with("2026-03-12,01:59:30,02:00:17,0.78,\"2. Docs"));
    assert!(lines[2].starts_with("2026-03-12,10:00:00,10:00:07,0.12,\"3. Reject"));
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
        let (state, entries) = journal_at(ev, "2026-01-01T10:00:00Z");
        let trailers: u64 = state.tasks.iter().map(|t| secs(t.review_ms())).sum();
        let csv = to_csv_in(&[(&state, &entries)], DateRange::default(), &Utc);
        let cm: u64 = minutes_of(&csv).iter().map(|(_, c)| c).sum();
        assert_eq!((cm * 60 + 50) / 100, trailers, "{csv}");
        // No row strays far from its own duration (the spans all start together here, so
        // each task's overlapping spans are one block).
        let spans: Vec<u64> = blocks(&[(&state, &entries)], chrono::Duration::zero())
            .iter()
            .map(|b| b.ms)
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
    let html = to_html(std::slice::from_ref(&report)).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    // minijinja's escaping: ' and / as &#x27; and &#x2f;.
    assert!(
        html.contains(
            "Greet &lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &quot;friends&quot;"
        ),
        "{html}"
    );
    assert!(
        html.contains("Make &lt;b&gt;it&lt;&#x2f;b&gt; nice."),
        "{html}"
    );
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
    // Delivered after a revision: what every draft did, in order, not only the last round.
    assert!(
        html.contains(
            "<p>Delivered:</p>\n<ul class=\"summaries\">\n<li>Iteration 1: first try</li>\n\
             <li>Iteration 2: friendlier</li>\n</ul>\n"
        ),
        "{html}"
    );
    assert!(!html.contains("Delivered: friendlier"), "{html}");
    assert!(html.contains("Review per cycle: 1.67 min, 0.35 min"));
    assert!(
        html.contains(
            "<ul class=\"threads\">\n<li>c1.1 at a:1 — no reply<ul><li>reviewer (iteration 1): x</li></ul></li>"
        ),
        "{html}"
    );
    assert!(html.contains("<li class=\"met\">☑ criterion 1</li>\n<li>☐ criterion 2</li>"));
    // Several sessions: one document with an overview.
    let two = to_html(&[report.clone(), report]).unwrap();
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
        "Delivered:\n\n- Iteration 1: first try\n- Iteration 2: friendlier\n\n",
        "Review per cycle: 1.67 min, 0.35 min",
        "Review threads:\n\n- c1.1 at a:1 — no reply\n  - reviewer (iteration 1): x\n",
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
    assert!(!md.contains("Delivered: friendlier"), "{md}");
    // Every `<` that could open a tag is escaped.
    assert!(!md.replace("\\<", "").contains("<script"), "{md}");
    let many = to_markdown_in(&[report.clone(), report], &Utc);
    assert!(many.starts_with("# Work report\n\n2 sessions."));
    assert!(many.contains("## Work report: session 20260310-090000-abcd"));
    assert!(many.contains("### Plan"));
}

#[test]
fn a_first_draft_delivered_reads_as_it_always_did() {
    let mut ev = vec![
        E::PlanSet {
            tasks: vec![spec("Greet", 1)],
            source: PlanSource::File,
        },
        E::PlanApproved,
    ];
    ev.extend(draft(1, 1, 1000, "takes a name"));
    ev.extend([
        decide(1, 1, Decision::Accept),
        E::Committed {
            task: 1,
            iteration: 1,
            commit: "c1".into(),
        },
    ]);
    let (state, entries) = journal_at(ev, "2026-03-10T09:00:00Z");
    let report = build(&state, &entries, &BTreeMap::new());
    assert_eq!(report.tasks[0].summary.as_deref(), Some("takes a name"));
    assert_eq!(
        report.tasks[0].summaries,
        vec![DraftSummary {
            iteration: 1,
            summary: "takes a name".into()
        }]
    );
    let md = to_markdown_in(std::slice::from_ref(&report), &Utc);
    assert!(md.contains("\nDelivered: takes a name\n\n"), "{md}");
    assert!(!md.contains("Iteration 1"), "{md}");
    let html = to_html(&[report]).unwrap();
    assert!(html.contains("<p>Delivered: takes a name</p>"), "{html}");
    assert!(!html.contains("Iteration 1"), "{html}");
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

/// Raw HTML and links the Markdown holds, as a CommonMark reader finds them.
fn html_and_links(md: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    Parser::new(md)
        .filter_map(|e| match e {
            Event::Html(h) | Event::InlineHtml(h) => Some(format!("html {h}")),
            Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
            Event::Start(Tag::Image { dest_url, .. }) => Some(format!("image {dest_url}")),
            _ => None,
        })
        .collect()
}

/// Model-written text that tried to smuggle markup past the escaping (found by an audit): an
/// escaped backtick posing as a code span, a reference definition behind a quote or a list
/// marker, fences CommonMark does not take as fences. None of it comes out as HTML or a link.
#[test]
fn model_text_cannot_smuggle_markup_into_markdown_reports() {
    for text in [
        "Greet \\`<img src=x onerror=alert(1)>`",
        "a \\\\`<b>` c",
        "> [evil]: javascript:alert(1)\n[pay here][evil]",
        "- [evil]: javascript:alert(1)\n\n[pay][evil]",
        "1. [evil]: javascript:alert(1)\n\n[pay][evil]",
        "    ~~~\n<script>alert(1)</script>\n    ~~~",
        "```x`\n<script>alert(1)</script>\n```",
        "text\n <script>alert(1)</script>",
        "- x\n  ```\n<script>alert(1)</script>",
        "> q\n  ~~~\n<script>alert(1)</script>\n  ~~~",
    ] {
        for md in [md_inline(text), md_block(text)] {
            let found = html_and_links(&md);
            assert!(found.is_empty(), "{text:?} → {md:?} → {found:?}");
        }
    }
    // What is meant as Markdown still is: code spans, fences, escapes, web links.
    assert_eq!(md_inline("run `a < b`"), "run `a < b`");
    assert_eq!(md_inline("a \\* b"), "a \\* b");
    let fenced = md_block("```html\n<i>\n```");
    assert_eq!(fenced, "```html\n<i>\n```\n");
    assert_eq!(
        html_and_links(&md_inline("[docs](https://example.com)")),
        vec!["link https://example.com".to_string()]
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

#[test]
fn lessons_calls_are_counted_apart_from_the_planner() {
    let (_, entries) = session();
    let mut events: Vec<E> = entries.into_iter().map(|e| e.event).collect();
    let at = events.len() - 1;
    events.insert(
        at,
        E::ModelCall {
            purpose: crate::core::journal::Purpose::Lessons,
            task: Some(1),
            iteration: None,
            step: 1,
            prompt_tokens: 400,
            completion_tokens: 60,
            duration_ms: 5,
            finish_reason: None,
            text: String::new(),
            tool_calls: vec![],
        },
    );
    let (state, entries) = journal_at(events, "2026-03-10T09:00:00Z");
    let r = build(&state, &entries, &prices());
    let (plain_state, plain_entries) = session();
    let plain = build(&plain_state, &plain_entries, &prices());
    assert_eq!(
        r.totals.planner_prompt_tokens,
        plain.totals.planner_prompt_tokens
    );
    assert_eq!(
        (
            r.totals.lessons_prompt_tokens,
            r.totals.lessons_completion_tokens
        ),
        (400, 60)
    );
    assert_eq!(r.totals.prompt_tokens, plain.totals.prompt_tokens + 400);
    assert!(to_markdown(std::slice::from_ref(&r)).contains("; lessons 400 / 60)"));
    let json: serde_json::Value = serde_json::from_str(&to_json(&plain).unwrap()).unwrap();
    assert!(json["totals"].get("lessons_prompt_tokens").is_none());
}
