//! `tandem exec`: the headless driver. It answers the core's questions from a review script (or
//! `--auto-accept`) and prints progress; with `--json` it prints every core `Event` as a line.
//!
//! Invariants: it only talks to the core through `Op`/`Event`. Everything that can be wrong with
//! the input (files, config, model setup, repository state) is reported before any work starts.
//! When the script has no decision for an iteration, it stops and the session stays resumable at
//! exactly that review.

use crate::core::engine::{Engine, SessionSetup};
use crate::core::plan::{self, TaskSpec};
use crate::drivers::headless;
use crate::drivers::review_script::ReviewScript;
use crate::infra::config::Config;
use crate::setup;
use anyhow::bail;
use std::path::PathBuf;

pub use headless::EXIT_NEEDS_DECISION;

#[derive(Debug, Clone, Default)]
pub struct ExecArgs {
    pub dir: PathBuf,
    pub brief: Option<PathBuf>,
    pub plan: Option<PathBuf>,
    pub review: Option<PathBuf>,
    pub auto_accept: bool,
    /// Some(None): resume the newest unfinished session; Some(Some(id)): that one.
    pub resume: Option<Option<String>>,
    pub allow_dirty: bool,
    pub init: bool,
    pub json: bool,
    pub model: Option<String>,
    /// The answer to a conflict with the user's changes; None: stop and list them.
    pub on_conflict: Option<crate::core::journal::ConflictChoice>,
}

pub async fn exec(args: ExecArgs) -> anyhow::Result<i32> {
    let cfg = Config::load()?;
    // Read every input before touching anything, so a typo costs nothing.
    let brief = match &args.brief {
        Some(p) => Some(setup::read_brief(p)?),
        None => None,
    };
    let plan: Option<Vec<TaskSpec>> = args.plan.as_deref().map(plan::load).transpose()?;
    let script = args.review.as_deref().map(ReviewScript::load).transpose()?;
    if args.resume.is_none() && brief.is_none() && plan.is_none() {
        bail!(
            "give the job as --brief FILE (tandem plans it) or --plan FILE (your plan), or continue one with --resume"
        );
    }
    let root = setup::open_repo(&args.dir, args.init)?;
    let model = setup::model(&cfg, args.model.as_deref())?;
    let prompts = setup::prompts()?;
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = match &args.resume {
        Some(id) => Engine::resume(
            &root,
            id.as_deref(),
            model,
            prompts,
            setup::settings(&cfg),
            ev_tx,
        )?,
        None => Engine::create(
            &root,
            SessionSetup {
                brief,
                plan,
                allow_dirty: args.allow_dirty,
            },
            model,
            prompts,
            setup::settings(&cfg),
            ev_tx,
        )?,
    };
    let mut out = std::io::stdout();
    headless::drive(
        engine,
        ev_rx,
        script.as_ref(),
        args.auto_accept,
        args.on_conflict,
        args.json,
        &mut out,
    )
    .await
}
