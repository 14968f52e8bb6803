//! Verified drafts (issue 12): the drafter deletes and moves files, runs sandboxed commands,
//! and every change it or its commands make is put back byte for byte on reject.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

const PLAN: &str =
    "[[task]]\ntitle = \"Tidy up\"\ninstructions = \"Do it.\"\nacceptance = [\"done\"]\n";

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::tool(name, args.to_string())
}

fn finish() -> Reply {
    tool("finish", json!({"summary": "done"}))
}

/// Run `tandem exec --plan PLAN` plus `extra`, answering with `replies`; returns the output and
/// the requests the server saw.
async fn exec(
    repo: &TestRepo,
    replies: Vec<Reply>,
    extra: &[&str],
) -> (std::process::Output, Vec<serde_json::Value>) {
    let server = FakeOpenAi::start(replies).await;
    let plan = repo.input("plan.toml", PLAN);
    let mut args = vec!["exec", "--plan", plan.as_str()];
    args.extend_from_slice(extra);
    let out = run(repo.tandem(&server.base_url, &args)).await;
    (out, server.requests())
}

async fn resume(repo: &TestRepo, review: &str) -> std::process::Output {
    let server = FakeOpenAi::start(vec![]).await;
    let review = repo.input("review.toml", review);
    run(repo.tandem(
        &server.base_url,
        &["exec", "--resume", "--review", review.as_str()],
    ))
    .await
}

const ACCEPT: &str = "[[decision]]\ntask = 1\naction = \"accept\"\ncriteria_met = [1]\n";
const REJECT: &str = "[[decision]]\ntask = 1\naction = \"reject\"\n";

fn tidy_repo() -> TestRepo {
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::new(&[
        ("build.sh", "#!/bin/sh\necho build\n"),
        ("old.txt", "obsolete\n"),
        ("keep.txt", "keep\n"),
    ]);
    let script = repo.path().join("build.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(repo.path(), &["commit", "-qam", "exec"]);
    repo
}

fn tidy_replies() -> Vec<Reply> {
    vec![
        tool(
            "move_file",
            json!({"from": "build.sh", "to": "scripts/build.sh"}),
        ),
        tool("delete_file", json!({"path": "old.txt"})),
        finish(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_and_a_delete_are_committed_as_such_and_rejected_back() {
    let repo = tidy_repo();
    let (out, _) = exec(&repo, tidy_replies(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("move build.sh → scripts/build.sh") && shown.contains("delete old.txt"),
        "{shown}"
    );
    let out = resume(&repo, ACCEPT).await;
    assert!(out.status.success(), "{}", text(&out));
    let files = git(repo.path(), &["ls-tree", "-r", "HEAD"]);
    assert!(
        files.contains("100755 blob") && files.contains("scripts/build.sh"),
        "{files}"
    );
    assert!(
        !files.contains("old.txt") && !files.contains("\tbuild.sh"),
        "{files}"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");

    let repo = tidy_repo();
    let (out, _) = exec(&repo, tidy_replies(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = resume(&repo, REJECT).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("build.sh"), "#!/bin/sh\necho build\n");
    assert_eq!(repo.read("old.txt"), "obsolete\n");
    assert!(!repo.path().join("scripts").exists());
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}
