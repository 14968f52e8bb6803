#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
//! Shared helpers for the integration tests.

pub mod driven;
pub mod fake_openai;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository in a temp dir with a local identity and one commit of `files`.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    /// An isolated HOME/config dir, so no developer setting leaks into a test.
    pub home: tempfile::TempDir,
}

impl TestRepo {
    pub fn new(files: &[(&str, &str)]) -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["config", "user.name", "Test Reviewer"]);
        git(
            dir.path(),
            &["config", "user.email", "reviewer@example.com"],
        );
        for (path, content) in files {
            write(dir.path(), path, content);
        }
        if !files.is_empty() {
            git(dir.path(), &["add", "-A"]);
            git(dir.path(), &["commit", "-q", "-m", "initial"]);
        }
        TestRepo { dir, home }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write an input file (brief, plan, review) outside the repository.
    pub fn input(&self, name: &str, content: &str) -> String {
        let p = self.home.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_string()
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    /// `tandem` with the environment pointed at `base_url` and nothing of the developer's.
    pub fn tandem(&self, base_url: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("TANDEM_CONFIG_DIR", self.home.path().join("tandem-config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("OPENAI_BASE_URL", base_url)
            .env("OPENAI_API_KEY", SECRET_KEY)
            .env("TANDEM_MODEL", "fake-model")
            .env("TANDEM_RETRY_BASE_MS", "10")
            // The checker adds a model call per draft; its own tests (checker.rs) turn it on.
            .env("TANDEM_CHECKER", "off")
            .env("TANDEM_LESSONS", "off");
        cmd
    }

    pub fn journal_files(&self) -> Vec<PathBuf> {
        let dir = self.path().join(".git/tandem/sessions");
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for d in rd.flatten() {
                out.push(d.path().join("journal.jsonl"));
            }
        }
        out
    }

    /// The only session's journal, parsed as JSON values.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let files = self.journal_files();
        assert_eq!(files.len(), 1, "expected one session, found {files:?}");
        std::fs::read_to_string(&files[0])
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A key that must never be written anywhere.
/// The first `rescue-<k>` ref tandem saved the user's bytes under (refs/tandem-local/…).
pub fn rescue_ref(repo: &TestRepo) -> String {
    let saved = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname)", "refs/tandem-local"],
    );
    saved
        .lines()
        .find(|r| r.contains("/rescue-"))
        .unwrap_or_else(|| panic!("no rescue ref in:\n{saved}"))
        .to_string()
}

pub const SECRET_KEY: &str = "sk-test-SECRET-0123456789abcdef";

pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, content).unwrap();
}

/// The session's journal as stored in git, read with git alone: its parts
/// (`parts/<folder>/<offset>-<length>`, zero-padded so name order is journal order)
/// concatenated.
pub fn stored_journal(dir: &Path, session: &str) -> String {
    let r = format!("refs/tandem/sessions/{session}/journal");
    git(
        dir,
        &["ls-tree", "-r", "--name-only", &format!("{r}:parts")],
    )
    .lines()
    .map(|part| git(dir, &["show", &format!("{r}:parts/{part}")]))
    .collect()
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tandem` with nothing of the machine's environment but PATH: HOME, the temp dir (where the
/// demo makes its repository) and the config dir all in `home`.
pub fn isolated_tandem(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("TMPDIR", home)
        .env("TANDEM_CONFIG_DIR", home.join("cfg"));
    cmd
}

/// The repository `tandem demo` made in the temp dir `home`.
pub fn demo_repo(home: &Path) -> PathBuf {
    std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("tandem-demo-"))
        .expect("demo repo")
        .path()
}

/// Run a command off the async runtime (the fake server lives on it).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Events of one type from a journal.
pub fn events<'a>(journal: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    journal
        .iter()
        .filter(|e| e["event"]["type"] == ty)
        .map(|e| &e["event"])
        .collect()
}

/// Tool messages (role "tool") of a recorded chat request.
pub fn tool_results(request: &serde_json::Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Write the user's config file (`config.toml` in the test's config dir).
pub fn config(repo: &TestRepo, text: &str) {
    let dir = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of the tools a recorded chat request offered.
pub fn tool_names(request: &serde_json::Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["function"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
