//! The event loop every interactive screen runs on (the live session and the replay), and the
//! link to the core it drives. `EventLoop` is one turn at a time: `settle` draws what changed and
//! carries out the effects the view asked for; `wait` takes the next thing that happens (a key, a
//! core event, a highlight, a tick) and folds it into the view. `event_loop` alternates the two
//! until the view quits; tests call the same two steps and look at the view in between, so what
//! they drive is this loop, not a copy of it.
//!
//! Invariants: the loop never blocks on git, the model or highlighting — those come back as
//! messages — except that the brief screen's start of a session runs on the blocking pool and is
//! awaited as a message too; redraws are coalesced (at most one per `settle`); ops sent while the
//! session is still being opened are kept and sent once it runs; a brief sent before a failed
//! start is in the error, so nothing the user wrote is lost. `wait` is cancel-safe: dropped before
//! it returns, nothing it was waiting for is lost.

use super::app::Effect;
use super::{Host, View, diff_view};
use crate::core::engine::CoreHandle;
use crate::core::protocol::{Event, Op};
use anyhow::Context;
use crossterm::event::Event as TermEvent;
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a view that asks for ticks (a spinner, the review clock) gets one.
pub const TICK: Duration = Duration::from_millis(100);

/// Starts the core once the user has written a brief (the brief screen).
pub type Launcher = Box<dyn FnOnce(String) -> anyhow::Result<CoreHandle> + Send>;

/// The link to the core: running, waiting for a brief, or starting.
pub enum Core {
    Running(CoreHandle),
    NotStarted(Option<Launcher>),
    /// Being opened off the UI thread (the repository checks, the journal, the lock), so the
    /// first frame never waits for a large repository: it becomes one of the others, or its
    /// error ends the loop as an error (as it would have before the terminal was taken).
    Starting(tokio::task::JoinHandle<anyhow::Result<Core>>),
}

impl Core {
    /// Run `start` on the blocking pool; the loop switches to what it returns.
    pub fn starting(start: impl FnOnce() -> anyhow::Result<Core> + Send + 'static) -> Core {
        Core::Starting(tokio::task::spawn_blocking(start))
    }
}

/// The result of a start on the blocking pool, its panic turned into an error that says so.
fn started(joined: Result<anyhow::Result<Core>, tokio::task::JoinError>) -> anyhow::Result<Core> {
    joined.unwrap_or_else(|e| {
        let why = match e.try_into_panic() {
            Ok(p) => p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
            Err(e) => e.to_string(),
        };
        Err(anyhow::anyhow!("the session could not start: {why}"))
    })
}

/// What the core side of the loop brought.
enum FromCore {
    Event(Option<Event>),
    Started(anyhow::Result<Core>),
}

/// Whether the loop goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    GoOn,
    Quit,
}

/// The loop's own state between steps: the core, what is queued for it, the highlights out on
/// the blocking pool.
pub struct EventLoop {
    core: Core,
    hl_tx: mpsc::UnboundedSender<diff_view::HunkHighlight>,
    hl_rx: mpsc::UnboundedReceiver<diff_view::HunkHighlight>,
    tick: tokio::time::Interval,
    dirty: bool,
    effects: Vec<Effect>,
    /// A brief sent while the session was being opened, or being started with.
    waiting_brief: Option<String>,
    /// Ops sent while the session is still being opened (a quit, say): sent once it runs.
    waiting_ops: Vec<Op>,
    /// Highlight jobs on the blocking pool whose results have not come back yet.
    highlighting: usize,
}

impl EventLoop {
    /// A loop on `core` that ticks a view asking for it every `tick`.
    pub fn new(core: Core, tick: Duration) -> EventLoop {
        let (hl_tx, hl_rx) = mpsc::unbounded_channel();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        EventLoop {
            core,
            hl_tx,
            hl_rx,
            tick,
            dirty: true,
            effects: Vec::new(),
            waiting_brief: None,
            waiting_ops: Vec::new(),
            highlighting: 0,
        }
    }

