//! The checker (issue 12, item 5): before review, a read-only role judges each acceptance
//! criterion against the diff and the checks; verdicts are journaled, shown and reported, a
//! regression is flagged, and a checker that fails never costs the draft.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

const PLAN: &str = "[[task]]\ntitle = \"Greeting\"\ninstructions = \"Greet.\"\nacceptance = [\"greeting.txt says hello\", \"names.txt lists Ada\"]\n";

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::tool(name, args.to_string())
}

fn write(path: &str, content: &str) -> Reply {
    tool("write_file", json!({"path": path, "content": content}))
}

fn verdicts(v: serde_json::Value) -> Reply {
    tool("submit_verdicts", json!({ "verdicts": v }))
}

fn tandem(repo: &TestRepo, base_url: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = repo.tandem(base_url, args);
    cmd.env("TANDEM_CHECKER", "on");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_judges_every_criterion_read_only_and_flags_a_regression() {
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    let server = FakeOpenAi::start(vec![
        // Iteration 1: the drafter.
        write("greeting.txt", "hello\n"),
        write("names.txt", "Ada\n"),
        tool("finish", json!({"summary": "greeting and names"})),
        // The checker tries to write (refused), reads, then judges.
        write("greeting.txt", "checker was here\n"),
        tool("read_file", json!({"path": "names.txt"})),
        verdicts(json!([
            {"criterion": 1, "verdict": "met", "evidence": "greeting.txt:1 says hello"},
            {"criterion": 2, "verdict": "met", "evidence": "names.txt:1 lists Ada"},
        ])),
        // Iteration 2, after the reviewer's revision: the drafter breaks criterion 1.
        write("greeting.txt", "bye\n"),
        tool(
            "finish",
            json!({"summary": "friendlier", "replies": [
                {"thread": "n1", "status": "addressed", "text": "friendlier"}]}),
        ),
        Reply::Tools(vec![(
            "submit_verdicts".into(),
            json!({"verdicts": [
                {"criterion": 1, "verdict": "not_met", "evidence": "greeting.txt:1 says bye"},
            ]})
            .to_string(),
        )]),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"revise\"\nnote = \"Make it friendlier.\"\n",
    );
    let out = run(tandem(
        &repo,
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 9, "{}", text(&out));

    // The checker's request: read-only tools, the criteria, the checks, the diff under review.
    let checker = &requests[3];
    assert_eq!(
        tool_names(checker),
        ["list_files", "read_file", "search", "submit_verdicts"]
    );
    let asked = checker.to_string();
    for needle in [
        "1. greeting.txt says hello",
        "2. names.txt lists Ada",
        "greeting and names",
        "+hello",
        "+Ada",
    ] {
        assert!(asked.contains(needle), "{needle} not in {asked}");
    }
    // Its write was refused and changed nothing; its read worked.
    let results = tool_results(&requests[5]);
    assert!(
        results[0].starts_with("error: the checker only reads"),
        "{results:?}"
    );
    assert!(results[1].contains("Ada"), "{results:?}");

    let journal = repo.journal();
    let judged = events(&journal, "criteria_judged");
    assert_eq!(judged.len(), 2, "{judged:?}");
    assert_eq!(judged[0]["verdicts"][0]["verdict"], "met");
    assert_eq!(
        judged[0]["verdicts"][1]["evidence"],
        "names.txt:1 lists Ada"
    );
    // Iteration 2 judged criterion 1 only: 2 is unclear, and the problem says so.
    assert_eq!(judged[1]["verdicts"][0]["verdict"], "not_met");
    assert_eq!(judged[1]["verdicts"][1]["verdict"], "unclear");
    assert_eq!(
        judged[1]["problem"],
        "the checker did not judge every criterion"
    );
    // Judged before the draft was ready, and its calls count as the checker's.
    let kinds: Vec<&str> = journal
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    let first_judged = kinds.iter().position(|k| *k == "criteria_judged").unwrap();
    let first_ready = kinds.iter().position(|k| *k == "iteration_ready").unwrap();
    assert!(first_judged < first_ready, "{kinds:?}");
    let checks: Vec<_> = events(&journal, "model_call")
        .into_iter()
        .filter(|e| e["purpose"] == "check")
        .collect();
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert_eq!(repo.read("greeting.txt"), "bye\n");

    // exec shows each verdict beside its criterion, and the regression.
    let shown = stdout(&out);
    assert!(shown.contains("checker: ✓ 1 · ✓ 2"), "{shown}");
    assert!(
        shown.contains("✗ 1. greeting.txt says hello — greeting.txt:1 says bye (REGRESSED"),
        "{shown}"
    );

    // Reports carry the verdicts of the latest draft.
    let server2 = FakeOpenAi::start(vec![]).await;
    let json_out = run(repo.tandem(&server2.base_url, &["report", "--format", "json"])).await;
    assert!(json_out.status.success(), "{}", text(&json_out));
    let report: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let c = &report["tasks"][0]["criteria"];
    assert_eq!(c[0]["checker"]["verdict"], "not_met", "{c}");
    assert_eq!(c[0]["checker"]["regressed"], true, "{c}");
    assert_eq!(c[1]["checker"]["verdict"], "unclear", "{c}");
    let md = run(repo.tandem(
        &server2.base_url,
        &["report", "--format", "md", "--for", "me"],
    ))
    .await;
    let md = stdout(&md);
    assert!(
        md.contains("checker: not met — greeting.txt:1 says bye (regressed"),
        "{md}"
    );
    let html = run(repo.tandem(
        &server2.base_url,
        &["report", "--format", "html", "--for", "me"],
    ))
    .await;
    let html = stdout(&html);
    assert!(
        html.contains("<li class=\"checker regressed\">checker: not met"),
        "{html}"
    );

    // Replay's timeline has them too.
    let replay = run(repo.tandem(&server2.base_url, &["replay", "--print"])).await;
    let replay = stdout(&replay);
    assert!(replay.contains("checker: ✗ 1 · ? 2"), "{replay}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checker_that_fails_never_costs_the_draft_and_text_verdicts_are_read() {
    // A checker that answers in prose twice gives no verdicts: the draft still reaches review.
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    let server = FakeOpenAi::start(vec![
        write("greeting.txt", "hello\n"),
        tool("finish", json!({"summary": "hello"})),
        Reply::text("Looks good to me."),
        Reply::text("Really, it is fine."),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let out = run(tandem(&repo, &server.base_url, &["exec", "--plan", &plan])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("checker: no verdicts (the checker answered without verdicts)"),
        "{shown}"
    );
    assert!(shown.contains("ready for review"), "{shown}");
    assert_eq!(repo.read("greeting.txt"), "hello\n");

    // A model that writes its verdicts as lines is read; one that names no criterion
    // in range is asked again.
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    let server = FakeOpenAi::start(vec![
        write("greeting.txt", "hello\n"),
        tool("finish", json!({"summary": "hello"})),
        Reply::text("1. met — greeting.txt:1 says hello\n2. not met: names.txt is missing"),
    ])
    .await;
    let out = run(tandem(&repo, &server.base_url, &["exec", "--plan", &plan])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let judged = events(&repo.journal(), "criteria_judged")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(judged.len(), 1);
    assert_eq!(judged[0]["verdicts"][1]["verdict"], "not_met");
    assert_eq!(judged[0]["verdicts"][1]["evidence"], "names.txt is missing");
    assert!(judged[0].get("problem").is_none(), "{judged:?}");

    // Off in the config: no checker request at all.
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    config(&repo, "checker = false\n");
    let server = FakeOpenAi::start(vec![
        write("greeting.txt", "hello\n"),
        tool("finish", json!({"summary": "hello"})),
    ])
    .await;
    let mut cmd = repo.tandem(&server.base_url, &["exec", "--plan", &plan]);
    cmd.env_remove("TANDEM_CHECKER");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(server.request_count(), 2);
    assert!(events(&repo.journal(), "criteria_judged").is_empty());

    // A user's checker prompt that parses but cannot render (an unknown variable): the draft
    // still reaches review, and the problem names the file and line.
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    let prompts = repo.home.path().join("tandem-config").join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("checker.md"), "Judge.\n{{ critera }}\n").unwrap();
    let server = FakeOpenAi::start(vec![
        write("greeting.txt", "hello\n"),
        tool("finish", json!({"summary": "hello"})),
    ])
    .await;
    let out = run(tandem(&repo, &server.base_url, &["exec", "--plan", &plan])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stdout(&out).contains("ready for review"), "{}", text(&out));
    let judged = events(&repo.journal(), "criteria_judged")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let problem = judged[0]["problem"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        problem.contains("checker.md") && problem.contains("line 2"),
        "{judged:?}"
    );
    assert_eq!(repo.read("greeting.txt"), "hello\n");
    assert_eq!(server.request_count(), 2, "the checker asked nothing");

    // The task's token budget binds the checker too: spent by the draft, no checker call.
    let repo = TestRepo::new(&[("greeting.txt", "hi\n")]);
    config(&repo, "max_task_tokens = 10\n");
    let server = FakeOpenAi::start(vec![write("greeting.txt", "hello\n")]).await;
    let out = run(tandem(&repo, &server.base_url, &["exec", "--plan", &plan])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(server.request_count(), 1, "{}", text(&out));
    let judged = events(&repo.journal(), "criteria_judged")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        judged[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("max_task_tokens")),
        "{judged:?}"
    );
}
