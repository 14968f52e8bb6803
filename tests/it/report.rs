//! `tandem report` on real sessions: every number of the JSON report checked against the journal
//! and the commits, the timesheet against the commit trailers, and the same report from a clone
//! that only fetched `refs/tandem/*`.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::{Value, json};

const GREET: &str = "def greet():\n    print('hello')\n";

/// Prices for the fake model, so the report estimates a cost.
fn price_config(repo: &TestRepo) {
    let dir = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[prices.fake-model]\ninput_per_mtok = 2.0\noutput_per_mtok = 8.0\n",
    )
    .unwrap();
}

async fn report(repo: &TestRepo, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = repo.tandem("http://127.0.0.1:9/v1", args);
    cmd.current_dir(dir);
    run(cmd).await
}

async fn report_json(repo: &TestRepo, dir: &std::path::Path) -> Value {
    let out = report(repo, dir, &["report", "--format", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A trailer's value in a commit, read by git itself.
fn trailer(repo: &TestRepo, commit: &str, key: &str) -> u64 {
    git(
        repo.path(),
        &[
            "log",
            "-1",
            &format!("--format=%(trailers:key={key},valueonly)"),
            commit,
        ],
    )
    .trim()
    .parse()
    .unwrap()
}

/// Minutes column of a CSV timesheet, in hundredths, per data row.
fn csv_minutes(csv: &str) -> Vec<u64> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let minutes = l.split(',').nth(3).unwrap();
            let (m, c) = minutes.split_once('.').unwrap();
            assert_eq!(c.len(), 2, "{l}");
            m.parse::<u64>().unwrap() * 100 + c.parse::<u64>().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_numbers_match_the_journal_and_the_commits() {
    let repo = TestRepo::new(&[("greet.py", GREET), ("notes.txt", "notes\n")]);
    price_config(&repo);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "submit_plan",
            json!({"tasks": [
                {"title": "Greet by name", "instructions": "Make greet take a name.", "acceptance": ["greet(name) uses the name", "no other file changes"]},
                {"title": "Write a guide", "instructions": "Add docs/guide.md.", "acceptance": ["the guide exists"]},
                {"title": "Touch notes", "instructions": "Edit notes.txt.", "acceptance": ["notes changed"]}
            ]})
            .to_string(),
        ),
        Reply::tool(
            "write_file",
            json!({"path": "greet.py", "content": "def greet(name):\n    print('hello ' + name)\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "greet takes a name"}).to_string()),
        Reply::tool(
            "edit_file",
            json!({"path": "greet.py", "old_text": "print('hello ' + name)", "new_text": "print(f'Hello, {name}!')"}).to_string(),
        ),
        Reply::tool(
            "finish",
            json!({"summary": "friendlier", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "warmer"},
                {"thread": "n1", "status": "addressed", "text": "friendlier"}
            ]})
            .to_string(),
        ),
        Reply::tool(
            "write_file",
            json!({"path": "docs/guide.md", "content": "# Guide\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "guide added"}).to_string()),
        Reply::tool(
            "write_file",
            json!({"path": "notes.txt", "content": "changed\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "notes changed"}).to_string()),
    ])
    .await;
    let brief = repo.input("brief.md", "Greet by name, write a guide, touch notes.\n");
    // The rejected task has no review time: the timesheet is checked against the trailers,
    // and only accepted tasks have those.
    let review = repo.input(
        "review.toml",
        r#"
[[decision]]
task = 1
action = "revise"
note = "Friendlier."
review_seconds = 100
[[decision.comment]]
path = "greet.py"
line = 2
text = "Warmer, please."

[[decision]]
task = 1
action = "accept"
accept_anyway = true
criteria_met = [1]
review_seconds = 21

[[decision]]
task = 2
action = "accept"
accept_anyway = true
criteria_met = [1]
review_seconds = 47

[[decision]]
task = 3
action = "reject"
"#,
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let journal = repo.journal();
    let session = journal[0]["event"]["session"].as_str().unwrap();
    let r = report_json(&repo, repo.path()).await;
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["session"], session);
    assert_eq!(r["model"], "fake-model");
    assert_eq!(r["branch"], "main");
    assert_eq!(r["plan_source"], "planner");
    assert_eq!(r["brief"], "Greet by name, write a guide, touch notes.\n");
    assert_eq!(r["finished"], true);
    assert_eq!(r["started"], journal[0]["at"]);

    let calls = events(&journal, "model_call");
    let tokens = |pred: &dyn Fn(&Value) -> bool, field: &str| -> u64 {
        calls
            .iter()
            .filter(|c| pred(c))
            .map(|c| c[field].as_u64().unwrap())
            .sum()
    };
    let agent_ms = |task: u64| -> u64 {
        events(&journal, "iteration_ready")
            .iter()
            .filter(|e| e["task"] == task)
            .map(|e| e["agent_ms"].as_u64().unwrap())
            .sum()
    };
    let head = git(repo.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let head1 = git(repo.path(), &["rev-parse", "HEAD~1"])
        .trim()
        .to_string();

    let tasks = r["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    let expect = [
        // (status, iterations, first draft, per cycle, comments, ticks, commit)
        (
            "accepted",
            2,
            false,
            json!([100, 21]),
            1,
            json!([true, false]),
            Some(&head1),
        ),
        (
            "accepted",
            1,
            true,
            json!([47]),
            0,
            json!([true]),
            Some(&head),
        ),
        ("rejected", 1, false, json!([0]), 0, json!([false]), None),
    ];
    for (t, (status, iterations, first, cycles, comments, ticks, commit)) in
        tasks.iter().zip(expect)
    {
        let n = t["number"].as_u64().unwrap();
        assert_eq!(t["status"], status, "task {n}");
        assert_eq!(t["iterations"], iterations, "task {n}");
        assert_eq!(t["first_draft_accepted"], first, "task {n}");
        assert_eq!(t["review_seconds_per_cycle"], cycles, "task {n}");
        let cycle_sum: u64 = cycles
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(t["review_seconds"], cycle_sum, "task {n}");
        assert_eq!(t["comments"], comments, "task {n}");
        let met: Vec<Value> = t["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["met"].clone())
            .collect();
        assert_eq!(Value::Array(met), ticks, "task {n}");
        assert_eq!(
            t["prompt_tokens"],
            tokens(&|c| c["task"] == n, "prompt_tokens"),
            "task {n}"
        );
        assert_eq!(
            t["completion_tokens"],
            tokens(&|c| c["task"] == n, "completion_tokens"),
            "task {n}"
        );
        assert!(t["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(t["agent_seconds"], (agent_ms(n) + 500) / 1000, "task {n}");
        match commit {
            Some(c) => {
                assert_eq!(t["commit"], c.as_str(), "task {n}");
                // The report's seconds are the trailers' seconds.
                assert_eq!(
                    t["review_seconds"],
                    trailer(&repo, c, "Tandem-Review-Seconds"),
                    "task {n}"
                );
                assert_eq!(
                    t["agent_seconds"],
                    trailer(&repo, c, "Tandem-Agent-Seconds"),
                    "task {n}"
                );
            }
            None => assert_eq!(t["commit"], Value::Null, "task {n}"),
        }
    }

    let totals = &r["totals"];
    let all_prompt = tokens(&|_| true, "prompt_tokens");
    let all_completion = tokens(&|_| true, "completion_tokens");
    assert_eq!(totals["tasks"], 3);
    assert_eq!(totals["accepted"], 2);
    assert_eq!(totals["accepted_first_draft"], 1);
    assert_eq!(totals["accepted_after_feedback"], 1);
    assert_eq!(totals["rejected"], 1);
    assert_eq!(totals["human"], 0);
    assert_eq!(totals["open"], 0);
    assert_eq!(totals["review_cycles"], 4);
    assert_eq!(totals["review_seconds"], 168);
    assert_eq!(totals["review_minutes"], 2.8);
    assert_eq!(totals["mean_review_minutes_per_cycle"], 0.7);
    assert_eq!(totals["prompt_tokens"], all_prompt);
    assert_eq!(totals["completion_tokens"], all_completion);
    assert_eq!(
        totals["planner_prompt_tokens"],
        tokens(&|c| c["purpose"] == "plan", "prompt_tokens")
    );
    assert!(totals["planner_prompt_tokens"].as_u64().unwrap() > 0);
    let agent_total: u64 = (1..=3).map(|n| (agent_ms(n) + 500) / 1000).sum();
    assert_eq!(totals["agent_seconds"], agent_total);
    let cost = (all_prompt as f64 * 2.0 + all_completion as f64 * 8.0) / 1e6;
    assert!(
        (totals["estimated_cost"].as_f64().unwrap() - cost).abs() < 1e-6,
        "{} vs {cost}",
        totals["estimated_cost"]
    );

    // The timesheet adds up to the review seconds the commits record.
    let out = report(&repo, repo.path(), &["report", "--format", "csv"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("date,start,end,minutes,task,activity\r\n"),
        "{csv}"
    );
    let trailers: u64 = git(
        repo.path(),
        &[
            "log",
            "--format=%(trailers:key=Tandem-Review-Seconds,valueonly)",
        ],
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| l.trim().parse::<u64>().unwrap())
    .sum();
    assert_eq!(trailers, 168);
    let minutes = csv_minutes(&csv);
    // A review script's spans end at their decisions, so here they overlap: laid one after
    // the other, task 2's review comes between task 1's two.
    assert_eq!(minutes.len(), 3, "{csv}");
    assert_eq!(
        (minutes.iter().sum::<u64>() * 60 + 50) / 100,
        trailers,
        "{csv}"
    );
    // Rows run in order of start; a scripted review span ends at its decision.
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    let count = |t: &str| rows.iter().filter(|r| r.ends_with(t)).count();
    assert_eq!(count(",\"1. Greet by name\",review"), 2, "{csv}");
    assert_eq!(count(",\"2. Write a guide\",review"), 1, "{csv}");
    let starts: Vec<&str> = rows.iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{csv}");
    // Import presets: a missing field names its setting; set in the configs, the sheet is
    // the tool's exact columns and still adds up.
    let out = report(&repo, repo.path(), &["report", "--preset", "harvest"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the Harvest timesheet needs a client: set `name` under [client] in .tandem/config.toml or pass --client"),
        "{err}"
    );
    let config = repo.home.path().join("tandem-config").join("config.toml");
    let mut cfg = std::fs::read_to_string(&config).unwrap();
    cfg.push_str("\n[me]\nname = \"Ada Lovelace\"\nemail = \"ada@example.com\"\n\n[timesheet]\nharvest_task = \"Coding\"\n");
    std::fs::write(&config, cfg).unwrap();
    std::fs::create_dir_all(repo.path().join(".tandem")).unwrap();
    std::fs::write(
        repo.path().join(".tandem/config.toml"),
        "[client]\nid = \"acme\"\nname = \"Acme, Inc.\"\nproject = \"Greeter\"\n",
    )
    .unwrap();
    let out = report(&repo, repo.path(), &["report", "--preset", "harvest"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let sheet = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = sheet.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        rows[0],
        "Date,Client,Project,Task,Notes,Hours,First name,Last name"
    );
    assert_eq!(rows.len(), 4, "{sheet}");
    assert!(
        rows[1].contains(",\"Acme, Inc.\",Greeter,Coding,1. Greet by name (review),")
            && rows[1].ends_with(",Ada,Lovelace"),
        "{sheet}"
    );
    let centihours: u64 = rows[1..]
        .iter()
        .map(|r| {
            let h = r.rsplit(',').nth(2).unwrap();
            let (a, b) = h.split_once('.').unwrap();
            a.parse::<u64>().unwrap() * 100 + b.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(centihours, (trailers + 18) / 36, "{sheet}");
    let out = report(
        &repo,
        repo.path(),
        &["report", "--preset", "toggl", "--email", "me@x.org"],
    )
    .await;
    let sheet = String::from_utf8(out.stdout).unwrap();
    assert!(
        sheet.starts_with("Email,Start date,Start time,Duration,Project,Client,Description,Billable,Tags\r\nme@x.org,"),
        "{sheet}"
    );
    let out = report(
        &repo,
        repo.path(),
        &["report", "--format", "json", "--preset", "toggl"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format csv"));
    // The milestone text for one task.
    let out = report(
        &repo,
        repo.path(),
        &["report", "--format", "text", "--task", "2"],
    )
    .await;
    let milestone = String::from_utf8(out.stdout).unwrap();
    assert!(
        milestone.starts_with("Greeter\nfor Acme, Inc. · prepared by Ada Lovelace · "),
        "{milestone}"
    );
    assert!(
        milestone.contains("2. Write a guide — Delivered\n   guide added\n"),
        "{milestone}"
    );
    assert!(!milestone.contains("Greet by name"), "{milestone}");
    std::fs::remove_dir_all(repo.path().join(".tandem")).unwrap();

    // Out of range: the header alone.
    let out = report(
        &repo,
        repo.path(),
        &["report", "--format", "csv", "--until", "2000-01-01"],
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "date,start,end,minutes,task,activity\r\n"
    );

    // Markdown for the client by default: what was delivered, in which files, no models.
    let out = report(&repo, repo.path(), &["report", "--project", "Greeter"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let client = String::from_utf8(out.stdout).unwrap();
    assert!(client.starts_with("# Greeter\n"), "{client}");
    assert!(
        client.contains("### 1. Greet by name — Delivered\n\ngreet takes a name\n\nRevised after review: friendlier\n"),
        "{client}"
    );
    assert!(
        client.contains(&format!(
            "Files delivered (commit `{}`):\n\n- `greet.py`",
            &head1[..10]
        )),
        "{client}"
    );
    for internal in ["token", "model", session] {
        assert!(!client.contains(internal), "{internal} in {client}");
    }
    // The detailed log for the freelancer; HTML to a file, written whole.
    let out = report(&repo, repo.path(), &["report", "--for", "me"]).await;
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains(&format!("# Work report: session {session}")),
        "{md}"
    );
    assert!(
        md.contains("Status: **accepted after feedback (2 drafts)**"),
        "{md}"
    );
    // Delivered: what each draft did, in order, as the commit body says it.
    assert!(
        md.contains("Delivered:\n\n- Iteration 1: greet takes a name\n- Iteration 2: friendlier\n"),
        "{md}"
    );
    assert!(md.contains("Delivered: guide added\n"), "{md}");
    let body = git(repo.path(), &["log", "-1", "--format=%B", &head1]);
    assert!(
        body.contains("Iteration 1: greet takes a name\n\nIteration 2: friendlier\n"),
        "{body}"
    );
    assert_eq!(
        r["tasks"][0]["summaries"],
        json!([
            {"iteration": 1, "summary": "greet takes a name"},
            {"iteration": 2, "summary": "friendlier"}
        ])
    );
    assert!(md.contains(&format!("`{}`", &head[..10])), "{md}");
    let html_path = repo.home.path().join("report.html");
    let out = report(
        &repo,
        repo.path(),
        &[
            "report",
            "--format",
            "html",
            "--for",
            "me",
            "-o",
            html_path.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("<svg") && html.contains("Greet by name"));
    let out = report(&repo, repo.path(), &["report", "--format", "html"]).await;
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(
        html.contains("<code>greet.py</code>") && !html.contains("<svg"),
        "{html}"
    );

    // --all wraps the sessions; a range that excludes them gives none.
    let out = report(&repo, repo.path(), &["report", "--all", "--format", "json"]).await;
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["schema_version"], 1);
    assert_eq!(all["sessions"][0], r);
    assert_eq!(all["totals"], r["totals"]);
    let out = report(
        &repo,
        repo.path(),
        &[
            "report",
            "--all",
            "--format",
            "json",
            "--since",
            "2999-01-01",
        ],
    )
    .await;
    let none: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(none["sessions"], json!([]));
    assert_eq!(none["totals"]["tasks"], 0);

    // Mistakes say what to do.
    let out = report(&repo, repo.path(), &["report", "no-such-session"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-session") && err.contains("tandem sessions"),
        "{err}"
    );
    let out = report(&repo, repo.path(), &["report", "--since", "31/12/2026"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
    let out = report(&repo, repo.path(), &["report", "--since", "2999-01-01"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--since 2999-01-01"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_reports_the_same_from_fetched_refs() {
    let repo = TestRepo::new(&[("greet.py", GREET)]);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "greet.py", "content": "def greet(name):\n    print(name)\n"})
                .to_string(),
        ),
        Reply::tool("finish", json!({"summary": "takes a name"}).to_string()),
    ])
    .await;
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"Greet by name\"\ninstructions = \"i\"\nacceptance = [\"uses the name\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\ncriteria_met = [1]\nreview_seconds = 75\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    let bare_url = bare.path().to_str().unwrap();
    git(
        repo.path(),
        &[
            "push",
            "-q",
            bare_url,
            "main",
            "refs/tandem/*:refs/tandem/*",
        ],
    );
    let parent = tempfile::tempdir().unwrap();
    let clone = parent.path().join("clone");
    git(
        parent.path(),
        &["clone", "-q", bare_url, clone.to_str().unwrap()],
    );
    git(
        &clone,
        &["fetch", "-q", "origin", "refs/tandem/*:refs/tandem/*"],
    );
    assert!(!clone.join(".git/tandem").exists());

    let session = repo.journal()[0]["event"]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let out = report(&repo, &clone, &["sessions"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&session) && listed.contains("(from git refs)"),
        "{listed}"
    );

    let here = report_json(&repo, repo.path()).await;
    let there = report_json(&repo, &clone).await;
    assert_eq!(here, there);
    assert_eq!(there["tasks"][0]["review_seconds_per_cycle"], json!([75]));
    assert_eq!(
        there["tasks"][0]["commit"],
        // The bare repository's HEAD may name another branch, so the clone checks nothing out.
        git(&clone, &["rev-parse", "origin/main"]).trim()
    );
    // Named explicitly, and as a timesheet, too.
    let here = report(&repo, repo.path(), &["report", &session, "--format", "csv"]).await;
    let there = report(&repo, &clone, &["report", &session, "--format", "csv"]).await;
    assert!(there.status.success(), "{}", text(&there));
    assert_eq!(here.stdout, there.stdout);
    assert_eq!(
        csv_minutes(&String::from_utf8_lossy(&there.stdout)),
        vec![125]
    );
}

/// `report` and `sessions` read each session's summary and report from a cache beside the
/// journal; the cache never outlives the journal it was derived from: a grown journal, a
/// damaged cache file or a new price gives the report the journal gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reports_follow_the_journal() {
    let home = tempfile::tempdir().unwrap();
    let tandem = |args: &[&str], dir: &std::path::Path| {
        let mut cmd = isolated_tandem(home.path(), args);
        cmd.current_dir(dir);
        cmd
    };
    let out = run(tandem(&["demo", "--headless"], home.path())).await;
    assert!(out.status.success(), "{}", text(&out));
    let demo = demo_repo(home.path());
    let all = |demo: std::path::PathBuf| {
        let cmd = tandem(&["report", "--all", "--format", "json"], &demo);
        async move {
            let out = run(cmd).await;
            assert!(out.status.success(), "{}", text(&out));
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        }
    };
    let first = all(demo.clone()).await;
    let id = first["sessions"][0]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let cache = demo.join(".git/tandem/cache");
    for kind in ["summary", "report"] {
        assert!(cache.join(format!("{id}.{kind}.json")).is_file(), "{kind}");
    }
    // Read back from the cache: the same report.
    assert_eq!(all(demo.clone()).await, first);

    // The journal grows by a minute of review on task 1: the report counts it.
    let journal = demo.join(format!(".git/tandem/sessions/{id}/journal.jsonl"));
    let lines = std::fs::read_to_string(&journal).unwrap().lines().count();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    use std::io::Write as _;
    writeln!(
        f,
        r#"{{"seq":{},"at":"2026-12-01T12:00:00Z","event":{{"type":"human_time","task":1,"iteration":1,"kind":"review","ms":60000,"started":"2026-12-01T11:59:00Z"}}}}"#,
        lines + 1
    )
    .unwrap();
    drop(f);
    let grown = all(demo.clone()).await;
    let review = |r: &Value| {
        r["sessions"][0]["totals"]["review_seconds"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(review(&grown), review(&first) + 60);
    assert_eq!(all(demo.clone()).await, grown);

    // Damaged cache files are derived again.
    for kind in ["summary", "report"] {
        std::fs::write(cache.join(format!("{id}.{kind}.json")), "{\"key\": 1").unwrap();
    }
    assert_eq!(all(demo.clone()).await, grown);
    let out = run(tandem(&["sessions"], &demo)).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{id}  ")),
        "{}",
        text(&out)
    );

    // A price set after the report was cached is applied to it.
    assert_eq!(
        grown["sessions"][0]["totals"]["estimated_cost"],
        Value::Null
    );
    let cfg = home.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[prices.\"tandem-demo (scripted)\"]\ninput_per_mtok = 1000000.0\noutput_per_mtok = 0.0\n",
    )
    .unwrap();
    let priced = all(demo.clone()).await;
    let prompt = priced["sessions"][0]["totals"]["prompt_tokens"]
        .as_u64()
        .unwrap();
    assert!(prompt > 0);
    assert_eq!(
        priced["sessions"][0]["totals"]["estimated_cost"].as_f64(),
        Some(prompt as f64)
    );
}

/// A report or timesheet for a period, with no session named, covers every session of that
/// period, not only the newest (which would bill part of the month).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_covers_every_session_in_it() {
    let repo = two_sessions().await;
    let today = chrono::Local::now().date_naive().to_string();
    let out = report(
        &repo,
        repo.path(),
        &["report", "--format", "json", "--since", &today],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all["sessions"].as_array().map(Vec::len), Some(2), "{all}");
    let out = report(&repo, repo.path(), &["report", "--until", &today]).await;
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(md.contains("First") && md.contains("Second"), "{md}");
    let out = report(
        &repo,
        repo.path(),
        &[
            "report", "--format", "csv", "--since", &today, "--until", &today,
        ],
    )
    .await;
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        csv.contains("1. First") && csv.contains("1. Second"),
        "{csv}"
    );
    // Without a period, the newest session alone, as before.
    let out = report(&repo, repo.path(), &["report"]).await;
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(md.contains("Second") && !md.contains("First"), "{md}");
}

/// When the newest session's journal is damaged, `report` says so and reports nothing, instead
/// of passing an older session off as the latest work; `--all` names what it left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_session_is_not_replaced_by_an_older_one() {
    let repo = two_sessions().await;
    let newest = journal_of(&repo, "Second");
    let text_j = std::fs::read_to_string(&newest).unwrap();
    let mut lines: Vec<&str> = text_j.lines().collect();
    lines[2] = "{not json";
    std::fs::write(&newest, lines.join("\n") + "\n").unwrap();
    let id = id_of(&newest);
    let out = report(&repo, repo.path(), &["report"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(&id) && err.contains("line 3"), "{err}");
    let out = report(&repo, repo.path(), &["report", "--all"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(&id) && err.contains("left out"), "{err}");
}

/// The journal of the session whose task is titled `title`.
fn journal_of(repo: &TestRepo, title: &str) -> std::path::PathBuf {
    let needle = format!("\"title\":\"{title}\"");
    repo.journal_files()
        .into_iter()
        .find(|f| std::fs::read_to_string(f).unwrap().contains(&needle))
        .unwrap_or_else(|| panic!("no session with a task {title:?}"))
}

/// The id of the session whose journal is at `journal`.
fn id_of(journal: &std::path::Path) -> String {
    journal
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string()
}

/// Two finished sessions, one task each ("First" on a.txt, then "Second" on b.txt), ten
/// minutes of review each.
async fn two_sessions() -> TestRepo {
    let repo = TestRepo::new(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    for (file, title) in [("a.txt", "First"), ("b.txt", "Second")] {
        let server = FakeOpenAi::start(vec![
            Reply::tool(
                "write_file",
                json!({"path": file, "content": "changed\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "done"}).to_string()),
        ])
        .await;
        let plan = repo.input(
            "plan.toml",
            &format!(
                "[[task]]\ntitle = \"{title}\"\ninstructions = \"i\"\nacceptance = [\"ok\"]\n"
            ),
        );
        let review = repo.input(
            "review.toml",
            "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\nreview_seconds = 600\n",
        );
        let out = run(repo.tandem(
            &server.base_url,
            &["exec", "--plan", &plan, "--review", &review],
        ))
        .await;
        assert!(out.status.success(), "{}", text(&out));
        // Session ids carry the start to the second: the second session starts in another.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    repo
}

/// A timesheet bills your own sessions: one a colleague began (its journal says their git
/// email) is left out of a period's timesheet and named, unless asked for by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timesheet_leaves_out_a_colleagues_session() {
    let repo = two_sessions().await;
    let second = journal_of(&repo, "Second");
    let text_j = std::fs::read_to_string(&second).unwrap();
    assert!(
        text_j.contains("\"author\":\"reviewer@example.com\""),
        "{text_j}"
    );
    std::fs::write(
        &second,
        text_j.replace(
            "\"author\":\"reviewer@example.com\"",
            "\"author\":\"colleague@example.com\"",
        ),
    )
    .unwrap();
    let today = chrono::Local::now().date_naive().to_string();
    let out = report(
        &repo,
        repo.path(),
        &["report", "--format", "csv", "--since", &today],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        csv.contains("1. First") && !csv.contains("1. Second"),
        "{csv}"
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("colleague@example.com"), "{err}");
    // Without a period, the newest of your own sessions, not an empty sheet.
    let out = report(&repo, repo.path(), &["report", "--format", "csv"]).await;
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(csv.contains("1. First"), "{csv}");
    // Named, it is there.
    let id = id_of(&second);
    let out = report(&repo, repo.path(), &["report", &id, "--format", "csv"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("1. Second"));
}
