//! Whole-process benchmarks for issue 6: the real release binary, timed from the outside, peak
//! memory from `/usr/bin/time`, a local fake model server with zero latency. Prints each figure
//! beside its target. `cargo bench --bench whole_process`; see BENCHMARKS.md.
//!
//! Not part of the test suite's pass/fail: a shared machine is noisy. It prints, it does not
//! assert (except that the runs themselves succeed).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/it/support/fake_openai.rs"]
mod fake_openai;
#[path = "support/synth.rs"]
mod synth;

use fake_openai::{FakeOpenAi, Reply};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::json;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

fn fresh_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["config", "user.name", "Bench"]);
    git(dir.path(), &["config", "user.email", "bench@example.com"]);
    std::fs::write(dir.path().join("notes.md"), "# Notes\n").unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    dir
}

fn env(cmd: &mut Command, home: &Path, base_url: &str) {
    cmd.env("HOME", home)
        .env("TANDEM_CONFIG_DIR", home.join("cfg"))
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_API_KEY", "sk-bench")
        .env("TANDEM_MODEL", "fake-model")
        // The scripted server answers the drafter only: no checker verdicts, no lessons (both
        // on by default, each a model call of its own that would wait here for an answer).
        .env("TANDEM_CHECKER", "off")
        .env("TANDEM_LESSONS", "off");
}

/// Run under `/usr/bin/time -f %M`: (wall, peak RSS in KiB).
fn timed(cmd: Command) -> (Duration, u64) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut t = Command::new("/usr/bin/time");
    t.arg("-f").arg("%M").arg(program).args(args);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            t.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        t.current_dir(d);
    }
    let start = Instant::now();
    let out = t.output().expect("/usr/bin/time (Debian package `time`)");
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (wall, rss)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, value: String, target: &str) {
    println!("{name:<58} {value:>16}   target {target}");
}

fn version() {
    let home = tempfile::tempdir().unwrap();
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..30 {
        // Wall time spawned directly: under /usr/bin/time the tool's own start (~1 ms) would
        // dominate a figure this small. Peak memory from a separate run under it.
        let mut cmd = Command::new(BIN);
        cmd.arg("--version").stdout(std::process::Stdio::null());
        env(&mut cmd, home.path(), "http://127.0.0.1:9");
        let start = Instant::now();
        assert!(cmd.status().unwrap().success());
        walls.push(start.elapsed());
        let mut cmd = Command::new(BIN);
        cmd.arg("--version");
        env(&mut cmd, home.path(), "http://127.0.0.1:9");
        rss = rss.max(timed(cmd).1);
    }
    report(
        "tandem --version: wall (median of 30)",
        format!("{:.1} ms", median(walls).as_secs_f64() * 1e3),
        "≤ 3 ms",
    );
    report(
        "tandem --version: peak RSS",
        format!("{:.1} MiB", rss as f64 / 1024.0),
        "≤ 8 MiB",
    );
}

async fn exec_one_edit() {
    let server = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let plan = home.path().join("plan.toml");
    std::fs::write(&plan, "[[task]]\ntitle = \"Add a TODO\"\ninstructions = \"Append a TODO section to notes.md.\"\nacceptance = [\"notes.md has TODO\"]\n").unwrap();
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    // Wall time includes /usr/bin/time's own start (about 1 ms here).
    for _ in 0..15 {
        let repo = fresh_repo();
        server.push(Reply::tool(
            "write_file",
            json!({"path": "notes.md", "content": "# Notes\n\n## TODO\n- ship\n"}).to_string(),
        ));
        server.push(Reply::tool(
            "finish",
            json!({"summary": "added TODO"}).to_string(),
        ));
        let mut cmd = Command::new(BIN);
        cmd.args(["exec", "--plan", plan.to_str().unwrap(), "--auto-accept"])
            .current_dir(repo.path());
        env(&mut cmd, home.path(), &server.base_url);
        let (w, r) = tokio::task::spawn_blocking(move || timed(cmd))
            .await
            .unwrap();
        walls.push(w);
        rss.push(r);
    }
    rss.sort();
    report(
        "exec --auto-accept, one task, one edit: wall (median of 15)",
        format!("{:.1} ms", median(walls).as_secs_f64() * 1e3),
        "≤ 40 ms",
    );
    report(
        "exec --auto-accept, one task, one edit: peak RSS (median / highest of 15)",
        format!(
            "{:.1} / {:.1} MiB",
            rss[rss.len() / 2] as f64 / 1024.0,
            rss[rss.len() - 1] as f64 / 1024.0
        ),
        "≤ 12 MiB",
    );
}

