//! The `tandem` command line: parses arguments, picks a driver, and turns every error into a
//! plain sentence with a non-zero exit code (never a panic or a backtrace).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "Pair-work copilot: an LLM drafts each task, you review the diff, tandem commits what you accept."
)]
struct Cli {
    /// Work in this directory instead of the current one.
    #[arg(short = 'C', long = "dir", global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Interactive: start a new session from this brief (beside an unfinished session, tandem
    /// asks: resume it, abandon it for this brief, or quit). Without it the unfinished session
    /// resumes, or you write the brief in the app.
    #[arg(long, value_name = "FILE")]
    brief: Option<PathBuf>,
    /// Interactive: start a new session with this plan (TOML `[[task]]` tables).
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Colour theme: dark, light, or one of yours in the config dir's themes/.
    #[arg(long, global = true)]
    theme: Option<String>,
    /// The model name (else TANDEM_MODEL, else the config file).
    #[arg(long = "model", value_name = "NAME")]
    tui_model: Option<String>,
    /// Interactive: start even with uncommitted changes to tracked files.
    #[arg(long)]
    allow_dirty: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job headless: plan, draft every task, and review from a script.
    Exec {
        /// The job brief (Markdown or text); the planner model splits it into tasks.
        #[arg(long, value_name = "FILE")]
        brief: Option<PathBuf>,
        /// Your own plan (TOML `[[task]]` tables); skips the planner.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Review decisions (TOML `[[decision]]` tables); the k-th for a task answers its k-th draft.
        #[arg(long, value_name = "FILE")]
        review: Option<PathBuf>,
        /// Accept each first draft that the review script does not answer.
        #[arg(long)]
        auto_accept: bool,
        /// Continue a session (the newest unfinished one if no id is given).
        #[arg(long, value_name = "SESSION", num_args = 0..=1, default_missing_value = "")]
        resume: Option<String>,
        /// Start even with uncommitted changes to tracked files (they are kept as they are).
        #[arg(long)]
        allow_dirty: bool,
        /// Run `git init` if the directory is not a repository.
        #[arg(long)]
        init: bool,
        /// Print every core event as a JSON line instead of text.
        #[arg(long)]
        json: bool,
        /// The model name (else TANDEM_MODEL, else the config file).
        #[arg(long)]
        model: Option<String>,
        /// When a reject or an undone draft finds files you changed since tandem wrote them:
        /// keep yours, take tandem's (yours stay saved under refs/tandem/), or keep both
        /// (yours as FILE.mine). Without it, exec stops and lists them (exit code 1).
        #[arg(long, value_name = "CHOICE", value_parser = ["keep-mine", "take", "keep-both"])]
        on_conflict: Option<String>,
        /// Whether the drafter may run commands (sandboxed): never, or allow (optionally
        /// narrowed by `commands.allow` in the config). Without it, the config decides; its
        /// default `ask` offers commands only where someone can answer, which exec cannot.
        #[arg(long, value_name = "POLICY", value_parser = ["never", "allow"])]
        commands: Option<String>,
    },
    /// List this repository's sessions and their state (or abandon one).
    Sessions {
        #[command(subcommand)]
        action: Option<SessionsAction>,
    },
    /// Report on sessions: for the client or for you (md, html), a milestone text (text), for tools (json), or a timesheet for Toggl Track, Harvest or Clockify (csv).
    Report(tandem::report::ReportArgs),
    /// Check git, the repository, config, the model endpoint and the model's tool calling, and
    /// say what to fix (exit code 1 if anything failed).
    Doctor {
        /// The model to check (else TANDEM_MODEL, else the config file).
        #[arg(long)]
        model: Option<String>,
    },
    /// Replay a session's history: timeline, diffs as the reviewer saw them, times per cycle.
    Replay {
        /// The session (default: the newest).
        session: Option<String>,
        /// Print the timeline as text instead of opening the replay view.
        #[arg(long)]
        print: bool,
    },
    /// Try tandem in a throwaway repository with a built-in scripted model (no API key needed).
    Demo {
        /// Run without the interactive UI, narrating each step (the default without a terminal).
        #[arg(long)]
        headless: bool,
    },
}

