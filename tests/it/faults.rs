//! Faults of real model servers, injected by the fake server: each transient fault is retried and
//! announced, each permanent one stops with a message that says what to fix, dialects are
//! bridged, budgets end a draft as incomplete — and after every one of them the journal is dense,
//! the tree holds only what was applied whole, and the API key is nowhere. Also: bad input files,
//! `tandem doctor`, and property tests of the journal reader and of path confinement.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const PLAN: &str = "[[task]]\ntitle = \"Write a\"\ninstructions = \"Create a.txt.\"\nacceptance = [\"a.txt exists\"]\n";

fn write_a(content: &str) -> Reply {
    Reply::tool(
        "write_file",
        json!({"path": "a.txt", "content": content}).to_string(),
    )
}

fn finish() -> Reply {
    Reply::tool("finish", json!({"summary": "done"}).to_string())
}

fn error_body(message: &str) -> String {
    json!({"error": {"message": message, "type": "server_error"}}).to_string()
}

async fn exec_plan(repo: &TestRepo, base_url: &str) -> Output {
    let plan = repo.input("plan.toml", PLAN);
    run(repo.tandem(base_url, &["exec", "--plan", &plan, "--auto-accept"])).await
}

/// The journal is a dense sequence, and every tool call it records was applied whole: no
/// `tool_call` without its model call before it.
fn assert_journal_intact(repo: &TestRepo) -> Vec<Value> {
    let journal = repo.journal();
    for (i, e) in journal.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "lost or duplicated event");
    }
    let stored = tandem::core::journal::read_file(&repo.journal_files()[0]).unwrap();
    assert_eq!(stored.torn_bytes, 0);
    journal
}

/// Nothing but the session's own work is in the tree and the index.
fn assert_clean_after_commit(repo: &TestRepo) {
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

// ---------------------------------------------------------------------------------------------
// Transient faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_honours_retry_after_and_is_not_retried_behind_our_back() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::StatusWithHeaders(
            429,
            vec![("Retry-After".into(), "1".into())],
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}}).to_string(),
        ),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains(
            "retrying in 1s (attempt 1/4): the model server answered 429: Rate limit reached"
        ),
        "{so}"
    );
    // Exactly one request per reply: async-openai's own hidden retries are gone.
    assert_eq!(server.request_count(), 3);
    let times = server.request_times();
    let waited = times[1] - times[0];
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
    assert_eq!(repo.read("a.txt"), "a\n");
    let journal = assert_journal_intact(&repo);
    assert_eq!(events(&journal, "model_call").len(), 2);
    assert_eq!(events(&journal, "committed").len(), 1);
    assert_clean_after_commit(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_with_backoff() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::Status(500, error_body("internal error")),
        Reply::Status(502, "<html>Bad Gateway</html>".into()),
        Reply::Status(503, error_body("overloaded")),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let so = stdout(&out);
    for needle in [
        "(attempt 1/4): the model server answered 500: internal error",
        "(attempt 2/4): the model server answered 502: <html>Bad Gateway</html>",
        "(attempt 3/4): the model server answered 503: overloaded",
    ] {
        assert!(so.contains(needle), "missing {needle:?} in {so}");
    }
    assert_eq!(server.request_count(), 5);
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_and_broken_streams_never_apply_half_a_call() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let args = json!({"path": "wrong.txt", "content": "x".repeat(300)}).to_string();
    let server = FakeOpenAi::start(vec![
        Reply::DropConnection,
        Reply::StreamCutMidToolCall("write_file".into(), args.clone()),
        // Complete, finish_reason and all, but no [DONE]: the answer is not trusted.
        Reply::StreamNoDone(Box::new(Reply::tool("write_file", args))),
        write_a("a\n"),
        finish(),
    ])
    .await;
    config(&repo, "retries = 5\n");
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("(attempt 1/5): cannot reach the model server"),
        "{so}"
    );
    assert!(
        so.contains("(attempt 2/5): the model's answer could not be read"),
        "{so}"
    );
    assert!(
        so.contains("(attempt 3/5)") && so.contains("[DONE]"),
        "{so}"
    );
    assert!(!repo.path().join("wrong.txt").exists());
    let journal = assert_journal_intact(&repo);
    let touched: Vec<_> = events(&journal, "file_touched")
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(touched, vec![json!("a.txt")]);
    assert_eq!(events(&journal, "tool_call").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_stream_times_out_and_is_retried() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::StallAfterChunks(Box::new(write_a("never\n")), 3),
        Reply::Hang,
        // A local server reading a long prompt: silent for longer than the idle timeout
        // before its first byte, but within the first-token budget.
        Reply::Delay(Duration::from_millis(1500), Box::new(write_a("a\n"))),
        finish(),
    ])
    .await;
    config(&repo, "stream_idle_timeout = 1\nfirst_token_timeout = 2\n");
    let started = std::time::Instant::now();
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("(attempt 1/4)") && so.contains("the stream stalled"),
        "{so}"
    );
    // A server that never starts its answer runs out the first-token budget, named.
    assert!(
        so.contains("(attempt 2/4)")
            && so.contains("the server sent nothing for 2s after the request (first_token_timeout"),
        "{so}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000 + 2000 + 1500));
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_stop_resumably_then_resume_finishes() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // A port nobody listens on: bind, note, close.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    config(&repo, "retries = 2\n");
    let out = exec_plan(&repo, &dead).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    assert!(so.contains("retrying in"), "{so}");
    assert!(
        so.contains("error: gave up after 2 attempts: cannot reach the model server at"),
        "{so}"
    );
    assert!(so.contains("resume with: tandem exec --resume"), "{so}");
    let journal = assert_journal_intact(&repo);
    assert_eq!(events(&journal, "draft_aborted").len(), 1);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");

    // The server is back: the same session continues from the draft.
    let server = FakeOpenAi::start(vec![write_a("a\n"), finish()]).await;
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--auto-accept"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let journal = assert_journal_intact(&repo);
    assert_eq!(events(&journal, "session_started").len(), 1);
    assert_eq!(events(&journal, "committed").len(), 1);
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_clean_after_commit(&repo);
}

