//! Trust: what was reviewed is what gets committed, and nothing the user wrote is lost — with
//! gitignored and untracked files, the user's own uncommitted lines, edits during review,
//! staged content, branch switches, symlinks, modes, CRLF, signing, a second process, the
//! hooks path, and crashes at the commit.

use crate::support::fake_openai::{FakeOpenAi, Reply};
use crate::support::*;
use serde_json::json;

const PLAN: &str =
    "[[task]]\ntitle = \"Change things\"\ninstructions = \"Do it.\"\nacceptance = [\"done\"]\n";

fn tool(name: &str, args: serde_json::Value) -> Reply {
    Reply::tool(name, args.to_string())
}

fn finish() -> Reply {
    tool("finish", json!({"summary": "done"}))
}

fn edit(path: &str, old: &str, new: &str) -> Reply {
    tool(
        "edit_file",
        json!({"path": path, "old_text": old, "new_text": new}),
    )
}

fn write_file(path: &str, content: &str) -> Reply {
    tool("write_file", json!({"path": path, "content": content}))
}

/// Run `tandem exec --plan PLAN` plus `extra`, answering with `replies`.
async fn exec(repo: &TestRepo, replies: Vec<Reply>, extra: &[&str]) -> std::process::Output {
    let server = FakeOpenAi::start(replies).await;
    let plan = repo.input("plan.toml", PLAN);
    let mut args = vec!["exec", "--plan", plan.as_str()];
    args.extend_from_slice(extra);
    run(repo.tandem(&server.base_url, &args)).await
}

/// Resume the session with this review script.
async fn resume(repo: &TestRepo, review: &str, extra: &[&str]) -> std::process::Output {
    let server = FakeOpenAi::start(vec![]).await;
    let review = repo.input("review.toml", review);
    let mut args = vec!["exec", "--resume", "--review", review.as_str()];
    args.extend_from_slice(extra);
    run(repo.tandem(&server.base_url, &args)).await
}

const ACCEPT: &str = "[[decision]]\ntask = 1\naction = \"accept\"\naccept_anyway = true\n";
const REJECT: &str = "[[decision]]\ntask = 1\naction = \"reject\"\n";

fn head_files(repo: &TestRepo) -> String {
    git(repo.path(), &["show", "--stat", "--format=%s", "HEAD"])
}

fn show(repo: &TestRepo, what: &str) -> String {
    git(repo.path(), &["show", what])
}