/// Issue 15: `tandem replay` of a 10,000-event session (50 tasks × 4 drafts × 44 tool steps,
/// synthetic), launch to the first frame (its timeline).
async fn replay_first_frame() {
    let home = tempfile::tempdir().unwrap();
    let repo = fresh_repo();
    let dir = repo.path();
    let r = git2::Repository::open(dir).unwrap();
    let head = r.head().unwrap().target().unwrap().to_string();
    let entries = synth::session(50, 4, 44, &head, &head);
    assert!(entries.len() >= 10_000, "{}", entries.len());
    let jdir = dir.join(".git/tandem/sessions/20260101-000000-beef");
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::write(jdir.join("journal.jsonl"), synth::to_jsonl(&entries)).unwrap();
    let mut walls = Vec::new();
    for _ in 0..5 {
        let cmd = pty_command(
            dir,
            home.path(),
            "http://127.0.0.1:9/v1",
            &["replay", "20260101-000000-beef"],
        );
        let w = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let p = pty(cmd);
            assert!(
                p.wait_for("Timeline", Duration::from_secs(15)),
                "replay never showed"
            );
            let w = start.elapsed();
            p.quit();
            w
        })
        .await
        .unwrap();
        walls.push(w);
    }
    report(
        &format!(
            "replay: {}-event session, launch to first frame (median of 5)",
            entries.len()
        ),
        format!("{:.1} ms", median(walls).as_secs_f64() * 1e3),
        "≤ 100 ms",
    );
}

/// Issue 15: a one-edit `exec` in a repository of 50,000 tracked files with real working files
/// (500 folders × 100 files, a 4 MB index): the start's clean-tree check, the snapshot and the
/// accept must not grow with the repository.
async fn exec_big_repo() {
    let server = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let plan = home.path().join("plan.toml");
    std::fs::write(&plan, "[[task]]\ntitle = \"Add a TODO\"\ninstructions = \"Append a TODO section to notes.md.\"\nacceptance = [\"notes.md has TODO\"]\n").unwrap();
    let repo = fresh_repo();
    let dir = repo.path();
    for d in 0..500 {
        let folder = dir.join(format!("src/m{d:03}"));
        std::fs::create_dir_all(&folder).unwrap();
        for f in 0..100 {
            std::fs::write(
                folder.join(format!("f{f:03}.rs")),
                format!("pub fn f{d}_{f}() -> u32 {{ {f} }}\n"),
            )
            .unwrap();
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "50,000 files"]);
    let base = git2::Repository::open(dir)
        .unwrap()
        .head()
        .unwrap()
        .target()
        .unwrap()
        .to_string();
    let mut walls = Vec::new();
    for _ in 0..7 {
        // Back to the same start each time (outside the timing); `git status` refreshes the
        // index's stat data as a user's own git would have.
        git(dir, &["reset", "-q", "--hard", &base]);
        git(dir, &["status", "--short"]);
        server.push(Reply::tool(
            "write_file",
            json!({"path": "notes.md", "content": "# Notes\n\n## TODO\n- ship\n"}).to_string(),
        ));
        server.push(Reply::tool(
            "finish",
            json!({"summary": "added TODO"}).to_string(),
        ));
        let mut cmd = Command::new(BIN);
        cmd.args(["exec", "--plan", plan.to_str().unwrap(), "--auto-accept"])
            .current_dir(dir);
        env(&mut cmd, home.path(), &server.base_url);
        let (w, _) = tokio::task::spawn_blocking(move || timed(cmd))
            .await
            .unwrap();
        walls.push(w);
    }
    report(
        "exec one edit, 50,000-file repository: wall (median of 7)",
        format!("{:.1} ms", median(walls).as_secs_f64() * 1e3),
        "≤ 150 ms",
    );
}

