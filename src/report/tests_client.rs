//! The client report, the milestone text and the timesheet presets, on the recorded session of
//! `tests.rs`.

use super::tests::{EVIL, prices, session};
use super::*;
use crate::core::journal::{CheckKind, CheckResult, CheckStatus, JournalEvent as E};

fn who() -> Identity {
    Identity {
        client: Some("Acme <GmbH>".into()),
        project: Some("Website relaunch".into()),
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        config_file: "/home/ada/.config/tandem/config.toml".into(),
        ..Identity::default()
    }
}

fn report() -> ClientReport {
    let (state, entries) = session();
    let r = build(&state, &entries, &prices());
    client_report(&[r], &who(), DateRange::default(), &Utc)
}

#[test]
fn client_markdown_reads_as_a_deliverable() {
    let md = client_markdown(&report());
    insta::assert_snapshot!("client_markdown", md);
    // Nothing about models, tokens, agent time or first-draft rates; no session id.
    for internal in [
        "gpt-x",
        "token",
        "Agent",
        "agent",
        "first draft",
        "20260310-090000-abcd",
        "0.0092",
    ] {
        assert!(!md.contains(internal), "{internal} in:\n{md}");
    }
    assert!(
        md.starts_with(
            "# Website relaunch\n\nfor Acme \\<GmbH> · prepared by Ada Lovelace · 10 March 2026\n"
        ),
        "{md}"
    );
    // Raw HTML in the brief stays text; its code block is kept.
    assert!(md.contains("> Make \\<b>it\\</b> nice."), "{md}");
    // The unticked criterion under delivered work is explained.
    assert!(
        md.contains(
            "- [ ] criterion 2 _(not confirmed in review: the work was accepted without it)_"
        ),
        "{md}"
    );
    assert!(md.contains("- [x] criterion 1\n"), "{md}");
    // The whole task, not the last round alone; the files delivered with the commit.
    assert!(
        md.contains("first try\n\nRevised after review: friendlier"),
        "{md}"
    );
    assert!(
        md.contains("Files delivered (commit `c1c1c1c1c1`):\n\n- `a`"),
        "{md}"
    );
    // A rejected task says so, and lists no files or summary as delivered.
    assert!(
        md.contains("### 3. Reject me — Not delivered\n\nAcceptance criteria:"),
        "{md}"
    );
}

#[test]
fn client_time_is_hours_and_minutes_that_add_up() {
    let r = report();
    let tasks: Vec<&ClientTask> = r.sessions.iter().flat_map(|s| &s.tasks).collect();
    // Human time: review 121 s (task 1) + 47 s + 7 s = 175 s → 3 min; hand edits 30 s (task
    // 1) → 1 min, each rounded once as a timesheet in minutes rounds it.
    assert_eq!(r.time, "0:04");
    assert_eq!(tasks.iter().map(|t| t.minutes).sum::<u64>(), 4);
    assert_eq!(
        tasks.iter().map(|t| t.time.as_str()).collect::<Vec<_>>(),
        ["0:03", "0:01", "0:00", "0:00"]
    );
    // The same total as a Clockify sheet in h:mm.
    let (state, entries) = session();
    let opts = TimesheetOptions {
        preset: Preset::Clockify,
        who: who(),
        ..TimesheetOptions::default()
    };
    let sheet = timesheet_in(&[(&state, &entries)], &opts, &Utc).unwrap();
    let minutes: u64 = sheet
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (h, m) = l.rsplit(',').next().unwrap().split_once(':').unwrap();
            h.parse::<u64>().unwrap() * 60 + m.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(minutes, 4, "{sheet}");
    assert_eq!(hours_minutes(125), "2:05");
    assert_eq!(
        r.summary,
        "2 of 4 tasks delivered · 1 not delivered · 1 done by hand · 0:04 of work"
    );
}

