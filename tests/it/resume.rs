//! Resume: a session killed with SIGKILL mid-draft picks up cleanly, and a session that stopped
//! for lack of a decision continues at exactly that review.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;
use std::time::Duration;

const PLAN: &str =
    "[[task]]\ntitle = \"Write a\"\ninstructions = \"i\"\nacceptance = [\"a exists\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_draft_then_resume() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let plan = repo.input("plan.toml", PLAN);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "dir/a.txt", "content": "half-done\n"}).to_string(),
        ),
        Reply::Hang,
    ])
    .await;
    let mut child = repo
        .tandem(
            &server.base_url,
            &["exec", "--plan", &plan, "--auto-accept"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_requests(2, Duration::from_secs(30)).await,
        "the draft never got going"
    );
    // The first write happened before the second request; the process is now mid-draft.
    assert_eq!(repo.read("dir/a.txt"), "half-done\n");
    child.kill().unwrap(); // SIGKILL: no cleanup of any kind.
    child.wait().unwrap();

    server.push(Reply::tool(
        "write_file",
        json!({"path": "other.txt", "content": "final\n"}).to_string(),
    ));
    server.push(Reply::tool(
        "finish",
        json!({"summary": "done"}).to_string(),
    ));
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--auto-accept"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("attempt dropped"),
        "{}",
        text(&out)
    );

    // The half-finished attempt was undone (file and the directory it created), the restart's
    // work was committed, and nothing else.
    assert!(!repo.path().join("dir").exists());
    assert_eq!(repo.read("other.txt"), "final\n");
    assert_eq!(
        git(repo.path(), &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "other.txt"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");

    let journal = repo.journal();
    for (i, e) in journal.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "lost or duplicated event");
    }
    assert_eq!(events(&journal, "session_started").len(), 1);
    assert_eq!(events(&journal, "draft_started").len(), 2);
    assert_eq!(events(&journal, "draft_aborted").len(), 1);
    assert_eq!(events(&journal, "iteration_ready").len(), 1);
    assert_eq!(events(&journal, "committed").len(), 1);
    // The journal remembers the aborted attempt's write and its undo.
    let touched: Vec<_> = events(&journal, "file_touched")
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(touched, vec![json!("dir/a.txt"), json!("other.txt")]);
    // The restart is a fresh conversation: it does not carry the dead attempt's tool calls.
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[2]["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_decision_stops_resumably_at_that_review() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let plan = repo.input("plan.toml", PLAN);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "a.txt", "content": "a\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "a"}).to_string()),
    ])
    .await;
    let empty = repo.input("empty.toml", "");
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &empty],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("no decision for task 1, iteration 1"),
        "{stdout}"
    );
    assert!(stdout.contains("tandem exec --resume"), "{stdout}");
    assert_eq!(repo.read("a.txt"), "a\n");

    let sessions = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert!(
        String::from_utf8_lossy(&sessions.stdout)
            .contains("awaiting review of task 1, iteration 1"),
        "{}",
        text(&sessions)
    );

    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\nreview_seconds = 61\n",
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--review", &review])).await;
    assert!(out.status.success(), "{}", text(&out));
    // No draft was redone: still the same two model calls.
    assert_eq!(server.request_count(), 2);
    let body = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(body.contains("Tandem-Review-Seconds: 61"), "{body}");
    let sessions = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert!(
        String::from_utf8_lossy(&sessions.stdout).contains("finished: 1/1 tasks accepted"),
        "{}",
        text(&sessions)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_killed_before_its_plan_is_reported_and_skipped() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // What a kill right after the first journal line of `exec --plan` leaves behind.
    let dir = repo
        .path()
        .join(".git/tandem/sessions/20260101-000000-dead");
    let (mut w, _) =
        tandem::core::journal::JournalWriter::open(&dir.join("journal.jsonl")).unwrap();
    w.append(tandem::core::journal::JournalEvent::SessionStarted {
        session: "20260101-000000-dead".into(),
        tandem_version: "test".into(),
        model: "fake-model".into(),
        branch: Some("main".into()),
        head: None,
        brief: None,
        allow_dirty: false,
        author: None,
    })
    .unwrap();
    drop(w);
    let server = FakeOpenAi::start(vec![]).await;
    let listed = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert!(
        String::from_utf8_lossy(&listed.stdout)
            .contains("abandoned: stopped before its plan was recorded"),
        "{}",
        text(&listed)
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume"])).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("none is unfinished"),
        "{}",
        text(&out)
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--resume", "20260101-000000-dead"],
    ))
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("stopped before its plan was recorded; start a new one"),
        "{}",
        text(&out)
    );
    assert_eq!(server.request_count(), 0);
}