/// Issue 15: `report --all --format json` over 1,000 and 10,000 sessions (copies of the demo's
/// two-task journal, each under its own id), after a first run has derived the cached summaries
/// and reports; the first run is reported too.
async fn report_all() {
    let home = tempfile::tempdir().unwrap();
    let mut demo = Command::new(BIN);
    demo.args(["demo", "--headless"])
        .env("TMPDIR", home.path())
        .current_dir(home.path())
        .stdout(std::process::Stdio::null());
    env(&mut demo, home.path(), "http://127.0.0.1:9/v1");
    assert!(demo.status().unwrap().success());
    let repo = std::fs::read_dir(home.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("tandem-demo-"))
        .unwrap()
        .path();
    let sessions = repo.join(".git/tandem/sessions");
    let original = std::fs::read_dir(&sessions)
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    let id = original.file_name().to_string_lossy().to_string();
    let journal = std::fs::read_to_string(original.path().join("journal.jsonl")).unwrap();
    let mut made = 1;
    for n in [1_000, 10_000] {
        while made < n {
            let copy = format!("20260101-{made:06}-{:04x}", made % 0x10000);
            let d = sessions.join(&copy);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("journal.jsonl"), journal.replace(&id, &copy)).unwrap();
            made += 1;
        }
        let run = || {
            let mut cmd = Command::new(BIN);
            cmd.args(["report", "--all", "--format", "json"])
                .current_dir(&repo);
            env(&mut cmd, home.path(), "http://127.0.0.1:9/v1");
            timed(cmd).0
        };
        let first = run();
        let walls: Vec<Duration> = (0..5).map(|_| run()).collect();
        report(
            &format!("report --all --format json, {n} sessions (median of 5)"),
            format!("{:.0} ms", median(walls).as_secs_f64() * 1e3),
            if n == 1_000 { "≤ 100 ms" } else { "≤ 1 s" },
        );
        report(
            "  the first run, deriving the caches",
            format!("{:.0} ms", first.as_secs_f64() * 1e3),
            "—",
        );
    }
}