// ---------------------------------------------------------------------------------------------
// Permanent faults

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_names_the_variable_never_the_key() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // Servers echo the key back; it must not come through.
    let body = error_body(&format!("Incorrect API key provided: {SECRET_KEY}"));
    let server = FakeOpenAi::start(vec![Reply::Status(401, body.clone())]).await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("refused the API key (401)"), "{all}");
    assert!(all.contains("Check OPENAI_API_KEY"), "{all}");
    assert!(!all.contains(SECRET_KEY), "{all}");
    assert_eq!(server.request_count(), 1, "a bad key is not retried");
    assert_journal_intact(&repo);

    // The planner meets the same error: the message says so, and how to continue.
    let repo2 = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![Reply::Status(403, body)]).await;
    let brief = repo2.input("brief.md", "Do it.\n");
    let out = run(repo2.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("OPENAI_API_KEY") && all.contains("tandem exec --resume"),
        "{all}"
    );
    assert!(!all.contains(SECRET_KEY), "{all}");
    assert_no_key_anywhere(&repo, &[]);
    assert_no_key_anywhere(&repo2, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_lists_what_the_server_offers() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![Reply::Status(
        404,
        json!({"error": {"message": "The model `fake-model` does not exist", "code": "model_not_found"}}).to_string(),
    )])
    .await;
    server.set_models(&["llama3.1:8b", "qwen2.5-coder:7b"]);
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("the model `fake-model` was not found on")
            && so.contains("the server offers: llama3.1:8b, qwen2.5-coder:7b"),
        "{so}"
    );
    assert_eq!(server.request_count(), 1);
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_drops_older_tool_results_once() {
    let big = "line of a large file\n".repeat(400);
    let repo = TestRepo::new(&[("big.txt", &big), ("small.txt", "small\n")]);
    let overflow = json!({"error": {"message": "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}}).to_string();
    let server = FakeOpenAi::start(vec![
        Reply::tool("read_file", json!({"path": "big.txt"}).to_string()),
        Reply::tool("read_file", json!({"path": "small.txt"}).to_string()),
        Reply::Status(400, overflow.clone()),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("without older tool results"),
        "{}",
        text(&out)
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    let size = |r: &Value| r.to_string().len();
    // The retry of request 3 dropped the big, older result but kept the latest.
    let results = tool_results(&requests[3]);
    assert!(
        results[0].contains("tool result dropped to fit the context window"),
        "{results:?}"
    );
    assert_eq!(results[1], "small\n");
    assert!(size(&requests[3]) < size(&requests[2]) / 2);
    // Later requests are fitted before they are sent, not after another refusal.
    assert!(tool_results(&requests[4])[0].contains("dropped to fit"));
    assert_journal_intact(&repo);

    // When it still does not fit, the draft stops with a clear message.
    let repo = TestRepo::new(&[("big.txt", &big)]);
    let server = FakeOpenAi::start(vec![
        Reply::tool("read_file", json!({"path": "big.txt"}).to_string()),
        Reply::tool("read_file", json!({"path": "big.txt"}).to_string()),
        Reply::Status(400, overflow.clone()),
        Reply::Status(400, overflow),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("longer than the model's context window") && so.contains("llama-server -c"),
        "{so}"
    );
    assert_eq!(
        server.request_count(),
        4,
        "shrunk and retried once, no more"
    );
    assert_journal_intact(&repo);
}

// ---------------------------------------------------------------------------------------------
// Dialects

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refusing_streamed_tools_gets_plain_requests_for_the_session() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::Status(
            400,
            json!({"error": {"message": "streaming tool choice is not supported", "type": "invalid_request_error"}}).to_string(),
        ),
        write_a("a\n"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["stream"], true);
    assert!(requests[1].get("stream").is_none() && requests[2].get("stream").is_none());
    // The same conversation, only not streamed.
    assert_eq!(requests[0]["messages"], requests[1]["messages"]);
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ignoring_the_stream_flag_is_asked_without_it() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // A plain JSON completion in answer to a streamed request.
    let plain = json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "not streamed"}}],
    })
    .to_string();
    let server = FakeOpenAi::start(vec![Reply::Status(200, plain), write_a("a\n"), finish()]).await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["stream"], true);
    assert!(requests[1].get("stream").is_none() && requests[2].get("stream").is_none());
    assert_eq!(repo.read("a.txt"), "a\n");
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_answers_fall_back_to_search_replace_and_fenced_files() {
    let repo = TestRepo::new(&[("greet.py", "def greet():\n    print('hello')\n")]);
    let answer = "I made greet take a name and added notes.\n\n\
greet.py\n<<<<<<< SEARCH\ndef greet():\n    print('hello')\n=======\ndef greet(name):\n    print('hello ' + name)\n>>>>>>> REPLACE\n\n\
```markdown docs/notes.md\n# Notes\ngreet takes a name\n```\n";
    let server = FakeOpenAi::start(vec![
        Reply::text("Sure, here is how I would do it."),
        Reply::text(answer),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"reject\"\n",
    );
    // Stop at the review first, to see the applied draft.
    let empty = repo.input("empty.toml", "");
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &empty],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        repo.read("greet.py"),
        "def greet(name):\n    print('hello ' + name)\n"
    );
    assert_eq!(repo.read("docs/notes.md"), "# Notes\ngreet takes a name\n");
    // The re-ask came once and named the fallback.
    let requests = server.requests();
    let reask = requests[1]["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reask.contains("SEARCH/REPLACE"), "{reask}");
    let journal = assert_journal_intact(&repo);
    let calls = events(&journal, "tool_call");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["name"], "edit_file");
    assert_eq!(calls[0]["call_id"], "text_2_0");
    assert_eq!(calls[1]["name"], "write_file");
    let ready = events(&journal, "iteration_ready")[0];
    assert_eq!(ready["incomplete"], false);
    assert_eq!(
        ready["summary"],
        "I made greet take a name and added notes."
    );
    // The preimages were journaled like any tool write: a reject puts everything back.
    assert_eq!(events(&journal, "file_touched").len(), 2);
    let out = run(repo.tandem(&server.base_url, &["exec", "--resume", "--review", &review])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("greet.py"), "def greet():\n    print('hello')\n");
    assert!(!repo.path().join("docs").exists());
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_text_blocks_are_reported_back_and_nothing_of_them_applied() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::text("I will describe it."),
        Reply::text("a.txt\n<<<<<<< SEARCH\nnot there\n=======\ntwo\n>>>>>>> REPLACE\n"),
        Reply::text("a.txt\n<<<<<<< SEARCH\none\n=======\ntwo\n>>>>>>> REPLACE\nFixed."),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    // Twice in text: the session switched to the text protocol, and the next request shows
    // the model the file as it is, offers no tools, and describes only the text protocol.
    let requests = server.requests();
    let third = &requests[2];
    assert!(third.get("tools").is_none(), "{third}");
    let messages = third["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "a fresh conversation");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("You cannot\ncall tools here"), "{system}");
    assert!(!system.contains("edit_file"), "{system}");
    let prompt = messages[1]["content"].as_str().unwrap();
    assert!(prompt.contains("```a.txt\none\n```"), "{prompt}");
    assert_eq!(repo.read("a.txt"), "two\n");
    let journal = assert_journal_intact(&repo);
    assert_eq!(events(&journal, "text_protocol").len(), 1);
    // The failed block was journaled as a failed edit; nothing of it was applied.
    let calls = events(&journal, "tool_call");
    assert_eq!(calls[0]["ok"], false);
    assert!(
        calls[0]["result"]
            .as_str()
            .unwrap()
            .contains("`old_text` does not occur in `a.txt`"),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_tool_arguments_are_repaired_or_answered_with_an_error() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![
        // HTML-escaped quotes: unambiguous, repaired.
        Reply::tool(
            "write_file",
            "{&quot;path&quot;: &quot;a.txt&quot;, &quot;content&quot;: &quot;a&quot;}",
        ),
        // Wrapped in a Markdown fence: repaired.
        Reply::tool(
            "write_file",
            "```json\n{\"path\": \"b.txt\", \"content\": \"b\"}\n```",
        ),
        // Encoded twice: repaired.
        Reply::tool(
            "write_file",
            json!(json!({"path": "c.txt", "content": "c"}).to_string()).to_string(),
        ),
        // Cut off: ambiguous, an error result the model sees.
        Reply::tool("write_file", "{\"path\": \"d.txt\", \"content\": \"d"),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "a");
    assert_eq!(repo.read("b.txt"), "b");
    assert_eq!(repo.read("c.txt"), "c");
    assert!(!repo.path().join("d.txt").exists());
    let last = tool_results(&server.requests()[4]);
    assert!(
        last[3].starts_with("error: the arguments of `write_file` are not valid JSON"),
        "{last:?}"
    );
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_stream_errors_and_split_chunks() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string()
    };
    let server = FakeOpenAi::start(vec![
        // An error reported inside a 200 stream is a fault, retried.
        Reply::Sse(vec![
            json!({"error": {"message": "upstream model crashed", "code": 500}}).to_string(),
            "[DONE]".into(),
        ]),
        // A call split over many events, the id only on the first, no index at all.
        Reply::Sse(vec![
            chunk(json!({"role": "assistant"}), None),
            chunk(json!({"tool_calls": [{"id": "x1", "type": "function", "function": {"name": "write_file", "arguments": ""}}]}), None),
            chunk(json!({"tool_calls": [{"function": {"arguments": "{\"pa"}}]}), None),
            chunk(json!({"tool_calls": [{"function": {"arguments": "th\": \"a.txt\", "}}]}), None),
            chunk(json!({"tool_calls": [{"function": {"arguments": "\"content\": \"é\"}"}}]}), None),
            chunk(json!({}), Some("tool_calls")),
            "[DONE]".into(),
        ]),
        finish(),
    ])
    .await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("upstream model crashed"),
        "{}",
        text(&out)
    );
    assert_eq!(repo.read("a.txt"), "é");
    assert_journal_intact(&repo);
}