/// A session where every string a user or a model writes carries markup.
fn hostile() -> (SessionState, Vec<Entry>) {
    let (_, entries) = session();
    let mut events: Vec<E> = entries.into_iter().map(|e| e.event).collect();
    for ev in &mut events {
        match ev {
            E::SessionStarted { brief, .. } => {
                *brief = Some(
                    "# Goals\n\nMake it **nice** <img src=x onerror=alert(1)>.\n\n\
                     <script>alert(1)</script>\n\n[click](javascript:alert(1)) \
                     [site](https://example.com) ![logo](http://evil.example/x.png)\n\n\
                     <iframe src=\"http://evil.example\"></iframe>\n"
                        .into(),
                );
            }
            E::PlanSet { tasks, .. } => {
                for t in tasks.iter_mut() {
                    t.acceptance = vec![format!("crit <u>{}</u>", t.title)];
                }
            }
            E::IterationReady { summary, files, .. } => {
                *summary = "sum <em>x</em>".into();
                files[0].path = "dir/<b>f</b>.txt".into();
            }
            _ => {}
        }
    }
    // The accepted task's last draft passed a check with markup in its name.
    let pos = events
        .iter()
        .position(|e| {
            matches!(
                e,
                E::Decision {
                    task: 1,
                    iteration: 2,
                    ..
                }
            )
        })
        .unwrap();
    events.insert(
        pos,
        E::ChecksRun {
            task: 1,
            iteration: 2,
            round: 1,
            results: vec![CheckResult {
                kind: CheckKind::Check,
                name: "test \"<tt>\" && echo".into(),
                status: CheckStatus::Passed,
                detail: String::new(),
            }],
            sent_back: false,
        },
    );
    super::tests::journal_at(events, "2026-03-10T09:00:00Z")
}

#[test]
fn client_html_is_self_contained_and_escapes_every_user_string() {
    let (state, entries) = hostile();
    let r = build(&state, &entries, &prices());
    let who = Identity {
        client: Some("Acme <i>co</i>".into()),
        project: Some("Proj <i>p</i>".into()),
        name: Some("Ada <i>L</i>".into()),
        ..who()
    };
    let client = client_report(&[r], &who, DateRange::default(), &Utc);
    let html = client_html(&client, CLIENT_TEMPLATE, "built in").unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let lower = html.to_lowercase();
    // No tag that runs or loads anything: raw HTML in the brief is shown as text.
    for forbidden in [
        "<script",
        "<img",
        "<iframe",
        "<link",
        "@import",
        "url(",
        "javascript:",
        "<object",
    ] {
        assert!(!lower.contains(forbidden), "{forbidden} in:\n{html}");
    }
    assert_eq!(
        lower.matches("src=").count(),
        lower.matches("&lt;img src=").count() + lower.matches("&lt;iframe src=").count(),
        "{html}"
    );
    assert!(
        !html.contains("x.png"),
        "the image's address is dropped:\n{html}"
    );
    // Every user string escaped where it stands.
    for (raw, escaped) in [
        (EVIL, "Greet &lt;script&gt;"),
        ("<i>co</i>", "Acme &lt;i&gt;co&lt;&#x2f;i&gt;"),
        ("<i>p</i>", "Proj &lt;i&gt;p&lt;&#x2f;i&gt;"),
        ("<i>L</i>", "Ada &lt;i&gt;L&lt;&#x2f;i&gt;"),
        ("<u>", "crit &lt;u&gt;"),
        ("<em>x</em>", "<p>sum &lt;em&gt;x&lt;/em&gt;</p>"),
        ("<b>f</b>", "dir&#x2f;&lt;b&gt;f&lt;&#x2f;b&gt;.txt"),
        ("<tt>", "test &quot;&lt;tt&gt;&quot; &amp;&amp; echo"),
    ] {
        assert!(!html.contains(raw), "{raw} unescaped in:\n{html}");
        assert!(html.contains(escaped), "{escaped} missing in:\n{html}");
    }
    // The brief is rendered: headings sit under the report's, emphasis and safe links stay,
    // raw HTML is text, the unsafe link and the image are their words alone.
    assert!(html.contains("<h3>Goals</h3>"), "{html}");
    assert!(html.contains("<strong>nice</strong>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://example.com\">site</a>"),
        "{html}"
    );
    assert!(
        html.contains("<p>click <a href=\"https://example.com\">"),
        "{html}"
    );
    assert!(html.contains("logo"), "{html}");
    // Prints cleanly.
    assert!(html.contains("@media print") && html.contains("@page"));
    assert!(html.contains("check <code>test"), "{html}");
}

