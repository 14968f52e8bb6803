//! Generated inputs for the benchmarks: long journals, large diffs, large repositories.
//! Deterministic, so runs compare.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use tandem::core::Decision;
use tandem::core::journal::{Entry, FileStat, JournalEvent, PlanSource, Purpose, TimeKind};
use tandem::core::plan::TaskSpec;
use tandem::infra::diff::{DiffLine, FileDiff, Hunk, LineKind};

/// A session of `tasks` tasks with `iterations` iterations each, `tools` tool calls per
/// iteration; every commit id is `commit` (benchmarks that draw diffs point it at a real one).
pub fn session(
    tasks: usize,
    iterations: u32,
    tools: usize,
    base: &str,
    snapshot: &str,
) -> Vec<Entry> {
    let mut events = vec![
        JournalEvent::SessionStarted {
            session: "20260101-000000-beef".into(),
            tandem_version: "bench".into(),
            model: "bench-model".into(),
            branch: Some("main".into()),
            head: Some(base.into()),
            brief: Some("A generated job with many tasks.".into()),
            allow_dirty: false,
            author: None,
        },
        JournalEvent::PlanSet {
            tasks: (1..=tasks)
                .map(|n| TaskSpec {
                    title: format!("Task number {n}"),
                    instructions: format!("Do part {n} of the job, carefully."),
                    acceptance: vec!["it works".into(), "it is tested".into()],
                    human: false,
                    ..Default::default()
                })
                .collect(),
            source: PlanSource::Planner,
        },
        JournalEvent::PlanApproved,
    ];
    for t in 1..=tasks {
        for k in 1..=iterations {
            events.push(JournalEvent::DraftStarted {
                task: t,
                iteration: k,
                base: (k == 1).then(|| base.to_string()),
            });
            for s in 0..tools {
                if s % 2 == 0 {
                    events.push(JournalEvent::ModelCall {
                        purpose: Purpose::Draft,
                        task: Some(t),
                        iteration: Some(k),
                        step: s as u32,
                        prompt_tokens: 1200,
                        completion_tokens: 90,
                        duration_ms: 800,
                        finish_reason: Some("tool_calls".into()),
                        text: String::new(),
                        tool_calls: vec!["edit_file".into()],
                    });
                }
                if s == 0 && k == 1 {
                    events.push(JournalEvent::FileTouched {
                        task: t,
                        iteration: k,
                        path: format!("src/part{t}.rs"),
                        preimage: None,
                        created_dirs: vec![],
                        exec: None,
                    });
                }
                events.push(JournalEvent::ToolCall {
                    task: t,
                    iteration: k,
                    step: s as u32,
                    call_id: format!("c{s}"),
                    name: "edit_file".into(),
                    args: serde_json::json!({"path": format!("src/part{t}.rs"), "old_text": "a", "new_text": "b"}),
                    ok: true,
                    result: format!("edited src/part{t}.rs (+1 -1)"),
                    lines: Some(tandem::infra::tools::LineChange { added: 1, removed: 1 }),
                });
            }
            events.push(JournalEvent::IterationReady {
                task: t,
                iteration: k,
                snapshot: snapshot.into(),
                base: base.into(),
                summary: "Changed the part as asked.".into(),
                agent_ms: 12_000,
                incomplete: false,
                cut_off: false,
                files: vec![FileStat {
                    path: format!("src/part{t}.rs"),
                    added: 10,
                    removed: 2,
                    binary: false,
                }],
                proposal: None,
                review_base: None,
                excluded: vec![],
                foreign: vec![],
                anchors: vec![],
            });
            let last = t == tasks && k == iterations;
            if last {
                break;
            }
            events.push(JournalEvent::CommentAdded {
                task: t,
                iteration: k,
                id: 1,
                path: format!("src/part{t}.rs"),
                line: 1,
                text: "Please handle the empty case.".into(),
                quote: "fn part() {".into(),
            });
            events.push(JournalEvent::HumanTime {
                task: t,
                iteration: k,
                kind: TimeKind::Review,
                ms: 45_000,
                started: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            });
            let action = if k == iterations {
                Decision::Accept
            } else {
                Decision::Revise
            };
            events.push(JournalEvent::Decision {
                task: t,
                iteration: k,
                action,
            });
            if action == Decision::Accept {
                events.push(JournalEvent::Committed {
                    task: t,
                    iteration: k,
                    commit: snapshot.into(),
                });
            }
        }
    }
    let t0 = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Entry {
            seq: i as u64 + 1,
            at: t0 + chrono::Duration::milliseconds(i as i64 * 700),
            event,
        })
        .collect()
}

pub fn to_jsonl(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend(serde_json::to_vec(e).unwrap());
        out.push(b'\n');
    }
    out
}

/// A diff adding one Rust file of `lines` lines.
pub fn big_new_file(lines: usize) -> Vec<FileDiff> {
    let body: Vec<DiffLine> = (0..lines)
        .map(|i| DiffLine {
            kind: LineKind::Added,
            old: None,
            new: Some(i as u32 + 1),
            text: match i % 5 {
                0 => format!("pub fn item_{i}(x: u64) -> u64 {{"),
                1 => format!("    // step {i}: keep the \"value\" in range"),
                2 => format!("    let y = x.wrapping_mul({i}) ^ 0x5bd1_e995;"),
                3 => "    y.rotate_left(7)".to_string(),
                _ => "}".to_string(),
            },
            truncated: false,
        })
        .collect();
    vec![FileDiff {
        path: "src/generated.rs".into(),
        old_path: None,
        status: 'A',
        binary: false,
        mode: None,
        added: lines as u32,
        removed: 0,
        hunks: vec![Hunk {
            header: format!("@@ -0,0 +1,{lines} @@"),
            lines: body,
        }],
    }]
}

/// A repository whose HEAD tree and index hold `files` files (in directories of 100), with a
/// local identity. Only the files a benchmark touches exist on disk: building the tree and the
/// index in memory keeps set-up to seconds.
pub fn big_repo(dir: &Path, files: usize) -> git2::Repository {
    let repo = git2::Repository::init(dir).unwrap();
    {
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", "Bench").unwrap();
        cfg.set_str("user.email", "bench@example.com").unwrap();
    }
    let blob = repo.blob(b"fn main() {}\n").unwrap();
    let mut index = repo.index().unwrap();
    for i in 0..files {
        let path = format!("src/d{}/f{}.rs", i / 100, i % 100);
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: 13,
            id: blob,
            flags: 0,
            flags_extended: 0,
            path: path.into_bytes(),
        };
        index.add(&entry).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = repo.signature().unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "big", &tree, &[])
        .unwrap();
    drop(tree);
    repo
}
