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
    exec_plan(repo, PLAN, replies, extra).await
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

fn run_cmd(command: &str) -> Reply {
    tool("run_command", json!({ "command": command }))
}

/// Whether this kernel sandboxes commands; tests that need it print why they skip.
fn sandbox_works() -> bool {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["__sandbox", "--probe"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    if line.starts_with("enforced") {
        return true;
    }
    eprintln!(
        "skipped: this kernel cannot sandbox commands ({})",
        line.trim()
    );
    false
}

/// Each tool result the model got back, in order, across all requests.
fn results(requests: &[serde_json::Value]) -> Vec<String> {
    requests.last().map(tool_results).unwrap_or_default()
}

fn command_repo() -> TestRepo {
    TestRepo::new(&[
        ("data/old.csv", "a,b\n1,2\n"),
        ("notes.txt", "first\n"),
        ("keep.txt", "keep\n"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_command_writes_is_reviewed_and_put_back_on_reject() {
    if !sandbox_works() {
        return;
    }
    let repo = command_repo();
    let (out, requests) = exec(
        &repo,
        vec![
            run_cmd(
                "printf 'x,y\\n' > data/new.csv && echo more >> notes.txt && rm data/old.csv && echo made it",
            ),
            finish(),
        ],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("note: commands run sandboxed") && shown.contains("$ printf"),
        "{shown}"
    );
    let got = results(&requests);
    assert!(
        got[0].starts_with("exit 0") && got[0].contains("made it"),
        "{got:?}"
    );
    assert!(
        got[0].contains("changed data/new.csv, data/old.csv, notes.txt"),
        "{got:?}"
    );
    // The command was offered as a tool and journaled with its changes.
    let tools: Vec<String> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(tools.contains(&"run_command".to_string()), "{tools:?}");
    let journal = repo.journal();
    let ran = events(&journal, "command_ran");
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0]["exit_code"], 0);
    assert_eq!(ran[0]["sandboxed"], true);
    assert_eq!(
        ran[0]["changed"],
        json!(["data/new.csv", "data/old.csv", "notes.txt"])
    );
    let ready = events(&journal, "iteration_ready");
    let files: Vec<&str> = ready[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["data/new.csv", "data/old.csv", "notes.txt"]);
    // Reject restores every byte the command changed.
    let out = resume(&repo, REJECT).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("data/old.csv"), "a,b\n1,2\n");
    assert_eq!(repo.read("notes.txt"), "first\n");
    assert!(!repo.path().join("data/new.csv").exists());
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_cannot_write_outside_read_the_key_or_reach_the_network() {
    if !sandbox_works() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Control: outside the sandbox the same command does reach the listener.
    let url = format!("http://127.0.0.1:{port}/x");
    let mut control = std::process::Command::new("git")
        .args(["ls-remote", &url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let accepted = |listener: &std::net::TcpListener| {
        for _ in 0..50 {
            if listener.accept().is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    let reached = accepted(&listener);
    let _ = control.kill();
    let _ = control.wait();
    let repo = command_repo();
    config(&repo, "[commands]\ntimeout_seconds = 5\n");
    let home = repo.input("marker", "");
    let home = std::path::Path::new(&home).parent().unwrap().to_path_buf();
    let (out, requests) = exec(
        &repo,
        vec![
            run_cmd("echo escaped > \"$HOME/escape.txt\""),
            run_cmd("echo armed > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit"),
            run_cmd("env; cat /proc/$PPID/environ; cat /proc/1/environ"),
            run_cmd(&format!("GIT_TERMINAL_PROMPT=0 git ls-remote {url}")),
            finish(),
        ],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let got = results(&requests);
    assert!(!home.join("escape.txt").exists(), "{got:?}");
    assert!(!got[0].starts_with("exit 0"), "{got:?}");
    assert!(
        !repo.path().join(".git/hooks/pre-commit").exists(),
        "{got:?}"
    );
    let all = got.join("\n");
    assert!(
        !all.contains(SECRET_KEY),
        "the key reached a command: {all}"
    );
    assert!(
        got[2].contains("TANDEM_COMMAND=1"),
        "env ran and printed: {got:?}"
    );
    if reached {
        assert!(
            !accepted(&listener),
            "a sandboxed command reached the network: {got:?}"
        );
    } else {
        eprintln!("network check skipped: git could not reach the listener even unsandboxed");
    }
    assert!(!got[3].starts_with("exit 0"), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_runs_forever_is_killed_with_its_children() {
    let repo = command_repo();
    config(
        &repo,
        "[commands]\ntimeout_seconds = 1\nwithout_sandbox = \"refuse\"\n",
    );
    if !sandbox_works() {
        return;
    }
    let started = std::time::Instant::now();
    let (out, requests) = exec(
        &repo,
        vec![
            run_cmd("sleep 300 & echo $! > data/child.pid; sleep 300"),
            finish(),
        ],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(started.elapsed().as_secs() < 60);
    let got = results(&requests);
    assert!(
        got[0].starts_with("killed after 1 s (time limit)"),
        "{got:?}"
    );
    let pid = repo.read("data/child.pid");
    let proc_dir = std::path::Path::new("/proc").join(pid.trim());
    let mut gone = false;
    for _ in 0..50 {
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        if state.is_empty() || state.contains(") Z ") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the background child {pid} outlived the time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_refused_by_policy_and_allow_list() {
    let repo = command_repo();
    // Default policy (ask) in exec: nobody can answer, so the tool is not offered.
    let (out, requests) = exec(&repo, vec![run_cmd("echo hi"), finish()], &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        !requests[0]["tools"].to_string().contains("run_command"),
        "offered without a way to ask"
    );
    assert!(
        results(&requests)[0].contains("nobody can here"),
        "{:?}",
        results(&requests)
    );

    let repo = command_repo();
    config(
        &repo,
        "[commands]\npolicy = \"allow\"\nallow = [\"echo\"]\n",
    );
    let (out, requests) = exec(
        &repo,
        vec![
            run_cmd("echo ok"),
            run_cmd("echo ok; touch data/x"),
            run_cmd("rm notes.txt"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let got = results(&requests);
    if sandbox_works() {
        assert!(got[0].starts_with("exit 0"), "{got:?}");
    }
    assert!(got[1].contains("not on the allow-list"), "{got:?}");
    assert!(got[2].contains("not on the allow-list"), "{got:?}");
    assert_eq!(repo.read("notes.txt"), "first\n");
    assert!(!repo.path().join("data/x").exists());

    let repo = command_repo();
    let (_, requests) = exec(
        &repo,
        vec![run_cmd("echo hi"), finish()],
        &["--commands", "never"],
    )
    .await;
    assert!(
        results(&requests)[0].contains("commands are off"),
        "{:?}",
        results(&requests)
    );
}

/// `exec --plan` with this plan text.
async fn exec_plan(
    repo: &TestRepo,
    plan: &str,
    replies: Vec<Reply>,
    extra: &[&str],
) -> (std::process::Output, Vec<serde_json::Value>) {
    let server = FakeOpenAi::start(replies).await;
    let plan = repo.input("plan.toml", plan);
    let mut args = vec!["exec", "--plan", plan.as_str()];
    args.extend_from_slice(extra);
    let out = run(repo.tandem(&server.base_url, &args)).await;
    (out, server.requests())
}

fn write(path: &str, content: &str) -> Reply {
    tool("write_file", json!({"path": path, "content": content}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverable_that_does_not_parse_is_sent_back_and_fixed_before_review() {
    let repo = command_repo();
    let plan = "[[task]]\ntitle = \"Price data\"\ninstructions = \"Write data.json.\"\nacceptance = [\"lists prices\"]\ndeliverables = [\"data.json\", \"docs/prices.md\"]\n";
    let (out, requests) = exec_plan(
        &repo,
        plan,
        vec![
            write("data.json", "{\n  \"tea\": 3.5\n  \"coffee\": 4\n}\n"),
            finish(),
            write("data.json", "{\n  \"tea\": 3.5,\n  \"coffee\": 4\n}\n"),
            write("docs/prices.md", "# Prices\n"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // The drafter saw exactly what was wrong, and was told about the deliverables up front.
    assert!(
        requests[0]
            .to_string()
            .contains("Deliverables (each must exist"),
        "{}",
        requests[0]
    );
    let got = results(&requests);
    assert!(
        got[1].contains("fix round 1 of 2")
            && got[1].contains("deliverable: `data.json` line 3")
            && got[1].contains("deliverable: `docs/prices.md` does not exist"),
        "{got:?}"
    );
    let journal = repo.journal();
    let rounds = events(&journal, "checks_run");
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert_eq!(rounds[0]["sent_back"], true);
    assert_eq!(rounds[1]["sent_back"], false);
    assert!(
        rounds[1]["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "passed"),
        "{rounds:?}"
    );
    // The review is a normal one: nothing still failing.
    let shown = stdout(&out);
    assert!(
        shown.contains("sent back to the drafter, round 1"),
        "{shown}"
    );
    assert!(!shown.contains("checks failing"), "{shown}");
    assert_eq!(
        repo.read("data.json"),
        "{\n  \"tea\": 3.5,\n  \"coffee\": 4\n}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_is_sent_back_and_what_still_fails_reaches_review_marked() {
    let repo = command_repo();
    config(&repo, "fix_rounds = 1\n");
    let sandboxed = sandbox_works();
    // The check comes from the repository's own config; the deliverable from the plan.
    std::fs::create_dir_all(repo.path().join(".tandem")).unwrap();
    std::fs::write(
        repo.path().join(".tandem/config.toml"),
        "checks = [\"grep -q done data/status.txt\"]\n",
    )
    .unwrap();
    let plan = "[[task]]\ntitle = \"Status\"\ninstructions = \"Mark it done.\"\nacceptance = [\"done\"]\ndeliverables = [\"report.csv\"]\n";
    let (out, requests) = exec_plan(
        &repo,
        plan,
        vec![
            write("data/status.txt", "pending\n"),
            finish(),
            write("data/status.txt", "done\n"),
            finish(),
        ],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let got = results(&requests);
    let journal = repo.journal();
    let rounds = events(&journal, "checks_run");
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert_eq!(rounds[0]["sent_back"], true);
    // The bound is reached: the second round goes to review, marked.
    assert_eq!(rounds[1]["sent_back"], false);
    let last: Vec<(String, String)> = rounds[1]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    if sandboxed {
        assert!(
            got[1].contains("check `grep -q done data/status.txt`: exit 1"),
            "{got:?}"
        );
        assert_eq!(
            last,
            [
                ("grep -q done data/status.txt".into(), "passed".into()),
                ("report.csv".into(), "failed".into())
            ]
        );
    }
    let shown = stdout(&out);
    assert!(shown.contains("CHECKS FAILING"), "{shown}");
    assert!(shown.contains("report.csv` does not exist"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_policy_ask_exec_answers_from_the_review_script() {
    if !sandbox_works() {
        return;
    }
    let repo = command_repo();
    let review = repo.input("review.toml", "approve_commands = [\"echo\"]\n");
    let (out, requests) = exec(
        &repo,
        vec![
            run_cmd("echo asked"),
            run_cmd("echo sneaky; rm notes.txt"),
            run_cmd("cat notes.txt"),
            finish(),
        ],
        &["--review", review.as_str()],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // Offered, since someone (the script) can answer.
    assert!(requests[0]["tools"].to_string().contains("run_command"));
    let got = results(&requests);
    assert!(got[0].starts_with("exit 0"), "{got:?}");
    assert!(got[1].contains("the reviewer declined"), "{got:?}");
    assert!(got[2].contains("the reviewer declined"), "{got:?}");
    assert_eq!(repo.read("notes.txt"), "first\n");
    let journal = repo.journal();
    let answered = events(&journal, "command_answered");
    assert_eq!(
        answered
            .iter()
            .map(|a| (
                a["command"].as_str().unwrap(),
                a["approved"].as_bool().unwrap()
            ))
            .collect::<Vec<_>>(),
        [
            ("echo asked", true),
            ("echo sneaky; rm notes.txt", false),
            ("cat notes.txt", false)
        ]
    );
    // Only the allowed one ran.
    assert_eq!(events(&journal, "command_ran").len(), 1);
    let shown = stdout(&out);
    assert!(
        shown.contains("$ echo asked: allowed by the reviewer"),
        "{shown}"
    );
    assert!(
        shown.contains("$ cat notes.txt: declined by the reviewer"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_protocol_draft_is_verified_and_sent_back_too() {
    let repo = command_repo();
    config(&repo, "text_protocol = true\n");
    let plan = "[[task]]\ntitle = \"Price data\"\ninstructions = \"Write data.json.\"\nacceptance = [\"lists prices\"]\ndeliverables = [\"data.json\"]\n";
    let (out, requests) = exec_plan(
        &repo,
        plan,
        vec![
            Reply::text("Here it is.\n```json data.json\n{\"tea\": 3.5,}\n```\n"),
            Reply::text("Fixed.\n```json data.json\n{\"tea\": 3.5}\n```\n"),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(requests.len(), 2, "{}", text(&out));
    // The model saw what failed, in words that fit the text protocol.
    let told = requests[1]["messages"].to_string();
    assert!(
        told.contains("deliverable: `data.json` line 1") && told.contains("search/replace blocks"),
        "{told}"
    );
    let rounds = events(&repo.journal(), "checks_run")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert_eq!(rounds[0]["sent_back"], true);
    assert_eq!(rounds[1]["results"][0]["status"], "passed");
    assert_eq!(repo.read("data.json"), "{\"tea\": 3.5}\n");
    assert!(!stdout(&out).contains("checks failing"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_command_cannot_send_udp_either() {
    if !sandbox_works() {
        return;
    }
    // perl is on every machine git is (git's own scripts need it); skip clearly if not.
    if std::process::Command::new("perl")
        .arg("-e1")
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skipped: no perl to send a UDP datagram with");
        return;
    }
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let send = format!(
        "perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(PeerAddr => \"127.0.0.1:{port}\", Proto => \"udp\") or die \"no socket: $!\\n\"; $s->send(\"leak\") or die \"no send: $!\\n\"; print \"sent\\n\"'"
    );
    let received = |l: &std::net::UdpSocket| {
        let mut buf = [0u8; 16];
        l.recv(&mut buf).is_ok()
    };
    // The control: unconfined, the datagram arrives.
    let out = std::process::Command::new("sh")
        .args(["-c", &send])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sent") && received(&listener),
        "control failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Through the launcher, as every command runs: refused before anything is sent.
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "__sandbox",
            tmp.path().to_str().unwrap(),
            "--net",
            "closed",
            "--",
            &send,
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no socket: Operation not permitted"), "{err}");
    assert!(
        !received(&listener),
        "a sandboxed command sent a UDP datagram"
    );
    // A level the launcher does not know is refused, not read as "anything goes".
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "__sandbox",
            tmp.path().to_str().unwrap(),
            "--net",
            "sealed",
            "--",
            &send,
        ])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown network level `sealed`"),
        "{out:?}"
    );
    assert!(!received(&listener), "a refused launcher ran the command");
}

/// tandem is killed while the agent's command runs; before resuming, the user edits a tracked
/// file and makes a new one. The resume cannot tell those edits from the command's, so undoing
/// the cut-off draft asks first (the bytes saved under refs/tandem-local) instead of putting
/// the files back over the user's edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_cut_off_by_a_crash_never_takes_the_users_later_edits_with_it() {
    if !sandbox_works() {
        return;
    }
    let repo = TestRepo::new(&[("README.md", "# readme\n")]);
    let server = FakeOpenAi::start(vec![
        run_cmd("echo started >> README.md; sleep 30"),
        finish(),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let mut child = repo
        .tandem(
            &server.base_url,
            &["exec", "--plan", &plan, "--commands", "allow"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !repo.read("README.md").contains("started") {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The command's process group may outlive tandem a moment; then the user works.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    crate::support::write(
        repo.path(),
        "README.md",
        "# readme\nstarted\nthe user's line\n",
    );
    crate::support::write(repo.path(), "mine.txt", "mine\n");
    let out = resume(&repo, REJECT).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("README.md"), "{}", text(&out));
    assert_eq!(
        repo.read("README.md"),
        "# readme\nstarted\nthe user's line\n"
    );
    assert_eq!(repo.read("mine.txt"), "mine\n");
    let rescue = rescue_ref(&repo);
    assert_eq!(
        git(repo.path(), &["show", &format!("{rescue}:README.md")]),
        "# readme\nstarted\nthe user's line\n"
    );
}

/// A command overwrites a file git ignores (the client's `.env`): the change is journaled like
/// any other, named in the review as not committed, and a reject puts the file back byte for
/// byte. Whole ignored folders (build output) are not tracked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_overwrites_an_ignored_file_has_it_put_back_on_reject() {
    if !sandbox_works() {
        return;
    }
    let repo = TestRepo::new(&[
        (".gitignore", ".env\ntarget/\n"),
        ("README.md", "# readme\n"),
    ]);
    crate::support::write(repo.path(), ".env", "API_KEY=client-secret-123\n");
    crate::support::write(repo.path(), "target/out.bin", "old build\n");
    let (out, _) = exec(
        &repo,
        vec![
            run_cmd("echo API_KEY=placeholder > .env && echo new build > target/out.bin"),
            finish(),
        ],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(repo.read(".env"), "API_KEY=placeholder\n");
    let shown = stdout(&out);
    assert!(shown.contains(".env"), "{shown}");
    let out = resume(&repo, REJECT).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read(".env"), "API_KEY=client-secret-123\n");
    // Build output in an ignored folder stays as the command left it.
    assert_eq!(repo.read("target/out.bin"), "new build\n");
    // The client's secret is in no ref anyone would push.
    let refs = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname)", "refs/tandem/"],
    );
    for r in refs.lines() {
        let tree = git(repo.path(), &["ls-tree", "-r", "--name-only", r]);
        assert!(!tree.lines().any(|l| l == ".env"), "{r}: {tree}");
    }
}

/// A file git stores converted (here CRLF on disk, LF in git) that a command only touches is
/// not changed by a reject: what tandem compares and puts back is the file's own bytes, never
/// git's converted copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touched_crlf_file_keeps_its_bytes_through_a_reject() {
    if !sandbox_works() {
        return;
    }
    let repo = TestRepo::new(&[(".gitattributes", "*.txt text eol=crlf\n")]);
    crate::support::write(repo.path(), "a.txt", "one\r\ntwo\r\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "crlf"]);
    assert_eq!(git(repo.path(), &["show", "HEAD:a.txt"]), "one\ntwo\n");
    let (out, _) = exec(
        &repo,
        vec![run_cmd("touch a.txt"), finish()],
        &["--commands", "allow"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = resume(&repo, REJECT).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(repo.path().join("a.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
}
