//! The terminal UI: one more driver of the core. `run` sets up the terminal and the core; the
//! loop itself (`event_loop`) is generic over the backend and takes its input from a `Host`, so
//! tests drive it with a `TestBackend` and scripted keys.
//!
//! Invariant: the terminal is restored on every exit path (a drop guard, plus a panic hook for
//! panics), and is read by nothing of tandem's while another program (the editor) has it.

pub mod app;
pub mod clock;
pub mod diff_text;
pub mod diff_view;
pub mod editor;
mod event_loop;
pub mod highlight;
mod input;
pub mod keymap;
pub mod replay;
pub mod ui;

use crate::core::engine::{self, Engine, EngineSettings, SessionSetup};
use crate::infra::config::Config;
use crate::infra::model::ModelClient;
use crate::infra::prompts::Prompts;
use crate::infra::theme::Theme;
use crate::setup;
use anyhow::{Context, bail};
use app::{App, Effect};
use clock::SystemTime;
use crossterm::event::Event as TermEvent;
pub use event_loop::{Core, EventLoop, Launcher, TICK, Turn, event_loop};
use futures_util::Stream;
use keymap::Keymap;
use ratatui::Terminal;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// A screen the event loop can drive: the live session (`App`) or a replay.
pub trait View {
    fn draw(&mut self, f: &mut ratatui::Frame);
    fn on_key(&mut self, key: crossterm::event::KeyEvent) -> Vec<Effect>;
    fn on_mouse(&mut self, kind: crossterm::event::MouseEventKind) -> Vec<Effect>;
    fn on_core_event(&mut self, ev: crate::core::protocol::Event) -> Vec<Effect>;
    fn on_tick(&mut self) -> Vec<Effect>;
    fn needs_tick(&self) -> bool;
    fn highlight_visible(&mut self) -> Vec<Effect>;
    fn on_highlight(&mut self, hl: diff_view::HunkHighlight);
    fn editor_closed(&mut self, _task: usize, _iteration: u32, _rel: String) -> Vec<Effect> {
        Vec::new()
    }
    /// Something went wrong outside the view; show it.
    fn show_problem(&mut self, title: &str, text: String);
    fn set_status(&mut self, text: String);
    /// The core is gone. True when the view was waiting for that to quit.
    fn core_stopped(&mut self) -> bool;
}

impl View for App {
    fn draw(&mut self, f: &mut ratatui::Frame) {
        ui::draw(self, f)
    }
    fn on_key(&mut self, key: crossterm::event::KeyEvent) -> Vec<Effect> {
        App::on_key(self, key)
    }
    fn on_mouse(&mut self, kind: crossterm::event::MouseEventKind) -> Vec<Effect> {
        App::on_mouse(self, kind)
    }
    fn on_core_event(&mut self, ev: crate::core::protocol::Event) -> Vec<Effect> {
        App::on_core_event(self, ev)
    }
    fn on_tick(&mut self) -> Vec<Effect> {
        App::on_tick(self)
    }
    fn needs_tick(&self) -> bool {
        App::needs_tick(self)
    }
    fn highlight_visible(&mut self) -> Vec<Effect> {
        App::highlight_visible(self)
    }
    fn on_highlight(&mut self, hl: diff_view::HunkHighlight) {
        App::on_highlight(self, hl)
    }
    fn editor_closed(&mut self, task: usize, iteration: u32, rel: String) -> Vec<Effect> {
        App::editor_closed(self, task, iteration, rel)
    }
    fn show_problem(&mut self, title: &str, text: String) {
        self.popup = Some(app::Popup::Message {
            title: title.to_string(),
            text,
        });
    }
    fn set_status(&mut self, text: String) {
        self.status = Some(text);
    }
    fn core_stopped(&mut self) -> bool {
        self.stopped = true;
        self.quitting
    }
}

/// Terminal events as the loop reads them.
pub type Input = dyn Stream<Item = std::io::Result<TermEvent>> + Unpin;

