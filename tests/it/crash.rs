//! Crash safety: the real binary is killed with SIGKILL at many points of one scripted session —
//! at every model request in turn, and after the journal reaches each of a spread of lengths —
//! then resumed to the end. Every time, the outcome must equal an uninterrupted run: the same
//! journal (event by event, once the abandoned attempts and their restarts are set aside), the
//! same commits (trees), the same refs and the same working tree, with no stray file.
//!
//! The fake server answers from the request alone (task, iteration, turn), so a restarted draft
//! gets the same answers as the first attempt did.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const REVIEW: &str = r#"
[[decision]]
task = 1
action = "revise"
note = "Warmer, please."
review_seconds = 30
[[decision.comment]]
path = "greet.py"
line = 1
text = "Say hello by name."

[[decision]]
task = 1
action = "accept"
accept_anyway = true
criteria_met = [1]

[[decision]]
task = 2
action = "reject"
"#;

fn tool(name: &str, args: Value) -> (String, String) {
    (name.to_string(), args.to_string())
}

/// The model: planner, task 1 (two iterations), task 2 (rejected).
fn answer(_n: usize, req: &Value) -> Reply {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
    let prompt = messages
        .get(1)
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let offers = |name: &str| {
        req["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == name))
    };
    if offers("submit_plan") {
        return Reply::tool(
            "submit_plan",
            json!({"tasks": [
                {"title": "Greet", "instructions": "Greet by name.", "acceptance": ["greets by name"]},
                {"title": "Notes", "instructions": "Write notes.", "acceptance": ["notes exist"]}
            ]})
            .to_string(),
        );
    }
    let revision = prompt.contains("asked for a revision");
    // A revision answers the comment and the note the review script leaves.
    let finish = || {
        let replies = if revision {
            json!([{"thread": "c1.1", "status": "addressed"}, {"thread": "n1", "status": "addressed"}])
        } else {
            json!([])
        };
        Reply::tool(
            "finish",
            json!({"summary": "done", "replies": replies}).to_string(),
        )
    };
    match (prompt.contains("Task 1 of 2"), revision, turn) {
        (true, false, 0) => Reply::Tools(vec![
            tool("write_file", json!({"path": "greet.py", "content": "print('hello')\nprint('bye')\n"})),
            tool("write_file", json!({"path": "docs/greet.md", "content": "# Greet\n"})),
        ]),
        (true, false, 1) => Reply::tool(
            "edit_file",
            json!({"path": "greet.py", "old_text": "bye", "new_text": "see you"}).to_string(),
        ),
        (true, false, _) => finish(),
        (true, true, 0) => Reply::tool(
            "edit_file",
            json!({"path": "greet.py", "old_text": "print('hello')", "new_text": "print('hello, ' + name)"}).to_string(),
        ),
        (true, true, _) => finish(),
        (false, _, 0) => Reply::Tools(vec![
            tool("write_file", json!({"path": "notes.txt", "content": "agent notes\n"})),
            tool("edit_file", json!({"path": "keep.txt", "old_text": "keep", "new_text": "kept"})),
        ]),
        (false, _, _) => finish(),
    }
}

struct Outcome {
    journal: Vec<String>,
    commits: String,
    refs: String,
    tree: BTreeMap<String, String>,
    status: String,
}

/// The journal as comparable steps: abandoned attempts (from a draft_started to its
/// draft_aborted) and planner calls a crash made redundant are set aside; ids and times are not
/// compared.
fn normalise(journal: &[Value]) -> Vec<String> {
    let mut steps: Vec<&Value> = Vec::new();
    for e in journal {
        let ev = &e["event"];
        match ev["type"].as_str().unwrap_or("") {
            "draft_aborted" => {
                let start = steps
                    .iter()
                    .rposition(|s| {
                        s["type"] == "draft_started"
                            && s["task"] == ev["task"]
                            && s["iteration"] == ev["iteration"]
                    })
                    .expect("an aborted draft was started");
                steps.truncate(start);
            }
            "plan_set" => {
                // Only the planner call that produced the plan counts.
                let calls: Vec<usize> = steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s["type"] == "model_call" && s["purpose"] == "plan")
                    .map(|(i, _)| i)
                    .collect();
                for i in calls.iter().rev().skip(1) {
                    steps.remove(*i);
                }
                steps.push(ev);
            }
            _ => steps.push(ev),
        }
    }
    steps
        .iter()
        .map(|s| {
            let detail = [
                "task",
                "iteration",
                "path",
                "name",
                "action",
                "step",
                "ok",
                "criterion",
            ]
            .iter()
            .filter_map(|k| s.get(*k).map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ");
            format!("{} {detail}", s["type"].as_str().unwrap_or("?"))
        })
        .collect()
}

fn outcome(repo: &TestRepo) -> Outcome {
    let journal = repo.journal();
    for (i, e) in journal.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "lost or duplicated event");
    }
    let session = journal[0]["event"]["session"].as_str().unwrap().to_string();
    // The stored copy of the journal is the journal.
    let stored = stored_journal(repo.path(), &session);
    assert_eq!(
        stored,
        std::fs::read_to_string(&repo.journal_files()[0]).unwrap()
    );
    let commits = git(repo.path(), &["log", "--format=%T %s"]);
    let refs = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname)", "refs/tandem"],
    )
    .replace(&session, "S");
    let mut snaps = String::new();
    for r in refs.lines().filter(|r| r.contains("/iteration-")) {
        let real = r.replace("/S/", &format!("/{session}/"));
        snaps.push_str(&format!(
            "{r} {}",
            git(repo.path(), &["rev-parse", &format!("{real}^{{tree}}")])
        ));
    }
    let mut tree = BTreeMap::new();
    collect(repo.path(), repo.path(), &mut tree);
    Outcome {
        journal: normalise(&journal),
        commits,
        refs: refs + &snaps,
        tree,
        status: git(repo.path(), &["status", "--porcelain", "--ignored"]),
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if rel == ".git" {
            continue;
        }
        if p.is_dir() {
            out.insert(format!("{rel}/"), String::new());
            collect(root, &p, out);
        } else {
            out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

fn assert_same(reference: &Outcome, got: &Outcome, what: &str) {
    if reference.journal != got.journal {
        let at = reference
            .journal
            .iter()
            .zip(&got.journal)
            .position(|(a, b)| a != b)
            .unwrap_or(reference.journal.len().min(got.journal.len()));
        panic!(
            "journal differs after {what} at step {at}:\n  expected: {:?}\n  got:      {:?}",
            &reference.journal[at.saturating_sub(2)..(at + 3).min(reference.journal.len())],
            &got.journal[at.saturating_sub(2)..(at + 3).min(got.journal.len())]
        );
    }
    assert_eq!(
        reference.commits, got.commits,
        "commits differ after {what}"
    );
    assert_eq!(reference.refs, got.refs, "refs differ after {what}");
    assert_eq!(
        reference.tree, got.tree,
        "working tree differs after {what}"
    );
    assert_eq!(
        reference.status, got.status,
        "git status differs after {what}"
    );
}

fn fresh_repo() -> (TestRepo, String, String) {
    let repo = TestRepo::new(&[("keep.txt", "keep\n"), ("README.md", "readme\n")]);
    let brief = repo.input("brief.md", "Greet by name, and write notes.\n");
    let review = repo.input("review.toml", REVIEW);
    (repo, brief, review)
}

async fn resume_to_end(repo: &TestRepo, server: &FakeOpenAi, review: &str, what: &str) {
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--review", review])).await;
    assert!(out.status.success(), "resume after {what}: {}", text(&out));
}

/// An uninterrupted run: its outcome, its request count and its journal length.
async fn reference() -> (Outcome, usize, usize) {
    let server = FakeOpenAi::start_with(answer).await;
    let (repo, brief, review) = fresh_repo();
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let o = outcome(&repo);
    let lines = repo.journal().len();
    // The scenario exercises what it should: a revision, a commit, a reject that restores.
    assert!(o.journal.iter().any(|l| l.starts_with("restored")));
    assert_eq!(o.commits.lines().count(), 2, "{}", o.commits);
    assert_eq!(o.tree["keep.txt"], "keep\n");
    (o, server.request_count(), lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_at_every_model_request_then_resume() {
    let started = Instant::now();
    let (reference, requests, _) = reference().await;
    assert_eq!(requests, 8);
    for k in 1..=requests {
        let what = format!("a kill at request {k}");
        let server = FakeOpenAi::start_with(answer).await;
        server.hang_on(Some(k));
        let (repo, brief, review) = fresh_repo();
        let mut child = repo
            .tandem(
                &server.base_url,
                &["exec", "--brief", &brief, "--review", &review],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            server.wait_for_requests(k, Duration::from_secs(30)).await,
            "request {k} never came"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        server.hang_on(None);
        resume_to_end(&repo, &server, &review, &what).await;
        assert_same(&reference, &outcome(&repo), &what);
    }
    eprintln!(
        "kill_at_every_model_request_then_resume: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_as_the_journal_grows_then_resume() {
    let started = Instant::now();
    let (reference, _, lines) = reference().await;
    let mut kills = 0;
    // Every third length, offset so that consecutive runs of the suite do not all agree.
    for target in (2..lines).step_by(3) {
        let what = format!("a kill at journal line {target}");
        let server = FakeOpenAi::start_with(answer).await;
        let (repo, brief, review) = fresh_repo();
        let mut child = repo
            .tandem(
                &server.base_url,
                &["exec", "--brief", &brief, "--review", &review],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut killed = false;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let len = repo
                .journal_files()
                .first()
                .and_then(|p| std::fs::read(p).ok())
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0);
            if len >= target {
                child.kill().unwrap();
                killed = true;
                break;
            }
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        child.wait().unwrap();
        if killed {
            kills += 1;
        }
        let finished = repo
            .journal()
            .iter()
            .any(|e| e["event"]["type"] == "session_finished");
        if !finished {
            resume_to_end(&repo, &server, &review, &what).await;
        }
        assert_same(&reference, &outcome(&repo), &what);
    }
    assert!(kills >= 3, "only {kills} kills landed");
    eprintln!(
        "kill_as_the_journal_grows_then_resume: {kills} kills, {:?}",
        started.elapsed()
    );
}