fn tandem_commits(repo: &TestRepo) -> usize {
    git(repo.path(), &["log", "--format=%B"])
        .matches("Tandem-Task: 1")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitignored_secrets_are_never_committed() {
    let repo = TestRepo::new(&[(".gitignore", ".env\n"), ("app.txt", "app\n")]);
    write(repo.path(), ".env", "API_TOKEN=hunter2\nDEBUG=0\n");
    let out = exec(
        &repo,
        vec![
            edit(".env", "DEBUG=0", "DEBUG=1"),
            edit("app.txt", "app", "app v2"),
            finish(),
        ],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stat = head_files(&repo);
    assert!(stat.contains("app.txt"), "{stat}");
    assert!(!stat.contains(".env"), "{stat}");
    // Not in the branch, and not in anything users push (`refs/tandem/*`).
    assert!(
        !git(repo.path(), &["log", "-p", "HEAD", "--glob=refs/tandem/*"]).contains("hunter2"),
        "a secret reached a commit that travels"
    );
    // The agent's change stays on disk, as the user's file.
    assert_eq!(repo.read(".env"), "API_TOKEN=hunter2\nDEBUG=1\n");
    let j = repo.journal();
    let ready = events(&j, "iteration_ready");
    assert_eq!(ready[0]["excluded"][0]["path"], ".env", "{:?}", ready[0]);
    assert!(
        text(&out).contains("ignored by git"),
        "exec says what it leaves out: {}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untracked_file_is_reviewed_whole_as_it_is_committed() {
    let repo = TestRepo::new(&[("app.txt", "app\n")]);
    write(repo.path(), "notes.md", "private line\n");
    let out = exec(
        &repo,
        vec![
            edit("notes.md", "private line\n", "private line\nagent line\n"),
            finish(),
        ],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let j = repo.journal();
    let ready = events(&j, "iteration_ready");
    let f = &ready[0]["files"][0];
    assert_eq!(f["path"], "notes.md");
    // The review shows every line the commit adds, not just the agent's one.
    assert_eq!(f["added"], 2, "{f}");
    assert_eq!(show(&repo, "HEAD:notes.md"), "private line\nagent line\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_uncommitted_line_stays_out_of_the_commit() {
    let body = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
    let repo = TestRepo::new(&[("a.txt", body)]);
    write(
        repo.path(),
        "a.txt",
        "one USER\ntwo\nthree\nfour\nfive\nsix\nseven\n",
    );
    let out = exec(
        &repo,
        vec![edit("a.txt", "seven", "seven AGENT"), finish()],
        &["--auto-accept", "--allow-dirty"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        show(&repo, "HEAD:a.txt"),
        "one\ntwo\nthree\nfour\nfive\nsix\nseven AGENT\n",
        "only the agent's change is committed"
    );
    assert_eq!(
        repo.read("a.txt"),
        "one USER\ntwo\nthree\nfour\nfive\nsix\nseven AGENT\n"
    );
    let unstaged = git(repo.path(), &["diff"]);
    assert!(unstaged.contains("+one USER"), "{unstaged}");
    assert!(!unstaged.contains("AGENT"), "{unstaged}");
    assert_eq!(git(repo.path(), &["diff", "--cached"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_during_review_is_not_committed_and_not_lost() {
    let repo = TestRepo::new(&[("a.txt", "one\ntwo\n")]);
    let out = exec(
        &repo,
        vec![edit("a.txt", "two", "two AGENT"), finish()],
        &[],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "stops at review: {}",
        text(&out)
    );
    // The user types in another terminal while reviewing.
    write(repo.path(), "a.txt", "one USER\ntwo AGENT\n");
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(show(&repo, "HEAD:a.txt"), "one\ntwo AGENT\n");
    assert_eq!(repo.read("a.txt"), "one USER\ntwo AGENT\n");
    assert!(git(repo.path(), &["diff"]).contains("+one USER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_never_overwrites_the_users_edit_without_asking() {
    let repo = TestRepo::new(&[("a.txt", "one\ntwo\n"), ("b.txt", "b\n")]);
    let out = exec(
        &repo,
        vec![
            edit("a.txt", "two", "two AGENT"),
            edit("b.txt", "b", "b AGENT"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    write(repo.path(), "a.txt", "one USER\ntwo AGENT\n");
    let out = resume(&repo, REJECT, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("a.txt") && said.contains("--on-conflict"),
        "{said}"
    );
    // Nothing was written: not a.txt, and not even b.txt.
    assert_eq!(repo.read("a.txt"), "one USER\ntwo AGENT\n");
    assert_eq!(repo.read("b.txt"), "b AGENT\n");
    // The user's bytes are saved already, in a ref that is never pushed with refs/tandem/*.
    let refs = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname)", "refs/tandem-local"],
    );
    let rescue = refs.lines().find(|r| r.contains("/rescue-")).expect(&refs);
    assert_eq!(
        git(repo.path(), &["show", &format!("{rescue}:a.txt")]),
        "one USER\ntwo AGENT\n"
    );
    // Keep both: tandem's restore, and the user's version beside it.
    let out = resume(&repo, REJECT, &["--on-conflict", "keep-both"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one\ntwo\n");
    assert_eq!(repo.read("a.txt.mine"), "one USER\ntwo AGENT\n");
    assert_eq!(repo.read("b.txt"), "b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_mine_leaves_the_users_file_and_restores_the_rest() {
    let repo = TestRepo::new(&[("a.txt", "one\n"), ("b.txt", "b\n")]);
    let out = exec(
        &repo,
        vec![
            edit("a.txt", "one", "one AGENT"),
            edit("b.txt", "b", "b AGENT"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    write(repo.path(), "a.txt", "USER\n");
    let out = resume(&repo, REJECT, &["--on-conflict", "keep-mine"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "USER\n");
    assert_eq!(repo.read("b.txt"), "b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_switch_during_review_is_a_conflict_not_an_overwrite() {
    let repo = TestRepo::new(&[("a.txt", "main\n")]);
    git(repo.path(), &["checkout", "-q", "-b", "other"]);
    write(repo.path(), "a.txt", "other branch\n");
    git(repo.path(), &["commit", "-qam", "other"]);
    git(repo.path(), &["checkout", "-q", "main"]);
    let out = exec(
        &repo,
        vec![edit("a.txt", "main", "main AGENT"), finish()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    git(repo.path(), &["stash", "-q"]);
    git(repo.path(), &["checkout", "-q", "other"]);
    let out = resume(&repo, REJECT, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "other branch\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_content_the_user_staged_leaves_the_index() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let out = exec(
        &repo,
        vec![
            edit("a.txt", "one", "one AGENT"),
            write_file("new.txt", "agent file\n"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    git(repo.path(), &["add", "-A"]);
    let out = resume(&repo, REJECT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one\n");
    assert!(!repo.path().join("new.txt").exists());
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_is_refused_while_the_first_works() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let server = FakeOpenAi::start(vec![Reply::Hang]).await;
    let plan = repo.input("plan.toml", PLAN);
    let mut first = repo
        .tandem(&server.base_url, &["exec", "--plan", &plan])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        server
            .wait_for_requests(1, std::time::Duration::from_secs(20))
            .await
    );
    let second = run(repo.tandem(&server.base_url, &["exec", "--plan", &plan])).await;
    let said = text(&second);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains("another tandem is already working")
            && said.contains(&format!("process {}", first.id())),
        "{said}"
    );
    // Read-only commands keep working meanwhile.
    let sessions = run(repo.tandem(&server.base_url, &["sessions"])).await;
    assert!(sessions.status.success(), "{}", text(&sessions));
    // A killed holder leaves no stale lock: the next process takes over.
    first.kill().unwrap();
    first.wait().unwrap();
    let out = resume(&repo, "", &[]).await;
    assert!(
        !text(&out).contains("another tandem"),
        "the lock of a killed process is taken over: {}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_cannot_arm_anything_git_runs() {
    let repo = TestRepo::new(&[("a.txt", "one\n"), (".githooks/README", "hooks\n")]);
    git(repo.path(), &["config", "core.hooksPath", ".githooks"]);
    std::fs::create_dir_all(repo.path().join("vendor/lib/.git")).unwrap();
    let out = exec(
        &repo,
        vec![
            Reply::Tools(vec![
                (
                    "write_file".into(),
                    json!({"path": ".githooks/pre-commit", "content": "#!/bin/sh\necho pwned\n"})
                        .to_string(),
                ),
                (
                    "write_file".into(),
                    json!({"path": ".gitattributes", "content": "*.txt filter=evil\n"}).to_string(),
                ),
                (
                    "write_file".into(),
                    json!({"path": ".gitmodules", "content": "[submodule \"x\"]\n"}).to_string(),
                ),
                (
                    "write_file".into(),
                    json!({"path": "vendor/lib/x.txt", "content": "x\n"}).to_string(),
                ),
                (
                    "write_file".into(),
                    json!({"path": "tool.sh", "content": "#!/bin/sh\n"}).to_string(),
                ),
            ]),
            finish(),
        ],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let j = repo.journal();
    let calls = events(&j, "tool_call");
    let refused: Vec<&str> = calls
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["result"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(refused[0].contains("hooks"), "{}", refused[0]);
    assert!(refused[1].contains("driver"), "{}", refused[1]);
    assert!(refused[2].contains(".gitmodules"), "{}", refused[2]);
    assert!(
        refused[3].contains("nested git repository"),
        "{}",
        refused[3]
    );
    assert!(!repo.path().join(".githooks/pre-commit").exists());
    assert!(!repo.path().join(".gitattributes").exists());
    assert!(!repo.path().join("vendor/lib/x.txt").exists());
    // A file the agent creates is never executable.
    let mode = git(repo.path(), &["ls-tree", "HEAD", "tool.sh"]);
    assert!(mode.starts_with("100644"), "{mode}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_symlinks_change_the_target_and_reject_keeps_the_links() {
    use std::os::unix::fs::symlink;
    let repo = TestRepo::new(&[("real.txt", "real\n"), ("realdir/in.txt", "in\n")]);
    symlink("real.txt", repo.path().join("link.txt")).unwrap();
    symlink("realdir", repo.path().join("linkdir")).unwrap();
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "links"]);
    let out = exec(
        &repo,
        vec![
            edit("link.txt", "real", "real AGENT"),
            write_file("linkdir/new.txt", "new\n"),
            finish(),
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(repo.read("real.txt"), "real AGENT\n");
    assert!(
        std::fs::symlink_metadata(repo.path().join("link.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(repo.read("realdir/new.txt"), "new\n");
    let j = repo.journal();
    let files: Vec<String> = events(&j, "iteration_ready")[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, vec!["real.txt", "realdir/new.txt"]);
    let out = resume(&repo, REJECT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("real.txt"), "real\n");
    assert!(!repo.path().join("realdir/new.txt").exists());
    for link in ["link.txt", "linkdir"] {
        assert!(
            std::fs::symlink_metadata(repo.path().join(link))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{link} is still a link"
        );
    }
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_are_kept_on_accept_and_restored_on_reject() {
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::new(&[("run.sh", "#!/bin/sh\necho 1\n")]);
    let script = repo.path().join("run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(repo.path(), &["commit", "-qam", "exec"]);
    let out = exec(
        &repo,
        vec![edit("run.sh", "echo 1", "echo 2"), finish()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // Reject puts the content back and keeps the file executable.
    let out = resume(&repo, REJECT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    assert_eq!(repo.read("run.sh"), "#!/bin/sh\necho 1\n");

    let repo = TestRepo::new(&[("run.sh", "#!/bin/sh\necho 1\n")]);
    let script = repo.path().join("run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(repo.path(), &["commit", "-qam", "exec"]);
    let out = exec(
        &repo,
        vec![edit("run.sh", "echo 1", "echo 2"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let tree = git(repo.path(), &["ls-tree", "HEAD", "run.sh"]);
    assert!(tree.starts_with("100755"), "{tree}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocrlf_leaves_no_phantom_change_after_accept() {
    let repo = TestRepo::new(&[]);
    git(repo.path(), &["config", "core.autocrlf", "true"]);
    write(repo.path(), "w.txt", "one\r\ntwo\r\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "crlf"]);
    assert_eq!(show(&repo, "HEAD:w.txt"), "one\ntwo\n", "git stores LF");
    let out = exec(
        &repo,
        vec![edit("w.txt", "two", "two AGENT"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(show(&repo, "HEAD:w.txt"), "one\ntwo AGENT\n");
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_signed_as_git_config_says() {
    if std::process::Command::new("ssh-keygen")
        .arg("-?")
        .output()
        .is_err()
    {
        eprintln!("skipped: ssh-keygen is not installed, so no ssh signing key can be made");
        return;
    }
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let key = repo.home.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "reviewer@example.com",
            "-f",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    git(repo.path(), &["config", "commit.gpgsign", "true"]);
    git(repo.path(), &["config", "gpg.format", "ssh"]);
    git(
        repo.path(),
        &["config", "user.signingkey", key.to_str().unwrap()],
    );
    let out = exec(
        &repo,
        vec![edit("a.txt", "one", "one AGENT"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let raw = git(repo.path(), &["cat-file", "commit", "HEAD"]);
    assert!(
        raw.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{raw}"
    );
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let mut parts = public.split_whitespace();
    let allowed = repo.home.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "reviewer@example.com {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        ),
    )
    .unwrap();
    let verified = std::process::Command::new("git")
        .args([
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            "HEAD",
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));

    // A signing failure stops accept with the reason; nothing is committed or lost.
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    git(repo.path(), &["config", "commit.gpgsign", "true"]);
    git(repo.path(), &["config", "gpg.format", "ssh"]);
    git(repo.path(), &["config", "user.signingkey", "/no/such/key"]);
    let before = git(repo.path(), &["rev-parse", "HEAD"]);
    let out = exec(
        &repo,
        vec![edit("a.txt", "one", "one AGENT"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("commit signing failed"),
        "{}",
        text(&out)
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), before);
    assert_eq!(repo.read("a.txt"), "one AGENT\n");
}

/// A task of a.txt accepted and committed once, then the journal cut back to before its
/// `committed` line: as if tandem was killed right after the commit.
async fn accepted_then_killed_before_journaling_it() -> TestRepo {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let out = exec(
        &repo,
        vec![edit("a.txt", "one", "one AGENT"), finish()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tandem_commits(&repo), 1);
    let path = repo.journal_files()[0].clone();
    let text_j = std::fs::read_to_string(&path).unwrap();
    let keep: Vec<&str> = text_j
        .lines()
        .take_while(|l| !l.contains("\"type\":\"committed\""))
        .collect();
    std::fs::write(&path, keep.join("\n") + "\n").unwrap();
    repo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_commit_then_a_user_commit_does_not_commit_twice() {
    let repo = accepted_then_killed_before_journaling_it().await;
    // The user commits something of their own on top.
    write(repo.path(), "mine.txt", "mine\n");
    git(repo.path(), &["add", "mine.txt"]);
    git(repo.path(), &["commit", "-qm", "mine"]);
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tandem_commits(&repo), 1, "the task is committed once");
    let j = repo.journal();
    assert_eq!(events(&j, "committed").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_draft_that_changed_nothing_commits_nothing() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let before = git(repo.path(), &["rev-parse", "HEAD"]);
    let out = exec(
        &repo,
        vec![write_file("a.txt", "one\n"), finish()],
        &["--auto-accept"],
    )
    .await;
    // Labelled on every surface, and --auto-accept does not take it.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let so = text(&out);
    assert!(so.contains("ready for review (NO CHANGES)"), "{so}");
    assert!(
        so.contains("--auto-accept does not accept a draft marked no changes"),
        "{so}"
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), before);
    // A review script must say so on purpose: without accept_anyway it stops too.
    let plain = "[[decision]]\ntask = 1\naction = \"accept\"\ncriteria_met = [1]\n";
    let out = resume(&repo, plain, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("a draft marked no changes"),
        "{}",
        text(&out)
    );
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), before);
    assert!(
        text(&out).contains("nothing was committed"),
        "{}",
        text(&out)
    );
    let j = repo.journal();
    assert_eq!(events(&j, "accepted_empty").len(), 1);
    // The report counts it as what it is: not a first-draft accept, not one after feedback.
    let out = run(repo.tandem("http://127.0.0.1:9/v1", &["report", "--format", "json"])).await;
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["totals"]["accepted_empty"], 1, "{r}");
    assert_eq!(r["totals"]["accepted_after_feedback"], 0, "{r}");
    assert_eq!(r["totals"]["accepted_first_draft"], 0, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_the_model_never_reach_git_or_the_terminal() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let out = exec(
        &repo,
        vec![
            edit("a.txt", "one", "two"),
            tool(
                "finish",
                json!({"summary": "done\u{0}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J and clean"}),
            ),
        ],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    let msg = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(msg.contains("done]52;c;cHduZWQ=[2J and clean"), "{msg:?}");
    assert!(!msg.contains('\u{1b}') && !msg.contains('\u{0}'));
    // A later resume still reads everything.
    let again = run(repo.tandem("unused", &["sessions"])).await;
    assert!(again.status.success(), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_line_from_a_newer_tandem_stops_and_is_kept() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let out = exec(&repo, vec![edit("a.txt", "one", "two"), finish()], &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let path = repo.journal_files()[0].clone();
    let mut j = std::fs::read_to_string(&path).unwrap();
    let n = j.lines().count() + 1;
    let line = format!(
        "{{\"seq\":{n},\"at\":\"2030-01-01T00:00:00.000Z\",\"event\":{{\"type\":\"hologram_added\",\"x\":1}}}}\n"
    );
    j.push_str(&line);
    std::fs::write(&path, &j).unwrap();
    let out = resume(&repo, ACCEPT, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("newer tandem"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        j,
        "the line is kept"
    );
    // `tandem sessions` names it as unreadable, with the reason, instead of leaving it out.
    let listed = run(repo.tandem("unused", &["sessions"])).await;
    assert!(listed.status.success(), "{}", text(&listed));
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        stdout.contains("unreadable") && stdout.contains("newer tandem"),
        "{stdout}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_the_tree_is_refused_not_read() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let made = std::process::Command::new("mkfifo")
        .arg(repo.path().join("pipe"))
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let out = exec(
        &repo,
        vec![
            tool("read_file", json!({"path": "pipe"})),
            write_file("pipe", "x"),
            edit("a.txt", "one", "two"),
            finish(),
        ],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let j = repo.journal();
    let calls = events(&j, "tool_call");
    assert_eq!(calls[0]["ok"], false);
    assert!(
        calls[0]["result"]
            .as_str()
            .unwrap()
            .contains("not a regular file")
    );
    assert_eq!(calls[1]["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_planned_title_is_sent_back_not_stored() {
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let plan = |title: &str| {
        tool(
            "submit_plan",
            json!({"tasks": [{"title": title, "instructions": "Do it.", "acceptance": ["done"]}]}),
        )
    };
    let server = FakeOpenAi::start(vec![
        plan("Bad\u{0}title"),
        plan("Good title"),
        edit("a.txt", "one", "two"),
        finish(),
    ])
    .await;
    let brief = repo.input("brief.md", "Change a.txt.\n");
    let out = run(repo.tandem(
        &server.base_url,
        &["exec", "--brief", &brief, "--auto-accept"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let second = &server.requests()[1];
    assert!(
        tool_results(second)
            .iter()
            .any(|r| r.contains("control character U+0000")),
        "the planner is told why: {second}"
    );
    let msg = git(repo.path(), &["log", "-1", "--format=%s"]);
    assert_eq!(msg.trim(), "Good title");
    // And every later command still reads the session.
    let again = run(repo.tandem("unused", &["sessions"])).await;
    assert!(again.status.success(), "{}", text(&again));
}

#[cfg(unix)]
fn hook(repo: &TestRepo, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = repo.path().join(".git/hooks").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_on_accept_only_when_the_config_says_so() {
    // Default: accept does not run them.
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    hook(
        &repo,
        "pre-commit",
        "#!/bin/sh\necho no commits today >&2\nexit 1\n",
    );
    let out = exec(
        &repo,
        vec![edit("a.txt", "one", "two"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tandem_commits(&repo), 1);

    // accept_runs_hooks = true: a refusing pre-commit stops accept, nothing committed.
    let repo = TestRepo::new(&[("a.txt", "one\n")]);
    let cfg = repo.home.path().join("tandem-config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "accept_runs_hooks = true\n").unwrap();
    hook(
        &repo,
        "pre-commit",
        "#!/bin/sh\necho no commits today >&2\nexit 1\n",
    );
    let out = exec(
        &repo,
        vec![edit("a.txt", "one", "two"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("pre-commit hook refused") && text(&out).contains("no commits today"),
        "{}",
        text(&out)
    );
    assert_eq!(tandem_commits(&repo), 0);
    assert_eq!(repo.read("a.txt"), "two\n", "nothing lost");

    // Hooks see exactly the reviewed change as staged, and commit-msg can add to the message.
    hook(
        &repo,
        "pre-commit",
        "#!/bin/sh\ngit diff --cached --name-only > \"$(git rev-parse --git-dir)/staged.txt\"\n",
    );
    hook(
        &repo,
        "commit-msg",
        "#!/bin/sh\necho 'Signed-off-by: Hook <hook@example.com>' >> \"$1\"\n",
    );
    // The failed accept sent the task back to review; accepting again commits.
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tandem_commits(&repo), 1);
    let staged = std::fs::read_to_string(repo.path().join(".git/staged.txt")).unwrap();
    assert_eq!(staged, "a.txt\n");
    let msg = git(repo.path(), &["log", "-1", "--format=%B"]);
    assert!(msg.contains("Signed-off-by: Hook"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undoing_a_killed_draft_never_overwrites_an_edit_made_during_it() {
    let repo = TestRepo::new(&[("a.txt", "one\n"), ("b.txt", "b\n")]);
    let server = FakeOpenAi::start(vec![
        Reply::Tools(vec![
            (
                "edit_file".into(),
                json!({"path": "a.txt", "old_text": "one", "new_text": "one AGENT"}).to_string(),
            ),
            (
                "edit_file".into(),
                json!({"path": "b.txt", "old_text": "b", "new_text": "b AGENT"}).to_string(),
            ),
        ]),
        Reply::Hang,
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let mut first = repo
        .tandem(&server.base_url, &["exec", "--plan", &plan])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        server
            .wait_for_requests(2, std::time::Duration::from_secs(20))
            .await
    );
    // The user edits a file the agent wrote while the draft runs; then tandem is killed.
    write(repo.path(), "a.txt", "one AGENT\nUSER\n");
    first.kill().unwrap();
    first.wait().unwrap();
    let out = resume(&repo, "", &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a.txt"), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one AGENT\nUSER\n");
    assert_eq!(repo.read("b.txt"), "b AGENT\n", "nothing written yet");
    // Keep mine: a.txt stays the user's, b.txt (only the agent's) is put back, and the draft
    // starts over.
    let server = FakeOpenAi::start(vec![finish()]).await;
    let review = repo.input("review.toml", "");
    let out = run(repo.tandem(
        &server.base_url,
        &[
            "exec",
            "--resume",
            "--review",
            &review,
            "--on-conflict",
            "keep-mine",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one AGENT\nUSER\n");
    assert_eq!(repo.read("b.txt"), "b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sparse_checkout_is_not_uncommitted_changes() {
    let repo = TestRepo::new(&[("app/a.txt", "one\n"), ("docs/big.txt", "big\n")]);
    git(repo.path(), &["sparse-checkout", "init", "--no-cone"]);
    git(repo.path(), &["sparse-checkout", "set", "/app/"]);
    assert!(!repo.path().join("docs/big.txt").exists(), "docs left out");
    let out = exec(
        &repo,
        vec![edit("app/a.txt", "one", "two"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(show(&repo, "HEAD:app/a.txt"), "two\n");
    assert_eq!(
        show(&repo, "HEAD:docs/big.txt"),
        "big\n",
        "still in the commit"
    );
}

/// A one-task draft of a.txt ("one\ntwo\n") during which the user adds a line to the same
/// file between the agent's two edits; the run stops for review (exit 3).
async fn user_edits_while_the_agent_works(repo: &TestRepo) {
    let server = FakeOpenAi::start(vec![
        edit("a.txt", "one", "one AGENT"),
        // While the model "thinks", the user adds a line to the same file.
        Reply::Delay(
            std::time::Duration::from_millis(1500),
            Box::new(edit("a.txt", "two", "two AGENT")),
        ),
        finish(),
    ])
    .await;
    let plan = repo.input("plan.toml", PLAN);
    let cmd = repo.tandem(&server.base_url, &["exec", "--plan", &plan]);
    let run_it = tokio::spawn(run(cmd));
    assert!(
        server
            .wait_for_requests(2, std::time::Duration::from_secs(20))
            .await
    );
    write(repo.path(), "a.txt", "one AGENT\ntwo\nUSER\n");
    let out = run_it.await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_the_agent_works_is_never_rejected_away_unasked() {
    let repo = TestRepo::new(&[("a.txt", "one\ntwo\n")]);
    user_edits_while_the_agent_works(&repo).await;
    // The agent's second edit kept the user's line; the journal knows the file is partly theirs.
    assert_eq!(repo.read("a.txt"), "one AGENT\ntwo AGENT\nUSER\n");
    let j = repo.journal();
    let writes = events(&j, "file_written");
    assert_eq!(writes.last().unwrap()["foreign"], true, "{writes:?}");
    // Reject asks instead of throwing the user's line away.
    let out = resume(&repo, REJECT, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one AGENT\ntwo AGENT\nUSER\n");
    let out = resume(&repo, REJECT, &["--on-conflict", "take"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one\ntwo\n");
    let rescue = rescue_ref(&repo);
    assert!(git(repo.path(), &["show", &format!("{rescue}:a.txt")]).contains("USER"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_id_cannot_leave_the_sessions_directory() {
    // `.git/tandem/sessions/../../../journal.jsonl` is a file of the user's.
    let repo = TestRepo::new(&[("journal.jsonl", "the user's own notes, no newline")]);
    let out = run(repo.tandem(
        "http://127.0.0.1:9",
        &["exec", "--resume", "../../..", "--auto-accept"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no session to resume"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("journal.jsonl")).unwrap(),
        "the user's own notes, no newline"
    );
}

/// The user's line went into iteration 1 while it drafted; the revision's attempt then fails
/// (the server refuses it) and is dropped. A reject afterwards still asks before writing over
/// the file: the mark of iteration 1 outlives the dropped attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_revision_does_not_forget_the_users_edit_of_an_earlier_iteration() {
    let repo = TestRepo::new(&[("a.txt", "one\ntwo\n")]);
    user_edits_while_the_agent_works(&repo).await;
    // Revise; the revision's first request is refused, and the attempt is dropped.
    let refused = FakeOpenAi::start(vec![Reply::Status(
        401,
        json!({"error": {"message": "no"}}).to_string(),
    )])
    .await;
    // (a 401 is not retried: the attempt ends at once)
    let review = repo.input(
        "revise.toml",
        "[[decision]]\ntask = 1\naction = \"revise\"\nnote = \"Again.\"\n",
    );
    let out = run(repo.tandem(
        &refused.base_url,
        &["exec", "--resume", "--review", &review],
    ))
    .await;
    assert!(!out.status.success(), "{}", text(&out));
    let j = repo.journal();
    assert!(!events(&j, "draft_aborted").is_empty(), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one AGENT\ntwo AGENT\nUSER\n");
    // The revision is drafted again (it changes nothing) and rejected: that asks instead of
    // throwing the user's line away.
    let again = FakeOpenAi::start(vec![tool(
        "finish",
        json!({"summary": "as it was", "replies": [
            {"thread": "n1", "status": "not_done", "text": "left as it is"}
        ]}),
    )])
    .await;
    let reject = repo.input(
        "reject.toml",
        &format!("[[decision]]\ntask = 1\naction = \"revise\"\nnote = \"Again.\"\n{REJECT}"),
    );
    let out = run(repo.tandem(&again.base_url, &["exec", "--resume", "--review", &reject])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a.txt"), "{}", text(&out));
    assert_eq!(repo.read("a.txt"), "one AGENT\ntwo AGENT\nUSER\n");
}

/// A path with a configured filter driver (git-crypt, Git LFS) is committed as `git add` would
/// store it: through the driver's clean program, not raw (a git-crypt file stored raw would
/// put the client's secret in the clear into the commit and the pushable proposal ref).
/// The "encryption" here is `tr a-z A-Z`; the smudge side turns it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_file_is_committed_through_its_filter_not_raw() {
    let repo = TestRepo::new(&[]);
    git(repo.path(), &["config", "filter.crypt.clean", "tr a-z A-Z"]);
    git(
        repo.path(),
        &["config", "filter.crypt.smudge", "tr A-Z a-z"],
    );
    write(repo.path(), ".gitattributes", "secret.env filter=crypt\n");
    write(repo.path(), "secret.env", "db_pass=hunter\n");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "secrets"]);
    assert_eq!(show(&repo, "HEAD:secret.env"), "DB_PASS=HUNTER\n");
    let out = exec(
        &repo,
        vec![edit("secret.env", "hunter", "hunter2"), finish()],
        &["--auto-accept"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.read("secret.env"), "db_pass=hunter2\n");
    // Stored through the filter, in the commit and in the pushable proposal.
    assert_eq!(show(&repo, "HEAD:secret.env"), "DB_PASS=HUNTER2\n");
    let proposals = git(
        repo.path(),
        &["for-each-ref", "--format=%(refname)", "refs/tandem/"],
    );
    let proposal = proposals
        .lines()
        .find(|r| r.contains("iteration-1"))
        .expect(&proposals);
    assert_eq!(
        show(&repo, &format!("{proposal}:secret.env")),
        "DB_PASS=HUNTER2\n"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}

/// During review the user makes the agent's script executable. A reject asks before putting
/// the old, non-executable file back: the mode change is the user's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_the_user_changed_during_review_is_not_rejected_away_unasked() {
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::new(&[("run.sh", "#!/bin/sh\necho 1\n")]);
    let out = exec(
        &repo,
        vec![edit("run.sh", "echo 1", "echo 2"), finish()],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let script = repo.path().join("run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = resume(&repo, REJECT, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("run.sh"), "{}", text(&out));
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    assert_eq!(repo.read("run.sh"), "#!/bin/sh\necho 2\n");
}

/// Killed right after the accept commit, then the user switches to another branch before
/// resuming: the commit is found on the branch it was made on, and not made a second time on
/// the new one (nor staged there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_commit_then_a_branch_switch_does_not_commit_twice() {
    let repo = accepted_then_killed_before_journaling_it().await;
    git(repo.path(), &["checkout", "-q", "-b", "other", "HEAD~1"]);
    let out = resume(&repo, ACCEPT, &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    let everywhere = git(repo.path(), &["log", "--all", "--format=%B"]);
    assert_eq!(
        everywhere.matches("Tandem-Task: 1").count(),
        1,
        "the task is committed once: {everywhere}"
    );
    assert_eq!(events(&repo.journal(), "committed").len(), 1);
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s", "other"]).trim(),
        "initial"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
}
