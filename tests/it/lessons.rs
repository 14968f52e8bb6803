//! Lessons from review (issue 13, item 2): after an accept, the reviewer's comments and notes
//! become proposed lessons; only the approved ones are written to the lessons file, and every
//! later planner and drafter request carries them (journaled); replay lists them; the TUI's
//! approval popup keeps, edits and discards.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::tool(name, args.to_string())
}

const PLAN: &str = "[[task]]\ntitle = \"Colours\"\ninstructions = \"List colours.\"\nacceptance = [\"a.txt lists colours\"]\n\n[[task]]\ntitle = \"Shades\"\ninstructions = \"List shades.\"\nacceptance = [\"b.txt lists shades\"]\n";

const KEPT: &str = "Use British spelling in user-facing text.";
const DROPPED: &str = "List a.txt in alphabetical order.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_on_task_1_becomes_a_lesson_task_2_and_the_next_session_are_given() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let server = FakeOpenAi::start(vec![
        // Task 1, iteration 1.
        tool("write_file", json!({"path": "a.txt", "content": "color\n"})),
        tool("finish", json!({"summary": "colours"})),
        // Iteration 2, after the reviewer's comment and note.
        tool(
            "write_file",
            json!({"path": "a.txt", "content": "colour\n"}),
        ),
        tool(
            "finish",
            json!({"summary": "British", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "colour"},
                {"thread": "n1", "status": "addressed", "text": "sorted"}]}),
        ),
        // Accepted: the lessons step.
        tool(
            "propose_lessons",
            json!({"lessons": [
                {"text": KEPT, "from": ["c1.1"]},
                {"text": DROPPED, "from": ["n1", "c9.9"]}]}),
        ),
        // Task 2.
        tool("write_file", json!({"path": "b.txt", "content": "grey\n"})),
        tool("finish", json!({"summary": "shades"})),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let review = repo.input(
        "review.toml",
        r#"[[decision]]
task = 1
action = "revise"
note = "Sort the list."
[[decision.comment]]
path = "a.txt"
line = 1
text = "We write colour, not color."

[[decision]]
task = 1
action = "accept"
accept_anyway = true

[[lesson]]
task = 1
number = 1
keep = true

[[lesson]]
task = 1
number = 2
keep = false

[[decision]]
task = 2
action = "accept"
accept_anyway = true
"#,
    );
    let mut cmd = repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    );
    cmd.env("TANDEM_LESSONS", "on");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let requests = server.requests();

    // The lessons request had the reviewer's words, by thread.
    let asked = requests[4]["messages"][1]["content"].as_str().unwrap();
    assert!(
        asked.contains("[c1.1] on a.txt:1: We write colour, not color.")
            && asked.contains("[n1] (note): Sort the list."),
        "{asked}"
    );
    // Only the kept lesson is stored, with where it came from.
    let file = repo.read(".tandem/lessons.md");
    assert!(
        file.contains(&format!("- {KEPT} <!-- task 1 (c1.1), session ")),
        "{file}"
    );
    assert!(!file.contains(DROPPED), "{file}");
    // Task 2's drafter is given it; the discarded one never reaches a request.
    let task2 = requests[5]["messages"][0]["content"].as_str().unwrap();
    assert!(
        task2.contains("## Lessons from the reviewer's earlier reviews") && task2.contains(KEPT),
        "{task2}"
    );
    assert!(
        requests.iter().all(|r| !r["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .contains(DROPPED)),
        "a discarded lesson was sent"
    );
    let journal = repo.journal();
    let proposed = events(&journal, "lessons_proposed");
    assert_eq!(
        proposed[0]["lessons"][1]["from"],
        json!(["n1"]),
        "unknown threads dropped"
    );
    let decided = events(&journal, "lessons_decided");
    assert_eq!(decided[0]["stored"], json!([".tandem/lessons.md"]));
    assert_eq!(decided[0]["choices"][1]["keep"], false);
    let used = events(&journal, "knowledge_used");
    let last = used.last().unwrap();
    assert_eq!(last["task"], 2);
    assert_eq!(last["lessons"], json!([KEPT]));
    assert_eq!(last["sources"][0]["name"], "lessons.md");
    // exec and replay both say what happened.
    let shown = stdout(&out);
    assert!(shown.contains("lessons: 1 approved"), "{shown}");
    let replay = stdout(&run(repo.tandem(&server.base_url, &["replay", "--print"])).await);
    assert!(
        replay.contains("lessons proposed from task 1's review: 1. Use British spelling")
            && replay.contains("1 lesson(s): Use British spelling"),
        "{replay}"
    );

    // Reports list the lessons proposed (and what became of them) and applied.
    let json_out = run(repo.tandem(&server.base_url, &["report", "--format", "json"])).await;
    let report: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let proposed = &report["tasks"][0]["lessons_proposed"];
    assert_eq!(proposed[0]["kept"], true, "{proposed}");
    assert_eq!(proposed[1]["kept"], false, "{proposed}");
    assert_eq!(report["tasks"][1]["lessons_applied"], json!([KEPT]));
    let md = stdout(
        &run(repo.tandem(
            &server.base_url,
            &["report", "--format", "md", "--for", "me"],
        ))
        .await,
    );
    assert!(
        md.contains(&format!("- {KEPT} (c1.1): kept"))
            && md.contains(&format!("- {DROPPED} (n1): discarded"))
            && md.contains("Lessons applied (from earlier reviews):"),
        "{md}"
    );

    // The next session's planner is given the lesson too.
    let server = FakeOpenAi::start(vec![tool(
        "submit_plan",
        json!({"tasks": [{"title": "T", "instructions": "i", "acceptance": ["done"]}]}),
    )])
    .await;
    let brief = repo.input("brief.md", "More colours.\n");
    let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
    let planner = server.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(planner.contains(KEPT), "{planner}\n{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_approval_no_lesson_is_stored() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let server = FakeOpenAi::start(vec![
        tool("write_file", json!({"path": "a.txt", "content": "two\n"})),
        tool("finish", json!({"summary": "two"})),
        tool(
            "propose_lessons",
            json!({"lessons": [{"text": KEPT, "from": ["n1"]}]}),
        ),
    ])
    .await;
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"T\"\ninstructions = \"i\"\nacceptance = [\"done\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\nnote = \"Spell it the British way.\"\n",
    );
    let mut cmd = repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    );
    cmd.env("TANDEM_LESSONS", "on");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!repo.path().join(".tandem/lessons.md").exists());
    let journal = repo.journal();
    assert_eq!(
        events(&journal, "lessons_decided")[0]["choices"][0]["keep"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_end_of_a_session_a_point_made_on_two_tasks_becomes_one_lesson() {
    const SPELLING: &str = "Use British spelling everywhere.";
    let repo = TestRepo::new(&[("a.txt", "one\n"), ("b.txt", "two\n")]);
    let server = FakeOpenAi::start(vec![
        tool("write_file", json!({"path": "a.txt", "content": "color\n"})),
        tool("finish", json!({"summary": "colours"})),
        tool(
            "write_file",
            json!({"path": "a.txt", "content": "colour\n"}),
        ),
        tool(
            "finish",
            json!({"summary": "British", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "colour"}]}),
        ),
        // Task 1's own pass finds nothing general in one comment.
        tool("propose_lessons", json!({"lessons": []})),
        tool("write_file", json!({"path": "b.txt", "content": "gray\n"})),
        tool("finish", json!({"summary": "shades"})),
        tool("write_file", json!({"path": "b.txt", "content": "grey\n"})),
        tool(
            "finish",
            json!({"summary": "British again", "replies": [
                {"thread": "c1.1", "status": "addressed", "text": "grey"}]}),
        ),
        tool("propose_lessons", json!({"lessons": []})),
        // The end-of-session pass sees both reviews.
        tool(
            "propose_lessons",
            json!({"lessons": [{"text": SPELLING, "from": ["1:c1.1", "2:c1.1", "9:c9.9"]}]}),
        ),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let review = repo.input(
        "review.toml",
        r#"[[decision]]
task = 1
action = "revise"
[[decision.comment]]
path = "a.txt"
line = 1
text = "We write colour, not color."

[[decision]]
task = 1
action = "accept"
accept_anyway = true

[[decision]]
task = 2
action = "revise"
[[decision.comment]]
path = "b.txt"
line = 1
text = "grey, not gray: British spelling again."

[[decision]]
task = 2
action = "accept"
accept_anyway = true

[[lesson]]
task = 0
number = 1
keep = true
"#,
    );
    let mut cmd = repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    );
    cmd.env("TANDEM_LESSONS", "on");
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 11, "every scripted answer used");
    let last = &requests[10]["messages"];
    let system = last[0]["content"].as_str().unwrap();
    assert!(system.contains("The session is over"), "{system}");
    let asked = last[1]["content"].as_str().unwrap();
    assert!(
        asked.contains("[1:c1.1] on a.txt:1: We write colour, not color.")
            && asked.contains("[2:c1.1] on b.txt:1: grey, not gray"),
        "{asked}"
    );
    let file = repo.read(".tandem/lessons.md");
    assert!(
        file.contains(&format!(
            "- {SPELLING} <!-- tasks (1:c1.1, 2:c1.1), session "
        )),
        "{file}"
    );
    let journal = repo.journal();
    let proposed = events(&journal, "lessons_proposed");
    assert_eq!(proposed.len(), 3, "two per-task passes and the session's");
    assert_eq!(proposed[2]["task"], 0);
    assert_eq!(
        proposed[2]["lessons"][0]["from"],
        json!(["1:c1.1", "2:c1.1"])
    );
    assert_eq!(events(&journal, "session_finished").len(), 1);
    // The report and replay tell it.
    let json_out = run(repo.tandem(&server.base_url, &["report", "--format", "json"])).await;
    let report: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(report["lessons_proposed"][0]["text"], SPELLING);
    assert_eq!(report["lessons_proposed"][0]["kept"], true);
    let md = stdout(&run(repo.tandem(&server.base_url, &["report", "--for", "me"])).await);
    assert!(
        md.contains(&format!(
            "# Lessons from the whole session\n\n- {SPELLING} (1:c1.1, 2:c1.1): kept"
        )),
        "{md}"
    );
    let replay = stdout(&run(repo.tandem(&server.base_url, &["replay", "--print"])).await);
    assert!(
        replay
            .contains("lessons proposed from the whole session's reviews: 1. Use British spelling"),
        "{replay}"
    );
}