#[test]
fn titles_criteria_and_summaries_keep_their_inline_markdown() {
    assert_eq!(
        inline_markdown_to_html("`python greet.py Ada` prints *Ada*"),
        "<code>python greet.py Ada</code> prints <em>Ada</em>"
    );
    // A line that would open a block keeps its words; later block constructs are flattened
    // into the line; nothing unsafe survives.
    assert_eq!(inline_markdown_to_html("# big\n- item"), "# big item");
    assert_eq!(inline_markdown_to_html("2. Add login"), "2. Add login");
    assert_eq!(inline_markdown_to_html("1) Add login"), "1) Add login");
    assert_eq!(inline_markdown_to_html("---"), "---");
    assert_eq!(inline_markdown_to_html("- a list?"), "- a list?");
    assert_eq!(
        inline_markdown_to_html("[spec]: http://x"),
        "[spec]: http://x"
    );
    assert_eq!(inline_markdown_to_html("> quoted"), "&gt; quoted");
    assert_eq!(
        inline_markdown_to_html("*emphasis* first"),
        "<em>emphasis</em> first"
    );
    assert_eq!(
        inline_markdown_to_html("mail <ada@example.com>"),
        "mail <a href=\"mailto:ada@example.com\">ada@example.com</a>"
    );
    assert_eq!(
        inline_markdown_to_html("see [x](javascript:alert(1)) <b>y</b> ![i](http://h/i.png)"),
        "see x &lt;b&gt;y&lt;/b&gt; i"
    );
    let html = client_html(&report(), CLIENT_TEMPLATE, "built in").unwrap();
    assert!(
        html.contains("<h3>1. Greet &lt;script&gt;alert('x')&lt;/script&gt; &amp; \"friends\" — "),
        "{html}"
    );
}