// ---------------------------------------------------------------------------------------------
// Budgets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_and_token_budgets_end_the_draft_as_incomplete() {
    let read = || Reply::tool("read_file", json!({"path": "keep.txt"}).to_string());
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    config(&repo, "max_steps = 2\n");
    let server = FakeOpenAi::start(vec![read(), read(), read()]).await;
    let out = exec_plan(&repo, &server.base_url).await;
    // Marked, and --auto-accept leaves it to the reviewer.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("ready for review (NO CHANGES, INCOMPLETE)"),
        "{so}"
    );
    assert_eq!(server.request_count(), 2);
    let journal = assert_journal_intact(&repo);
    assert_eq!(events(&journal, "iteration_ready")[0]["incomplete"], true);

    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    config(&repo, "max_task_tokens = 10\n");
    let server = FakeOpenAi::start(vec![read(), read(), read()]).await;
    let out = exec_plan(&repo, &server.base_url).await;
    // Marked, and --auto-accept leaves it to the reviewer.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stdout(&out).contains("(NO CHANGES, INCOMPLETE)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        server.request_count(),
        1,
        "the first answer used the budget"
    );
    assert_journal_intact(&repo);
}

// ---------------------------------------------------------------------------------------------
// Bad input files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_briefs_and_prompts_name_the_file_and_write_nothing() {
    let server = FakeOpenAi::start(vec![]).await;
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let latin1 = repo.home.path().join("latin1.md");
    std::fs::write(&latin1, b"Line one\nCaf\xe9 menu\n").unwrap();
    let empty = repo.input("empty.md", " \n\n");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            latin1.display().to_string(),
            vec!["latin1.md, line 2", "not UTF-8"],
        ),
        (empty.clone(), vec!["empty.md", "is empty"]),
        (
            repo.home.path().join("missing.md").display().to_string(),
            vec!["cannot read brief", "missing.md"],
        ),
        (
            repo.home.path().display().to_string(),
            vec!["cannot read brief"],
        ),
    ];
    for (brief, needles) in cases {
        let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "missing {n:?} in {err}");
        }
    }
    // A prompt override with a template error.
    let prompts = repo.home.path().join("tandem-config/prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(
        prompts.join("task.md"),
        "Task {{ number }}\n{% for c in acceptance %}\n",
    )
    .unwrap();
    let good = repo.input("brief.md", "Do it.\n");
    let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &good])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("task.md") && err.contains("line"), "{err}");

    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