/// What the loop needs from its surroundings besides drawing: the terminal's input, and a way
/// to hand the whole terminal to another program. The host owns the input because handing
/// the terminal over means *not reading it* meanwhile.
pub trait Host {
    /// Keys, mouse and resizes.
    fn input(&mut self) -> &mut Input;
    /// Run the user's editor on a file, the terminal handed over to it meanwhile.
    fn run_editor(&mut self, path: &Path, line: Option<u32>) -> Result<(), String>;
}

/// Restores the terminal when dropped, whatever the exit path.
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> std::io::Result<TerminalGuard> {
        take_terminal()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        Ok(TerminalGuard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn take_terminal() -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::event::EnableMouseCapture
    )
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = crossterm::terminal::disable_raw_mode();
}

/// The real host: reads the terminal on a thread of its own (`input::Reader`) and suspends
/// the UI for `$VISUAL`/`$EDITOR`.
#[derive(Default)]
pub struct TerminalHost {
    /// `None` while another program has the terminal; made again on the next read.
    events: Option<input::Reader>,
}

impl TerminalHost {
    /// Stop reading the terminal, and wait until nothing of tandem's reads it: a reader left
    /// running takes the editor's keystrokes, and any cursor-position query times out.
    fn stop_reading(&mut self) {
        if let Some(reader) = self.events.take() {
            reader.stop();
        }
    }
}

impl Host for TerminalHost {
    fn input(&mut self) -> &mut Input {
        self.events.get_or_insert_with(input::Reader::start)
    }

    fn run_editor(&mut self, path: &Path, line: Option<u32>) -> Result<(), String> {
        let editor = editor_command().ok_or("set $EDITOR (or $VISUAL) to edit files by hand")?;
        self.stop_reading();
        restore_terminal();
        let status = editor_process(&editor, path, line).status();
        // Keys typed for the editor after it quit must not reach the review screen.
        let _ = take_terminal();
        while crossterm::event::poll(Duration::ZERO).unwrap_or(false) {
            let _ = crossterm::event::read();
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("the editor exited with {s}")),
            Err(e) => Err(format!("cannot run `{editor}`: {e}")),
        }
    }
}

pub fn editor_command() -> Option<String> {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
}

/// `$EDITOR +LINE FILE`, in the dialect of the editors that want it another way.
pub fn editor_process(editor: &str, path: &Path, line: Option<u32>) -> std::process::Command {
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let mut cmd = std::process::Command::new(program);
    cmd.args(parts);
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match (name.as_str(), line) {
        ("hx" | "helix", Some(l)) => {
            cmd.arg(format!("{}:{l}", path.display()));
        }
        ("code" | "codium" | "subl", Some(l)) => {
            cmd.arg("-g").arg(format!("{}:{l}", path.display()));
        }
        (_, Some(l)) => {
            cmd.arg(format!("+{l}")).arg(path);
        }
        (_, None) => {
            cmd.arg(path);
        }
    }
    cmd
}

/// Options of the interactive command.
#[derive(Debug, Default, Clone)]
pub struct TuiArgs {
    pub dir: PathBuf,
    pub brief: Option<PathBuf>,
    pub plan: Option<PathBuf>,
    pub theme: Option<String>,
    pub model: Option<String>,
    pub allow_dirty: bool,
}

pub fn load_theme(cfg: &Config, cli: Option<&str>) -> anyhow::Result<Theme> {
    let dir = crate::infra::config::config_dir();
    Ok(Theme::load(cli.or(cfg.theme.as_deref()), dir.as_deref())?)
}

