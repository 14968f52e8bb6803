//! Replay: stepping through a real session by keys, snapshots of what it shows, and the same
//! history replayed in a clone that only fetched `refs/tandem/*`.

use crate::support::driven::Driven;
use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use tandem::tui::clock::ManualTime;
use tandem::tui::keymap::Keymap;
use tandem::tui::replay::Replay;

/// A finished two-task session: task 1 revised after a comment then accepted, task 2 rejected.
pub async fn recorded_session() -> (TestRepo, FakeOpenAi) {
    let repo = TestRepo::new(&[
        ("greet.py", "def greet():\n    print('hello')\n"),
        ("notes.txt", "notes\n"),
    ]);
    let server = FakeOpenAi::start(vec![
        Reply::tool("write_file", json!({"path": "greet.py", "content": "def greet(name):\n    print('hello ' + name)\n"}).to_string()),
        Reply::tool("finish", json!({"summary": "takes a name"}).to_string()),
        Reply::tool(
            "edit_file",
            json!({"path": "greet.py", "old_text": "print('hello ' + name)", "new_text": "print(f'Hello, {name}!')"}).to_string(),
        ),
        Reply::tool(
            "finish",
            json!({"summary": "friendlier", "replies": [{"thread": "c1.1", "status": "addressed", "text": "Hello, name!"}]})
                .to_string(),
        ),
        Reply::tool("write_file", json!({"path": "docs/guide.md", "content": "# Guide\n"}).to_string()),
        Reply::tool("finish", json!({"summary": "guide"}).to_string()),
    ])
    .await;
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"Greet by name\"\ninstructions = \"i\"\nacceptance = [\"uses the name\"]\n\
         [[task]]\ntitle = \"Write a guide\"\ninstructions = \"i\"\nacceptance = [\"guide exists\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"revise\"\nreview_seconds = 75\n\
         [[decision.comment]]\npath = \"greet.py\"\nline = 2\ntext = \"Friendlier, please.\"\n\
         [[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\nreview_seconds = 15\n\
         [[decision]]\ntask = 2\naction = \"reject\"\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    (repo, server)
}

/// The replay view on the real event loop (`support::driven`), its core the replay's.
struct ReplayHarness {
    view: Replay,
    term: Terminal<TestBackend>,
    driven: Driven,
}

impl ReplayHarness {
    fn open(dir: &std::path::Path) -> ReplayHarness {
        let history = tandem::core::history::load(dir, None).unwrap();
        let theme = tandem::infra::theme::Theme::load_with_env(Some("dark"), None, false).unwrap();
        let core = tandem::core::history::spawn_core(dir);
        let (view, fx) = Replay::new(
            history,
            theme,
            Keymap::default(),
            Box::new(ManualTime::new()),
        );
        let mut driven = Driven::new(tandem::tui::Core::Running(core), None);
        for e in fx {
            driven.lp.push(e);
        }
        ReplayHarness {
            view,
            term: Terminal::new(TestBackend::new(120, 24)).unwrap(),
            driven,
        }
    }

    /// Keys, then wait until the diff they asked for (if any) has arrived.
    async fn keys(&mut self, s: &str) {
        self.driven.keys(&mut self.term, &mut self.view, s).await;
        self.driven
            .until(&mut self.term, &mut self.view, "the diff", |v| {
                !v.diff_loading()
            })
            .await;
    }

    async fn screen(&mut self) -> String {
        self.driven.screen(&mut self.term, &mut self.view).await
    }
}

