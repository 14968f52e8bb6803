//! The TUI driven by key strings through its real event loop (`support::driven`), wired to a
//! real core and the fake model server: snapshots of every screen and popup, and the journal and
//! git results of a whole review loop.

use crate::support::driven::{Driven, TermSender, counted_input};
use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::time::Duration;
use tandem::core::engine::{CoreHandle, Engine, EngineSettings, SessionSetup};
use tandem::core::protocol::Op;
use tandem::infra::model::openai::{OpenAiModel, OpenAiSettings};
use tandem::infra::model::{ModelClient, RetryPolicy};
use tandem::tui::app::{App, Awaiting, Effect, Screen};
use tandem::tui::clock::ManualTime;
use tandem::tui::keymap::{Keymap, key_string};

/// A session's `App` on the real event loop (`support::driven`), its core on the fake server.
pub struct Harness {
    pub app: App,
    pub term: Terminal<TestBackend>,
    /// The loop, its input and its host (whose editor writes `host.editor_writes`).
    pub driven: Driven,
    pub time: ManualTime,
    pub repo: TestRepo,
    pub server: FakeOpenAi,
}

fn model(base_url: &str, retry: RetryPolicy) -> ModelClient {
    ModelClient::OpenAi(Box::new(OpenAiModel::new(OpenAiSettings {
        base_url: base_url.to_string(),
        api_key: Some(SECRET_KEY.into()),
        key_env: "OPENAI_API_KEY".into(),
        model: "fake-model".into(),
        retry,
        idle_timeout: Duration::from_secs(30),
        first_token_timeout: Duration::from_secs(30),
        limits: Default::default(),
    })))
}

/// A new session on `brief` in `repo`, its model the fake server, running on its own thread.
fn start_core(
    repo: &TestRepo,
    brief: &str,
    server: &FakeOpenAi,
    settings: EngineSettings,
    retry: RetryPolicy,
) -> CoreHandle {
    open_core(repo.path(), &server.base_url, brief.into(), settings, retry).unwrap()
}

fn open_core(
    root: &std::path::Path,
    url: &str,
    brief: String,
    settings: EngineSettings,
    retry: RetryPolicy,
) -> anyhow::Result<CoreHandle> {
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::create(
        root,
        SessionSetup {
            brief: Some(brief),
            plan: None,
            allow_dirty: false,
        },
        model(url, retry),
        tandem::infra::prompts::Prompts::load(None)?,
        settings,
        tx,
    )?;
    Ok(tandem::core::engine::start(engine, events))
}

/// One attempt: a failing reply fails at once unless a test asks for retries.
fn no_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    }
}

impl Harness {
    pub async fn start(
        files: &[(&str, &str)],
        brief: &str,
        replies: Vec<Reply>,
        size: (u16, u16),
    ) -> Harness {
        Self::start_with(files, brief, replies, size, EngineSettings::default()).await
    }

    pub async fn start_with(
        files: &[(&str, &str)],
        brief: &str,
        replies: Vec<Reply>,
        size: (u16, u16),
        settings: EngineSettings,
    ) -> Harness {
        Self::start_retrying(files, brief, replies, size, settings, no_retries()).await
    }

    pub async fn start_retrying(
        files: &[(&str, &str)],
        brief: &str,
        replies: Vec<Reply>,
        size: (u16, u16),
        settings: EngineSettings,
        retry: RetryPolicy,
    ) -> Harness {
        let repo = TestRepo::new(files);
        let server = FakeOpenAi::start(replies).await;
        let core = start_core(&repo, brief, &server, settings, retry);
        let time = ManualTime::new();
        let theme = tandem::infra::theme::Theme::load_with_env(Some("dark"), None, false).unwrap();
        let mut app = App::new(
            Keymap::default(),
            theme,
            Box::new(time.clone()),
            Duration::from_secs(120),
        );
        app.editor_available = true;
        let term = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
        Harness {
            app,
            term,
            driven: Driven::new(tandem::tui::Core::Running(core), Some(time.clone())),
            time,
            repo,
            server,
        }
    }

    /// Run the loop until `done` holds (10 s at most).
    pub async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        self.driven
            .until(&mut self.term, &mut self.app, what, done)
            .await;
    }

    /// Approve the plan (enter) and wait until the first review's diff is on screen.
    pub async fn approve_plan_and_wait_for_review(&mut self) {
        self.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
            .await;
        self.keys("<enter>").await;
        self.until("review", |a| {
            matches!(a.awaiting, Awaiting::Review { .. }) && a.review().is_some_and(|r| !r.loading)
        })
        .await;
    }

    /// Type keys into the terminal; return when the loop has handled them.
    pub async fn keys(&mut self, s: &str) {
        self.driven.keys(&mut self.term, &mut self.app, s).await;
    }

    /// The screen as the loop drew it, its visible diff highlighted.
    pub async fn screen(&mut self) -> String {
        self.driven.screen(&mut self.term, &mut self.app).await
    }

    pub fn journal(&self) -> Vec<serde_json::Value> {
        self.repo.journal()
    }
}