/// `tandem` in a repository: resume its unfinished session, or start one. Given a job
/// (`--brief`/`--plan`) while a session is unfinished, it asks first — resume that session,
/// abandon it and start the job, or quit — on the plain terminal, before taking it over.
pub async fn run(args: TuiArgs) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            "the interactive UI needs a terminal; for scripts use `tandem exec` (see tandem exec --help)"
        );
    }
    let cfg = Config::load()?;
    let theme = load_theme(&cfg, args.theme.as_deref())?;
    let keymap = Keymap::with_overrides(&cfg.keys)?;
    let brief = args.brief.as_deref().map(setup::read_brief).transpose()?;
    let plan = args
        .plan
        .as_deref()
        .map(crate::core::plan::load)
        .transpose()?;
    let root = match setup::find_repo(&args.dir)? {
        Some(root) => root,
        None => offer_git_init(&args.dir)?,
    };
    let model = setup::model(&cfg, args.model.as_deref())?;
    let prompts = setup::prompts()?;
    let mut settings = setup::settings(&cfg, &root)?;
    // Someone is at the terminal: commands.policy = "ask" shows each command and asks.
    settings.commands.can_ask = true;
    // The session `tandem exec --resume` would continue, and where it stands.
    let unfinished = crate::core::sessions::list(&root)?
        .into_iter()
        .find(|l| l.resumable())
        .map(|l| {
            let stood = l.readable().map(|s| s.progress.clone()).unwrap_or_default();
            (l.id, stood)
        });
    let mut resume = None;
    let mut abandoned = None;
    if let Some((id, stood)) = unfinished {
        if brief.is_none() && plan.is_none() {
            resume = Some(id);
        } else {
            // A job given beside an unfinished session is neither dropped in silence nor
            // started beside it: the user chooses.
            let job = if brief.is_some() { "brief" } else { "plan" };
            match ask_about_unfinished_on_terminal(&id, &stood, job)? {
                UnfinishedChoice::Resume => resume = Some(id),
                UnfinishedChoice::Quit => {
                    eprintln!(
                        "tandem: nothing done; session {id} is still unfinished (`tandem` continues it)."
                    );
                    return Ok(0);
                }
                UnfinishedChoice::Abandon => {
                    abandon_for_new_job(&root, &id)?;
                    abandoned = Some(id);
                }
            }
        }
    }
    let mut app = App::new(keymap, theme, Box::new(SystemTime), idle_limit(&cfg));
    app.editor_available = editor_command().is_some();
    let core = start_core(
        &root,
        resume,
        brief,
        plan,
        args.allow_dirty,
        model,
        prompts,
        settings,
        abandoned,
        &mut app,
    );
    interactive(&mut app, core).await?;
    eprintln!("{}", farewell(&app, &root));
    Ok(0)
}

/// What the terminal says when the TUI closes: where the session stands, and nothing that is
/// not so (no "saved" when nothing started); a brief written but never sent is printed whole,
/// so closing the brief screen loses none of it.
pub fn farewell(app: &App, root: &Path) -> String {
    if app.state.session.is_empty() {
        return match &app.screen {
            app::Screen::Brief(b) if !b.text.trim().is_empty() => format!(
                "tandem: nothing was started; the brief you wrote was not sent:\n{}",
                b.text.trim_end()
            ),
            _ => "tandem: nothing was started.".into(),
        };
    }
    if app.state.finished || app.state.abandoned() {
        return format!(
            "tandem: session {} is finished; `tandem report` in {} writes its report, `tandem sessions` lists them.",
            app.state.session,
            root.display()
        );
    }
    format!(
        "tandem: session {} saved in {}; run `tandem` here to continue, `tandem sessions` to list.",
        app.state.session,
        root.display()
    )
}

/// The answer to "an unfinished session exists" when a new job is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnfinishedChoice {
    Resume,
    Abandon,
    Quit,
}

/// Ask on the plain terminal (stdin, stderr) what to do about the unfinished session `id`.
/// Without a terminal to ask on, refuse with the ways out, as `tandem exec` does.
fn ask_about_unfinished_on_terminal(
    id: &str,
    stood: &str,
    job: &str,
) -> anyhow::Result<UnfinishedChoice> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "session {id} in this repository is unfinished ({stood}), and this {job} would start another beside it. Continue it with `tandem` (without --brief or --plan), or drop it with `tandem sessions abandon {id}` and start again"
        );
    }
    let mut input = stdin.lock();
    let mut out = std::io::stderr();
    Ok(ask_about_unfinished(&mut input, &mut out, id, stood, job)?)
}