// ---------------------------------------------------------------------------------------------
// The key

/// The key is in no file tandem wrote, no ref, no object (commit, tree, blob), no reflog, and in
/// none of the given outputs.
fn assert_no_key_anywhere(repo: &TestRepo, outputs: &[&Output]) {
    let key = SECRET_KEY.as_bytes();
    let has_key = |bytes: &[u8]| bytes.windows(key.len()).any(|w| w == key);
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, files);
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    // Every file in the working tree, .git included (tandem/, refs/, logs/, packed-refs...),
    // and in the isolated home (config dir): raw bytes.
    let mut files = Vec::new();
    walk(repo.path(), &mut files);
    walk(repo.home.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains(".git/tandem/")),
        "no journal written: the scan would prove nothing"
    );
    for f in &files {
        assert!(
            !has_key(&std::fs::read(f).unwrap()),
            "key in {}",
            f.display()
        );
    }
    // Objects are compressed on disk: read every one through git.
    let all = std::process::Command::new("git")
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(all.status.success());
    assert!(!has_key(&all.stdout), "key in a git object");
    let refs = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    assert!(!refs.contains(SECRET_KEY));
    let logs = git(repo.path(), &["log", "--all", "--format=%H%n%B", "-p"]);
    assert!(!logs.contains(SECRET_KEY));
    for out in outputs {
        assert!(
            !has_key(&out.stdout) && !has_key(&out.stderr),
            "key in output: {}",
            text(out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_never_written_or_printed() {
    let repo = TestRepo::new(&[("greet.py", "print('hello')\n"), ("notes.txt", "notes\n")]);
    let key_echo = error_body(&format!("bad key {SECRET_KEY}"));
    let server = FakeOpenAi::start(vec![
        // The planner: a transient error echoing the key (retried, message shown), then a plan.
        Reply::Status(503, key_echo.clone()),
        Reply::tool(
            "submit_plan",
            json!({"tasks": [
                {"title": "Greet", "instructions": "Edit greet.py", "acceptance": ["it greets"]},
                {"title": "Notes", "instructions": "Edit notes.txt", "acceptance": ["edited"]}
            ]})
            .to_string(),
        ),
        Reply::tool(
            "write_file",
            json!({"path": "greet.py", "content": "print('hi')\n"}).to_string(),
        ),
        finish(),
        Reply::tool(
            "write_file",
            json!({"path": "notes.txt", "content": "changed\n"}).to_string(),
        ),
        finish(),
        // Task 2's revision meets a bad key.
        Reply::Status(401, key_echo),
    ])
    .await;
    let brief = repo.input("brief.md", "Greet and take notes.\n");
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\n[[decision]]\ntask = 2\naction = \"revise\"\nnote = \"again\"\n",
    );
    let first = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--review", &review, "--json"],
    ))
    .await;
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("[the API key]"));
    assert!(
        server
            .auth_headers()
            .iter()
            .all(|h| h == &format!("Bearer {SECRET_KEY}"))
    );
    let sessions = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert_no_key_anywhere(&repo, &[&first, &sessions]);
    assert_journal_intact(&repo);
}