macro_rules! snap {
    ($name:expr, $screen:expr) => {
        let screen: String = $screen;
        insta::with_settings!({
            filters => vec![
                // A session id, also one the screen edge cuts right after its date.
                (r"\b20\d{6}(-\d{0,6}(-[0-9a-f]{0,4})?)?", "[session]"),
                (r"\b[0-9a-f]{10}\b", "[hash]"),
                // Token counts follow the prompt text, which is tuned on its own.
                (r"\d+ tokens\s*│", "N tokens │"),
                (r"\d+ tokens", "N tokens"),
                // The summary's agent column is real time: it grows when the machine is loaded.
                (r"(\d{2}:\d{2} {5})\d{2}:\d{2}(  )", "${1}mm:ss${2}"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, screen);
        });
    };
}

const GREET: &str = "import sys\n\n\ndef main():\n    print(\"hello\")\n\n\nif __name__ == \"__main__\":\n    main()\n";
const GREET_V1: &str = "import sys\n\n\ndef main():\n    name = sys.argv[1] if len(sys.argv) > 1 else \"there\"\n    print(f\"Hello, {name}.\")\n\n\nif __name__ == \"__main__\":\n    main()\n";

fn plan_reply() -> Reply {
    Reply::tool(
        "submit_plan",
        json!({"tasks": [
            {"title": "Greet by name", "instructions": "Make greet.py greet the name given.", "acceptance": ["greets the name", "works without a name"]},
            {"title": "Document usage", "instructions": "Explain usage in README.md.", "acceptance": ["README has Usage"]}
        ]})
        .to_string(),
    )
}

async fn cursor_to_new_line(h: &mut Harness, line: u32) {
    let view = &h.app.review().unwrap().view;
    let target = (0..view.rows.len())
        .find(|&i| {
            let mut probe = tandem::tui::diff_view::DiffView::default();
            probe.rows = view.rows.clone();
            probe.files = view.files.clone();
            probe.cursor = i;
            probe.cursor_new_line().map(|(_, n)| n) == Some(line)
        })
        .expect("line in diff");
    let cur = view.cursor;
    // Thread rows are not cursor stops: count only the rows `j`/`k` land on.
    let stops = |a: usize, b: usize| {
        view.rows[a..b]
            .iter()
            .filter(|r| !matches!(r, tandem::tui::diff_view::Row::Thread { .. }))
            .count()
    };
    let keys = if target >= cur {
        "j".repeat(stops(cur + 1, target + 1))
    } else {
        "k".repeat(stops(target, cur))
    };
    h.keys(&keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_loop_by_keys_commits_with_review_time() {
    let mut h = Harness::start(
        &[("greet.py", GREET), ("README.md", "# greeter\n")],
        "Greet people by name; document it.",
        vec![
            plan_reply(),
            Reply::TextAndTools("Reading first.".into(), vec![("read_file".into(), json!({"path": "greet.py"}).to_string())]),
            Reply::tool("write_file", json!({"path": "greet.py", "content": GREET_V1}).to_string()),
            Reply::tool("finish", json!({"summary": "greets by name"}).to_string()),
            Reply::tool(
                "edit_file",
                json!({"path": "greet.py", "old_text": "print(f\"Hello, {name}.\")", "new_text": "print(f\"Hi {name}, lovely to meet you!\")"}).to_string(),
            ),
            Reply::tool(
                "finish",
                json!({"summary": "warmer", "replies": [
                    {"thread": "c1.1", "status": "addressed", "text": "It says \"lovely to meet you\" now."},
                    {"thread": "n1", "status": "question", "text": "Is one line short enough?"}
                ]}).to_string(),
            ),
            Reply::tool("write_file", json!({"path": "README.md", "content": "# greeter\n\n## Usage\n\npython greet.py Ada\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "usage"}).to_string()),
        ],
        (100, 30),
    )
    .await;

    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    snap!("plan", h.screen().await);
    h.keys("?").await;
    snap!("help_popup", h.screen().await);
    h.keys("<esc><enter>").await;
    h.until("review of task 1", |a| {
        matches!(
            a.awaiting,
            Awaiting::Review {
                task: 1,
                iteration: 1
            }
        ) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    snap!("review", h.screen().await);

    // Comment on the greeting line, after reading for a minute and a half.
    h.time.advance(Duration::from_secs(90));
    cursor_to_new_line(&mut h, 6).await;
    h.keys("c").await;
    h.keys("Warmer please, this is for a client").await;
    snap!("comment_popup", h.screen().await);
    h.keys("<enter>").await;
    h.until("the comment", |a| {
        a.state
            .iteration(1, 1)
            .is_some_and(|i| i.comments.len() == 1)
    })
    .await;
    snap!("review_with_comment", h.screen().await);
    h.keys("n").await;
    h.keys("Keep it short.<enter>").await;
    h.until("the note", |a| {
        a.state.iteration(1, 1).is_some_and(|i| i.note.is_some())
    })
    .await;
    h.keys("r").await;
    h.until("drafting iteration 2", |a| {
        matches!(a.screen, Screen::Drafting(_))
    })
    .await;
    h.until("review of iteration 2", |a| {
        matches!(
            a.awaiting,
            Awaiting::Review {
                task: 1,
                iteration: 2
            }
        ) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    // The revision request carried the comment and the quoted line.
    let req = &h.server.requests()[4];
    let prompt = req["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("[c1.1] greet.py, line 6\n")
            && prompt.contains("print(f\"Hello, {name}.\")"),
        "{prompt}"
    );
    // Iteration 2 shows both threads with the agent's answers: the comment under its line
    // (which changed: outdated), the note above the files.
    snap!("review_threads", h.screen().await);
    let screen = h.screen().await;
    assert!(
        screen.contains("c1.1 addressed · greet.py:6 · outdated"),
        "{screen}"
    );
    assert!(
        screen.contains("n1 question · note of iteration 1"),
        "{screen}"
    );
    assert!(screen.contains("2 threads open"), "{screen}");
    assert!(
        prompt.contains("Warmer please") && prompt.contains("Keep it short."),
        "{prompt}"
    );

    h.keys("d").await;
    h.until("the interdiff", |a| a.review().is_some_and(|r| !r.loading))
        .await;
    snap!("interdiff", h.screen().await);
    h.time.advance(Duration::from_secs(30));
    // To the comment's thread, and resolve it: the agent did what was asked.
    h.keys("tv").await;
    h.until("c1.1 resolved", |a| {
        a.state.task(1).is_some_and(|t| {
            t.thread("c1.1".parse().unwrap())
                .is_some_and(|th| th.resolved)
        })
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("✓ c1.1 resolved"), "{screen}");
    snap!("review_thread_resolved", screen);
    // Answer the note's question: the thread is open again, the agent's turn next.
    h.keys("gc").await;
    h.keys("Yes, one line is fine.<enter>").await;
    h.until("n1 answered", |a| {
        a.state.task(1).is_some_and(|t| {
            t.thread("n1".parse().unwrap())
                .is_some_and(|th| th.posts.len() == 3)
        })
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("● n1 open"), "{screen}");
    assert!(
        screen.contains("you (it. 2): Yes, one line is fine."),
        "{screen}"
    );
    snap!("review_thread_answered", screen);
    h.keys("<tab><tab><space>j<space>").await;
    h.until("ticks", |a| {
        a.state
            .task(1)
            .is_some_and(|t| t.criteria_met == vec![true, true])
    })
    .await;
    // The note's thread is still open: accept asks first.
    h.keys("a").await;
    snap!("confirm_accept", h.screen().await);
    assert!(
        h.screen()
            .await
            .contains("Accept task 1 with 1 thread open?")
    );
    h.keys("y").await;
    h.until("task 2 review", |a| {
        matches!(a.awaiting, Awaiting::Review { task: 2, .. })
            && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    // The plan over the review opens on the task under review.
    h.keys("p").await;
    let screen = h.screen().await;
    assert!(screen.contains("Explain usage in README.md."), "{screen}");
    assert!(!screen.contains("Make greet.py greet"), "{screen}");
    h.keys("<esc>").await;
    h.keys("x").await;
    snap!("confirm_reject", h.screen().await);
    h.keys("y").await;
    h.until("the summary", |a| matches!(a.screen, Screen::Summary(_)))
        .await;
    snap!("summary", h.screen().await);

    // Git: one commit, task 1's, with the review time the clock measured (90 s + 30 s).
    let body = git(h.repo.path(), &["log", "-1", "--format=%B"]);
    assert!(body.starts_with("Greet by name\n"), "{body}");
    assert!(body.contains("Tandem-Review-Seconds: 120\n"), "{body}");
    assert!(
        body.contains("- [x] greets the name") && body.contains("- [x] works without a name"),
        "{body}"
    );
    assert!(h.repo.read("greet.py").contains("lovely to meet you"));
    assert_eq!(h.repo.read("README.md"), "# greeter\n");
    assert_eq!(git(h.repo.path(), &["status", "--porcelain"]), "");
    let journal = h.journal();
    let review_ms: u64 = events(&journal, "human_time")
        .iter()
        .map(|e| e["ms"].as_u64().unwrap())
        .sum();
    assert_eq!(review_ms, 120_000);
    assert_eq!(
        events(&journal, "comment_added")[0]["quote"],
        "    print(f\"Hello, {name}.\")"
    );
    assert_eq!(events(&journal, "restored").len(), 1);
}

/// A model server that fails and is asked again: the retry shows beside the spinner of
/// whoever waits (the planner on the plan screen, the agent on the drafting screen), goes when
/// the model answers, and one screen's retry never shows on the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_shows_where_the_model_is_awaited_and_goes_when_it_answers() {
    let busy = |why: &str| Reply::Status(503, json!({"error": {"message": why}}).to_string());
    let mut h = Harness::start_retrying(
        &[("a.txt", "one\n")],
        "Change a.txt.",
        vec![
            busy("planner overloaded"),
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Edit a", "instructions": "i", "acceptance": ["changed"]}]})
                    .to_string(),
            ),
            busy("drafter overloaded"),
            Reply::tool("write_file", json!({"path": "a.txt", "content": "two\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "edited"}).to_string()),
        ],
        (80, 24),
        EngineSettings::default(),
        RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
        },
    )
    .await;
    h.until("the planner's retry", |a| a.retrying().is_some())
        .await;
    let screen = h.screen().await;
    assert!(
        matches!(h.app.screen, Screen::Plan(_)) && screen.contains("retrying in 1s (attempt 1/2)"),
        "{screen}"
    );
    snap!("plan_retrying_80x24", screen);
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    assert!(h.app.retrying().is_none());
    assert!(!h.screen().await.contains("retrying"));
    h.keys("<enter>").await;
    h.until("the draft", |a| matches!(a.screen, Screen::Drafting(_)))
        .await;
    // The planner's retry is not carried to the drafting screen; the agent's own shows.
    let screen = h.screen().await;
    assert!(!screen.contains("planner"), "{screen}");
    h.until("the agent's retry", |a| a.retrying().is_some())
        .await;
    let screen = h.screen().await;
    assert!(
        screen.contains("retrying in 1s (attempt 1/2)") && screen.contains("drafter overloaded"),
        "{screen}"
    );
    h.until("the agent's first call", |a| {
        a.activity().iter().any(|l| l.starts_with("write"))
    })
    .await;
    assert!(h.app.retrying().is_none());
    assert!(!h.screen().await.contains("retrying"));
    h.until("review", |a| matches!(a.awaiting, Awaiting::Review { .. }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafting_screen_streams_and_hand_edit_joins_the_iteration() {
    let mut h = Harness::start(
        &[("a.txt", "one\ntwo\n")],
        "Change a.txt.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [
                    {"title": "Edit a", "instructions": "i", "acceptance": ["changed"]},
                    {"title": "Call the client", "instructions": "Walk them through it.", "acceptance": ["they agree"], "human": true}
                ]})
                .to_string(),
            ),
            Reply::TextAndTools("Looking around.".into(), vec![("list_files".into(), "{}".into())]),
            Reply::Hang,
        ],
        (100, 24),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the second model call", |a| {
        a.activity().iter().any(|l| l.starts_with("list"))
    })
    .await;
    assert!(h.server.wait_for_requests(3, Duration::from_secs(10)).await);
    // The third request waits for its first token: the status line says the server is
    // reading the prompt.
    h.until("the wait for the answer", |a| {
        a.status
            .as_deref()
            .is_some_and(|s| s.starts_with("reading the prompt"))
    })
    .await;
    // What the agent said before its tool call stays on screen after the call.
    let screen = h.screen().await;
    assert!(screen.contains("» Looking around."), "{screen}");
    snap!("drafting", screen);
    // Another task can be looked at while the agent works, and back.
    h.keys("j").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("Walk them through it.") && screen.contains("[ ] 1. they agree"),
        "{screen}"
    );
    h.keys("k").await;
    assert!(h.screen().await.contains("list ."));
    // Cancel the hanging draft: it is undone and waits to be restarted.
    h.keys("xy").await;
    h.until("the pause", |a| {
        matches!(a.awaiting, Awaiting::Paused { .. })
    })
    .await;
    snap!("drafting_paused", h.screen().await);
    h.server.push(Reply::tool(
        "write_file",
        json!({"path": "a.txt", "content": "one\nTWO\n"}).to_string(),
    ));
    h.server.push(Reply::tool(
        "finish",
        json!({"summary": "capitalised"}).to_string(),
    ));
    h.keys("<enter>").await;
    h.until("review", |a| {
        matches!(a.awaiting, Awaiting::Review { .. }) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    // A hand fix in $EDITOR becomes part of the iteration, timed as the human's.
    h.driven.host.editor_writes = Some("one\nTWO\nthree (by hand)\n".into());
    h.keys("jjje").await;
    h.until("the hand edit", |a| {
        a.state.iteration(1, 1).is_some_and(|i| i.hand_edits == 1)
    })
    .await;
    h.until("the new diff", |a| a.review().is_some_and(|r| !r.loading))
        .await;
    snap!("review_after_hand_edit", h.screen().await);
    // The criterion is unticked: accept asks first.
    h.keys("ay").await;
    h.until("the summary", |a| matches!(a.screen, Screen::Summary(_)))
        .await;
    assert_eq!(h.repo.read("a.txt"), "one\nTWO\nthree (by hand)\n");
    let shown = git(h.repo.path(), &["show", "HEAD:a.txt"]);
    assert_eq!(shown, "one\nTWO\nthree (by hand)\n");
    let journal = h.journal();
    let hand: Vec<_> = events(&journal, "human_time")
        .into_iter()
        .filter(|e| e["kind"] == "hand_edit")
        .collect();
    assert_eq!(hand.len(), 1);
    assert_eq!(hand[0]["ms"], 20_000);
    assert_eq!(events(&journal, "draft_aborted").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_and_errors_show_in_the_ui() {
    let mut h = Harness::start(
        &[("lib.rs", "fn a() -> u32 {\n    1\n}\n\nfn b() {}\n")],
        "Make a return 2.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Two", "instructions": "i", "acceptance": ["returns 2"]}]}).to_string(),
            ),
            Reply::tool("edit_file", json!({"path": "lib.rs", "old_text": "    1\n", "new_text": "    2\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "two"}).to_string()),
        ],
        (140, 20),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    h.screen().await;
    h.keys("s").await;
    snap!("side_by_side", h.screen().await);
    // A comment on a line that is not in the iteration: the core refuses, the UI says so.
    h.driven.lp.push(Effect::Op(Op::AddComment {
        task: 1,
        iteration: 1,
        comment: tandem::core::protocol::NewComment {
            path: "nope.rs".into(),
            line: 1,
            text: "x".into(),
        },
    }));
    h.until("the error", |a| a.popup.is_some()).await;
    snap!("error_popup", h.screen().await);
    h.keys("<esc>q").await;
    h.until("stop", |a| a.stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revise_typed_right_after_a_comment_carries_it() {
    let mut h = Harness::start(
        &[("a.txt", "one\n")],
        "Change a.txt.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Edit a", "instructions": "i", "acceptance": ["changed"]}]}).to_string(),
            ),
            Reply::tool("write_file", json!({"path": "a.txt", "content": "one\ntwo\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "added two"}).to_string()),
            Reply::tool(
                "finish",
                json!({"summary": "nothing more", "replies": [{"thread": "c1.1", "status": "not_done", "text": "two is right"}]})
                    .to_string(),
            ),
        ],
        (100, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    cursor_to_new_line(&mut h, 2).await;
    // No event is processed between these keys: the comment is not recorded yet when `r` comes.
    h.keys("cSay three instead<enter>r").await;
    h.until("the revision", |a| {
        matches!(a.awaiting, Awaiting::Review { iteration: 2, .. })
    })
    .await;
    let prompt = h.server.requests()[3]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("Say three instead") && prompt.contains("[c1.1] a.txt, line 2\n"),
        "{prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_screen_and_plan_popups() {
    // The brief screen needs no session yet.
    let theme = tandem::infra::theme::Theme::load_with_env(Some("dark"), None, false).unwrap();
    let mut app = App::new(
        Keymap::default(),
        theme,
        Box::new(ManualTime::new()),
        Duration::from_secs(120),
    );
    app.ask_for_brief();
    for k in key_string("The client wants a CSV export.<enter>Keep the columns stable.") {
        app.on_key(k);
    }
    let mut term = Terminal::new(TestBackend::new(80, 12)).unwrap();
    term.draw(|f| tandem::tui::ui::draw(&mut app, f)).unwrap();
    let screen: String = {
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
                    + "\n"
            })
            .collect()
    };
    snap!("brief", screen);
    let fx = app.on_key(key_string("<c-s>")[0]);
    assert!(
        matches!(&fx[..], [Effect::StartSession { brief }] if brief == "The client wants a CSV export.\nKeep the columns stable.")
    );

    let mut h = Harness::start(
        &[("a.txt", "one\n")],
        "Change a.txt.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [
                    {"title": "Edit a", "instructions": "Change a.txt.", "acceptance": ["changed"]},
                    {"title": "Explain", "instructions": "Write notes.", "acceptance": ["notes exist"]}
                ]})
                .to_string(),
            ),
            Reply::tool("write_file", json!({"path": "a.txt", "content": "two\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "two"}).to_string()),
        ],
        (100, 24),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("e").await;
    snap!("task_edit_popup", h.screen().await);
    // A new task without criteria is refused inside the popup, with what is wrong, nothing lost.
    h.keys("<esc>o").await;
    h.keys("<down>Write it all<c-s>").await;
    snap!("task_new_popup_error", h.screen().await);
    h.keys("<esc>jD").await;
    snap!("confirm_delete_task", h.screen().await);
    h.keys("y").await;
    h.until("the edited plan", |a| a.state.tasks.len() == 1)
        .await;
    h.keys("R").await;
    h.keys("Smaller steps").await;
    snap!("replan_popup", h.screen().await);
    h.keys("<esc><enter>").await;
    h.until("review", |a| {
        matches!(a.awaiting, Awaiting::Review { .. }) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    h.keys("nShorter, please").await;
    snap!("note_popup", h.screen().await);
    h.keys("<enter>").await;
    h.until("the note", |a| {
        a.state
            .iteration(1, 1)
            .is_some_and(|i| i.note.as_deref() == Some("Shorter, please"))
    })
    .await;
    let journal = h.journal();
    let plans = events(&journal, "plan_set");
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[1]["source"], "edited");
    assert_eq!(plans[1]["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_over_the_users_edit_asks_and_keeps_both() {
    let mut h = Harness::start(
        &[("greet.py", GREET)],
        "Greet people by name.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Greet by name", "instructions": "Do it.", "acceptance": ["greets"]}]})
                    .to_string(),
            ),
            Reply::tool("write_file", json!({"path": "greet.py", "content": GREET_V1}).to_string()),
            Reply::tool("finish", json!({"summary": "greets by name"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("review", |a| {
        matches!(a.awaiting, Awaiting::Review { task: 1, .. })
            && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    // The user fixes something by hand in another editor while reviewing.
    let mine = format!("{GREET_V1}# my note\n");
    std::fs::write(h.repo.path().join("greet.py"), &mine).unwrap();
    h.keys("xy").await;
    h.until("the conflict", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Conflict { .. }))
    })
    .await;
    snap!("conflict_popup_80x24", h.screen().await);
    assert_eq!(
        h.repo.read("greet.py"),
        mine,
        "nothing written before the answer"
    );
    h.keys("b").await;
    h.until("the reject", |a| {
        a.state
            .task(1)
            .is_some_and(|t| t.status == tandem::core::state::TaskStatus::Rejected)
    })
    .await;
    assert_eq!(h.repo.read("greet.py"), GREET);
    assert_eq!(h.repo.read("greet.py.mine"), mine);
    let j = h.journal();
    assert_eq!(events(&j, "user_bytes_saved").len(), 1);
    assert_eq!(events(&j, "conflict_resolved")[0]["choice"], "keep-both");
}

/// During review the user changes one of the task's files in another editor, then hand-edits
/// another through tandem. The hand edit's new snapshot takes the outside change in; the file
/// is still partly the user's, so a reject asks before writing over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_does_not_make_an_outside_edit_tandems_to_overwrite() {
    let mut h = Harness::start(
        &[("a.txt", "one\ntwo\n"), ("b.txt", "b\n")],
        "Change both.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Both", "instructions": "i", "acceptance": ["ok"]}]})
                    .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "one\nTWO\n"}).to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "b.txt", "content": "b agent\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "both"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    std::fs::write(h.repo.path().join("b.txt"), "b agent\nthe user's line\n").unwrap();
    // The cursor is on a.txt's change: `e` edits a.txt by hand.
    h.driven.host.editor_writes = Some("one\nTWO\nby hand\n".into());
    h.keys("e").await;
    h.until("the hand edit", |a| {
        a.state.iteration(1, 1).is_some_and(|i| i.hand_edits == 1)
            && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    h.keys("xy").await;
    h.until("the conflict", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Conflict { .. }))
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("b.txt"), "{screen}");
    assert_eq!(h.repo.read("b.txt"), "b agent\nthe user's line\n");
    let j = h.journal();
    assert_eq!(events(&j, "hand_edited")[0]["foreign"], json!(["b.txt"]));
}

/// At 80×24 every pane keeps what is selected (or newest) in view: the drafting log follows the
/// agent's latest call, the files pane its selected file among 30, the criteria pane its
/// selected criterion among 15 and, on the last one, the summary under them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_scroll_to_what_is_selected_at_80x24() {
    let criteria: Vec<String> = (1..=15).map(|i| format!("criterion {i}")).collect();
    let writes: Vec<(String, String)> = (1..=30)
        .map(|i| {
            (
                "write_file".to_string(),
                json!({"path": format!("f{i:02}.txt"), "content": "x\n"}).to_string(),
            )
        })
        .collect();
    let mut h =
        Harness::start(
            &[("README.md", "r\n")],
            "Make many files.",
            vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Many", "instructions": "i", "acceptance": criteria}]})
                    .to_string(),
            ),
            Reply::Tools(writes),
            Reply::Delay(
                Duration::from_millis(800),
                Box::new(Reply::tool("finish", json!({"summary": "wrote many files"}).to_string())),
            ),
        ],
            (80, 24),
        )
        .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the thirtieth write", |a| {
        a.activity().iter().any(|l| l.contains("f30.txt"))
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("f30.txt"), "{screen}");
    h.until("review", |a| {
        matches!(a.awaiting, Awaiting::Review { .. }) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    h.keys("<tab>G").await;
    let screen = h.screen().await;
    assert!(screen.contains("A f30.txt"), "{screen}");
    h.keys("<tab>G").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("criterion 15") && screen.contains("wrote many files"),
        "{screen}"
    );
    h.keys("g").await;
    let screen = h.screen().await;
    assert!(screen.contains("criterion 1 "), "{screen}");
}

/// The reviewer asked to cancel the draft (the y/n question is open) when the drafter asks to
/// run a command: the command's question waits behind the open one, so the `y` meant for the
/// cancel cancels, and no command runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_that_comes_while_another_is_open_waits_its_turn() {
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Check it.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Check", "instructions": "i", "acceptance": ["checked"]}]})
                    .to_string(),
            ),
            Reply::Delay(
                Duration::from_millis(600),
                Box::new(Reply::tool(
                    "run_command",
                    json!({ "command": "echo ran > ran.txt" }).to_string(),
                )),
            ),
        ],
        (80, 24),
        asking_about_commands(),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the draft", |a| {
        a.drafting().is_some_and(|d| d.started.is_some())
    })
    .await;
    h.keys("x").await;
    assert!(matches!(
        h.app.popup,
        Some(tandem::tui::app::Popup::Confirm(_))
    ));
    h.until("the command's question", |a| !a.queued_popups().is_empty())
        .await;
    // The cancel question is still the one open; `y` answers it.
    let screen = h.screen().await;
    assert!(screen.contains("Cancel the running draft?"), "{screen}");
    h.keys("y").await;
    h.until("the dropped attempt", |a| {
        matches!(a.awaiting, Awaiting::Paused { .. })
    })
    .await;
    assert!(h.app.popup.is_none() && h.app.queued_popups().is_empty());
    assert!(!h.repo.path().join("ran.txt").exists());
    let j = h.journal();
    assert!(events(&j, "command_started").is_empty(), "{j:?}");
    assert_eq!(events(&j, "draft_aborted").len(), 1);
}

