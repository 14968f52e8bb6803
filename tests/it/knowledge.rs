//! Project knowledge (issue 13, item 1, 3 and 4): AGENTS.md and the knowledge folders reach the
//! planner and the drafter within their budgets, the agent reads and searches knowledge through
//! read-only tools and cannot write it, every request's knowledge is journaled by name and hash,
//! replay shows it and doctor reports it.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::tool(name, args.to_string())
}

fn system_of(request: &serde_json::Value) -> String {
    request["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The blob id git gives these bytes (what the journal must name).
fn blob_id(bytes: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const STYLE: &str = "# House style\nUse British spelling: colour, not color.\n";
const GLOSSARY: &str = "# Acme glossary\nWidget: always capitalised.\nColour codes are hex.\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_reaches_planner_and_drafter_is_read_only_and_journaled() {
    let repo = TestRepo::new(&[
        ("a.txt", "one\n"),
        ("AGENTS.md", "Run `make test` before finishing.\n"),
        ("docs/AGENTS.md", "Docs are in British English.\n"),
        (".tandem/config.toml", "client = \"acme\"\n"),
        (".tandem/knowledge/style.md", STYLE),
        (".tandem/knowledge/logo.png", "not really a png"),
    ]);
    let client = repo
        .home
        .path()
        .join("tandem-config/clients/acme/knowledge");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(client.join("glossary.md"), GLOSSARY).unwrap();
    let server = FakeOpenAi::start(vec![
        // The planner reads the style guide, then plans.
        tool("read_knowledge", json!({"name": "repo/style.md"})),
        tool(
            "submit_plan",
            json!({"tasks": [{"title": "Colours", "instructions": "List colours.", "acceptance": ["a.txt lists colours"]}]}),
        ),
        // The drafter searches, tries to write knowledge (refused), then works.
        tool("search_knowledge", json!({"query": "colour"})),
        tool(
            "write_file",
            json!({"path": ".tandem/knowledge/style.md", "content": "Use American spelling.\n"}),
        ),
        tool("write_file", json!({"path": "a.txt", "content": "colour\n"})),
        tool("finish", json!({"summary": "colours"})),
    ])
    .await;
    let brief = repo.input("brief.md", "List the colours.\n");
    let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let requests = server.requests();

    // The planner: instructions whole, the index with both folders, the knowledge tools.
    let plan = system_of(&requests[0]);
    assert!(
        plan.contains("### AGENTS.md (applies to the whole repository)\nRun `make test`"),
        "{plan}"
    );
    assert!(
        plan.contains("### docs/AGENTS.md (applies to `docs/`)\nDocs are in British English."),
        "{plan}"
    );
    assert!(
        plan.contains("- repo/style.md (") && plan.contains("): House style"),
        "{plan}"
    );
    assert!(plan.contains("- client/glossary.md ("), "{plan}");
    assert!(!plan.contains("logo.png"), "{plan}");
    assert!(tool_names(&requests[0]).contains(&"read_knowledge".to_string()));
    assert!(
        tool_results(&requests[1])[0].contains("Use British spelling"),
        "{:?}",
        tool_results(&requests[1])
    );

    // The drafter: the same knowledge, search finds the client's glossary, writing is refused.
    let draft = system_of(&requests[2]);
    assert!(draft.contains("Run `make test`"), "{draft}");
    assert!(draft.contains("- client/glossary.md ("), "{draft}");
    let results = tool_results(&requests[4]);
    assert!(
        results[0].contains("repo/style.md:2: Use British spelling: colour, not color.")
            && results[0].contains("client/glossary.md:3: Colour codes are hex."),
        "{results:?}"
    );
    assert!(
        results[1].starts_with("error:") && results[1].contains(".tandem/"),
        "{results:?}"
    );
    assert_eq!(repo.read(".tandem/knowledge/style.md"), STYLE);

    // Provenance: each conversation's knowledge by name and hash.
    let journal = repo.journal();
    let used = events(&journal, "knowledge_used");
    assert_eq!(used.len(), 2, "{used:?}");
    assert_eq!(used[0]["purpose"], "plan");
    assert_eq!(used[1]["purpose"], "draft");
    assert_eq!(used[1]["task"], 1);
    assert_eq!(used[1]["client"], "acme");
    let find = |name: &str| {
        used[1]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {used:?}"))
            .clone()
    };
    assert_eq!(find("AGENTS.md")["given"], "whole");
    assert_eq!(
        find("AGENTS.md")["hash"],
        blob_id("Run `make test` before finishing.\n")
    );
    assert_eq!(find("repo/style.md")["given"], "indexed");
    assert_eq!(find("repo/style.md")["hash"], blob_id(STYLE));
    assert_eq!(find("client/glossary.md")["hash"], blob_id(GLOSSARY));

    // Replay shows what the agent knew.
    let replay = run(repo.tandem(&server.base_url, &["replay", "--print"])).await;
    let shown = stdout(&replay);
    assert!(
        shown.contains("drafter knew (client acme): AGENTS.md ")
            && shown.contains("repo/style.md ")
            && shown.contains("(indexed)"),
        "{shown}"
    );

    // Doctor says what a session would load.
    let doctor = run(repo.tandem(&server.base_url, &["doctor"])).await;
    let line = stdout(&doctor)
        .lines()
        .find(|l| l.contains(" knowledge: "))
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("ok"), "{}", text(&doctor));
    assert!(
        line.contains("AGENTS.md, docs/AGENTS.md")
            && line.contains(".tandem/knowledge: 1 files")
            && line.contains("client `acme`: 1 files")
            && line.contains("tokens a request")
            && line.contains("repo/logo.png: not read"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_folder_too_big_for_the_budget_is_cut_with_a_note_never_sent_whole() {
    let big_agents = "Always write tests first. ".repeat(400);
    let mut files: Vec<(String, String)> = vec![
        ("a.txt".into(), "one\n".into()),
        ("AGENTS.md".into(), big_agents.clone()),
    ];
    for i in 0..300 {
        files.push((
            format!(".tandem/knowledge/note{i:03}.md"),
            format!("# Note {i}\n{}\n", "detail ".repeat(50)),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = TestRepo::new(&refs);
    config(
        &repo,
        "[knowledge]\ninstructions_tokens = 200\nindex_tokens = 300\n",
    );
    let server = FakeOpenAi::start(vec![
        tool("read_knowledge", json!({"name": "repo/note299.md"})),
        tool(
            "submit_plan",
            json!({"tasks": [{"title": "T", "instructions": "i", "acceptance": ["done"]}]}),
        ),
        tool("write_file", json!({"path": "a.txt", "content": "two\n"})),
        tool("finish", json!({"summary": "done"})),
    ])
    .await;
    let brief = repo.input("brief.md", "Do it.\n");
    let out = run(repo.tandem(&server.base_url, &["exec", "--brief", &brief])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let requests = server.requests();
    let system = system_of(&requests[0]);
    assert!(system.contains("(cut here: "), "{system}");
    assert!(system.contains("more files not listed here"), "{system}");
    assert!(
        !system.contains("note299"),
        "the index must stop at its budget"
    );
    // 200 + 300 tokens of knowledge, about 2,000 characters, besides the planner's own prompt.
    let planner_alone = system.find("## The repository's instructions").unwrap();
    assert!(
        system.len() - planner_alone < 200 * 4 + 300 * 4 + 1000,
        "{} characters of knowledge",
        system.len() - planner_alone
    );
    // A file left out of the index can still be read by name.
    assert!(tool_results(&requests[1])[0].starts_with("# Note 299"));
    let journal = repo.journal();
    let used = events(&journal, "knowledge_used");
    assert_eq!(used[0]["sources"][0]["given"], "cut");
    assert!(used[0]["unlisted"].as_u64().unwrap() > 200, "{:?}", used[0]);
}