/// The question itself, asked until it gets an answer; the end of input counts as quit.
fn ask_about_unfinished(
    input: &mut dyn std::io::BufRead,
    out: &mut dyn std::io::Write,
    id: &str,
    stood: &str,
    job: &str,
) -> std::io::Result<UnfinishedChoice> {
    writeln!(out, "An unfinished session {id} ({stood}) exists.")?;
    loop {
        write!(
            out,
            "[r]esume it, [a]bandon it and start this {job}, or [q]uit? "
        )?;
        out.flush()?;
        let mut answer = String::new();
        if input.read_line(&mut answer)? == 0 {
            writeln!(out)?;
            return Ok(UnfinishedChoice::Quit);
        }
        match answer.trim().to_ascii_lowercase().as_str() {
            "r" | "resume" => return Ok(UnfinishedChoice::Resume),
            "a" | "abandon" => return Ok(UnfinishedChoice::Abandon),
            "q" | "quit" => return Ok(UnfinishedChoice::Quit),
            _ => writeln!(out, "Answer r, a or q.")?,
        }
    }
}

/// Abandon session `id` so a new job can start, through the core and never by force: while
/// the agent's uncommitted changes are in the working tree it is refused, and nothing is done.
fn abandon_for_new_job(root: &Path, id: &str) -> anyhow::Result<()> {
    match engine::abandon(root, id, false) {
        Ok(_) => Ok(()),
        Err(e @ engine::CoreError::AgentChanges { .. }) => bail!(
            "{e} (`tandem sessions abandon {id} --force`). Nothing was done; `tandem` alone continues the session"
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot abandon session {id}"))),
    }
}

pub fn idle_limit(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.review_idle_seconds.unwrap_or(120).max(5))
}

/// The core for this run, started off the UI thread (`Core::starting`): opening a session
/// checks the whole working tree, which in a large repository takes longer than a frame.
#[allow(clippy::too_many_arguments)]
fn start_core(
    root: &Path,
    resume: Option<String>,
    brief: Option<String>,
    plan: Option<Vec<crate::core::plan::TaskSpec>>,
    allow_dirty: bool,
    model: ModelClient,
    prompts: Prompts,
    settings: EngineSettings,
    abandoned: Option<String>,
    app: &mut App,
) -> Core {
    let (tx, rx) = mpsc::unbounded_channel();
    let root = root.to_path_buf();
    if let Some(id) = resume {
        return Core::starting(move || {
            let engine = Engine::resume(&root, Some(&id), model, prompts, settings, tx)?;
            Ok(Core::Running(engine::start(engine, rx)))
        });
    }
    if brief.is_some() || plan.is_some() {
        return Core::starting(move || {
            let engine = Engine::create(
                &root,
                SessionSetup {
                    brief,
                    plan,
                    allow_dirty,
                },
                model,
                prompts,
                settings,
                tx,
            )
            .map_err(|e| match &abandoned {
                Some(old) => anyhow::Error::new(e).context(format!(
                    "session {old} was abandoned, but the new session could not start"
                )),
                None => anyhow::Error::new(e),
            })?;
            Ok(Core::Running(engine::start(engine, rx)))
        });
    }
    // No job yet: ask for the brief at once, and check meanwhile what can be checked now (the
    // same checks a session start makes); a failed check ends the run with its sentence.
    app.ask_for_brief();
    Core::starting(move || {
        engine::preflight(&root, allow_dirty)?;
        let launch: Launcher = Box::new(move |brief: String| {
            let engine = Engine::create(
                &root,
                SessionSetup {
                    brief: Some(brief),
                    plan: None,
                    allow_dirty,
                },
                model,
                prompts,
                settings,
                tx,
            )?;
            Ok(engine::start(engine, rx))
        });
        Ok(Core::NotStarted(Some(launch)))
    })
}

/// Run the app on the real terminal.
pub async fn interactive(app: &mut App, core: Core) -> anyhow::Result<()> {
    let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = Terminal::new(backend)?;
    terminal.clear()?;
    // Load the syntax sets off the UI thread, so the first diff does not wait for them.
    tokio::task::spawn_blocking(highlight::warm_up);
    let result = event_loop(&mut terminal, app, core, &mut TerminalHost::default()).await;
    drop(guard);
    result
}

fn offer_git_init(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    eprint!(
        "{} is not a git repository. tandem commits accepted work with git.\nRun `git init` here? [y/N] ",
        dir.display()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        crate::infra::gitops::init(dir)?;
        Ok(dir.canonicalize()?)
    } else {
        bail!("nothing done; run tandem inside a git repository (or answer y to create one)")
    }
}