/// A comment longer than its box scrolls sideways with the cursor, so what is being typed stays
/// in view with the cursor on it (it was cut off, the cursor outside the box).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_comment_keeps_what_is_typed_in_view() {
    let mut h = Harness::start(
        &[("greet.py", GREET)],
        "Greet people by name.",
        vec![
            plan_reply(),
            Reply::tool(
                "write_file",
                json!({"path": "greet.py", "content": GREET_V1}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "greets by name"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    cursor_to_new_line(&mut h, 6).await;
    h.keys("c").await;
    let long = format!("{}END", "word ".repeat(30));
    h.keys(&long).await;
    let screen = h.screen().await;
    assert!(screen.contains("word END"), "{screen}");
    let cursor = h.term.get_cursor_position().unwrap();
    let row = screen.lines().nth(cursor.y as usize).unwrap();
    assert!(row.contains("END"), "cursor at {cursor:?}:\n{screen}");
    assert!(cursor.x < 79, "cursor at {cursor:?}:\n{screen}");
}

/// Commands are asked about (the test binary is no sandbox launcher, so each is unconfined).
fn asking_about_commands() -> EngineSettings {
    EngineSettings {
        commands: tandem::core::engine::CommandSettings {
            can_ask: true,
            ask_without_sandbox: true,
            ..Default::default()
        },
        ..EngineSettings::default()
    }
}

/// A long path in the files pane keeps its end, the file's name, at 80×24 (it was cut from the
/// end, so the name never showed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_path_shows_its_file_name() {
    let path = "src/components/checkout/payment/webhook.py";
    let mut h =
        Harness::start(
            &[("README.md", "r\n")],
            "Add the webhook.",
            vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Hook", "instructions": "i", "acceptance": ["ok"]}]})
                    .to_string(),
            ),
            Reply::tool("write_file", json!({"path": path, "content": "x = 1\n"}).to_string()),
            Reply::tool("finish", json!({"summary": "added"}).to_string()),
        ],
            (80, 24),
        )
        .await;
    h.approve_plan_and_wait_for_review().await;
    let screen = h.screen().await;
    let files_pane = screen
        .lines()
        .find(|l| l.starts_with("│ A "))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        files_pane.contains("…") && files_pane.contains("webhook.py"),
        "{screen}"
    );
}