/// A server that hides the key where a single text check cannot see it: split across streamed
/// pieces (with a bell inside), in a tool call's arguments (a file the agent writes), in the
/// draft's summary (the pushable proposal's message), in a tool's name, and base64-encoded in
/// an error body. None of it reaches a file, an object, a ref or the output, in any of those
/// shapes; where it was, `[the API key]` is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_hidden_in_any_shape_is_written_and_printed_nowhere() {
    use base64::Engine;
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string()
    };
    let (k1, k2) = SECRET_KEY.split_at(11);
    let (k2, k3) = k2.split_at(8);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{SECRET_KEY}"));
    let server = FakeOpenAi::start(vec![
        // A transient error whose body holds the key in base64 (retried, its message shown).
        Reply::Status(503, error_body(&format!("Authorization: Basic {basic} refused"))),
        Reply::Sse(vec![
            chunk(json!({"role": "assistant", "content": format!("Your key is {k1}")}), None),
            chunk(json!({"content": format!("{k2}\u{7}")}), None),
            chunk(json!({"content": format!("{k3}, I will write it down.")}), None),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {
                    "name": "write_file",
                    "arguments": json!({"path": "a.txt", "content": format!("KEY={SECRET_KEY}\n")}).to_string()
                }}]}),
                None,
            ),
            chunk(json!({}), Some("tool_calls")),
            "[DONE]".into(),
        ]),
        Reply::tool(format!("x{SECRET_KEY}"), "{}"),
        Reply::tool(
            "finish",
            json!({"summary": format!("Stored {}\u{200b}{} for you", &SECRET_KEY[..15], &SECRET_KEY[15..])}).to_string(),
        ),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--auto-accept", "--json"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "KEY=[the API key]\n");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("[the API key]"), "{printed}");
    let replay = run(repo.tandem(&server.base_url, &["replay", "--print"])).await;
    assert_no_key_anywhere(&repo, &[&out, &replay]);
    // Nor its shapes: with the invisible characters gone, or base64-encoded.
    let shown = |bytes: &[u8]| -> String {
        let text = String::from_utf8_lossy(bytes);
        let escapes = regex::Regex::new(r"\\u[0-9a-fA-F]{4}").unwrap();
        escapes
            .replace_all(&text, "")
            .chars()
            .filter(|c| !c.is_control() && *c != '\u{200b}')
            .collect()
    };
    // The streamed pieces, put together as a screen shows them one after another.
    let streamed: String = printed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "model_text")
        .map(|e| e["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        streamed.contains("Your key is [the API key], I will"),
        "{streamed:?}"
    );
    let mut texts = vec![
        shown(&out.stdout),
        shown(&replay.stdout),
        shown(streamed.as_bytes()),
    ];
    for f in repo.journal_files() {
        texts.push(shown(&std::fs::read(f).unwrap()));
    }
    texts.push(shown(
        git(repo.path(), &["log", "--all", "--format=%B", "-p"]).as_bytes(),
    ));
    for t in &texts {
        assert!(!t.contains(SECRET_KEY), "{t}");
        assert!(!t.contains(&basic[8..30]), "{t}");
    }
    assert_journal_intact(&repo);
}

