//! `tandem exec`: checks every input (brief, plan, review script, config, model setup), builds
//! the engine through `setup`, and hands it to the headless loop (`drivers::headless`), which
//! answers from the review script and prints progress.
//!
//! Invariants: everything that can be wrong with the input is reported before any work starts.
//! A brief or plan never starts a second session beside an unfinished one (`Engine::create`
//! refuses and names it), and is never silently dropped in favour of resuming one.

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
    /// `--commands`: the command policy for this run, over the config's.
    pub commands: Option<crate::infra::config::CommandPolicy>,
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
    // A resumed session keeps the job it has: a brief given with --resume would be silently
    // ignored, so it is refused. A plan is taken only by a session whose planning failed.
    if args.resume.is_some() && args.brief.is_some() {
        bail!(
            "--resume continues a session with the job it already has, so --brief cannot go with it; to start a new job instead, drop the unfinished session with `tandem sessions abandon ID` (see `tandem sessions`)"
        );
    }
    let root = setup::open_repo(&args.dir, args.init)?;
    let model = setup::model(&cfg, args.model.as_deref())?;
    let prompts = setup::prompts()?;
    let mut settings = setup::settings(&cfg, &root)?;
    if let Some(policy) = args.commands {
        settings.commands.policy = policy;
    }
    // "ask" in exec: the review script answers (approve_commands); without one nobody can.
    settings.commands.can_ask = script
        .as_ref()
        .is_some_and(|s| !s.approve_commands.is_empty());
    let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = match &args.resume {
        Some(id) => {
            let mut engine = Engine::resume(&root, id.as_deref(), model, prompts, settings, ev_tx)?;
            if let Some(tasks) = plan {
                engine.supply_plan(tasks)?;
            }
            engine
        }
        None => Engine::create(
            &root,
            SessionSetup {
                brief,
                plan,
                allow_dirty: args.allow_dirty,
            },
            model,
            prompts,
            settings,
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