/// The summary of a session of 30 tasks, at 80×24: the table scrolls to the selected task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_scrolls_to_the_selected_task() {
    let tasks: Vec<serde_json::Value> = (1..=30)
        .map(|i| json!({"title": format!("Call {i:02}"), "instructions": "i", "acceptance": ["ok"], "human": true}))
        .collect();
    let mut h = Harness::start(
        &[("a.txt", "a\n")],
        "Many calls.",
        vec![Reply::tool(
            "submit_plan",
            json!({ "tasks": tasks }).to_string(),
        )],
        (80, 24),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the summary", |a| matches!(a.screen, Screen::Summary(_)))
        .await;
    let screen = h.screen().await;
    assert!(
        screen.contains("Call 01") && !screen.contains("Call 30"),
        "{screen}"
    );
    h.keys("G").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("Call 30") && !screen.contains("Call 01"),
        "{screen}"
    );
}

/// A host for the real loop: scripted keys, and no editor (the test never opens one).
struct NoEditor<S>(S);

impl<S> tandem::tui::Host for NoEditor<S>
where
    S: futures_util::Stream<Item = std::io::Result<crossterm::event::Event>> + Unpin + 'static,
{
    fn input(&mut self) -> &mut tandem::tui::Input {
        &mut self.0
    }
    fn run_editor(&mut self, _: &std::path::Path, _: Option<u32>) -> Result<(), String> {
        Err("no editor in this test".into())
    }
}