// ---------------------------------------------------------------------------------------------
// tandem doctor

/// A key too short to tell from ordinary text is not hidden from output; doctor says so, so a
/// self-hosted server's short secret is not mistaken for protected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_when_a_key_is_too_short_to_be_hidden() {
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let server =
        FakeOpenAi::start(vec![Reply::tool("ping", json!({"ok": true}).to_string())]).await;
    let mut cmd = repo.tandem(&server.base_url, &["doctor"]);
    cmd.env("OPENAI_API_KEY", "hunter2-secret");
    let out = run(cmd).await;
    let so = stdout(&out);
    assert!(so.contains("shorter than 16 characters"), "{so}");
    let out = run(repo.tandem(&server.base_url, &["doctor"])).await;
    assert!(
        !stdout(&out).contains("shorter than 16"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_each_check_and_what_to_fix() {
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let server =
        FakeOpenAi::start(vec![Reply::tool("ping", json!({"ok": true}).to_string())]).await;
    let out = run(repo.tandem(&server.base_url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let so = stdout(&out);
    for check in [
        "repository",
        "git identity",
        "working tree",
        "config",
        "theme",
        "prompts",
        "model",
        "endpoint",
        "tool calling",
        "streaming",
    ] {
        assert!(
            so.contains(&format!("ok    {check}: ")),
            "no ok {check} in:\n{so}"
        );
    }
    assert!(!so.contains("FAIL"), "{so}");
    assert_eq!(server.requests()[0]["stream"], true);

    // A model that answers in text, a dirty tree, a model the server does not list.
    write(repo.path(), "a.txt", "changed\n");
    let server = FakeOpenAi::start(vec![Reply::text("pong")]).await;
    server.set_models(&["other-model"]);
    let out = run(repo.tandem(&server.base_url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    let line = |name: &str| {
        so.lines()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in:\n{so}"))
            .to_string()
    };
    assert!(
        line("working tree").starts_with("FAIL") && line("working tree").contains("a.txt"),
        "{so}"
    );
    assert!(
        line("endpoint").starts_with("FAIL") && line("endpoint").contains("other-model"),
        "{so}"
    );
    assert!(
        line("tool calling").starts_with("FAIL") && line("tool calling").contains("Fix: "),
        "{so}"
    );

    // A bad key: named by its variable, never shown.
    git(repo.path(), &["checkout", "a.txt"]);
    let server = FakeOpenAi::start(vec![]).await;
    server.set_models_response(401, &error_body(&format!("bad key {SECRET_KEY}")));
    let out = run(repo.tandem(&server.base_url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("FAIL  endpoint:") && so.contains("OPENAI_API_KEY"),
        "{so}"
    );
    assert!(!text(&out).contains(SECRET_KEY));
    assert_eq!(server.request_count(), 0);

    // Nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let out = run(repo.tandem(&dead, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let so = stdout(&out);
    assert!(
        so.contains("FAIL  endpoint: cannot reach the model server"),
        "{so}"
    );
    assert!(so.contains("Fix: start the model server"), "{so}");
    assert!(so.contains("skip  tool calling"), "{so}");
    assert!(repo.journal_files().is_empty(), "doctor writes nothing");
}

// ---------------------------------------------------------------------------------------------
// Properties

mod props {
    use proptest::prelude::*;
    use std::path::Path;
    use tandem::core::journal::{JournalEvent, JournalWriter, parse};
    use tandem::infra::tools::{PathError, Workspace};

    fn journal(n: usize) -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (mut w, _) = JournalWriter::open(&path).unwrap();
        for i in 0..n {
            w.append(JournalEvent::NoteSet {
                task: 1,
                iteration: 1,
                text: format!("note {i} — ünïcödé \"quoted\"\n"),
            })
            .unwrap();
        }
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        (dir, bytes)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Any cut of a journal, followed by any garbage without a newline (a torn write), reads
        /// as exactly the complete lines before the cut; reopening cuts the tail and appending
        /// yields a clean journal again.
        #[test]
        fn torn_tails_read_as_a_prefix(n in 1usize..6, cut in any::<prop::sample::Index>(),
                                       junk in prop::collection::vec(any::<u8>(), 0..40)) {
            let (dir, bytes) = journal(n);
            let full = parse(&bytes, "j").unwrap().entries;
            let cut = cut.index(bytes.len() + 1);
            let mut torn = bytes[..cut].to_vec();
            torn.extend(junk.iter().copied().filter(|&b| b != b'\n'));
            let complete = bytes[..cut].iter().filter(|&&b| b == b'\n').count();
            let read = parse(&torn, "j").unwrap();
            prop_assert_eq!(&read.entries[..], &full[..complete]);
            let path = dir.path().join("torn.jsonl");
            std::fs::write(&path, &torn).unwrap();
            let (mut w, entries) = JournalWriter::open(&path).unwrap();
            prop_assert_eq!(entries.len(), complete);
            w.append(JournalEvent::PlanApproved).unwrap();
            drop(w);
            let again = tandem::core::journal::read_file(&path).unwrap();
            prop_assert_eq!(again.torn_bytes, 0);
            prop_assert_eq!(again.entries.len(), complete + 1);
        }

        /// Garbage anywhere: the reader never panics and never invents an event. Either it reads
        /// a prefix of the real entries, or it names the damaged line.
        #[test]
        fn garbled_journals_never_yield_foreign_events(n in 1usize..6, at in any::<prop::sample::Index>(),
                                                       junk in prop::collection::vec(any::<u8>(), 1..30)) {
            let (_dir, bytes) = journal(n);
            let full = parse(&bytes, "j").unwrap().entries;
            let at = at.index(bytes.len());
            let mut garbled = bytes.clone();
            for (i, b) in junk.iter().enumerate() {
                if at + i < garbled.len() {
                    garbled[at + i] = *b;
                }
            }
            match parse(&garbled, "j") {
                Ok(read) => {
                    prop_assert!(read.entries.len() <= full.len());
                    for (a, b) in read.entries.iter().zip(&full) {
                        // Equal, or a damaged line that still parsed: then only its text differs.
                        prop_assert_eq!(a.seq, b.seq);
                    }
                }
                Err(e) => {
                    let e = e.to_string();
                    prop_assert!(e.contains("journal j, line "), "{}", e);
                }
            }
        }
    }

    /// Path pieces that matter to confinement.
    fn piece() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "..", ".", "", "a", "sub", "ü", "日本", ".git", ".GIT", ".Git.", ".git ", "git",
            "out_link", "in_link", "git_link", "file.txt", "~", "C:", "\\", "..\\..", "%2e%2e",
        ])
        .prop_map(str::to_string)
    }

    fn raw_path() -> impl Strategy<Value = String> {
        (prop::bool::ANY, prop::collection::vec(piece(), 1..6)).prop_map(|(abs, parts)| {
            let p = parts.join("/");
            if abs { format!("/{p}") } else { p }
        })
    }

    /// Where `rel` really lands: the deepest existing prefix resolved, the rest appended.
    fn resolve(root: &Path, rel: &str) -> std::path::PathBuf {
        let mut real = root.to_path_buf();
        let mut exists = true;
        for part in rel.split('/') {
            real.push(part);
            if exists {
                match real.canonicalize() {
                    Ok(r) => real = r,
                    Err(_) => exists = false,
                }
            }
        }
        real
    }

    #[cfg(unix)]
    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Whatever the model sends, an accepted path lands inside the root and outside .git
        /// (any case), even through symlinks; absolute paths are always refused.
        #[test]
        fn confinement_holds_for_generated_paths(raw in raw_path()) {
            let root_dir = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let root = root_dir.path().canonicalize().unwrap();
            std::fs::create_dir_all(root.join(".git")).unwrap();
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::os::unix::fs::symlink(outside.path(), root.join("out_link")).unwrap();
            std::os::unix::fs::symlink(root.join("sub"), root.join("in_link")).unwrap();
            std::os::unix::fs::symlink(root.join(".git"), root.join("git_link")).unwrap();
            let ws = Workspace::new(&root).unwrap();
            match ws.confine(&raw, false) {
                Ok((full, rel)) => {
                    prop_assert!(!raw.trim().starts_with('/'));
                    prop_assert!(full.starts_with(&root));
                    prop_assert!(!rel.split('/').any(|c| c == ".." || c.is_empty()), "{}", rel);
                    let real = resolve(&root, &rel);
                    prop_assert!(real.starts_with(&root), "{} -> {}", raw, real.display());
                    let inner = real.strip_prefix(&root).unwrap();
                    prop_assert!(
                        !inner.components().any(|c| c.as_os_str().to_string_lossy()
                            .trim_end_matches(['.', ' ']).eq_ignore_ascii_case(".git")),
                        "{} reaches .git", raw
                    );
                }
                Err(PathError::Absolute(_)) => {}
                Err(e) => prop_assert!(!raw.trim().starts_with('/') || matches!(e, PathError::Absolute(_)), "{:?}", e),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The key hidden in typed fields, answers without bounds, a machine without a CA store

/// A streamed answer whose `usage.prompt_tokens` is the key (a string where a number belongs).
fn key_in_usage() -> Reply {
    Reply::Sse(vec![
        json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-model",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": null}]})
        .to_string(),
        json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-model", "choices": [],
            "usage": {"prompt_tokens": SECRET_KEY, "completion_tokens": 1, "total_tokens": 2}})
        .to_string(),
        "[DONE]".into(),
    ])
}

