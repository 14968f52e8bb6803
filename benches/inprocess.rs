//! In-process benchmarks (criterion) for issue 6's figures: TUI first frame, opening and
//! scrolling a 20,000-line diff with highlighting, opening a 10,000-event replay, and accepting
//! into a repository of 50,000 files. `cargo bench --bench inprocess`; see BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/synth.rs"]
mod synth;

use criterion::{BatchSize, Criterion, criterion_group};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::time::Duration;
use tandem::core::protocol::Event;
use tandem::infra::theme::Theme;
use tandem::tui::app::App;
use tandem::tui::clock::ManualTime;
use tandem::tui::diff_view::DiffView;
use tandem::tui::keymap::Keymap;

const W: u16 = 160;
const H: u16 = 45;

fn theme() -> Theme {
    Theme::load_with_env(Some("dark"), None, false).unwrap()
}

/// Open the diff, highlight what is on screen, draw it: what the reviewer waits for.
fn open_diff(
    files: Vec<tandem::infra::diff::FileDiff>,
    theme: &Theme,
    buf: &mut Buffer,
) -> DiffView {
    let mut view = DiffView::default();
    view.set_files(files);
    view.follow(H as usize, W, theme);
    for job in view.wanted_highlights(H as usize, &theme.syntax_theme) {
        view.set_highlight(job.run());
    }
    view.render(Rect::new(0, 0, W, H), buf, theme, true);
    view
}

fn diffs(c: &mut Criterion) {
    let theme = theme();
    tandem::tui::highlight::warm_up();
    let files = synth::big_new_file(20_000);
    // The first highlight of a language compiles its grammar once per process; do it here so
    // the figure is the per-diff cost the reviewer sees after start-up.
    open_diff(
        synth::big_new_file(10),
        &theme,
        &mut Buffer::empty(Rect::new(0, 0, W, H)),
    );
    c.bench_function("diff_open_20k_lines_first_screen_highlighted", |b| {
        b.iter_batched(
            || (files.clone(), Buffer::empty(Rect::new(0, 0, W, H))),
            |(f, mut buf)| open_diff(f, &theme, &mut buf),
            BatchSize::LargeInput,
        )
    });
    let mut buf = Buffer::empty(Rect::new(0, 0, W, H));
    let mut view = open_diff(files.clone(), &theme, &mut buf);
    c.bench_function("diff_scroll_one_frame", |b| {
        b.iter(|| {
            view.move_by(1);
            view.follow(H as usize, W, &theme);
            for job in view.wanted_highlights(H as usize, &theme.syntax_theme) {
                view.set_highlight(job.run());
            }
            view.render(Rect::new(0, 0, W, H), &mut buf, &theme, true);
        })
    });
}

fn first_frame(c: &mut Criterion) {
    let entries = synth::session(
        3,
        1,
        4,
        "0000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000",
    );
    c.bench_function("tui_first_frame", |b| {
        b.iter(|| {
            let mut app = App::new(
                Keymap::default(),
                theme(),
                Box::new(ManualTime::new()),
                Duration::from_secs(120),
            );
            app.on_core_event(Event::SessionLoaded {
                session: "s".into(),
                entries: entries.clone(),
            });
            let mut term = Terminal::new(TestBackend::new(W, H)).unwrap();
            term.draw(|f| tandem::tui::ui::draw(&mut app, f)).unwrap();
        })
    });
}

fn replay(c: &mut Criterion) {
    let zero = "0000000000000000000000000000000000000000";
    let entries = synth::session(50, 4, 44, zero, zero);
    assert!(entries.len() >= 10_000, "{}", entries.len());
    let bytes = synth::to_jsonl(&entries);
    c.bench_function("replay_open_10k_events", |b| {
        b.iter(|| {
            let read = tandem::core::journal::parse(&bytes, "bench").unwrap();
            let history = tandem::core::history::History::new("s".into(), read.entries, false);
            let (mut view, _fx) = tandem::tui::replay::Replay::new(
                history,
                theme(),
                Keymap::default(),
                Box::new(ManualTime::new()),
            );
            let mut term = Terminal::new(TestBackend::new(W, H)).unwrap();
            term.draw(|f| tandem::tui::View::draw(&mut view, f))
                .unwrap();
        })
    });
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let repo = synth::big_repo(dir.path(), 50_000);
    let path = "src/d7/f7.rs".to_string();
    std::fs::create_dir_all(dir.path().join("src/d7")).unwrap();
    let mut n = 0u64;
    let mut group = c.benchmark_group("accept");
    group.sample_size(20);
    group.bench_function("accept_commit_50k_files", |b| {
        b.iter(|| {
            n += 1;
            let content = format!("fn main() {{ {n} }}\n");
            std::fs::write(dir.path().join(&path), &content).unwrap();
            // The reviewed change as the engine stores it: HEAD plus the file, then accept.
            let head = repo.head().unwrap().target().unwrap();
            let parent = repo.find_commit(head).unwrap();
            let blob = repo.blob(content.as_bytes()).unwrap();
            let mut b = git2::build::TreeUpdateBuilder::new();
            b.upsert(path.as_str(), blob, git2::FileMode::Blob);
            let tree = b.create_updated(&repo, &parent.tree().unwrap()).unwrap();
            let tree = repo.find_tree(tree).unwrap();
            let sig = repo.signature().unwrap();
            let proposal = repo
                .commit(None, &sig, &sig, "proposal", &tree, &[&parent])
                .unwrap();
            tandem::infra::gitops::commit_reviewed(
                &repo,
                dir.path(),
                head,
                proposal,
                "bench\n\nTandem-Task: 1\n",
                false,
            )
            .unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = first_frame, diffs, replay, commit
}

/// (criterion id, figure, target in ms)
const TARGETS: &[(&str, &str, f64)] = &[
    ("tui_first_frame", "TUI: first frame (in process)", 30.0),
    (
        "diff_open_20k_lines_first_screen_highlighted",
        "TUI: open a 20,000-line diff, first screen highlighted",
        50.0,
    ),
    (
        "diff_scroll_one_frame",
        "TUI: one scroll frame of that diff",
        5.0,
    ),
    (
        "replay_open_10k_events",
        "replay: open a 10,000-event session",
        100.0,
    ),
    (
        "accept/accept_commit_50k_files",
        "accept -> commit, 50,000 tracked files",
        150.0,
    ),
];

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Each figure beside its target, from the estimates criterion just saved.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../criterion");
    println!("\n{:<58} {:>12}   target", "figure (median)", "measured");
    for (id, name, target) in TARGETS {
        let file = dir.join(id).join("new/estimates.json");
        let median_ms = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64())
            .map(|ns| ns / 1e6);
        match median_ms {
            Some(ms) => println!(
                "{name:<58} {:>9.2} ms   ≤ {target} ms{}",
                ms,
                if ms <= *target { "" } else { "  OVER" }
            ),
            None => println!("{name:<58} {:>12}   ≤ {target} ms", "not run"),
        }
    }
}