#[test]
fn a_broken_template_override_names_its_file_and_line() {
    let err = client_html(
        &report(),
        "<p>\n{{ r.nope }}\n",
        "/cfg/templates/report_client.html",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("/cfg/templates/report_client.html"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn milestone_text_is_plain_and_per_task() {
    let r = report();
    let all = milestone_text(&r, None);
    assert!(
        all.starts_with(
            "Website relaunch\nfor Acme <GmbH> · prepared by Ada Lovelace · 10 March 2026\n\n"
        ),
        "{all}"
    );
    assert!(
        all.ends_with("2 of 4 tasks delivered · 1 not delivered · 1 done by hand · 0:04 of work\n"),
        "{all}"
    );
    let one = milestone_text(&r, Some(1));
    assert!(
        one.contains(&format!(
            "1. {EVIL} — Delivered\n   first try\n   Revised after review: friendlier\n"
        )),
        "{one}"
    );
    assert!(one.contains("   [x] criterion 1\n   [ ] criterion 2 (not confirmed in review: the work was accepted without it)\n"), "{one}");
    assert!(one.contains("   Files: a (commit c1c1c1c1c1)\n"), "{one}");
    assert!(one.ends_with("Time: 0:03\n"), "{one}");
    assert!(!one.contains("Reject me"), "{one}");
    // No Markdown escapes or markup in plain text.
    assert!(!one.contains('\\') && !one.contains("**"), "{one}");
}

fn sheet_with(
    preset: Preset,
    who: Identity,
    clockify: ClockifyFormat,
) -> Result<String, ReportError> {
    let (state, entries) = session();
    let opts = TimesheetOptions {
        preset,
        who,
        clockify,
        ..TimesheetOptions::default()
    };
    timesheet_in(&[(&state, &entries)], &opts, &Utc)
}

#[test]
fn tandem_sheet_merges_spans_into_work_blocks() {
    let csv = sheet_with(Preset::Tandem, who(), ClockifyFormat::default()).unwrap();
    // Task 1's two review spans five minutes apart are one block; the hand edit and the review
    // after it stay apart (another activity came in between).
    assert_eq!(
        csv,
        "date,start,end,minutes,task,activity\r\n\
         2026-03-10,09:00:00,09:01:40,1.68,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
         2026-03-10,09:10:00,09:10:30,0.50,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",hand edit\r\n\
         2026-03-10,09:11:00,09:11:20,0.34,\"1. Greet <script>alert('x')</script> & \"\"friends\"\"\",review\r\n\
         2026-03-11,23:59:30,00:00:17,0.78,\"2. Docs, \"\"quoted\"\"\",review\r\n\
         2026-03-12,08:00:00,08:00:07,0.12,\"3. Reject me\",review\r\n"
    );
}

/// A client or project name that reads as a spreadsheet formula is written inert: the
/// importing tool or a spreadsheet shows the text, never runs it.
#[test]
fn a_formula_in_a_name_is_written_inert() {
    let mut evil = who();
    evil.client = Some("=HYPERLINK(\"http://x.example\",\"pay\")".into());
    evil.project = Some("@SUM(1)".into());
    let csv = sheet_with(Preset::Toggl, evil, ClockifyFormat::default()).unwrap();
    let row = csv.split("\r\n").nth(1).unwrap().to_string();
    assert!(row.contains(",'@SUM(1),"), "{row}");
    assert!(row.contains(",\"'=HYPERLINK("), "{row}");
    for cell in ["=x", "+x", "-x", "@x", "\tx"] {
        assert!(inert(cell).starts_with('\''), "{cell}");
    }
    assert_eq!(inert("1. Greet"), "1. Greet");
}

#[test]
fn toggl_preset_has_its_columns_and_durations() {
    let csv = sheet_with(Preset::Toggl, who(), ClockifyFormat::default()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Email,Start date,Start time,Duration,Project,Client,Description,Billable,Tags"
    );
    assert_eq!(
        lines[1],
        "ada@example.com,2026-03-10,09:00:00,00:01:40,Website relaunch,Acme <GmbH>,\"1. Greet <script>alert('x')</script> & \"\"friends\"\" (review)\",Yes,review"
    );
    assert_eq!(
        lines[4],
        "ada@example.com,2026-03-11,23:59:30,00:00:47,Website relaunch,Acme <GmbH>,\"2. Docs, \"\"quoted\"\" (review)\",Yes,review"
    );
    // Seconds add up to the trailers: 121 + 30 + 47 + 7.
    let total: u64 = lines[1..]
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let d = l.split(',').nth(3).unwrap();
            let p: Vec<u64> = d.split(':').map(|x| x.parse().unwrap()).collect();
            p[0] * 3600 + p[1] * 60 + p[2]
        })
        .sum();
    assert_eq!(total, 205);
    let err = sheet_with(
        Preset::Toggl,
        Identity {
            email: None,
            ..who()
        },
        ClockifyFormat::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "the Toggl Track timesheet needs your email: set `email` under [me] in /home/ada/.config/tandem/config.toml or pass --email"
    );
}

#[test]
fn harvest_preset_is_exactly_its_eight_columns() {
    let csv = sheet_with(Preset::Harvest, who(), ClockifyFormat::default()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Date,Client,Project,Task,Notes,Hours,First name,Last name"
    );
    assert_eq!(
        lines[4],
        "2026-03-11,Acme <GmbH>,Website relaunch,Development,\"2. Docs, \"\"quoted\"\" (review)\",0.01,Ada,Lovelace"
    );
    // Task 3's 7 s are no hundredth of an hour: a row of no time is left out, no total changes.
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(!csv.contains("Reject me"), "{csv}");
    // Hundredths of an hour add up to the trailers' 205 s: 0.0569 h → 0.06.
    let hours: u64 = lines[1..]
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let h = l.rsplit(',').nth(2).unwrap();
            let (a, b) = h.split_once('.').unwrap();
            a.parse::<u64>().unwrap() * 100 + b.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(
        hours,
        Unit::CENTIHOUR.of_seconds(121 + 47 + 7) + Unit::CENTIHOUR.of_seconds(30)
    );
    for (missing, setting) in [
        (
            Identity {
                client: None,
                ..who()
            },
            "needs a client: set `name` under [client] in .tandem/config.toml or pass --client",
        ),
        (
            Identity {
                project: None,
                ..who()
            },
            "needs a project: set `project` under [client] in .tandem/config.toml or pass --project",
        ),
        (
            Identity {
                name: Some("Ada".into()),
                ..who()
            },
            "needs your last name (a person in the Harvest account)",
        ),
    ] {
        let err = sheet_with(Preset::Harvest, missing, ClockifyFormat::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(setting), "{err}");
    }
}

#[test]
fn clockify_preset_follows_the_workspace_formats() {
    let csv = sheet_with(Preset::Clockify, who(), ClockifyFormat::default()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Project,Client,Description,Task,Email,Tags,Billable,Start Date,Start Time,Duration (h)"
    );
    assert_eq!(
        lines[1],
        "Website relaunch,Acme <GmbH>,\"1. Greet <script>alert('x')</script> & \"\"friends\"\" (review)\",,ada@example.com,review,Yes,03/10/2026,9:00 AM,0:02"
    );
    let eu = ClockifyFormat::parse(Some("DD.MM.YYYY"), Some("24h"), Some("hh:mm:ss")).unwrap();
    let csv = sheet_with(Preset::Clockify, who(), eu).unwrap();
    assert!(
        csv.contains(",ada@example.com,review,Yes,11.03.2026,23:59,00:00:47\r\n"),
        "{csv}"
    );
    let err = ClockifyFormat::parse(Some("DD/MM/YY"), None, None).unwrap_err();
    assert!(
        err.contains("clockify_date") && err.contains("DD/MM/YYYY"),
        "{err}"
    );
    assert!(ClockifyFormat::parse(None, Some("13h"), None).is_err());
}

#[test]
fn several_sessions_make_one_client_report_oldest_first() {
    let (state, entries) = session();
    let r = build(&state, &entries, &prices());
    let mut later = r.clone();
    later.started = Some(
        DateTime::parse_from_rfc3339("2026-04-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    );
    later.last_activity = later.started;
    let c = client_report(&[r, later], &who(), DateRange::default(), &Utc);
    assert_eq!(c.period, "10 March 2026 – 2 April 2026");
    assert_eq!(c.tasks, 8);
    assert_eq!(c.delivered, 4);
    // 2 × 205 s: the total is rounded once, and the tasks add up to it.
    assert_eq!(c.time, "0:07");
    let minutes: u64 = c
        .sessions
        .iter()
        .flat_map(|s| &s.tasks)
        .map(|t| t.minutes)
        .sum();
    assert_eq!(minutes, 7);
    let md = client_markdown(&c);
    let first = md.find("## Work of 10 March 2026").unwrap();
    let second = md.find("## Work of 2 April 2026").unwrap();
    assert!(first < second, "{md}");
    assert!(
        md.contains("### Brief") && md.contains("#### 1. Greet"),
        "{md}"
    );
    // A range asked for is the period shown.
    let range = DateRange {
        since: parse_date("2026-03-01").ok(),
        until: parse_date("2026-04-30").ok(),
    };
    let c = client_report(&c_reports(), &who(), range, &Utc);
    assert_eq!(c.period, "1 March 2026 – 30 April 2026");
}

fn c_reports() -> Vec<SessionReport> {
    let (state, entries) = session();
    vec![build(&state, &entries, &prices())]
}

#[test]
fn client_markdown_loads_nothing_and_runs_nothing() {
    let (state, entries) = hostile();
    let r = build(&state, &entries, &prices());
    let md = client_markdown(&client_report(&[r], &who(), DateRange::default(), &Utc));
    assert!(md.contains("!\\[logo](http://evil.example/x.png)"), "{md}");
    assert!(md.contains("[click\\](javascript:alert(1))"), "{md}");
    assert!(md.contains("[site](https://example.com)"), "{md}");
    assert!(md.contains("\\<script>"), "{md}");
    assert_eq!(
        md_inline("[ref]: http://evil.example"),
        "\\[ref]: http://evil.example"
    );
    assert_eq!(md_inline("`![x](y)`"), "`![x](y)`");
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    #[derive(clap::Parser)]
    struct W {
        #[command(flatten)]
        a: ReportArgs,
    }
    let parse = |args: &[&str]| {
        let w = <W as clap::Parser>::try_parse_from(
            std::iter::once("report").chain(args.iter().copied()),
        )
        .unwrap();
        check_flags(&w.a).map_err(|e| e.to_string())
    };
    assert_eq!(parse(&[]).unwrap(), (Format::Md, Audience::Client));
    assert_eq!(parse(&["--preset", "toggl"]).unwrap().0, Format::Csv);
    assert_eq!(
        parse(&["--format", "html", "--for", "me"]).unwrap(),
        (Format::Html, Audience::Me)
    );
    for (args, says) in [
        (
            &["--format", "json", "--preset", "harvest"][..],
            "--format csv",
        ),
        (&["--format", "csv", "--for", "me"][..], "--for chooses"),
        (&["--task", "2"][..], "--format text"),
        (
            &["--format", "text", "--task", "2", "--all"][..],
            "without --all",
        ),
        (&["--gap", "5"][..], "--gap and --email are for timesheets"),
        (
            &["--format", "json", "--client", "x"][..],
            "not into json or --for me",
        ),
        (
            &["--for", "me", "--project", "x"][..],
            "not into json or --for me",
        ),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A task accepted with no changes committed nothing: the client report does not count it as
/// delivered or name files for it, and says it was accepted with no changes.
#[test]
fn a_task_accepted_with_no_changes_is_not_delivered_work() {
    let (state, entries) = session();
    let mut r = build(&state, &entries, &prices());
    let before = client_report(std::slice::from_ref(&r), &who(), DateRange::default(), &Utc);
    let t = r
        .tasks
        .iter_mut()
        .find(|t| t.status == Outcome::Accepted)
        .unwrap();
    t.commit = None;
    let n = t.number;
    let c = client_report(&[r], &who(), DateRange::default(), &Utc);
    assert_eq!(c.delivered, before.delivered - 1);
    assert!(
        c.summary.contains("1 accepted with no changes"),
        "{}",
        c.summary
    );
    let task = c.sessions[0].tasks.iter().find(|t| t.number == n).unwrap();
    assert_eq!(task.status, "Accepted with no changes");
    assert!(task.files.is_empty());
}

/// In a session the user dropped, an open task is not "in progress": the client report says
/// it was not done, and counts it so.
#[test]
fn an_open_task_of_a_dropped_session_is_not_in_progress() {
    let (state, entries) = session();
    let mut r = build(&state, &entries, &prices());
    let t = r
        .tasks
        .iter_mut()
        .find(|t| t.status == Outcome::Rejected)
        .unwrap();
    t.status = Outcome::Open;
    let n = t.number;
    let open = client_report(std::slice::from_ref(&r), &who(), DateRange::default(), &Utc);
    assert!(open.summary.contains("1 in progress"), "{}", open.summary);
    r.abandoned = true;
    let c = client_report(&[r], &who(), DateRange::default(), &Utc);
    let task = c.sessions[0].tasks.iter().find(|t| t.number == n).unwrap();
    assert_eq!(task.status, "Not done (work stopped)");
    assert!(
        c.summary.contains("1 not done (work stopped)") && !c.summary.contains("in progress"),
        "{}",
        c.summary
    );
}
