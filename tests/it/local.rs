//! Local models: output caps and answers cut off at them, servers and models that cannot call
//! tools (the text protocol, for the planner and the drafter), a plan given by hand after
//! planning failed, and `doctor` reading llama-server's and Ollama's own endpoints.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::{Value, json};

const PLAN: &str = "[[task]]\ntitle = \"Write a\"\ninstructions = \"Create a.txt containing a.\"\nacceptance = [\"a.txt exists\"]\n";

fn write_a(content: &str) -> Reply {
    Reply::tool(
        "write_file",
        json!({"path": "a.txt", "content": content}).to_string(),
    )
}

fn finish() -> Reply {
    Reply::tool("finish", json!({"summary": "done"}).to_string())
}

/// The text of the last message of request `n` (0-based).
fn last_message(requests: &[Value], n: usize) -> String {
    let m = requests[n]["messages"].as_array().unwrap();
    match &m.last().unwrap()["content"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn exec_plan(repo: &TestRepo, server: &FakeOpenAi) -> std::process::Output {
    let plan = repo.input("plan.toml", PLAN);
    run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--auto-accept"],
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_capped_and_cut_off_answers_are_never_used_as_they_are() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    config(&repo, "[max_output_tokens]\ndrafter = 300\n");
    let server = FakeOpenAi::start(vec![
        // Rambles into the cap with no tool call.
        Reply::Cut(Box::new(Reply::text("Let me explain at length what I"))),
        // Cut in the middle of a call: its arguments end mid-way.
        Reply::Cut(Box::new(Reply::tool(
            "write_file",
            "{\"path\": \"a.txt\", \"content\": \"hal",
        ))),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server).await;
    assert!(out.status.success(), "{}", text(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r["max_tokens"], 300, "{r}");
    }
    let nudge = last_message(&requests, 1);
    assert!(
        nudge.contains("cut off at the output limit (300 tokens)"),
        "{nudge}"
    );
    let result = last_message(&requests, 2);
    assert!(result.contains("This call was not run"), "{result}");
    assert_eq!(repo.read("a.txt"), "a\n");
    let journal = repo.journal();
    let ready = events(&journal, "iteration_ready")[0];
    assert!(ready.get("cut_off").is_none(), "finished normally: {ready}");
    assert_eq!(events(&journal, "model_call")[0]["finish_reason"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_cut_off_again_and_again_reaches_review_marked_and_is_not_accepted() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let cut = || Reply::Cut(Box::new(Reply::text("I will now write a very long")));
    let server = FakeOpenAi::start(vec![cut(), cut(), cut()]).await;
    let out = exec_plan(&repo, &server).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("ready for review (NO CHANGES, CUT OFF, INCOMPLETE)"),
        "{so}"
    );
    assert!(so.contains("does not accept a draft marked"), "{so}");
    assert_eq!(server.request_count(), 3);
    let journal = repo.journal();
    assert_eq!(events(&journal, "iteration_ready")[0]["cut_off"], true);
    assert!(events(&journal, "committed").is_empty());
    // The report says what the draft was.
    let out = run(repo.tandem(
        &server.base_url,
        &["report", "--format", "md", "--for", "me"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("open (latest draft: no changes, cut off, incomplete)"),
        "{}",
        text(&out)
    );
}

const GREET: &str = "def greet():\n    print('hello')\n";

fn toml_plan_answer() -> Reply {
    Reply::text(
        "Here is the plan.\n\n```toml\n[[task]]\ntitle = \"Greet by name\"\ninstructions = \"Make greet in greet.py take a name and print it.\"\nacceptance = [\"greet(name) prints hello and the name\"]\n```\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_tools_gets_the_text_protocol_with_the_files_in_the_prompt() {
    let repo = TestRepo::new(&[("greet.py", GREET), ("notes.txt", "unrelated\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::Status(
            500,
            json!({"error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}}).to_string(),
        ),
        toml_plan_answer(),
        Reply::text(
            "greet.py\n<<<<<<< SEARCH\ndef greet():\n    print('hello')\n=======\ndef greet(name):\n    print('hello ' + name)\n>>>>>>> REPLACE\n\ngreet takes a name now.",
        ),
    ])
    .await;
    let brief = repo.input("brief.md", "Make the greeting personal.\n");
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    // The permanent refusal was not retried, and its fix is said once.
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "no retries of a permanent error");
    assert_eq!(
        text(&out)
            .matches("Start llama-server with --jinja")
            .count(),
        1,
        "{}",
        text(&out)
    );
    // The planner was asked again without tools, for TOML.
    assert!(requests[1].get("tools").is_none());
    let planner = requests[1]["messages"][0]["content"].as_str().unwrap();
    assert!(planner.contains("```toml"), "{planner}");
    assert!(!planner.contains("submit_plan"), "{planner}");
    // The drafter saw the task's file, whole, and only the names of the others.
    assert!(requests[2].get("tools").is_none());
    let system = requests[2]["messages"][0]["content"].as_str().unwrap();
    assert!(!system.contains("edit_file"), "{system}");
    let prompt = requests[2]["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains(&format!("```greet.py\n{GREET}```")),
        "{prompt}"
    );
    assert!(
        prompt.contains("notes.txt") && !prompt.contains("unrelated"),
        "{prompt}"
    );
    assert_eq!(
        repo.read("greet.py"),
        "def greet(name):\n    print('hello ' + name)\n"
    );
    let journal = repo.journal();
    assert_eq!(events(&journal, "text_protocol").len(), 1);
    assert_eq!(events(&journal, "plan_set")[0]["source"], "planner");
    assert_eq!(events(&journal, "committed").len(), 1);
    let ready = events(&journal, "iteration_ready")[0];
    assert_eq!(ready["summary"], "greet takes a name now.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_planner_hears_the_exact_error_and_the_text_drafter_can_read_files() {
    let repo = TestRepo::new(&[("b.txt", "bee\n"), ("c.txt", "sea\n")]);
    config(&repo, "text_protocol = true\n");
    let server = FakeOpenAi::start(vec![
        Reply::text("```toml\n[[task]]\ntitle = \"Fix c\"\ninstructions = \"Fix c.txt\"\nacceptance = []\n```"),
        Reply::text("```toml\n[[task]]\ntitle = \"Fix c\"\ninstructions = \"Make c.txt say what b.txt says.\"\nacceptance = [\"c.txt matches b.txt\"]\n```"),
        Reply::text("READ b.txt"),
        Reply::text("c.txt\n<<<<<<< SEARCH\nsea\n=======\nbee\n>>>>>>> REPLACE\n"),
    ])
    .await;
    let brief = repo.input("brief.md", "c should match b.\n");
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.get("tools").is_none()));
    let reask = last_message(&requests, 1);
    assert!(
        reask.contains("needs at least one criterion") && reask.contains("[[task]]"),
        "{reask}"
    );
    // c.txt is named by the plan (and b.txt too): both shown; then the READ is answered.
    let first = last_message(&requests, 2);
    assert!(first.contains("```c.txt\nsea\n```"), "{first}");
    let answer = last_message(&requests, 3);
    assert!(answer.contains("```b.txt\nbee\n```"), "{answer}");
    assert_eq!(repo.read("c.txt"), "bee\n");
    let journal = repo.journal();
    assert_eq!(
        events(&journal, "text_protocol")[0]["reason"],
        "text_protocol = true in the config"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_that_fails_can_continue_with_a_plan_written_by_hand() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::text("I think this is a job of two parts."),
        Reply::text("Part one, then part two."),
        Reply::text("As I said, two parts."),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let brief = repo.input("brief.md", "Write a.\n");
    let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("no valid plan after 3 attempts") && err.contains("--resume --plan FILE"),
        "{err}"
    );
    let plan = repo.input("plan.toml", PLAN);
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--resume", "--plan", &plan, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "a\n");
    let journal = repo.journal();
    assert_eq!(
        events(&journal, "session_started").len(),
        1,
        "the same session"
    );
    assert_eq!(events(&journal, "plan_set")[0]["source"], "file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_is_said_once() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![Reply::Status(
        401,
        json!({"error": {"message": "bad key"}}).to_string(),
    )])
    .await;
    let out = exec_plan(&repo, &server).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        text(&out).matches("refused the API key").count(),
        1,
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_llama_server_ollama_and_lm_studio() {
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    // llama-server: one model listed twice, a small context, a template without tools.
    let server = FakeOpenAi::start(vec![Reply::text("pong")]).await;
    server.set_models_response(
        200,
        &json!({
            "models": [{"name": "smollm2.gguf", "model": "smollm2.gguf", "capabilities": ["completion"]}],
            "object": "list",
            "data": [{"id": "smollm2.gguf", "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx_train": 8192}}],
        })
        .to_string(),
    );
    server.set_props(json!({
        "default_generation_settings": {"n_ctx": 2048},
        "total_slots": 1,
        "chat_template_caps": {"supports_tools": false},
        "build_info": "b6000-abc",
    }));
    let mut cmd = repo.tandem(&server.base_url, &["doctor"]);
    cmd.env("TANDEM_MODEL", "local");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    let line = |name: &str| {
        so.lines()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in:\n{so}"))
            .to_string()
    };
    assert!(
        line("endpoint").starts_with("ok")
            && line("endpoint")
                .contains("serves one model, `smollm2.gguf`, and answers to any name"),
        "{so}"
    );
    assert!(
        line("server").contains("llama-server, no tool support (build b6000-abc)"),
        "{so}"
    );
    assert!(
        line("context").starts_with("FAIL") && line("context").contains("-c 16384"),
        "{so}"
    );
    assert!(
        line("tool calling").starts_with("FAIL")
            && line("tool calling").contains("chat template cannot call tools")
            && !so.contains("--jinja"),
        "{so}"
    );
    assert_eq!(
        line("streaming"),
        "ok    streaming: answers arrive streamed"
    );
    assert_eq!(server.requests()[0]["max_tokens"], 64);
    assert!(text(&out).contains("64 tokens at most"), "{}", text(&out));

    // Ollama: the model supports tools and sets a large num_ctx.
    let server =
        FakeOpenAi::start(vec![Reply::tool("ping", json!({"ok": true}).to_string())]).await;
    server.set_show(json!({
        "capabilities": ["completion", "tools"],
        "model_info": {"qwen2.context_length": 32768},
        "parameters": "num_ctx                        16384\nstop                           \"<|im_end|>\"",
    }));
    let out = run(repo.tandem(&server.base_url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let so = stdout(&out);
    assert!(so.contains("ok    server: Ollama, tools supported"), "{so}");
    assert!(so.contains("ok    context: 16384 tokens"), "{so}");
    assert!(
        so.contains("ok    streaming: tool calls arrive streamed"),
        "{so}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_protocol_revision_answers_review_threads_in_its_text() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    config(&repo, "text_protocol = true\n");
    let server = FakeOpenAi::start(vec![
        Reply::text("```text a.txt\nhello\n```\nWrote a."),
        Reply::text(
            "a.txt\n<<<<<<< SEARCH\nhello\n=======\nhello there\n>>>>>>> REPLACE\nFriendlier now.\n[c1.1] addressed: added there",
        ),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"revise\"\n[[decision.comment]]\npath = \"a.txt\"\nline = 1\ntext = \"Friendlier.\"\n\n[[decision]]\ntask = 1\naction = \"accept\"\ncriteria_met = [1]\nresolve = [\"c1.1\"]\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "hello there\n");
    let requests = server.requests();
    // The revision shows the thread, asks for reply lines, and carries the file as it is.
    let prompt = requests[1]["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("[c1.1] a.txt, line 1"), "{prompt}");
    assert!(
        prompt.contains("`[c1.2] addressed: what you did`"),
        "{prompt}"
    );
    assert!(prompt.contains("```a.txt\nhello\n```"), "{prompt}");
    let journal = repo.journal();
    let replies = events(&journal, "thread_reply");
    assert_eq!(replies.len(), 1, "{journal:?}");
    assert_eq!(replies[0]["thread"], "c1.1");
    assert_eq!(replies[0]["reply"], "addressed");
    assert_eq!(replies[0]["text"], "added there");
    assert_eq!(
        events(&journal, "iteration_ready")[1]["summary"],
        "Friendlier now."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_protocol_prompt_keeps_to_its_budget_and_says_what_it_left_out() {
    let long = "x".repeat(299) + "\n";
    let repo = TestRepo::new(&[("a.txt", &long), ("b.txt", &long)]);
    config(&repo, "text_protocol = true\ntext_context_tokens = 100\n");
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"Shorten\"\ninstructions = \"Shorten a.txt and b.txt.\"\nacceptance = [\"both short\"]\n",
    );
    let server = FakeOpenAi::start(vec![Reply::text(
        "```text a.txt\nx\n```\n```text b.txt\nx\n```\nShortened both.",
    )])
    .await;
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let prompt = server.requests()[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(prompt.contains(&format!("```a.txt\n{long}```")), "{prompt}");
    assert!(!prompt.contains(&format!("```b.txt\n{long}")), "{prompt}");
    assert!(
        prompt.contains("Not shown, to keep the prompt small: b.txt. READ them"),
        "{prompt}"
    );
    // The journal lists only what the model was shown.
    let journal = repo.journal();
    let reads: Vec<_> = events(&journal, "tool_call")
        .into_iter()
        .filter(|c| c["name"] == "read_file")
        .map(|c| c["args"]["path"].clone())
        .collect();
    assert_eq!(reads, vec![json!("a.txt")]);
    assert_eq!(repo.read("b.txt"), "x\n");
}