#[derive(Subcommand)]
enum SessionsAction {
    /// Drop an unfinished session, so `tandem` and `tandem exec --brief` start a new one
    /// instead of resuming it. Nothing in the working tree is changed or deleted; the session
    /// stays listed and can still be replayed and reported.
    Abandon {
        /// The session's id (see `tandem sessions`).
        session: String,
        /// Abandon it even while the agent's uncommitted changes are in the working tree (they
        /// are left there as they are).
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    // `tandem __sandbox …`: the command launcher (src/infra/sandbox.rs), not a user command.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == tandem::infra::sandbox::LAUNCHER_ARG)
    {
        return ExitCode::from(tandem::infra::sandbox::launcher_main(&args[2..]) as u8);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tandem: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code as u8),
        // A reader that went away (`tandem replay --print | head`) is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let said = tandem::infra::model::redact::Redactor::global().redact(&sentence(&e));
            eprintln!("tandem: {}", tandem::infra::tools::clean_text(&said));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as one readable message.
fn sentence(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}

/// What `tandem sessions abandon` did, in words: above all, that the working tree was left as
/// it was, and how to discard what the agent left in it.
fn abandoned_words(session: &str, done: &tandem::core::engine::Abandoned) -> String {
    use tandem::core::engine::Abandoned;
    let left = match done {
        Abandoned::Already => {
            return format!("session {session} was abandoned already; nothing changed\n");
        }
        Abandoned::Now { left } => left,
    };
    let mut s = format!(
        "abandoned session {session}: `tandem` and `tandem exec --brief` now start a new session \
         (this one stays in `tandem sessions`, `tandem replay` and `tandem report`).\n\
         The working tree was left as it is.\n"
    );
    if !left.is_empty() {
        s.push_str("These files still hold the agent's uncommitted changes:\n");
        for f in left {
            let new = if f.new { " (new file)" } else { "" };
            s.push_str(&format!("  {}{new}\n", f.path));
        }
        s.push_str(
            "See them with `git status` and `git diff`. To discard them: \
             `git restore --staged --worktree -- FILE` puts a tracked file back as it is in HEAD \
             (dropping any change of yours in it too), and a new file can simply be deleted.\n",
        );
    }
    s
}

// Long: one arm per subcommand, each a call into its driver.
async fn run(cli: Cli) -> anyhow::Result<i32> {
    let dir = match cli.dir {
        Some(d) => d,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    match cli.command {
        Some(Command::Exec {
            brief,
            plan,
            review,
            auto_accept,
            resume,
            allow_dirty,
            init,
            json,
            model,
            on_conflict,
            commands,
        }) => {
            let on_conflict = on_conflict
                .map(|c| serde_json::from_value(serde_json::Value::String(c)))
                .transpose()?;
            tandem::drivers::exec::exec(tandem::drivers::exec::ExecArgs {
                on_conflict,
                dir,
                brief,
                plan,
                review,
                auto_accept,
                resume: resume.map(|s| (!s.is_empty()).then_some(s)),
                allow_dirty,
                init,
                json,
                model,
                commands: commands
                    .map(|c| c.parse())
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
            })
            .await
        }
        Some(Command::Replay { session, print }) => {
            let root = tandem::setup::open_repo(&dir, false)?;
            if print {
                tandem::tui::replay::print(&root, session.as_deref(), &mut std::io::stdout())
            } else {
                tandem::tui::replay::run(&root, session.as_deref(), cli.theme.as_deref()).await
            }
        }
        Some(Command::Doctor { model }) => {
            let mut out = std::io::stdout();
            tandem::drivers::doctor::run(&dir, model.as_deref(), &mut out).await
        }
        Some(Command::Report(mut args)) => {
            args.dir = dir;
            tandem::report::run(args)
        }
        Some(Command::Sessions {
            action: Some(SessionsAction::Abandon { session, force }),
        }) => {
            let root = tandem::setup::open_repo(&dir, false)?;
            let done = tandem::core::engine::abandon(&root, &session, force)?;
            print!("{}", abandoned_words(&session, &done));
            Ok(0)
        }
        Some(Command::Sessions { action: None }) => {
            let root = tandem::setup::open_repo(&dir, false)?;
            let sessions = tandem::core::sessions::list(&root)?;
            if sessions.is_empty() {
                println!("no tandem sessions in {}", root.display());
            }
            for l in &sessions {
                println!("{}  {}", l.id, l.describe());
            }
            Ok(0)
        }
        Some(Command::Demo { headless }) => {
            use std::io::IsTerminal;
            if headless || !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                let mut out = std::io::stdout();
                tandem::drivers::demo::run_headless(&mut out, std::time::Duration::ZERO).await?;
                Ok(0)
            } else {
                tandem::tui::demo().await
            }
        }
        None => {
            tandem::tui::run(tandem::tui::TuiArgs {
                dir,
                brief: cli.brief,
                plan: cli.plan,
                theme: cli.theme,
                model: cli.tui_model,
                allow_dirty: cli.allow_dirty,
            })
            .await
        }
    }
}
