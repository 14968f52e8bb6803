//! The terminal's keyboard and mouse, read on a thread of tandem's own that can be stopped for
//! sure before another program (the user's editor) gets the terminal.
//!
//! Why not crossterm's `EventStream`: its reading thread is told to stop by a wake-up that the
//! next reader can consume first. When that happened (a loaded machine, the thread slow to
//! start), the thread went on to block in its read holding crossterm's reader lock, took the
//! first key typed into the editor, and that key was lost (seen as vi losing its `G`).
//!
//! Invariant: after `stop` returns, no tandem thread reads the terminal until `Reader::start`.

use crossterm::event::Event;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the thread waits for input before it looks whether it should stop: the most a
/// hand-over to the editor waits for it.
const TICK: Duration = Duration::from_millis(20);

pub struct Reader {
    events: mpsc::UnboundedReceiver<std::io::Result<Event>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reader {
    pub fn start() -> Reader {
        let (tx, events) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tandem-input".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    // `read` only after `poll` said an event is there: it never blocks, so the
                    // stop flag is seen within one tick.
                    let event = match crossterm::event::poll(TICK) {
                        Ok(true) => crossterm::event::read(),
                        Ok(false) => continue,
                        Err(e) => Err(e),
                    };
                    let failed = event.is_err();
                    if tx.send(event).is_err() || failed {
                        break;
                    }
                }
            })
            .ok();
        Reader {
            events,
            stop,
            thread,
        }
    }

    /// Stop reading and wait until the thread has let go of the terminal.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Stream for Reader {
    type Item = std::io::Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}