/// `tandem demo` on a terminal: the whole loop with the scripted model and a tutor line.
pub async fn demo() -> anyhow::Result<i32> {
    let cfg = Config::load().unwrap_or_default();
    let theme = load_theme(&cfg, None).or_else(|_| Theme::load(None, None))?;
    let dir = setup::demo_repo(&std::env::temp_dir())?;
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = setup::demo_engine(&dir, Duration::from_millis(40), tx)?;
    let handle = engine::start(engine, rx);
    let mut app = App::new(
        Keymap::default(),
        theme,
        Box::new(SystemTime),
        Duration::from_secs(120),
    );
    app.tutor = true;
    app.editor_available = editor_command().is_some();
    interactive(&mut app, Core::Running(handle)).await?;
    println!(
        "The demo repository is at {}\n  cd {} && git log      — the commits, with review time in their trailers\n  tandem replay -C {}    — watch the session again, step by step\n  tandem report -C {}    — the report you would send a client\nUse tandem on your own work: cd your-repo && tandem --brief brief.md",
        dir.display(),
        dir.display(),
        dir.display(),
        dir.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {

    fn app() -> App {
        App::new(
            Keymap::default(),
            Theme::load(Some("dark"), None).unwrap(),
            Box::new(clock::ManualTime::new()),
            Duration::from_secs(120),
        )
    }

    /// Closing the brief screen loses nothing and claims nothing: the unsent brief is printed
    /// whole, and no "saved" is said of a session that never started.
    #[test]
    fn the_farewell_says_where_things_stand() {
        let root = Path::new("/work/client");
        let mut a = app();
        a.ask_for_brief();
        assert_eq!(farewell(&a, root), "tandem: nothing was started.");
        if let app::Screen::Brief(b) = &mut a.screen {
            b.text = "Make the invoice PDF\nwith the new logo\n".into();
        }
        let said = farewell(&a, root);
        assert!(
            said.contains("not sent") && said.ends_with("Make the invoice PDF\nwith the new logo"),
            "{said}"
        );
        a.state.session = "20261202-010203-abcd".into();
        a.state.brief = Some("Make the invoice PDF".into());
        let said = farewell(&a, root);
        assert!(
            said.contains("saved in /work/client") && said.contains("continue"),
            "{said}"
        );
        a.state.finished = true;
        let said = farewell(&a, root);
        assert!(
            said.contains("is finished") && !said.contains("continue"),
            "{said}"
        );
    }

    use super::*;

    fn ask(typed: &str) -> (UnfinishedChoice, String) {
        let mut input = std::io::Cursor::new(typed.as_bytes().to_vec());
        let mut out = Vec::new();
        let choice = ask_about_unfinished(
            &mut input,
            &mut out,
            "s-1",
            "awaiting review of task 1, iteration 1",
            "brief",
        )
        .unwrap();
        (choice, String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_question_names_the_session_and_where_it_stood() {
        let (choice, said) = ask("a\n");
        assert_eq!(choice, UnfinishedChoice::Abandon);
        assert_eq!(
            said,
            "An unfinished session s-1 (awaiting review of task 1, iteration 1) exists.\n\
             [r]esume it, [a]bandon it and start this brief, or [q]uit? "
        );
        assert_eq!(ask("r\n").0, UnfinishedChoice::Resume);
        assert_eq!(ask(" Q \n").0, UnfinishedChoice::Quit);
        assert_eq!(ask("resume\n").0, UnfinishedChoice::Resume);
    }

    #[test]
    fn anything_else_asks_again_and_the_end_of_input_quits() {
        let (choice, said) = ask("\nyes\na\n");
        assert_eq!(choice, UnfinishedChoice::Abandon);
        assert_eq!(said.matches("Answer r, a or q.").count(), 2, "{said}");
        assert_eq!(said.matches("[q]uit? ").count(), 3, "{said}");
        assert_eq!(ask("").0, UnfinishedChoice::Quit);
        assert_eq!(ask("x").0, UnfinishedChoice::Quit);
    }
}