/// A streamed tool call whose `index` is the key; its name and finish_reason quote it too.
fn key_in_index() -> Reply {
    Reply::Sse(vec![
        json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-model",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": SECRET_KEY, "id": "c1",
                "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]},
                "finish_reason": null}]})
        .to_string(),
        "[DONE]".into(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_hidden_in_typed_fields_is_never_quoted() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    // Every attempt of the text run, then every attempt of the --json run.
    let mut replies: Vec<Reply> = (0..4).map(|_| key_in_usage()).collect();
    replies.extend((0..4).map(|_| key_in_index()));
    let server = FakeOpenAi::start(replies).await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("[the API key]"),
        "the error is still shown, without the key: {}",
        text(&out)
    );
    let json_run = run(repo.tandem(&server.base_url, &["exec", "--resume", "--json"])).await;
    assert_eq!(json_run.status.code(), Some(1), "{}", text(&json_run));
    assert_eq!(server.remaining_replies(), 0, "both runs met the key");
    // doctor pings the model; the server answers with the key in a typed field again.
    let doctor_server = FakeOpenAi::start((0..4).map(|_| key_in_index()).collect()).await;
    let doctor = run(repo.tandem(&doctor_server.base_url, &["doctor"])).await;
    assert!(doctor_server.request_count() > 0, "{}", text(&doctor));
    assert_no_key_anywhere(&repo, &[&out, &json_run, &doctor]);
}

