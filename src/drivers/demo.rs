//! `tandem demo`: the whole loop in a throwaway repository against the built-in scripted model,
//! for a newcomer with no API key.
//!
//! Invariants: it only ever writes inside a fresh directory under the system temp dir, which it
//! creates and reports; it never reads or writes the user's repositories or config.

use crate::drivers::headless;
use crate::drivers::review_script::ReviewScript;
use crate::infra::model::scripted::DEMO_BRIEF;
use crate::setup;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The reviewer's part in the headless demo: one revision with a comment, then accepts.
pub const DEMO_REVIEW: &str = r#"
[[decision]]
task = 1
action = "revise"
note = "Good start. This goes to a client, so the tone matters."
review_seconds = 95
[[decision.comment]]
path = "greet.py"
line = 5
text = "Too stiff for this client: make the greeting warmer."

[[decision]]
task = 1
action = "accept"
criteria_met = [1, 2]
resolve = ["c1.1", "n1"]
review_seconds = 40

[[decision]]
task = 2
action = "accept"
criteria_met = [1, 2]
review_seconds = 30
"#;

/// Run the demo without a terminal UI: narrate each step, print the resulting history.
pub async fn run_headless(out: &mut dyn Write, pace: Duration) -> anyhow::Result<PathBuf> {
    let dir = setup::demo_repo(&std::env::temp_dir())?;
    writeln!(
        out,
        "tandem demo — a throwaway repository at {}\n\
         The brief: {DEMO_BRIEF}\n\
         A scripted model plans and drafts; a scripted reviewer comments once, then accepts.\n",
        dir.display()
    )?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = setup::demo_engine(&dir, pace, tx)?;
    let script = ReviewScript::parse(DEMO_REVIEW, "built-in demo review")?;
    let code = headless::drive(engine, rx, Some(&script), false, None, false, out).await?;
    anyhow::ensure!(code == 0, "the demo stopped early (exit {code})");
    writeln!(out, "\nThe commits tandem made (git log):")?;
    let repo = git2::Repository::open(&dir)?;
    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    for oid in walk.take(2) {
        let c = repo.find_commit(oid?)?;
        writeln!(out, "\ncommit {}", c.id())?;
        for line in c.message().unwrap_or("").lines() {
            writeln!(out, "    {line}")?;
        }
    }
    writeln!(
        out,
        "\nLook around: cd {} && git log --stat\n\
         Watch it again step by step: tandem replay -C {}\n\
         Use it on your own work: see `tandem exec --help`.",
        dir.display(),
        dir.display()
    )?;
    Ok(dir)
}
