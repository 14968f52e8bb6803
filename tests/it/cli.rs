//! What a user sees when something is missing or wrong: each error names what to fix, exits
//! non-zero, and writes nothing.

use crate::support::fake_openai::FakeOpenAi;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_model_configured_says_how_to_set_one_up() {
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let mut cmd = repo.tandem("unused", &["exec", "--plan", &plan]);
    cmd.env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("TANDEM_MODEL");
    let out = run(cmd).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL=http://localhost:11434/v1",
        "llama.cpp",
        "tandem demo",
        "config.toml",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(repo.journal_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_repo_is_offered_init_and_identity_is_required() {
    let server = FakeOpenAi::start(vec![]).await;
    let repo = TestRepo::new(&[]);
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a git repository") && err.contains("--init"),
        "{err}"
    );
    assert!(
        !repo.path().join(".git").exists(),
        "never git init silently"
    );

    // With --init the repository is made, but with no identity anywhere nothing else happens.
    let out = run(repo.tandem(&server.base_url, &["exec", "--init", "--plan", &plan])).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("git config user.name"), "{err}");
    assert!(repo.path().join(".git").exists());
    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_files_name_file_and_line() {
    let server = FakeOpenAi::start(vec![]).await;
    let repo = TestRepo::new(&[("a.txt", "a\n")]);
    let plan = repo.input(
        "plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    );
    let review = repo.input(
        "review.toml",
        "[[decision]]\ntask = 1\naction = \"acept\"\n",
    );
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--plan", &plan, "--review", &review],
    ))
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("review.toml: line 3"), "{err}");
    assert!(err.contains("accept"), "{err}");

    let bad_plan = repo.input(
        "bad-plan.toml",
        "[[task]]\ntitle = \"t\"\ninstructions = \"i\"\n",
    );
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &bad_plan])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad-plan.toml") && err.contains("acceptance"),
        "{err}"
    );

    let cfg_dir = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        "model = \"m\"\nmax_steps = -3\n",
    )
    .unwrap();
    let out = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("config.toml: line 2") && err.contains("max_steps"),
        "{err}"
    );

    assert!(repo.journal_files().is_empty());
    assert_eq!(server.request_count(), 0);
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_whole_loop_without_a_key() {
    let home = tempfile::tempdir().unwrap();
    let out = run({
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
        cmd.arg("demo")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("TMPDIR", home.path())
            .env("TANDEM_CONFIG_DIR", home.path().join("cfg"));
        cmd
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("comment [c1.1] greet.py:5"), "{stdout}");
    // The scripted agent answers the comment and the note by their labels.
    assert!(stdout.contains("reply on [c1.1]: addressed"), "{stdout}");
    assert!(stdout.contains("reply on [n1]: addressed"), "{stdout}");
    assert!(stdout.contains("[c1.1] resolved"), "{stdout}");
    assert!(stdout.contains("Tandem-Review-Seconds: 135"), "{stdout}");
    // The demo's repository is in the temp dir it was given, with both tasks committed.
    let demo = std::fs::read_dir(home.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("tandem-demo-"))
        .expect("demo repo")
        .path();
    let log = git(&demo, &["log", "--format=%s"]);
    assert_eq!(
        log,
        "Document usage in the README\nGreet people by name\nThe client's greeter, before tandem\n"
    );
    assert!(
        std::fs::read_to_string(demo.join("greet.py"))
            .unwrap()
            .contains("lovely to meet you")
    );
}