/// `tui::event_loop` as `tandem` runs it, left to itself (no test stepping it): keys arrive as a
/// terminal event stream, the core runs on its own thread behind a `CoreHandle`, and the loop
/// must carry a task from plan to commit and then quit. Each key is sent again until the journal
/// shows that it was taken, since the test cannot see inside the loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_loop_itself_carries_a_task_to_its_commit() {
    use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
    let repo = TestRepo::new(&[("greet.py", GREET)]);
    let server = FakeOpenAi::start(vec![
        Reply::tool(
            "submit_plan",
            json!({"tasks": [{"title": "Greet by name", "instructions": "i", "acceptance": ["greets"]}]})
                .to_string(),
        ),
        Reply::tool("write_file", json!({"path": "greet.py", "content": GREET_V1}).to_string()),
        Reply::tool("finish", json!({"summary": "greets by name"}).to_string()),
    ])
    .await;
    let core = start_core(
        &repo,
        "Greet people by name.",
        &server,
        EngineSettings::default(),
        no_retries(),
    );
    let theme = tandem::infra::theme::Theme::load_with_env(Some("dark"), None, false).unwrap();
    let mut app = App::new(
        Keymap::default(),
        theme,
        Box::new(ManualTime::new()),
        Duration::from_secs(120),
    );
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let (keys, keys_rx) = tokio::sync::mpsc::unbounded_channel();
    let input = tokio_stream::wrappers::UnboundedReceiverStream::new(keys_rx);
    let press = |c: KeyCode| -> std::io::Result<TermEvent> {
        Ok(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)))
    };
    let journal_has = |kind: &str| {
        repo.journal()
            .iter()
            .any(|e| e["event"]["type"].as_str() == Some(kind))
    };
    let driver = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        // Accept with the criterion unticked asks first: `y` answers.
        for (sent, until) in [
            (&[KeyCode::Enter][..], "plan_approved"),
            (&[KeyCode::Char('a'), KeyCode::Char('y')][..], "committed"),
        ] {
            while !journal_has(until) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out waiting for {until}"
                );
                for key in sent {
                    let _ = keys.send(press(*key));
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            }
        }
        // The core ends with the session; `q` then leaves the loop.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = keys.send(press(KeyCode::Char('q')));
    };
    let mut host = NoEditor(input);
    let looped = tandem::tui::event_loop(
        &mut term,
        &mut app,
        tandem::tui::Core::Running(core),
        &mut host,
    );
    let (result, ()) = tokio::time::timeout(Duration::from_secs(40), async {
        tokio::join!(looped, driver)
    })
    .await
    .expect("the loop quits after the commit");
    result.unwrap();
    assert!(journal_has("session_finished"));
    let log = git(repo.path(), &["log", "-1", "--format=%s%n%b"]);
    assert!(
        log.contains("Greet by name") && log.contains("Tandem-Task: 1"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("greet.py")).unwrap(),
        GREET_V1
    );
}

/// The cells of row `y` whose style is reversed (the emphasis of changed words), as text.
fn emphasised(h: &Harness, y: u16) -> String {
    let buf = h.term.backend().buffer();
    let mut out = String::new();
    let mut x = 0;
    while x < buf.area.width {
        let c = &buf[(x, y)];
        if c.modifier.contains(ratatui::style::Modifier::REVERSED) {
            out.push_str(c.symbol());
        }
        // The cell after a wide character is covered by it (and may hold an older frame's).
        x += unicode_width::UnicodeWidthStr::width(c.symbol()).max(1) as u16;
    }
    out
}

/// The screen row showing `text`.
fn row_of(screen: &str, text: &str) -> u16 {
    screen
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no row shows {text:?}:\n{screen}")) as u16
}

const COPY: &str = "# About\n\nWe build small, sturdy websites for local shops and studios, and we look after them for years afterwards, so that the owners can spend their time on customers instead of on servers.\n";
const PRICES: &str =
    "item,description,price,currency\nwidget,\"Blue, large\",12.50,EUR\ngadget,Small,3.00,EUR\n";