fn filtered(screen: &str) -> String {
    let session = regex::Regex::new(r"\d{8}-\d{6}-[0-9a-f]{4}").unwrap();
    let hash = regex::Regex::new(r"\b[0-9a-f]{10}\b").unwrap();
    let stamp = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").unwrap();
    let s = session.replace_all(screen, "[session]");
    let s = hash.replace_all(&s, "[hash]");
    let s = stamp.replace_all(&s, "[time]");
    // Real durations (offsets, model calls, agent time) grow when the machine is loaded.
    let offset = regex::Regex::new(r"│\s*\d+:\d{2} ").unwrap();
    let s = offset.replace_all(&s, "│ m:ss ");
    let secs = regex::Regex::new(r"· \d+s\b").unwrap();
    let s = secs.replace_all(&s, "· Ns");
    let agent = regex::Regex::new(r"agent \d{2}:\d{2}").unwrap();
    let s = agent.replace_all(&s, "agent mm:ss");
    let tokens = regex::Regex::new(r"\d+\+\d+ tokens").unwrap();
    let s = tokens.replace_all(&s, "N+N tokens");
    // Token counts change width with the prompt, so the panel may cut the duration after them.
    let cut = regex::Regex::new(r"N\+N tokens( · [0-9Ns]*)?\s*│").unwrap();
    let s = cut.replace_all(&s, "N+N tokens · Ns │");
    s.replace(" (from git refs)", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_through_a_session_by_keys() {
    let (repo, _server) = recorded_session().await;
    let mut h = ReplayHarness::open(repo.path());
    assert_eq!(h.view.cursor, 0);
    insta::assert_snapshot!("replay_start", filtered(&h.screen().await));

    // `]`: to the first iteration, ready for review, with its diff.
    h.keys("]").await;
    let ev = &h.view.history.entries[h.view.cursor].event;
    assert!(
        matches!(
            ev,
            tandem::core::journal::JournalEvent::IterationReady {
                task: 1,
                iteration: 1,
                ..
            }
        ),
        "{ev:?}"
    );
    // Forward to the comment: it shows inline, as the reviewer left it.
    h.keys("j").await;
    assert!(matches!(
        h.view.history.entries[h.view.cursor].event,
        tandem::core::journal::JournalEvent::CommentAdded { .. }
    ));
    let screen = h.screen().await;
    assert!(screen.contains("✎ Friendlier, please."), "{screen}");
    insta::assert_snapshot!("replay_comment", filtered(&screen));
    // The next iteration, as an interdiff against the first, with the cycle's times.
    h.keys("]").await;
    h.keys("d").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("iteration 2") && screen.contains("previous → this iteration"),
        "{screen}"
    );
    insta::assert_snapshot!("replay_interdiff", filtered(&screen));
    // Task 2 (rejected) and back; the end shows the review time of task 1's cycles.
    h.keys("}").await;
    assert!(matches!(
        h.view.history.entries[h.view.cursor].event,
        tandem::core::journal::JournalEvent::DraftStarted {
            task: 2,
            iteration: 1,
            ..
        }
    ));
    h.keys("{").await;
    assert!(matches!(
        h.view.history.entries[h.view.cursor].event,
        tandem::core::journal::JournalEvent::DraftStarted {
            task: 1,
            iteration: 1,
            ..
        }
    ));
    h.keys("G").await;
    assert_eq!(h.view.cursor, h.view.len() - 1);
    assert!(h.view.state.finished);
    // Time-lapse: play from the start reaches the end on its own.
    h.keys("g<space>").await;
    assert!(h.view.playing);
    h.keys("?").await;
    insta::assert_snapshot!("replay_help", filtered(&h.screen().await));
}

/// With the diff focused, a jump to a moment without a diff gives the keys back to the
/// timeline: they move it again instead of doing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_back_to_the_timeline_when_the_diff_goes() {
    let (repo, _server) = recorded_session().await;
    let mut h = ReplayHarness::open(repo.path());
    h.keys("]").await;
    h.keys("<tab>").await;
    h.keys("{").await;
    let at = h.view.cursor;
    assert!(at > 0);
    h.keys("g").await;
    assert_eq!(h.view.cursor, 0, "g did not reach the timeline's start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_travels_with_the_repository() {
    let (repo, server) = recorded_session().await;
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
    let clone_parent = tempfile::tempdir().unwrap();
    let clone = clone_parent.path().join("clone");
    git(
        clone_parent.path(),
        &["clone", "-q", bare_url, clone.to_str().unwrap()],
    );
    git(
        &clone,
        &["fetch", "-q", "origin", "refs/tandem/*:refs/tandem/*"],
    );

    let mut in_clone = repo.tandem(&server.base_url, &["sessions"]);
    in_clone.current_dir(&clone);
    let listed = run(in_clone).await;
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed.contains("finished: 1/2 tasks accepted") && listed.contains("(from git refs)"),
        "{listed}"
    );

    let print = |dir: std::path::PathBuf| {
        let mut cmd = repo.tandem(&server.base_url, &["replay", "--print"]);
        cmd.current_dir(dir);
        cmd
    };
    let here = run(print(repo.path().to_path_buf())).await;
    let there = run(print(clone.clone())).await;
    assert!(there.status.success(), "{}", text(&there));
    assert_eq!(
        String::from_utf8_lossy(&here.stdout),
        String::from_utf8_lossy(&there.stdout).replace(" (from git refs)", "")
    );

    // The replay view shows the same moment the same way, diff included.
    let mut a = ReplayHarness::open(repo.path());
    let mut b = ReplayHarness::open(&clone);
    a.keys("]j").await;
    b.keys("]j").await;
    assert_eq!(filtered(&a.screen().await), filtered(&b.screen().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_session_still_open_and_one_killed_mid_write() {
    let (repo, server) = recorded_session().await;
    let path = repo.journal_files().remove(0);
    let before = run({
        let mut c = repo.tandem(&server.base_url, &["replay", "--print"]);
        c.current_dir(repo.path());
        c
    })
    .await;
    // Still open: another process holds the journal's lock while we replay.
    let (writer, _) = tandem::core::journal::JournalWriter::open(&path).unwrap();
    // Killed mid-write: half a line at the end.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"seq\":999,\"at\":\"2026-")
        .unwrap();
    let after = run({
        let mut c = repo.tandem(&server.base_url, &["replay", "--print"]);
        c.current_dir(repo.path());
        c
    })
    .await;
    drop(writer);
    assert!(after.status.success(), "{}", text(&after));
    assert_eq!(
        String::from_utf8_lossy(&before.stdout),
        String::from_utf8_lossy(&after.stdout)
    );
    let mut h = ReplayHarness::open(repo.path());
    h.keys("G").await;
    assert!(h.view.state.finished);
}