    /// Queue an effect as if the view had asked for it; carried out by the next `settle`.
    pub fn push(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// Highlight jobs out on the blocking pool.
    pub fn highlighting(&self) -> usize {
        self.highlighting
    }

    /// Draw if anything changed and carry out every effect waiting, including those the drawing
    /// and the effects themselves give (highlights of what came into view, the end of an edit).
    pub fn settle<B, V>(
        &mut self,
        terminal: &mut Terminal<B>,
        view: &mut V,
        host: &mut dyn Host,
    ) -> anyhow::Result<Turn>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
        V: View,
    {
        loop {
            if self.dirty {
                terminal.draw(|f| view.draw(f))?;
                self.dirty = false;
                self.effects.extend(view.highlight_visible());
            }
            let mut quit = false;
            while !self.effects.is_empty() {
                for fx in std::mem::take(&mut self.effects) {
                    quit |= self.carry_out(fx, terminal, view, host)?;
                }
            }
            if quit {
                return Ok(Turn::Quit);
            }
            if !self.dirty {
                return Ok(Turn::GoOn);
            }
        }
    }

    /// One effect; true when it is the quit.
    fn carry_out<B, V>(
        &mut self,
        fx: Effect,
        terminal: &mut Terminal<B>,
        view: &mut V,
        host: &mut dyn Host,
    ) -> anyhow::Result<bool>
    where
        B: Backend,
        B::Error: Send + Sync + 'static,
        V: View,
    {
        match fx {
            Effect::Op(op) => match &mut self.core {
                Core::Running(handle) => {
                    handle.submit(op);
                }
                Core::Starting(_) => self.waiting_ops.push(op),
                Core::NotStarted(_) => {}
            },
            Effect::Highlight(job) => {
                let tx = self.hl_tx.clone();
                self.highlighting += 1;
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(job.run());
                });
            }
            Effect::Editor {
                path,
                line,
                task,
                iteration,
                rel,
            } => {
                if let Err(e) = host.run_editor(&path, line) {
                    view.set_status(e);
                }
                redraw_all(terminal)?;
                self.effects
                    .extend(view.editor_closed(task, iteration, rel));
                self.dirty = true;
            }
            Effect::StartSession { brief } => match &mut self.core {
                Core::NotStarted(launcher) => {
                    if let Some(launch) = launcher.take() {
                        // Opening the session checks the tree again: off the UI thread too. A
                        // failure ends the run with the brief in it.
                        self.waiting_brief = Some(brief.clone());
                        self.core = Core::starting(move || launch(brief).map(Core::Running));
                    }
                }
                // Sent before the checks finished: started as soon as they have.
                Core::Starting(_) => self.waiting_brief = Some(brief),
                Core::Running(_) => {}
            },
            Effect::Quit => return Ok(true),
        }
        Ok(false)
    }

    /// Wait for the next thing to happen — keys first, then highlights, then the core, then a
    /// tick — and fold it into the view. Quit: the input ended, or the core stopped while the
    /// view was waiting for that to quit.
    pub async fn wait<V: View>(
        &mut self,
        view: &mut V,
        host: &mut dyn Host,
    ) -> anyhow::Result<Turn> {
        let from_core = async {
            match &mut self.core {
                Core::Running(handle) => FromCore::Event(handle.recv().await),
                Core::Starting(start) => FromCore::Started(started(start.await)),
                Core::NotStarted(_) => std::future::pending().await,
            }
        };
        let turn = tokio::select! {
            biased;
            ev = host.input().next() => match ev {
                Some(Ok(TermEvent::Key(k))) => {
                    self.effects.extend(view.on_key(k));
                    Turn::GoOn
                }
                Some(Ok(TermEvent::Mouse(m))) => {
                    self.effects.extend(view.on_mouse(m.kind));
                    Turn::GoOn
                }
                Some(Ok(_)) => Turn::GoOn,
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => Turn::Quit,
            },
            Some(hl) = self.hl_rx.recv() => {
                self.highlighting = self.highlighting.saturating_sub(1);
                view.on_highlight(hl);
                Turn::GoOn
            }
            next = from_core => match next {
                FromCore::Started(opened) => {
                    self.opened(opened)?;
                    Turn::GoOn
                }
                FromCore::Event(Some(ev)) => {
                    self.effects.extend(view.on_core_event(ev));
                    // Take everything already queued (a stream of deltas) before drawing once.
                    if let Core::Running(handle) = &mut self.core {
                        while let Some(ev) = handle.try_recv() {
                            self.effects.extend(view.on_core_event(ev));
                        }
                    }
                    Turn::GoOn
                }
                FromCore::Event(None) => self.core_ended(view).await,
            },
            _ = self.tick.tick(), if view.needs_tick() => {
                self.effects.extend(view.on_tick());
                Turn::GoOn
            }
        };
        self.dirty = true;
        Ok(turn)
    }

    /// Wait until every highlight out on the blocking pool is back in the view (nothing else is
    /// taken meanwhile): a frame drawn then shows the colours of everything visible.
    pub async fn highlights_back<V: View>(&mut self, view: &mut V) {
        while self.highlighting > 0 {
            match self.hl_rx.recv().await {
                Some(hl) => {
                    self.highlighting -= 1;
                    view.on_highlight(hl);
                    self.dirty = true;
                }
                None => break,
            }
        }
    }

    /// The session finished opening (or failed to).
    fn opened(&mut self, opened: anyhow::Result<Core>) -> anyhow::Result<()> {
        self.core = match opened {
            Ok(c) => c,
            // Nothing the user wrote is lost: a brief sent is in the error. The start's handle
            // is spent: nothing is left to start or to close.
            Err(e) => {
                self.core = Core::NotStarted(None);
                return Err(match self.waiting_brief.take() {
                    Some(brief) => e.context(format!(
                        "the session did not start; the brief you sent was:\n{brief}\n"
                    )),
                    None => e,
                });
            }
        };
        match &mut self.core {
            Core::Running(handle) => {
                self.waiting_brief = None;
                for op in self.waiting_ops.drain(..) {
                    handle.submit(op);
                }
            }
            Core::NotStarted(_) => {
                if let Some(brief) = self.waiting_brief.take() {
                    self.effects.push(Effect::StartSession { brief });
                }
                // A quit pressed while checking: there is no session to stop.
                if self
                    .waiting_ops
                    .drain(..)
                    .any(|op| matches!(op, Op::Shutdown))
                {
                    self.effects.push(Effect::Quit);
                }
            }
            Core::Starting(_) => {}
        }
        Ok(())
    }

    /// The core's events ended. Without a `Stopped` it failed: say why. Cancel-safe: the handle
    /// is only let go of once its result is in.
    async fn core_ended<V: View>(&mut self, view: &mut V) -> Turn {
        let message = if let Core::Running(handle) = &mut self.core {
            match handle.finished().await {
                Err(e) => Some(format!("{e}")),
                Ok(_) => None,
            }
        } else {
            None
        };
        self.core = Core::NotStarted(None);
        let quitting = view.core_stopped();
        if let Some(text) = message {
            view.show_problem(
                "The session stopped",
                format!("{text}\nThe session is saved; run tandem again to resume."),
            );
        }
        if quitting { Turn::Quit } else { Turn::GoOn }
    }

    /// Left while the session was still being opened: let that finish and shut it down here
    /// (the engine stops at a clean point), rather than leave it to the runtime's drop.
    pub async fn close(self) {
        if let Core::Starting(start) = self.core
            && let Ok(Ok(opened)) = start.await
        {
            let _ = tokio::task::spawn_blocking(move || drop(opened)).await;
        }
    }
}

/// Drive the view until it quits. Keys and mouse come from the host, core events from `core`,
/// highlight results from the blocking pool.
pub async fn event_loop<B, V>(
    terminal: &mut Terminal<B>,
    view: &mut V,
    core: Core,
    host: &mut dyn Host,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    V: View,
{
    let mut lp = EventLoop::new(core, TICK);
    let result = async {
        while lp.settle(terminal, view, host)? == Turn::GoOn
            && lp.wait(view, host).await? == Turn::GoOn
        {}
        anyhow::Ok(())
    }
    .await;
    lp.close().await;
    result
}

/// Clear the screen and forget what is on it, so the next frame is drawn whole (after another
/// program used the terminal). Not `Terminal::clear`: that asks the terminal where its cursor
/// is, and a terminal just handed back may not answer in time.
fn redraw_all<B>(terminal: &mut Terminal<B>) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
    Ok(())
}