/// Bytes of the files under `dir`.
fn du(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = e.metadata() else { continue };
        total += if meta.is_dir() {
            du(&e.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Issue 15: a 300-task session with four drafts a task (three revisions, then accept), run by
/// `tandem exec` against the fake server. How much `.git/objects` grows against the journal's own
/// size (the journal is stored in git at every decision), and the time per task (between
/// consecutive commits, from the journal's clock) over the first and the last 30 tasks.
async fn long_session() {
    // TANDEM_BENCH_TASKS=20 for a quick look; the figures are for 300.
    let tasks: usize = std::env::var("TANDEM_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
        .max(61);
    const DRAFTS: usize = 4;
    let server = FakeOpenAi::start(vec![]).await;
    let home = tempfile::tempdir().unwrap();
    let repo = fresh_repo();
    let mut plan = String::new();
    let mut review = String::new();
    for t in 1..=tasks {
        plan.push_str(&format!(
            "[[task]]\ntitle = \"Write part {t}\"\ninstructions = \"Write f{t}.txt with this part of the job.\"\nacceptance = [\"f{t}.txt holds part {t}\"]\n\n"
        ));
        for k in 1..=DRAFTS {
            server.push(Reply::tool(
                "write_file",
                json!({"path": format!("f{t}.txt"), "content": format!("part {t}, draft {k}\n")})
                    .to_string(),
            ));
            server.push(Reply::tool(
                "finish",
                json!({"summary": format!("draft {k} of part {t}")}).to_string(),
            ));
            let action = if k < DRAFTS {
                "action = \"revise\""
            } else {
                "action = \"accept\"\ncriteria_met = [1]"
            };
            review.push_str(&format!(
                "[[decision]]\ntask = {t}\n{action}\nreview_seconds = 20\n\n"
            ));
        }
    }
    let plan_path = home.path().join("plan.toml");
    let review_path = home.path().join("review.toml");
    std::fs::write(&plan_path, plan).unwrap();
    std::fs::write(&review_path, review).unwrap();
    let objects = repo.path().join(".git/objects");
    let before = du(&objects);
    let mut cmd = Command::new(BIN);
    cmd.args([
        "exec",
        "--plan",
        plan_path.to_str().unwrap(),
        "--review",
        review_path.to_str().unwrap(),
    ])
    .current_dir(repo.path());
    env(&mut cmd, home.path(), &server.base_url);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "the long session failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let growth = du(&objects) - before;
    let sessions = repo.path().join(".git/tandem/sessions");
    let dir = std::fs::read_dir(&sessions)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let commits: Vec<chrono::DateTime<chrono::Utc>> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"]["type"] == "committed")
        .map(|v| v["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(commits.len(), tasks, "every task committed");
    let per_task: Vec<f64> = commits
        .windows(2)
        .map(|w| (w[1] - w[0]).num_microseconds().unwrap() as f64 / 1e3)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (first, last) = (
        mean(&per_task[..30]),
        mean(&per_task[per_task.len() - 30..]),
    );
    // What storing the journal cost: every object reachable from its ref (its commits, trees
    // and part blobs, nothing else), as stored on disk (zlib), against the journal's size.
    let id = dir.file_name().to_string_lossy().into_owned();
    let listed = Command::new("git")
        .args([
            "rev-list",
            "--objects",
            &format!("refs/tandem/sessions/{id}/journal"),
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    let ids: String = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string() + "\n")
        .collect();
    let mut sizes = Command::new("git")
        .args(["cat-file", "--batch-check=%(objectsize:disk)"])
        .current_dir(repo.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sizes
        .stdin
        .take()
        .unwrap()
        .write_all(ids.as_bytes())
        .unwrap();
    let sizes = sizes.wait_with_output().unwrap();
    let stored: u64 = String::from_utf8_lossy(&sizes.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    report(
        &format!("{tasks} tasks × 4 drafts: journal's objects in .git / journal size"),
        format!(
            "{:.1} MB / {:.1} MB = {:.2}×",
            stored as f64 / 1e6,
            journal.len() as f64 / 1e6,
            stored as f64 / journal.len() as f64
        ),
        "≤ 3×",
    );
    report(
        &format!("{tasks} tasks × 4 drafts: all .git/objects growth (snapshots, commits)"),
        format!("{:.1} MB", growth as f64 / 1e6),
        "(for scale)",
    );
    report(
        &format!("{tasks} tasks × 4 drafts: ms per task, first 30 → last 30"),
        format!(
            "{first:.0} → {last:.0} ({:+.0}%)",
            (last / first - 1.0) * 100.0
        ),
        "within 20%",
    );
    report(
        &format!("{tasks} tasks × 4 drafts: whole session wall"),
        format!("{:.1} s", wall.as_secs_f64()),
        "(for scale)",
    );
}

struct Pty {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

fn pty(mut cmd: CommandBuilder) -> Pty {
    cmd.env("TERM", "xterm-256color");
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 140,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = Arc::new(Mutex::new(pair.master.take_writer().unwrap()));
    let screen = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(40).unwrap(),
        std::num::NonZeroU16::new(140).unwrap(),
        0,
    )));
    let (s, w) = (screen.clone(), writer.clone());
    std::thread::spawn(move || {
        let _master = pair.master;
        let mut buf = [0u8; 16384];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut p = s.lock().unwrap();
            p.process(&buf[..n]);
            if buf[..n].windows(4).any(|x| x == b"\x1b[6n") {
                let (r, c) = p.screen().cursor_position();
                let _ = write!(w.lock().unwrap(), "\x1b[{};{}R", r + 1, c + 1);
            }
        }
    });
    Pty {
        screen,
        writer,
        child,
    }
}

impl Pty {
    fn wait_for(&self, text: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .screen
                .lock()
                .unwrap()
                .screen()
                .contents()
                .contains(text)
            {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        false
    }
    fn quit(mut self) {
        let _ = self.writer.lock().unwrap().write_all(b"q");
        for _ in 0..200 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
    }
}

fn pty_command(dir: &Path, home: &Path, base_url: &str, args: &[&str]) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(args);
    cmd.cwd(dir);
    cmd.env("HOME", home);
    cmd.env("TANDEM_CONFIG_DIR", home.join("cfg"));
    cmd.env("OPENAI_BASE_URL", base_url);
    cmd.env("OPENAI_API_KEY", "sk-bench");
    cmd.env("TANDEM_MODEL", "fake-model");
    cmd
}

async fn first_frame() {
    let home = tempfile::tempdir().unwrap();
    let plan = home.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[[task]]\ntitle = \"Add a TODO\"\ninstructions = \"i\"\nacceptance = [\"a\"]\n",
    )
    .unwrap();
    let mut walls = Vec::new();
    for _ in 0..10 {
        let repo = fresh_repo();
        let cmd = pty_command(
            repo.path(),
            home.path(),
            "http://127.0.0.1:9/v1",
            &["--plan", plan.to_str().unwrap()],
        );
        let w = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let p = pty(cmd);
            assert!(
                p.wait_for("Add a TODO", Duration::from_secs(10)),
                "no first frame"
            );
            let w = start.elapsed();
            p.quit();
            w
        })
        .await
        .unwrap();
        walls.push(w);
    }
    report(
        "TUI: launch to first frame (median of 10, via a pty)",
        format!("{:.1} ms", median(walls).as_secs_f64() * 1e3),
        "≤ 30 ms",
    );
}

/// The live TUI resumed on a session of 50 tasks and 200 iterations, at the last review.
async fn steady_memory() {
    let home = tempfile::tempdir().unwrap();
    let repo = fresh_repo();
    let dir = repo.path();
    let r = git2::Repository::open(dir).unwrap();
    let head = r.head().unwrap().target().unwrap();
    let body: String = (0..400)
        .map(|i| format!("pub fn f{i}() -> u32 {{ {i} }}\n"))
        .collect();
    let blob = r.blob(body.as_bytes()).unwrap();
    let base_tree = r.find_commit(head).unwrap().tree().unwrap();
    let mut b = git2::build::TreeUpdateBuilder::new();
    b.upsert("src/part50.rs", blob, git2::FileMode::Blob);
    let tree = r
        .find_tree(b.create_updated(&r, &base_tree).unwrap())
        .unwrap();
    let sig = r.signature().unwrap();
    let parent = r.find_commit(head).unwrap();
    let snap = r
        .commit(None, &sig, &sig, "snapshot", &tree, &[&parent])
        .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/part50.rs"), &body).unwrap();
    let entries = synth::session(50, 4, 10, &head.to_string(), &snap.to_string());
    let jdir = dir.join(".git/tandem/sessions/20260101-000000-beef");
    std::fs::create_dir_all(&jdir).unwrap();
    std::fs::write(jdir.join("journal.jsonl"), synth::to_jsonl(&entries)).unwrap();
    let cmd = pty_command(dir, home.path(), "http://127.0.0.1:9/v1", &[]);
    let (rss, hwm) = tokio::task::spawn_blocking(move || {
        let p = pty(cmd);
        assert!(
            p.wait_for("pub fn f10()", Duration::from_secs(15)),
            "review never showed"
        );
        std::thread::sleep(Duration::from_millis(1500));
        let pid = p.child.process_id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let out = (field("VmRSS:"), field("VmHWM:"));
        p.quit();
        out
    })
    .await
    .unwrap();
    report(
        "TUI steady memory, 50 tasks / 200 iterations: RSS",
        format!("{:.1} MiB", rss as f64 / 1024.0),
        "≤ 40 MiB",
    );
    report(
        "  (peak RSS of that process so far)",
        format!("{:.1} MiB", hwm as f64 / 1024.0),
        "",
    );
}

fn prompt_tokens() {
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let prompts = tandem::infra::prompts::Prompts::load(None).unwrap();
    let system = prompts.render("drafter", json!({})).unwrap();
    let task = prompts
        .render(
            "task",
            json!({"number": 1, "total": 3, "title": "Add a TODO section", "instructions": "Append a TODO section to notes.md listing the open items.", "acceptance": ["notes.md has a TODO section", "every open item is listed"]}),
        )
        .unwrap();
    let tools: Vec<serde_json::Value> = tandem::infra::tools::draft_tool_schemas(false)
        .iter()
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
        .collect();
    let tools = serde_json::to_string(&tools).unwrap();
    let n_system = bpe.encode_with_special_tokens(&system).len();
    let n_tools = bpe.encode_with_special_tokens(&tools).len();
    let n_task = bpe.encode_with_special_tokens(&task).len();
    report(
        "first draft request: system prompt + tool schemas (o200k)",
        format!("{} tokens", n_system + n_tools),
        "≤ 1,500 tokens",
    );
    println!(
        "{:<58} {:>16}",
        "  (system / tools / sample task message)",
        format!("{n_system} / {n_tools} / {n_task}")
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported here.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "whole-process figures ({} cores, release build)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    // TANDEM_BENCH_ONLY=long_session (or another figure's function name) runs that one alone.
    let only = std::env::var("TANDEM_BENCH_ONLY").ok();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("prompt_tokens") {
        prompt_tokens();
    }
    if run("version") {
        version();
    }
    if run("exec_one_edit") {
        rt.block_on(exec_one_edit());
    }
    if run("exec_big_repo") {
        rt.block_on(exec_big_repo());
    }
    if run("report_all") {
        rt.block_on(report_all());
    }
    if run("first_frame") {
        rt.block_on(first_frame());
    }
    if run("steady_memory") {
        rt.block_on(steady_memory());
    }
    if run("replay_first_frame") {
        rt.block_on(replay_first_frame());
    }
    if run("long_session") {
        rt.block_on(long_session());
    }
}
