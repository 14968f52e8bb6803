//! End to end in a pseudo-terminal: the real binary, driven by keys, its screen read back
//! through a terminal emulator (vt100), and the resulting commits checked with git.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::json;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Pty {
    fn spawn(cmd: CommandBuilder) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 30,
                cols: 110,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(30).unwrap(),
            std::num::NonZeroU16::new(110).unwrap(),
            0,
        )));
        let p = parser.clone();
        let w = writer.clone();
        std::thread::spawn(move || {
            let _master = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut parser = p.lock().unwrap();
                parser.process(&buf[..n]);
                // Answer cursor-position queries as a real terminal does.
                if buf[..n].windows(4).any(|x| x == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let mut w = w.lock().unwrap();
                    let _ = write!(w, "\x1b[{};{}R", row + 1, col + 1);
                    let _ = w.flush();
                }
            }
        });
        Pty {
            parser,
            writer,
            child,
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Wait until the screen shows `text`.
    async fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {text:?}; screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    fn keys(&mut self, s: &str) {
        let mut w = self.writer.lock().unwrap();
        w.write_all(s.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    async fn exit_code(&mut self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            assert!(
                Instant::now() < deadline,
                "did not exit; screen:\n{}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

fn command(repo: &TestRepo, base_url: &str, args: &[&str]) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(args);
    cmd.cwd(repo.path());
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HOME", repo.home.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("TANDEM_CONFIG_DIR", repo.home.path().join("cfg"));
    cmd.env("GIT_CONFIG_NOSYSTEM", "1");
    cmd.env("OPENAI_BASE_URL", base_url);
    cmd.env("OPENAI_API_KEY", SECRET_KEY);
    cmd.env("TANDEM_MODEL", "fake-model");
    cmd.env("TANDEM_CHECKER", "off");
    cmd.env("TANDEM_LESSONS", "off");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_binary_in_a_terminal_plan_draft_review_accept() {
    let repo = TestRepo::new(&[("notes.md", "# Notes\n")]);
    let plan = repo.input("plan.toml", "[[task]]\ntitle = \"Add a todo list\"\ninstructions = \"Append a TODO section.\"\nacceptance = [\"notes.md has a TODO section\"]\n");
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "notes.md", "content": "# Notes\n\n## TODO\n- ship it\n"}).to_string(),
        ),
        Reply::tool(
            "finish",
            json!({"summary": "added the TODO section"}).to_string(),
        ),
    ])
    .await;
    let mut pty = Pty::spawn(command(&repo, &server.base_url, &["--plan", &plan]));
    pty.wait_for("Add a todo list").await;
    pty.wait_for("enter").await;
    pty.keys("\r");
    pty.wait_for("task base → this iteration").await;
    pty.wait_for("## TODO").await;
    // Tick the criterion and accept.
    pty.keys("\t\t ");
    pty.wait_for("[x] notes.md has a TODO").await;
    pty.keys("a");
    pty.wait_for("session summary").await;
    pty.keys("q");
    assert_eq!(pty.exit_code().await, 0);
    let body = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(body.starts_with("Add a todo list\n"), "{body}");
    assert!(body.contains("- [x] notes.md has a TODO section"), "{body}");
    assert!(body.contains("Tandem-Task: 1"), "{body}");
    assert_eq!(repo.read("notes.md"), "# Notes\n\n## TODO\n- ship it\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_a_terminal_teaches_the_loop() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.arg("demo");
    cmd.cwd(home.path());
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HOME", home.path());
    cmd.env("TMPDIR", home.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("TANDEM_CONFIG_DIR", home.path().join("cfg"));
    let mut pty = Pty::spawn(cmd);
    pty.wait_for("tutor").await;
    pty.wait_for("approves it").await;
    pty.keys("\r");
    pty.wait_for("to comment").await;
    pty.wait_for("Hello, {name}.").await;
    // The cursor starts on the first change (line 4 of the new file); line 5 is the greeting.
    pty.keys("j");
    pty.keys("c");
    pty.wait_for("Comment on greet.py:5").await;
    pty.keys("Warmer, please\r");
    pty.wait_for("✎ Warmer, please").await;
    pty.keys("r");
    // Iteration 2: the agent's answer under the comment's line, and the tutor says what to do.
    pty.wait_for("c1.1 addressed").await;
    pty.wait_for("answered each of your threads").await;
    pty.keys("t");
    pty.keys("v");
    pty.wait_for("c1.1 resolved").await;
    // Accept with the criteria unticked asks first.
    pty.keys("a");
    pty.wait_for("Accept task 1 with 2 criteria unticked?")
        .await;
    pty.keys("y");
    pty.wait_for("Accept with").await;
    pty.keys("a");
    pty.wait_for("(y/n)").await;
    pty.keys("y");
    pty.wait_for("every task is committed").await;
    pty.keys("q");
    assert_eq!(pty.exit_code().await, 0);
    let demo = demo_repo(home.path());
    let log = git(&demo, &["log", "--format=%s"]);
    assert_eq!(
        log,
        "Document usage in the README\nGreet people by name\nThe client's greeter, before tandem\n"
    );
}

/// `e` hands the terminal to a real editor (vi): tandem must stop reading the keyboard while
/// it runs (else keystrokes are split between the two and the file is saved mangled), take the
/// terminal back without asking it anything it may not answer, journal the edit as the
/// reviewer's, and commit exactly what the editor saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edit_in_a_real_editor_in_a_real_terminal() {
    let repo = TestRepo::new(&[("notes.md", "# Notes\n")]);
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"Add a todo list\"\ninstructions = \"Append a TODO section.\"\nacceptance = [\"notes.md has a TODO section\"]\n",
    );
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "write_file",
            json!({"path": "notes.md", "content": "# Notes\n\n## TODO\n- ship it\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "added a TODO"}).to_string()),
    ])
    .await;
    let mut cmd = command(&repo, &server.base_url, &["--plan", &plan]);
    // No vimrc, no swap file, no viminfo: the editor as it ships.
    cmd.env("EDITOR", "vi -u NONE -N -n -i NONE");
    let mut pty = Pty::spawn(cmd);
    pty.wait_for("Add a todo list").await;
    pty.wait_for("enter").await;
    pty.keys("\r");
    pty.wait_for("- ship it").await;
    pty.keys("e");
    // vi's empty-line marks under the file: the editor has the screen.
    pty.wait_for("- ship it\n~").await;
    // A person reads the screen before typing: the editor may draw before it reads its
    // input (on a loaded machine a key typed in that instant went to vi's start-up, not to
    // tandem). A reader tandem failed to stop would keep taking keys, so this still fails.
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Typed at the editor's speed of a person: any key tandem swallowed would be missing.
    for chunk in ["G", "o", "- written by hand", "\x1b", ":wq", "\r"] {
        pty.keys(chunk);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    pty.wait_for("task base → this iteration").await;
    pty.wait_for("written by hand").await;
    assert!(
        !pty.screen().contains("cursor position"),
        "{}",
        pty.screen()
    );
    pty.keys("\t\t ");
    pty.wait_for("[x] notes.md has a TODO").await;
    pty.keys("a");
    pty.wait_for("session summary").await;
    pty.keys("q");
    assert_eq!(pty.exit_code().await, 0);
    let want = "# Notes\n\n## TODO\n- ship it\n- written by hand\n";
    assert_eq!(repo.read("notes.md"), want);
    assert_eq!(git(repo.path(), &["show", "HEAD:notes.md"]), want);
    let journal = repo.journal();
    let edited: Vec<_> = journal
        .iter()
        .filter(|e| e["event"]["type"] == "hand_edited")
        .collect();
    assert_eq!(edited.len(), 1, "{journal:#?}");
    assert_eq!(edited[0]["event"]["path"], "notes.md");
}

const PLAN_A: &str = "[[task]]\ntitle = \"Write a\"\ninstructions = \"Create a.txt.\"\nacceptance = [\"a.txt exists\"]\n";

/// The id of the only session in `repo`.
fn only_session(repo: &TestRepo) -> String {
    repo.journal()[0]["event"]["session"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `tandem sessions`, as printed.
async fn sessions(repo: &TestRepo, base_url: &str) -> String {
    let out = run(repo.tandem(base_url, &["sessions"])).await;
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tandem --brief` beside an unfinished session neither resumes it in silence (dropping the
/// brief) nor starts beside it: it asks, before taking the terminal. `a` abandons the old
/// session through the core and plans the new brief.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brief_beside_an_unfinished_session_asks_and_abandon_starts_the_brief() {
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
    let old = only_session(&repo);
    assert_eq!(server.request_count(), 1);

    server.push(Reply::tool(
        "submit_plan",
        json!({"tasks": [{"title": "Write the zebra changelog", "instructions": "Create CHANGELOG.md.", "acceptance": ["CHANGELOG.md exists"]}]})
            .to_string(),
    ));
    let brief = repo.input("brief.md", "Write a changelog for the zebra release.\n");
    let mut pty = Pty::spawn(command(&repo, &server.base_url, &["--brief", &brief]));
    pty.wait_for(&format!(
        "An unfinished session {old} (drafting task 1, iteration 1) exists."
    ))
    .await;
    pty.wait_for("[r]esume it, [a]bandon it and start this brief, or [q]uit?")
        .await;
    pty.keys("a\r");
    pty.wait_for("Write the zebra changelog").await;
    pty.keys("q");
    assert_eq!(pty.exit_code().await, 0);

    // The planner got the new brief.
    assert_eq!(server.request_count(), 2);
    let planned = server.requests()[1].to_string();
    assert!(
        planned.contains("Write a changelog for the zebra release."),
        "{planned}"
    );
    // The old session is abandoned (nothing of the agent's was left), the new one holds the
    // brief and waits for its plan's approval.
    let listed = sessions(&repo, &server.base_url).await;
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
    let files = repo.journal_files();
    assert_eq!(files.len(), 2, "{files:?}");
    let journal = |path: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (old_file, new_file): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|f| f.parent().unwrap().file_name().unwrap() == old.as_str());
    let old_journal = journal(old_file[0].as_path());
    let abandoned = events(&old_journal, "session_abandoned");
    assert_eq!(abandoned.len(), 1, "{old_journal:#?}");
    assert!(abandoned[0].get("left").is_none(), "{old_journal:#?}");
    let new_journal = journal(new_file[0].as_path());
    let started = events(&new_journal, "session_started");
    assert_eq!(started.len(), 1, "{new_journal:#?}");
    assert!(
        started[0]["brief"]
            .as_str()
            .unwrap()
            .contains("zebra release"),
        "{new_journal:#?}"
    );
    let new = started[0]["session"].as_str().unwrap();
    assert!(line(new).contains("plan awaiting approval"), "{listed}");
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

/// `q` at the question leaves everything as it was; so does `a` while the agent's
/// uncommitted changes are on disk (the core refuses to abandon without --force, and the
/// refusal is shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_or_a_refused_abandon_at_the_question_changes_nothing() {
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
    let id = only_session(&repo);
    let journal_before = std::fs::read_to_string(&repo.journal_files()[0]).unwrap();
    let listed_before = sessions(&repo, &server.base_url).await;
    let status_before = git(repo.path(), &["status", "--porcelain"]);
    assert_eq!(status_before, "?? a.txt\n");
    let brief = repo.input("brief.md", "Something else entirely.\n");
    let unchanged = |repo: &TestRepo| {
        assert_eq!(repo.journal_files().len(), 1, "no second session");
        assert_eq!(
            std::fs::read_to_string(&repo.journal_files()[0]).unwrap(),
            journal_before
        );
        assert_eq!(git(repo.path(), &["status", "--porcelain"]), status_before);
        assert_eq!(repo.read("a.txt"), "a\n");
    };

    let mut pty = Pty::spawn(command(&repo, &server.base_url, &["--brief", &brief]));
    pty.wait_for(&format!(
        "An unfinished session {id} (awaiting review of task 1, iteration 1) exists."
    ))
    .await;
    pty.wait_for("[q]uit?").await;
    pty.keys("q\r");
    assert_eq!(pty.exit_code().await, 0);
    unchanged(&repo);
    assert_eq!(sessions(&repo, &server.base_url).await, listed_before);
    assert_eq!(server.request_count(), 2, "no model call");

    let mut pty = Pty::spawn(command(&repo, &server.base_url, &["--brief", &brief]));
    pty.wait_for("[q]uit?").await;
    pty.keys("a\r");
    pty.wait_for("Nothing was done").await;
    assert_ne!(pty.exit_code().await, 0);
    let screen = pty.screen();
    for needle in [
        "agent's uncommitted changes".to_string(),
        "a.txt".to_string(),
        format!("tandem sessions abandon {id} --force"),
    ] {
        assert!(screen.contains(&needle), "missing {needle:?} in:\n{screen}");
    }
    unchanged(&repo);
    assert_eq!(sessions(&repo, &server.base_url).await, listed_before);
    assert_eq!(server.request_count(), 2, "no model call");
}

/// The brief screen closed with esc, in a real terminal: the brief written but never sent is
/// printed on the restored terminal, and nothing claims a session was saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_brief_screen_prints_the_unsent_brief() {
    let repo = TestRepo::new(&[("notes.md", "# Notes\n")]);
    let server = FakeOpenAi::start(vec![]).await;
    let mut pty = Pty::spawn(command(&repo, &server.base_url, &[]));
    pty.wait_for("Brief").await;
    pty.keys("Make the invoice PDF");
    pty.wait_for("Make the invoice PDF").await;
    pty.keys("\x1b");
    assert_eq!(pty.exit_code().await, 0);
    pty.wait_for("the brief you wrote was not sent").await;
    let screen = pty.screen();
    assert!(screen.contains("Make the invoice PDF"), "{screen}");
    assert!(!screen.contains("saved"), "{screen}");
    assert!(repo.journal_files().is_empty());
}