fn limits_config(repo: &TestRepo, toml: &str) {
    let dir = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), toml).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_answer_stops_at_its_time_bound_and_resumes() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    limits_config(&repo, "max_answer_seconds = 2\nstream_idle_timeout = 30\n");
    let server = FakeOpenAi::start(vec![Reply::Trickle(Duration::from_millis(100))]).await;
    let started = std::time::Instant::now();
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped by the bound, not by the idle timeout"
    );
    assert!(text(&out).contains("max_answer_seconds"), "{}", text(&out));
    assert_eq!(server.request_count(), 1, "a bound is not retried");
    let j = assert_journal_intact(&repo);
    assert_eq!(events(&j, "draft_aborted").len(), 1);
    // Resumable: the next run drafts the task normally.
    let server = FakeOpenAi::start(vec![write_a("a\n"), finish()]).await;
    let again = run(repo.tandem(&server.base_url, &["exec", "--resume", "--auto-accept"])).await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(repo.read("a.txt"), "a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_answer_is_cut_at_its_size_bound() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    limits_config(&repo, "max_answer_bytes = 200000\n");
    let server = FakeOpenAi::start(vec![Reply::Huge(2_000_000)]).await;
    let out = exec_plan(&repo, &server.base_url).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("max_answer_bytes"), "{}", text(&out));
    assert_eq!(server.request_count(), 1, "a bound is not retried");
    assert_journal_intact(&repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ca_store_never_matters_for_http_and_never_panics() {
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let server = FakeOpenAi::start(vec![write_a("a\n"), finish()]).await;
    let plan = repo.input("plan.toml", PLAN);
    let mut cmd = repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--auto-accept"],
    );
    cmd.env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .env("SSL_CERT_DIR", "/nonexistent/certs");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "a\n");

    // An https endpoint on such a machine: a clear sentence, not a panic.
    let repo = TestRepo::new(&[("keep.txt", "keep\n")]);
    let plan = repo.input("plan.toml", PLAN);
    let mut cmd = repo.tandem(
        "https://127.0.0.1:9/v1",
        &["exec", "--plan", &plan, "--auto-accept"],
    );
    cmd.env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .env("SSL_CERT_DIR", "/nonexistent/certs");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    assert!(text(&out).contains("CA certificates"), "{}", text(&out));
}
