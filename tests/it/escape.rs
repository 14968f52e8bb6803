//! Path confinement through the real drafting loop: each kind of escape is refused with an error
//! result the model sees, nothing outside the working directory is read or written, and the
//! draft goes on.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_escape_is_an_error_result_and_nothing_leaks() {
    let repo = TestRepo::new(&[("inside.txt", "inside\n")]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "TOP SECRET\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("link_dir")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        repo.path().join("link_file"),
    )
    .unwrap();
    std::os::unix::fs::symlink(repo.path().join(".git"), repo.path().join("gitlink")).unwrap();
    let abs = outside.path().join("abs.txt");
    let w = |path: &str| {
        (
            "write_file".to_string(),
            json!({"path": path, "content": "x"}).to_string(),
        )
    };
    let attempts = vec![
        w("../escape.txt"),
        w(abs.to_str().unwrap()),
        w(".git/hooks/pre-commit"),
        w("link_dir/pwned.txt"),
        ("read_file".into(), json!({"path": "link_file"}).to_string()),
        (
            "edit_file".into(),
            json!({"path": ".GIT/config", "old_text": "a", "new_text": "b"}).to_string(),
        ),
        (
            "read_file".into(),
            json!({"path": "sub/../../secret.txt"}).to_string(),
        ),
        w("gitlink/config"),
        ("list_files".into(), json!({"path": "link_dir"}).to_string()),
        (
            "search".into(),
            json!({"pattern": "SECRET", "path": ".."}).to_string(),
        ),
        ("delete_everything".into(), "{}".into()),
        (
            "write_file".into(),
            "{\"path\": \"x.txt\", \"content\": ".into(),
        ),
        ("write_file".into(), json!({"path": "y.txt"}).to_string()),
    ];
    let n = attempts.len();
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"reject\"\n",
    );
    let server = FakeOpenAi::start(vec![
        Reply::Tools(attempts),
        // After the refusals the model can still work normally.
        Reply::tool(
            "write_file",
            json!({"path": "ok.txt", "content": "fine\n"}).to_string(),
        ),
        Reply::tool("finish", json!({"summary": "tried"}).to_string()),
    ])
    .await;
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let requests = server.requests();
    let results = tool_results(&requests[1]);
    assert_eq!(results.len(), n);
    for (i, r) in results.iter().enumerate() {
        assert!(r.starts_with("error:"), "attempt {i} was not refused: {r}");
        assert!(!r.contains("TOP SECRET"), "attempt {i} leaked: {r}");
    }
    assert!(
        results[0].contains("leaves the working directory"),
        "{}",
        results[0]
    );
    assert!(results[1].contains("absolute"), "{}", results[1]);
    assert!(results[2].contains(".git"), "{}", results[2]);
    assert!(results[3].contains("symlink"), "{}", results[3]);
    assert!(results[4].contains("symlink"), "{}", results[4]);
    assert!(results[5].contains(".git"), "{}", results[5]);
    assert!(results[7].contains(".git"), "{}", results[7]);
    assert!(results[10].contains("no tool named"), "{}", results[10]);
    assert!(results[11].contains("not valid JSON"), "{}", results[11]);
    assert!(
        results[12].contains("missing field `content`"),
        "{}",
        results[12]
    );
    assert!(
        tool_results(&requests[2])
            .last()
            .unwrap()
            .starts_with("wrote ok.txt")
    );

    // Nothing outside was written; .git untouched; the reject removed the one legal write.
    assert!(!repo.path().parent().unwrap().join("escape.txt").exists());
    assert!(!abs.exists());
    assert!(!outside.path().join("pwned.txt").exists());
    assert!(!repo.path().join(".git/hooks/pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "TOP SECRET\n"
    );
    assert!(!repo.path().join("ok.txt").exists());
}
