//! What a user sees when something is missing or wrong: each error names what to fix, exits
//! non-zero, and writes nothing. Also: an unfinished session is never left behind in silence (a
//! new brief names it and the ways out; `tandem sessions abandon` drops it and touches no file).

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

const PLAN_A: &str = "[[task]]\ntitle = \"Write a\"\ninstructions = \"Create a.txt.\"\nacceptance = [\"a.txt exists\"]\n";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The id of the only session in `repo`.
fn session_id(repo: &TestRepo) -> String {
    repo.journal()[0]["event"]["session"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_model_configured_says_how_to_set_one_up() {
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let mut cmd = repo.tandem("unused", &["exec", "--plan", &plan]);
    cmd.env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("TANDEM_MODEL");
    let out = run(cmd).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL=http://localhost:11434/v1",
        "llama.cpp",
        "tandem demo",
        "config.toml",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(repo.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_repo_is_offered_init_and_identity_is_required() {
    let server = FakeOpenAi::start(vec![]).await;
    let repo = TestRepo::new(&[]);
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a git repository") && err.contains("--init"),
        "{err}"
    );
    assert!(
        !repo.path().join(".git").exists(),
        "never git init silently"
    );

    // With --init the repository is made, but with no identity anywhere nothing else happens.
    let out = run(repo.tandem(&server.base_url, &["exec", "--init", "--plan", &plan])).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("git config user.name"), "{err}");
    assert!(repo.path().join(".git").exists());
    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_files_name_file_and_line() {
    let server = FakeOpenAi::start(vec![]).await;
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"acept\"\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("review.toml: line 3"), "{err}");
    assert!(err.contains("accept"), "{err}");

    let bad_plan = repo.input(
        "bad-plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\n",
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &bad_plan])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad-plan.toml") && err.contains("acceptance"),
        "{err}"
    );

    let cfg_dir = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        "model = \"m\"\nmax_steps = -3\n",
    )
    .unwrap();
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("config.toml: line 2") && err.contains("max_steps"),
        "{err}"
    );

    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_whole_loop_without_a_key() {
    let home = tempfile::tempdir().unwrap();
    let out = run(isolated_tandem(home.path(), &["demo"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("comment [c1.1] greet.py:5"), "{stdout}");
    // The scripted agent answers the comment and the note by their labels.
    assert!(stdout.contains("reply on [c1.1]: addressed"), "{stdout}");
    assert!(stdout.contains("reply on [n1]: addressed"), "{stdout}");
    assert!(stdout.contains("[c1.1] resolved"), "{stdout}");
    assert!(stdout.contains("Tandem-Review-Seconds: 135"), "{stdout}");
    // One structural failure is caught and fixed before review: the examples file did not parse.
    assert!(
        stdout.contains("✗ `examples.json` line 3") && stdout.contains("sent back to the drafter"),
        "{stdout}"
    );
    // The checker judges each criterion before review, pointing at the lines.
    assert!(
        stdout.contains("✓ 2. The example matches what greet.py does — examples.json:2"),
        "{stdout}"
    );
    // The demo's repository is in the temp dir it was given, with both tasks committed.
    let demo = demo_repo(home.path());
    let log = git(&demo, &["log", "--format=%s"]);
    assert_eq!(
        log,
        "Document usage in the README\nGreet people by name\nThe client's greeter, before tandem\n"
    );
    assert!(
        std::fs::read_to_string(demo.join("greet.py"))
            .unwrap()
            .contains("lovely to meet you")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brief_beside_an_unfinished_session_is_refused_with_the_way_out() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "a.txt", "content": "a\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "a"}).to_string()),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN_A);
    let empty = repo.input("empty.toml", "");
    // Stopped at a review nobody answered: unfinished, with the agent's a.txt on disk.
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &empty],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let id = session_id(&repo);
    let journal_before = std::fs::read_to_string(&repo.journal_files()[0]).unwrap();

    // A brief (or a plan) does not start a second session beside it, nor is it dropped in
    // silence: exec names the session and both ways out.
    let brief = repo.input("brief.md", "Something else.\n");
    for args in [
        ["exec", "--brief", brief.as_str()],
        ["exec", "--plan", plan.as_str()],
    ] {
        let out = run(repo.tandem(&server.base_url, &args)).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = stderr(&out);
        for needle in [
            format!("session {id}"),
            "unfinished".to_string(),
            format!("tandem exec --resume {id}"),
            format!("tandem sessions abandon {id}"),
        ] {
            assert!(err.contains(&needle), "missing {needle:?} in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    // With --resume, a brief would be ignored: refused too; and a plan only goes to a
    // session whose planning failed, never over the plan it has.
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--brief", &brief])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("--brief cannot go with it"),
        "{}",
        text(&out)
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--plan", &plan])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("session {id} has a plan already")),
        "{}",
        text(&out)
    );
    assert_eq!(repo.journal_files().len(), 1, "no second session");
    assert_eq!(server.request_count(), 2, "no model call");
    assert_eq!(
        std::fs::read_to_string(&repo.journal_files()[0]).unwrap(),
        journal_before
    );

    // Abandoning it while the agent's a.txt is on disk, unreviewed, asks for --force.
    let out = run(repo.tandem(&server.base_url, &["sessions", "abandon", &id])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("a.txt") && err.contains("--force") && err.contains("reject task 1"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&repo.journal_files()[0]).unwrap(),
        journal_before,
        "nothing recorded"
    );

    // Forced: recorded, and the working tree is left exactly as it was, which it says.
    let out = run(repo.tandem(&server.base_url, &["sessions", "abandon", &id, "--force"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    for needle in [
        format!("abandoned session {id}"),
        "The working tree was left as it is".to_string(),
        "  a.txt (new file)".to_string(),
        "git restore --staged --worktree -- FILE".to_string(),
    ] {
        assert!(said.contains(&needle), "missing {needle:?} in:\n{said}");
    }
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "?? a.txt\n");
    let journal = repo.journal();
    let abandoned = events(&journal, "session_abandoned");
    assert_eq!(abandoned.len(), 1);
    assert_eq!(abandoned[0]["left"], json!(["a.txt"]));
    // The copy stored in git has it too.
    let stored = stored_journal(repo.path(), &id);
    assert!(stored.contains("session_abandoned"), "{stored}");

    let listed = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert!(
        stdout(&listed).contains("abandoned at: awaiting review of task 1, iteration 1"),
        "{}",
        text(&listed)
    );
    // Nothing resumes it any more.
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("none is unfinished"),
        "{}",
        text(&out)
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", &id])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("was abandoned"), "{}", text(&out));
    // Twice is harmless.
    let out = run(repo.tandem(&server.base_url, &["sessions", "abandon", &id])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("abandoned already"), "{}", text(&out));
    assert_eq!(events(&repo.journal(), "session_abandoned").len(), 1);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_abandon_a_brief_starts_a_new_session() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // The first draft's request is refused (a bad key): the session stops unfinished, with
    // nothing of the agent's on disk.
    let server = FakeOpenAi::start(vec![Reply::Status(
        401,
        json!({"error": {"message": "bad key", "type": "invalid_request_error"}}).to_string(),
    )])
    .await;
    let plan = repo.input("plan.toml", PLAN_A);
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--auto-accept"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let old = session_id(&repo);

    let brief = repo.input("brief.md", "Write a.txt.\n");
    let refused = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--auto-accept"],
    ))
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        stderr(&refused).contains(&format!("tandem sessions abandon {old}")),
        "{}",
        text(&refused)
    );

    // No agent changes on disk: no --force needed.
    let out = run(repo.tandem(&server.base_url, &["sessions", "abandon", &old])).await;
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!("abandoned session {old}"))
            && said.contains("The working tree was left as it is")
            && !said.contains("uncommitted changes"),
        "{said}"
    );

    server.push(Reply::tool(
        "submit_plan",
        json!({"tasks": [{"title": "Write a", "instructions": "Create a.txt.", "acceptance": ["a.txt exists"]}]})
            .to_string(),
    ));
    server.push(Reply::tool(
        "write_file",
        json!({"path": "a.txt", "content": "a\n"}).to_string(),
    ));
    server.push(Reply::tool("finish", json!({"summary": "a"}).to_string()));
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    // A new session did the job; the abandoned one is still listed, as abandoned.
    assert_eq!(repo.journal_files().len(), 2);
    assert_eq!(repo.read("a.txt"), "a\n");
    let body = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(body.starts_with("Write a\n"), "{body}");
    assert!(!body.contains(&format!("Tandem-Session: {old}")), "{body}");
    let listed = stdout(&run(repo.tandem(&server.base_url, &["sessions"])).await);
    let line = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(&old).contains("abandoned at: drafting task 1, iteration 1"),
        "{listed}"
    );
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.contains("finished: 1/1 tasks accepted"))
            .count(),
        1,
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_accept_with_criteria_unticked_stops_until_it_says_so() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "a.txt", "content": "a\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "a"}).to_string()),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN_A);
    // Accept, but the criterion is not ticked: a quiet accept would commit unchecked work.
    let quiet = repo.input(
        "quiet.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &quiet],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains("accepts task 1, iteration 1 with criteria 1 unticked")
            && said.contains("accept_anyway = true"),
        "{said}"
    );
    // Nothing committed; the draft waits for its review.
    assert_eq!(
        git(repo.path(), &["log", "--format=%s"]).lines().count(),
        1,
        "{}",
        git(repo.path(), &["log", "--format=%s"])
    );
    let id = session_id(&repo);
    // Said explicitly, the accept goes through.
    let sure = repo.input(
        "sure.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--resume", &id, "--review", &sure],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let body = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(body.starts_with("Write a\n"), "{body}");
    assert!(body.contains("- [ ] a.txt exists"), "{body}");
}