const JP: &str = "価格表の更新\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prose_wraps_changed_words_and_cells_are_marked_and_wide_text_keeps_its_columns() {
    let mut h = Harness::start(
        &[("about.md", COPY), ("prices.csv", PRICES), ("jp.txt", JP)],
        "Copy edits.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Copy", "instructions": "i", "acceptance": ["reads well"]}]}).to_string(),
            ),
            Reply::tool(
                "edit_file",
                json!({"path": "about.md", "old_text": "on servers.", "new_text": "on hosting."}).to_string(),
            ),
            Reply::tool(
                "edit_file",
                json!({"path": "prices.csv", "old_text": "12.50", "new_text": "13.75"}).to_string(),
            ),
            Reply::tool(
                "edit_file",
                json!({"path": "jp.txt", "old_text": "更新", "new_text": "改訂版"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "edited"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    // At 80×24 the Markdown paragraph wraps (its changed word at column ~170 is on screen),
    // with ↪ on continuation rows; the hint bar ends with help and quit.
    let screen = h.screen().await;
    snap!("prose_wrap_80x24", screen.clone());
    assert!(screen.contains("↪"), "{screen}");
    assert!(screen.contains("hosting."), "{screen}");
    assert!(
        screen.lines().last().unwrap().ends_with("? help  q quit"),
        "{screen}"
    );
    // Only the changed word is emphasised, on both sides.
    assert_eq!(emphasised(&h, row_of(&screen, "hosting.")), "hosting");
    assert_eq!(emphasised(&h, row_of(&screen, "servers.")), "servers");

    // The CSV: the changed cell, not the row, is marked.
    h.keys("ff]").await;
    let screen = h.screen().await;
    assert_eq!(emphasised(&h, row_of(&screen, "13.75")), "13.75,");
    assert_eq!(emphasised(&h, row_of(&screen, "12.50")), "12.50,");

    // Hunk by hunk from the top: the second hunk is the second file's.
    h.keys("g}}").await;
    let at = |h: &Harness| {
        let v = &h.app.review().unwrap().view;
        v.rows[v.cursor].clone()
    };
    assert_eq!(
        at(&h),
        tandem::tui::diff_view::Row::Hunk { file: 1, hunk: 0 }
    );
    h.keys("{").await;
    assert_eq!(
        at(&h),
        tandem::tui::diff_view::Row::Hunk { file: 0, hunk: 0 }
    );
    h.keys("{").await;
    assert!(h.screen().await.contains("no hunk above"));

    // Wrap off: the paragraph is one cut row marked ›, and scrolls sideways to the change.
    h.keys("gw").await;
    let screen = h.screen().await;
    assert!(!screen.contains("↪"), "{screen}");
    assert!(screen.contains("›"), "{screen}");
    assert!(!screen.contains("hosting."), "{screen}");
    h.keys(&"<right>".repeat(18)).await;
    let screen = h.screen().await;
    snap!("prose_nowrap_scrolled_80x24", screen.clone());
    assert!(screen.contains("‹"), "{screen}");
    assert!(screen.contains("hosting."), "{screen}");

    // Zoom: the diff takes the whole width.
    h.keys("z").await;
    let screen = h.screen().await;
    assert!(!screen.contains("Files"), "{screen}");
    h.keys("z").await;
    assert!(h.screen().await.contains("Files"));

    // Help lists this screen's keys first and scrolls at 80×24.
    h.keys("?").await;
    let screen = h.screen().await;
    assert!(screen.contains("Keys (↓↑ scroll, esc closes)"), "{screen}");
    let first = screen.find("next change").unwrap();
    assert!(
        first < screen.find("add task").unwrap_or(usize::MAX),
        "{screen}"
    );
    assert!(!screen.contains("other screens"), "{screen}");
    h.keys(&"j".repeat(40)).await;
    let screen = h.screen().await;
    assert!(screen.contains("other screens"), "{screen}");
    snap!("help_scrolled_80x24", screen);
    h.keys("<esc>q").await;
    h.until("stop", |a| a.stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_keeps_its_columns_with_wide_characters() {
    let mut h = Harness::start(
        &[("jp.txt", "価格表の更新をお願いします\nsecond\n")],
        "Edit.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "JP", "instructions": "i", "acceptance": ["ok"]}]})
                    .to_string(),
            ),
            Reply::tool(
                "edit_file",
                json!({"path": "jp.txt", "old_text": "更新", "new_text": "改訂"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "edited"}).to_string()),
        ],
        (140, 16),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    h.screen().await;
    h.keys("s").await;
    let screen = h.screen().await;
    snap!("side_by_side_wide", screen.clone());
    // The separator between the sides is in the same column on every line row, CJK or not.
    let buf = h.term.backend().buffer().clone();
    let rows: Vec<u16> = ["価格表の", "second"]
        .iter()
        .map(|t| row_of(&screen, t))
        .collect();
    let sep_cols: Vec<Vec<u16>> = rows
        .iter()
        .map(|&y| {
            (0..buf.area.width)
                .filter(|&x| buf[(x, y)].symbol() == "│")
                .collect()
        })
        .collect();
    assert_eq!(sep_cols[0], sep_cols[1], "{screen}");
    assert_eq!(emphasised(&h, rows[0]), "更新改訂", "{screen}");
    // The terminal shrinks below side by side's width: one column again, and it says so.
    h.driven.resize(&mut h.term, &mut h.app, 80, 24).await;
    let screen = h.screen().await;
    assert!(!h.app.review().unwrap().view.side_by_side);
    assert!(screen.contains("side by side is off"), "{screen}");
    h.keys("q").await;
    h.until("stop", |a| a.stopped).await;
}

/// At the end of a long diff the view is full (no blank rows below the last line), and when the
/// terminal grows the rows above come back into view: everything shows once it fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_terminal_brings_back_the_rows_above() {
    let old: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let new: String = (1..=30).map(|i| format!("LINE {i}\n")).collect();
    let mut h =
        Harness::start(
            &[("list.txt", &old)],
            "Capitalise.",
            vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Caps", "instructions": "i", "acceptance": ["ok"]}]})
                    .to_string(),
            ),
            Reply::tool("write_file", json!({"path": "list.txt", "content": new}).to_string()),
            Reply::tool("finish", json!({"summary": "capitalised"}).to_string()),
        ],
            (80, 24),
        )
        .await;
    h.approve_plan_and_wait_for_review().await;
    h.screen().await;
    h.keys("G").await;
    let screen = h.screen().await;
    assert!(screen.contains("LINE 30"), "{screen}");
    assert!(!screen.contains("── list.txt"), "{screen}");
    // Full to the bottom at the end: the last row of the diff pane's inside is the last line.
    let last = screen.lines().rev().nth(3).unwrap();
    assert!(last.contains("LINE 30"), "{screen}");
    // 60 changed lines, the headers and the hunk fit in 72 rows.
    h.driven.resize(&mut h.term, &mut h.app, 80, 80).await;
    let screen = h.screen().await;
    assert!(
        screen.contains("── list.txt") && screen.contains("line 1") && screen.contains("LINE 30"),
        "{screen}"
    );
    h.keys("q").await;
    h.until("stop", |a| a.stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_that_changed_nothing_is_marked_and_accepting_it_asks_first() {
    let mut h = Harness::start(
        &[("a.txt", "one\n")],
        "Change a.txt.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Edit a", "instructions": "i", "acceptance": ["changed"]}]})
                    .to_string(),
            ),
            // Writes what is already there: the draft changes nothing.
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "one\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "changed a"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    let screen = h.screen().await;
    assert!(screen.contains("NO CHANGES"), "{screen}");
    snap!("review_no_changes_80x24", screen);
    let before = git(h.repo.path(), &["rev-parse", "HEAD"]);
    // `e` has no file to open, and says so.
    h.keys("e").await;
    assert_eq!(
        h.app.status.as_deref(),
        Some("no file in this diff to edit by hand")
    );
    h.keys("a").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("with a draft marked no changes"),
        "{screen}"
    );
    assert!(screen.contains("Nothing is committed"), "{screen}");
    assert!(!screen.contains("committed as reviewed"), "{screen}");
    h.keys("y").await;
    h.until("the summary", |a| matches!(a.screen, Screen::Summary(_)))
        .await;
    assert_eq!(git(h.repo.path(), &["rev-parse", "HEAD"]), before);
    assert_eq!(events(&h.journal(), "accepted_empty").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_shows_checks_at_a_glance_and_marks_what_still_fails() {
    let mut h = Harness::start(
        &[("a.txt", "one\n")],
        "Write the price list.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Prices", "instructions": "i", "acceptance": ["prices listed"],
                    "deliverables": ["prices.json", "notes.md"]}]})
                .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "prices.json", "content": "{\"tea\": 1,}\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "prices"}).to_string()),
            Reply::tool(
                "write_file",
                json!({"path": "notes.md", "content": "# Notes\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "prices and notes"}).to_string()),
            Reply::tool("finish", json!({"summary": "prices and notes"}).to_string()),
        ],
        (80, 24),
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    let screen = h.screen().await;
    assert!(screen.contains("CHECKS FAILING"), "{screen}");
    assert!(screen.contains("✗ `prices.json` line"), "{screen}");
    snap!("review_checks_failing_80x24", screen);
    // `i` shows the verification in full; esc closes it.
    h.keys("i").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("Checks before review (2 fix round(s))"),
        "{screen}"
    );
    assert!(screen.contains("✗ deliverable `prices.json`"), "{screen}");
    assert!(screen.contains("✓ deliverable `notes.md`"), "{screen}");
    snap!("review_verification_output_80x24", screen);
    h.keys("<esc>").await;
    assert!(!h.screen().await.contains("Verification"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_shows_the_checkers_verdict_under_each_criterion() {
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Greet.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Greet", "instructions": "i",
                    "acceptance": ["a.txt says hello", "b.txt lists Ada", "tone is warm"]}]})
                .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "hello\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "hello"}).to_string()),
            Reply::tool(
                "submit_verdicts",
                json!({"verdicts": [
                    {"criterion": 1, "verdict": "met", "evidence": "a.txt:1 says hello"},
                    {"criterion": 2, "verdict": "not_met", "evidence": "b.txt does not exist: the draft wrote only a.txt, and nothing in the diff or the repository lists Ada anywhere, not in a README, not in a data file, not in any test fixture the checks read"},
                    {"criterion": 3, "verdict": "unclear", "evidence": "no tone to judge"}]})
                .to_string(),
            ),
        ],
        (80, 24),
        EngineSettings {
            checker: true,
            ..EngineSettings::default()
        },
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    let screen = h.screen().await;
    assert!(screen.contains("Criteria ✓✗? checker"), "{screen}");
    assert!(screen.contains("✓ met: a.txt:1"), "{screen}");
    assert!(screen.contains("✗ not met: b.txt"), "{screen}");
    assert!(screen.contains("? unclear: no"), "{screen}");
    // Long evidence takes one row, cut with …; `i` shows it whole.
    let row = screen
        .lines()
        .find(|l| l.contains("✗ not met: b.txt"))
        .unwrap();
    assert!(row.contains('…') && !screen.contains("fixture"), "{screen}");
    // Only the reviewer ticks: the checker's "met" leaves the box empty.
    assert!(!screen.contains("[x]"), "{screen}");
    snap!("review_checker_verdicts_80x24", screen);
    h.keys("i").await;
    let screen = h.screen().await;
    assert!(screen.contains("The checker's verdicts"), "{screen}");
    assert!(screen.contains("2. b.txt lists Ada: not met"), "{screen}");
    assert!(screen.contains("fixture"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_policy_ask_the_review_shows_each_command_and_runs_only_what_is_allowed() {
    // In-process the test binary is no launcher, so nothing can be sandboxed: with
    // without_sandbox = "ask" each command is shown as unconfined, and asked about.
    let run = |c: &str| Reply::tool("run_command", json!({ "command": c }).to_string());
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Check it.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Check", "instructions": "i", "acceptance": ["checked"]}]})
                    .to_string(),
            ),
            run("echo first"),
            run("cat a.txt"),
            run("echo first"),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "two\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "checked"}).to_string()),
        ],
        (80, 24),
        asking_about_commands(),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the first command's question", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Command { .. }))
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("$ echo first"), "{screen}");
    assert!(screen.contains("y run it"), "{screen}");
    snap!("command_approval_80x24", screen);
    // Always: the same command later runs without asking.
    h.keys("a").await;
    h.until("the second command's question", |a| {
        matches!(&a.popup, Some(tandem::tui::app::Popup::Command { command, .. }) if command == "cat a.txt")
    })
    .await;
    h.keys("n").await;
    h.until("the review", |a| a.review().is_some()).await;
    let journal = h.journal();
    let answered = events(&journal, "command_answered");
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert_eq!(answered[0]["always"], true);
    assert_eq!(answered[1]["approved"], false);
    // echo ran twice (the second time unasked), cat never.
    let ran: Vec<_> = events(&journal, "command_ran")
        .iter()
        .map(|e| e["command"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran, ["echo first", "echo first"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_the_checker_runs_skips_the_check_and_keeps_the_draft() {
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Greet.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Greet", "instructions": "i",
                    "acceptance": ["a.txt says hello"]}]})
                .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "hello\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "hello"}).to_string()),
            // The checker's model never answers.
            Reply::Hang,
        ],
        (80, 24),
        EngineSettings {
            checker: true,
            ..EngineSettings::default()
        },
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the checker", |a| a.drafting().is_some_and(|d| d.checking))
        .await;
    // Let the checker's request reach the server, then cancel (x, then y to confirm).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.server.request_count() < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.keys("x").await;
    assert!(
        h.screen().await.contains("Skip the check?"),
        "{}",
        h.screen().await
    );
    h.keys("y").await;
    h.until("the review", |a| {
        matches!(a.awaiting, Awaiting::Review { .. }) && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    let journal = h.journal();
    let judged = events(&journal, "criteria_judged");
    assert_eq!(judged.len(), 1, "{judged:?}");
    assert!(
        judged[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("skipped the check")),
        "{judged:?}"
    );
    assert_eq!(events(&journal, "iteration_ready").len(), 1);
    assert!(events(&journal, "draft_aborted").is_empty(), "{journal:?}");
    assert_eq!(h.repo.read("a.txt"), "hello\n");
    assert!(h.screen().await.contains("skipped the check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_taller_than_the_screen_scrolls_and_the_keys_stay_in_view() {
    let long: String = (1..=30).map(|i| format!("echo line {i}\n")).collect();
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Check it.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Check", "instructions": "i", "acceptance": ["checked"]}]})
                    .to_string(),
            ),
            Reply::tool("run_command", json!({ "command": long }).to_string()),
            Reply::tool("finish", json!({"summary": "checked"}).to_string()),
        ],
        (80, 24),
        asking_about_commands(),
    )
    .await;
    h.until("the plan", |a| a.awaiting == Awaiting::PlanApproval)
        .await;
    h.keys("<enter>").await;
    h.until("the command's question", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Command { .. }))
    })
    .await;
    let screen = h.screen().await;
    assert!(screen.contains("$ echo line 1"), "{screen}");
    assert!(!screen.contains("$ echo line 30"), "{screen}");
    assert!(screen.contains("of 30 of the command"), "{screen}");
    assert!(screen.contains("NOT SANDBOXED"), "{screen}");
    assert!(screen.contains("y run it"), "{screen}");
    snap!("command_approval_long_80x24", screen);
    // Scrolling far past the end stops at the last row, and one ↑ moves at once.
    h.keys("<pgdn><pgdn><pgdn><pgdn>").await;
    let screen = h.screen().await;
    assert!(screen.contains("$ echo line 30"), "{screen}");
    assert!(screen.contains("y run it"), "{screen}");
    h.keys("<up>").await;
    assert!(!h.screen().await.contains("$ echo line 30"));
    h.keys("n").await;
    h.until("the review", |a| a.review().is_some()).await;
    let journal = h.journal();
    let answered = events(&journal, "command_answered");
    assert_eq!(answered[0]["approved"], false);
    assert_eq!(answered[0]["sandboxed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_accept_the_reviewer_keeps_edits_and_discards_lessons() {
    let mut h = Harness::start_with(
        &[("a.txt", "one\n")],
        "Colours.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [{"title": "Colours", "instructions": "i", "acceptance": ["colours"]}]})
                    .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "colour\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "colours"}).to_string()),
            Reply::tool(
                "propose_lessons",
                json!({"lessons": [
                    {"text": "Use British spelling in user-facing text.", "from": ["n1"]},
                    {"text": "Keep lists sorted.", "from": ["n1"]},
                    {"text": "Write one colour per line.", "from": []}]})
                .to_string(),
            ),
        ],
        (80, 24),
        EngineSettings {
            lessons: true,
            ..EngineSettings::default()
        },
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    h.keys("nBritish spelling, sorted lists.<enter>").await;
    h.until("the note", |a| {
        a.state.iteration(1, 1).is_some_and(|i| i.note.is_some())
    })
    .await;
    h.keys("ay").await;
    h.until("the lessons", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Lessons(_)))
    })
    .await;
    // Keep the first, edit the second (kept as edited), discard the third.
    h.keys("y").await;
    h.keys("e<c-u>Keep every list sorted alphabetically.<enter>")
        .await;
    h.keys("<down>n").await;
    let screen = h.screen().await;
    assert!(screen.contains("[✓] 1. Use British spelling"), "{screen}");
    assert!(
        screen.contains("[✓] 2. Keep every list sorted alphabetically."),
        "{screen}"
    );
    assert!(
        screen.contains("[✗] 3. Write one colour per line."),
        "{screen}"
    );
    assert!(screen.contains("→ .tandem/lessons.md"), "{screen}");
    snap!("lessons_approval_80x24", screen);
    h.keys("<enter>").await;
    h.until("the lessons stored", |a| {
        a.state
            .task(1)
            .and_then(|t| t.lessons.as_ref())
            .is_some_and(|l| l.decided.is_some())
    })
    .await;
    let file = h.repo.read(".tandem/lessons.md");
    assert!(
        file.contains("- Use British spelling in user-facing text."),
        "{file}"
    );
    assert!(
        file.contains("- Keep every list sorted alphabetically."),
        "{file}"
    );
    assert!(
        !file.contains("Keep lists sorted.") && !file.contains("one colour"),
        "{file}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_end_of_the_session_lessons_from_every_review_are_asked_about() {
    let mut h = Harness::start_with(
        &[("a.txt", "one\n"), ("b.txt", "two\n")],
        "Colours and shades.",
        vec![
            Reply::tool(
                "submit_plan",
                json!({"tasks": [
                    {"title": "Colours", "instructions": "i", "acceptance": ["colours"]},
                    {"title": "Shades", "instructions": "i", "acceptance": ["shades"]}]})
                .to_string(),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "a.txt", "content": "colour\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "colours"}).to_string()),
            Reply::tool("propose_lessons", json!({"lessons": []}).to_string()),
            Reply::tool(
                "write_file",
                json!({"path": "b.txt", "content": "grey\n"}).to_string(),
            ),
            Reply::tool("finish", json!({"summary": "shades"}).to_string()),
            Reply::tool("propose_lessons", json!({"lessons": []}).to_string()),
            Reply::tool(
                "propose_lessons",
                json!({"lessons": [
                    {"text": "Use British spelling everywhere.", "from": ["1:n1", "2:n1"]}]})
                .to_string(),
            ),
        ],
        (80, 24),
        EngineSettings {
            lessons: true,
            ..EngineSettings::default()
        },
    )
    .await;
    h.approve_plan_and_wait_for_review().await;
    h.keys("nBritish spelling, please.<enter>").await;
    h.until("the note", |a| {
        a.state.iteration(1, 1).is_some_and(|i| i.note.is_some())
    })
    .await;
    h.keys("ay").await;
    h.until("task 2's review", |a| {
        matches!(a.awaiting, Awaiting::Review { task: 2, .. })
            && a.review().is_some_and(|r| !r.loading)
    })
    .await;
    h.keys("nBritish spelling here too.<enter>").await;
    h.until("the note", |a| {
        a.state.iteration(2, 1).is_some_and(|i| i.note.is_some())
    })
    .await;
    h.keys("ay").await;
    h.until("the session's lessons", |a| {
        matches!(a.popup, Some(tandem::tui::app::Popup::Lessons(_)))
    })
    .await;
    h.keys("y").await;
    let screen = h.screen().await;
    assert!(
        screen.contains("Lessons from the whole session's reviews"),
        "{screen}"
    );
    assert!(
        screen.contains("[✓] 1. Use British spelling everywhere."),
        "{screen}"
    );
    snap!("session_lessons_80x24", screen);
    h.keys("<enter>").await;
    h.until("the lessons stored", |a| {
        a.state
            .session_lessons
            .as_ref()
            .is_some_and(|l| l.decided.is_some())
    })
    .await;
    let file = h.repo.read(".tandem/lessons.md");
    assert!(
        file.contains("- Use British spelling everywhere. <!-- tasks (1:n1, 2:n1)"),
        "{file}"
    );
}

/// A session created in `root` against the fake server at `url`: what a `Core::starting`
/// closure builds once its checks are let through.
fn create_core(root: &std::path::Path, url: &str, brief: String) -> anyhow::Result<CoreHandle> {
    open_core(root, url, brief, EngineSettings::default(), no_retries())
}

/// An app as `tandem` builds it, on a 100×30 test terminal.
fn app_and_terminal() -> (App, Terminal<TestBackend>) {
    let theme = tandem::infra::theme::Theme::load_with_env(Some("dark"), None, false).unwrap();
    let app = App::new(
        Keymap::default(),
        theme,
        Box::new(ManualTime::new()),
        Duration::from_secs(120),
    );
    (app, Terminal::new(TestBackend::new(100, 30)).unwrap())
}

/// Send `typed` and a sentinel, and wait until the loop has read the sentinel: every key
/// before it has then been handled.
async fn type_and_wait(keys: &TermSender, read: &std::sync::atomic::AtomicUsize, typed: &str) {
    use crossterm::event::Event as TermEvent;
    let typed = key_string(typed);
    let sent = read.load(std::sync::atomic::Ordering::SeqCst) + typed.len() + 1;
    for k in typed {
        let _ = keys.send(Ok(TermEvent::Key(k)));
    }
    let _ = keys.send(Ok(TermEvent::FocusGained));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while read.load(std::sync::atomic::Ordering::SeqCst) < sent {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the keys were not read"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The start-up checks (the dirty-tree check reads a large repository's whole index) run after
/// the first frame: a brief typed and sent before they finish is kept and starts the session
/// once they have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brief_sent_while_the_start_up_checks_run_starts_the_session_after_them() {
    let repo = TestRepo::new(&[("greet.py", GREET)]);
    let server = FakeOpenAi::start(vec![plan_reply()]).await;
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let root = repo.path().to_path_buf();
    let url = server.base_url.clone();
    let core = tandem::tui::Core::starting(move || {
        // The checks: held until the test lets them finish.
        let _ = gate_rx.recv();
        let launch: tandem::tui::Launcher =
            Box::new(move |brief: String| create_core(&root, &url, brief));
        Ok(tandem::tui::Core::NotStarted(Some(launch)))
    });
    let (mut app, mut term) = app_and_terminal();
    app.ask_for_brief();
    let (keys, input, read) = counted_input();
    let journal_has = |kind: &str| {
        !repo.journal_files().is_empty()
            && repo
                .journal()
                .iter()
                .any(|e| e["event"]["type"].as_str() == Some(kind))
    };
    let driver = async {
        type_and_wait(&keys, &read, "Greet people by name.<c-s>").await;
        // The brief was sent, and nothing started: the checks still run.
        assert!(
            repo.journal_files().is_empty(),
            "a session began before the checks ended"
        );
        gate.send(()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !journal_has("plan_set") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no plan after the checks"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The end of input ends the loop.
        drop(keys);
    };
    let mut host = NoEditor(input);
    let looped = tandem::tui::event_loop(&mut term, &mut app, core, &mut host);
    let (result, ()) = tokio::time::timeout(Duration::from_secs(40), async {
        tokio::join!(looped, driver)
    })
    .await
    .expect("the loop ends with its input");
    result.unwrap();
    let journal = repo.journal();
    let started = events(&journal, "session_started");
    assert_eq!(started[0]["brief"], "Greet people by name.");
}

/// A session that fails to start (the repository is locked, say) ends the loop with an error
/// that holds the brief the user sent, not a panic: the start's handle is spent once read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_fails_to_start_gives_the_brief_back_in_the_error() {
    let launch: tandem::tui::Launcher =
        Box::new(|_brief: String| Err(anyhow::anyhow!("another tandem holds the lock")));
    let core = tandem::tui::Core::NotStarted(Some(launch));
    let (mut app, mut term) = app_and_terminal();
    app.ask_for_brief();
    let (keys, input, read) = counted_input();
    let driver = async {
        type_and_wait(&keys, &read, "Write the invoice.<c-s>").await;
        // Keys stay open: only the failed start can end the loop.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(keys);
    };
    let result = loop_must_end(&mut app, &mut term, core, input, driver, "the failed start").await;
    let err = format!("{:#}", result.unwrap_err());
    assert!(
        err.contains("another tandem holds the lock") && err.contains("Write the invoice."),
        "{err}"
    );
}

/// A quit pressed while the session is still being opened is not lost: it reaches the session
/// once it runs, and the loop ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quit_pressed_while_the_session_opens_ends_the_run() {
    let repo = TestRepo::new(&[("greet.py", GREET)]);
    let server = FakeOpenAi::start(vec![plan_reply()]).await;
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let root = repo.path().to_path_buf();
    let url = server.base_url.clone();
    let core = tandem::tui::Core::starting(move || {
        let _ = gate_rx.recv();
        let handle = create_core(&root, &url, "Greet people by name.".into())?;
        Ok(tandem::tui::Core::Running(handle))
    });
    let (mut app, mut term) = app_and_terminal();
    let (keys, input, read) = counted_input();
    let driver = async {
        type_and_wait(&keys, &read, "q").await;
        gate.send(()).unwrap();
        // Keys stay open: only the quit can end the loop.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(keys);
    };
    loop_must_end(&mut app, &mut term, core, input, driver, "the quit")
        .await
        .unwrap();
}

/// Run the real loop on `app` and `core` with `input` beside `driver` (which keeps the input
/// open): the loop must end by itself, after `what`, within 20 s.
async fn loop_must_end(
    app: &mut App,
    term: &mut Terminal<TestBackend>,
    core: tandem::tui::Core,
    input: Box<tandem::tui::Input>,
    driver: impl std::future::Future<Output = ()>,
    what: &str,
) -> anyhow::Result<()> {
    let mut host = NoEditor(input);
    let looped = tandem::tui::event_loop(term, app, core, &mut host);
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            r = looped => r,
            () = driver => panic!("the loop did not end after {what}"),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} did not end the loop"))
}
