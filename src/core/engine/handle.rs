//! The driver's end of a running engine: one `CoreHandle` owns the op sender, the event
//! receiver and the engine's outcome.
//!
//! Invariants: the engine runs on its own thread with its own single-threaded runtime, so its
//! sequential work (journal fsyncs, git2 calls, file I/O of the tools) never runs on the
//! driver's runtime threads, and a slow git call holds up only the engine, which has nothing
//! else to do meanwhile. Submission ids are unique per handle; refusals carry them back.

use super::{CoreError, Engine, EventRx, OpTx, RunEnd};
use crate::core::protocol::{Event, Op, Submission};
use tokio::sync::{mpsc, oneshot};

pub struct CoreHandle {
    ops: OpTx,
    events: EventRx,
    next_id: u64,
    done: Option<oneshot::Receiver<Result<RunEnd, CoreError>>>,
    /// The engine's thread, joined on drop: the process must not exit while the engine is
    /// half way through a git write.
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start `engine` on its own thread. `events` is the receiving end of the channel given to
/// `Engine::create` or `Engine::resume`.
pub fn start(engine: Engine, events: EventRx) -> CoreHandle {
    let (ops, rx) = mpsc::unbounded_channel();
    let (done_tx, done) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("tandem-core".into())
        .spawn(move || {
            let run = || match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(engine.run(rx)),
                Err(e) => Err(CoreError::Join(format!(
                    "cannot start the core's runtime: {e}"
                ))),
            };
            // A panic becomes an error with its message, for the driver to show.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                .unwrap_or_else(|p| {
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    Err(CoreError::Join(format!("the core failed: {why}")))
                });
            let _ = done_tx.send(result);
        });
    let (done, thread) = match thread {
        Ok(t) => (done, Some(t)),
        Err(e) => {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(CoreError::Join(format!(
                "cannot start the core's thread: {e}"
            ))));
            (rx, None)
        }
    };
    CoreHandle {
        ops,
        events,
        next_id: 1,
        done: Some(done),
        thread,
    }
}

/// A driver that goes away stops the engine and waits for it: a draft is put back and the
/// journal stored, as on `Op::Shutdown`, before the process can exit.
impl Drop for CoreHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.ops.send(Submission {
                id: 0,
                op: Op::Shutdown,
            });
            let _ = thread.join();
        }
    }
}

impl CoreHandle {
    /// A handle on some other server of ops (replay's diff server): `done` says how it ended.
    pub fn from_parts(
        ops: OpTx,
        events: EventRx,
        done: oneshot::Receiver<Result<RunEnd, CoreError>>,
    ) -> CoreHandle {
        CoreHandle {
            ops,
            events,
            next_id: 1,
            done: Some(done),
            thread: None,
        }
    }

    /// Send an op; the returned id is what a refusal of it (`Event::Refused`) carries. An op
    /// sent after the core stopped is dropped: the journal, not the channel, is the record.
    pub fn submit(&mut self, op: Op) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let _ = self.ops.send(Submission { id, op });
        id
    }

    /// The next event, or None once the core is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An event already waiting, without waiting for one.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// How the engine ended. Call once its events have stopped (`Stopped`,
    /// `SessionComplete`, or the channel closed).
    /// Cancel-safe: dropped before it returns, the end can still be read.
    pub async fn finished(&mut self) -> Result<RunEnd, CoreError> {
        let Some(done) = self.done.as_mut() else {
            return Err(CoreError::Join("the core's end was read already".into()));
        };
        let end = done
            .await
            .unwrap_or_else(|_| Err(CoreError::Join("the core stopped unexpectedly".into())));
        self.done = None;
        end
    }
}
