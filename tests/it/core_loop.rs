//! The core loop end to end through `tandem exec`: plan from a brief, a revision after a
//! comment, an accept that commits with trailers, a reject that restores the tree.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

const GREET: &str = "def greet():\n    print('hello')\n";

fn plan_reply() -> Reply {
    Reply::tool(
        "submit_plan",
        json!({"tasks": [
            {"title": "Greet by name", "instructions": "Make greet take a name.", "acceptance": ["greet(name) uses the name", "no other file changes"]},
            {"title": "Write a guide", "instructions": "Add docs/guide.md and mention it in notes.txt.", "acceptance": ["the guide exists"]}
        ]})
        .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_revise_accept_reject() {
    let repo = TestRepo::new(&[("greet.py", GREET), ("notes.txt", "notes\n")]);
    // The user's own untracked file: it must survive everything untouched.
    write(repo.path(), "scratch.txt", "mine\n");
    let v1 = "def greet(name):\n    print('hello ' + name)\n";
    let server = FakeOpenAi::start(vec![
        plan_reply(),
        Reply::TextAndTools("Let me look.".into(), vec![("read_file".into(), json!({"path": "greet.py"}).to_string())]),
        Reply::tool("write_file", json!({"path": "greet.py", "content": v1}).to_string()),
        Reply::tool("finish", json!({"summary": "greet takes a name"}).to_string()),
        // Revision: starts from the current files and edits them.
        Reply::tool(
            "edit_file",
            json!({"path": "greet.py", "old_text": "print('hello ' + name)", "new_text": "print(f'Hello, {name}! Welcome.')"}).to_string(),
        ),
        // The first finish leaves the note unanswered: it is sent back once with the reason.
        Reply::tool(
            "finish",
            json!({"summary": "friendlier, as asked", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "It says Hello and Welcome now."}
            ]}).to_string(),
        ),
        Reply::tool(
            "finish",
            json!({"summary": "friendlier, as asked", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "It says Hello and Welcome now."},
                {"thread": "n1", "status": "question", "text": "Friendlier how: emoji too?"}
            ]}).to_string(),
        ),
        // Task 2: a new file in a new directory and an edit of a tracked file; then rejected.
        Reply::Tools(vec![
            ("write_file".into(), json!({"path": "docs/api/guide.md", "content": "# Guide\n"}).to_string()),
            ("edit_file".into(), json!({"path": "notes.txt", "old_text": "notes", "new_text": "notes, see docs"}).to_string()),
            ("write_file".into(), json!({"path": "scratch.txt", "content": "overwritten\n"}).to_string()),
        ]),
        Reply::tool("finish", json!({"summary": "guide added"}).to_string()),
    ])
    .await;
    let brief = repo.input(
        "brief.md",
        "Make the greeter greet by name, and write a guide.\n",
    );
    let review = repo.input(
        "review.toml",
        r#"
[[decision]]
task = 1
action = "revise"
note = "Make it friendlier."
review_seconds = 100
[[decision.comment]]
path = "greet.py"
line = 2
text = "Greet the client by name, warmly."

[[decision]]
task = 1
action = "accept"
accept_anyway = true
criteria_met = [1]
review_seconds = 20

[[decision]]
task = 2
action = "reject"
review_seconds = 7
"#,
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));

    // One commit on the branch, containing exactly the file task 1 changed.
    let log = git(repo.path(), &["log", "--format=%H %s"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].ends_with(" Greet by name"), "{log}");
    let changed = git(repo.path(), &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(changed.trim(), "greet.py");
    assert_eq!(
        repo.read("greet.py"),
        "def greet(name):\n    print(f'Hello, {name}! Welcome.')\n"
    );

    // Trailers, read by git itself.
    let body = git(repo.path(), &["log", "-1", "--format=%B"]);
    let trailers = {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["interpret-trailers", "--parse"])
            .current_dir(repo.path());
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let journal = repo.journal();
    let session = journal[0]["event"]["session"].as_str().unwrap().to_string();
    assert!(
        trailers.contains(&format!("Tandem-Session: {session}\n")),
        "{trailers}"
    );
    assert!(trailers.contains("Tandem-Task: 1\n"), "{trailers}");
    assert!(trailers.contains("Tandem-Iteration: 2\n"), "{trailers}");
    assert!(
        trailers.contains("Tandem-Review-Seconds: 120\n"),
        "{trailers}"
    );
    assert!(
        trailers.contains("Tandem-Model: fake-model\n"),
        "{trailers}"
    );
    assert!(trailers.contains("Tandem-Agent-Seconds: "), "{trailers}");
    assert!(body.contains("- [x] greet(name) uses the name"), "{body}");
    assert!(body.contains("- [ ] no other file changes"), "{body}");
    // The body tells the whole task, every draft in order, not only the last round.
    assert!(
        body.starts_with(
            "Greet by name\n\nIteration 1: greet takes a name\n\n\
             Iteration 2: friendlier, as asked\n\nAcceptance criteria:\n"
        ),
        "{body}"
    );

    // The reject put everything back: the new directory is gone, the edit undone, the user's
    // untracked file has its own content again; nothing else is dirty.
    assert!(!repo.path().join("docs").exists());
    assert_eq!(repo.read("notes.txt"), "notes\n");
    assert_eq!(repo.read("scratch.txt"), "mine\n");
    assert_eq!(
        git(repo.path(), &["status", "--porcelain"]),
        "?? scratch.txt\n"
    );

    // The revision request carried the note, the comment, and the line it points at.
    let requests = server.requests();
    assert_eq!(requests.len(), 9);
    let revision = requests[4]["messages"][1]["content"].as_str().unwrap();
    assert!(
        revision.contains("[n1] note on the whole iteration\n  reviewer: Make it friendlier."),
        "{revision}"
    );
    assert!(revision.contains("[c1.1] greet.py, line 2\n"), "{revision}");
    // The unanswered note came back to the model as the result of its finish call.
    let refused = requests[6]["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(refused.contains("not answered: n1"), "{refused}");
    let replies: Vec<_> = repo
        .journal()
        .into_iter()
        .filter(|e| e["event"]["type"] == "thread_reply")
        .map(|e| (e["event"]["thread"].clone(), e["event"]["reply"].clone()))
        .collect();
    assert_eq!(
        replies,
        vec![
            (json!("c1.1"), json!("addressed")),
            (json!("n1"), json!("question"))
        ]
    );
    assert!(
        revision.contains("> ") && revision.contains("print('hello ' + name)"),
        "{revision}"
    );
    assert!(
        revision.contains("Greet the client by name, warmly."),
        "{revision}"
    );
    // Every request streamed and offered the tools; the tool result came back to the model.
    assert!(requests.iter().all(|r| r["stream"] == true));
    assert!(requests[1]["tools"].as_array().unwrap().len() == 8);
    assert!(tool_results(&requests[2])[0].contains("print('hello')"));

    // The journal: dense sequence, every step, and the same bytes stored under refs/tandem.
    for (i, e) in journal.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
    }
    assert_eq!(events(&journal, "plan_set").len(), 1);
    assert_eq!(events(&journal, "iteration_ready").len(), 3);
    assert_eq!(events(&journal, "decision").len(), 3);
    assert_eq!(events(&journal, "committed").len(), 1);
    assert_eq!(events(&journal, "restored").len(), 1);
    assert_eq!(events(&journal, "session_finished").len(), 1);
    let comment = events(&journal, "comment_added")[0];
    assert_eq!(comment["quote"], "    print('hello ' + name)");
    let calls = events(&journal, "model_call");
    assert_eq!(calls.len(), 9);
    assert!(
        calls
            .iter()
            .all(|c| c["prompt_tokens"].as_u64().unwrap() > 0)
    );
    let human: u64 = events(&journal, "human_time")
        .iter()
        .map(|e| e["ms"].as_u64().unwrap())
        .sum();
    assert_eq!(human, 127_000);
    let stored = stored_journal(repo.path(), &session);
    let on_disk = std::fs::read_to_string(&repo.journal_files()[0]).unwrap();
    assert_eq!(stored, on_disk);
    // Every iteration is kept, also the rejected one, and diffs from its base.
    let snap = git(
        repo.path(),
        &[
            "show",
            "--name-only",
            "--format=",
            &format!("refs/tandem/sessions/{session}/task-2/iteration-1"),
        ],
    );
    assert!(
        snap.contains("docs/api/guide.md") && snap.contains("notes.txt"),
        "{snap}"
    );

    // The key went to the server and nowhere else.
    assert!(
        server
            .auth_headers()
            .iter()
            .all(|h| h == &format!("Bearer {SECRET_KEY}"))
    );
    let grep = std::process::Command::new("grep")
        .args(["-r", "-l", SECRET_KEY, "."])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "key found in {}",
        String::from_utf8_lossy(&grep.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_dirty_keeps_user_changes_byte_for_byte() {
    let repo = TestRepo::new(&[("a.txt", "a\n"), ("b.txt", "b\n"), ("c.txt", "c\n")]);
    // Uncommitted, tracked changes: a staged edit, an unstaged one without a final newline.
    write(repo.path(), "a.txt", "a, edited by me\n");
    git(repo.path(), &["add", "a.txt"]);
    write(repo.path(), "b.txt", "b, unstaged\r\nno newline");
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"Add c2\"\ninstructions = \"x\"\nacceptance = [\"c2 exists\"]\n\
         [[task]]\ntitle = \"Touch b\"\ninstructions = \"y\"\nacceptance = [\"b changed\"]\n",
    );
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "c2.txt", "content": "c2\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "c2"}).to_string()),
        // Task 2 edits a file the user has changed too; reject must give back the user's bytes.
        Reply::tool(
            "write_file",
            json!({"path": "b.txt", "content": "agent\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "b"}).to_string()),
    ])
    .await;
    let review = repo.input("review.toml", "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\n[[decision]]\ntask = 2\naction = \"reject\"\n");

    // Without the flag: refused, with the list of files, and nothing written.
    let refused = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    assert!(!refused.status.success());
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(
        msg.contains("uncommitted changes") && msg.contains("a.txt") && msg.contains("b.txt"),
        "{msg}"
    );
    assert!(!msg.contains("c.txt"), "{msg}");
    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);

    let out = run(repo.tandem(
        &server.base_url,
        &[
            "exec",
            "--allow-dirty",
            "--plan",
            &plan,
            "--review",
            &review,
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "a, edited by me\n");
    assert_eq!(
        std::fs::read(repo.path().join("b.txt")).unwrap(),
        b"b, unstaged\r\nno newline"
    );
    let changed = git(repo.path(), &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(changed.trim(), "c2.txt");
    // The staged edit is still staged, the unstaged one still unstaged.
    let status = git(repo.path(), &["status", "--porcelain"]);
    assert_eq!(status, "M  a.txt\n M b.txt\n");
}
