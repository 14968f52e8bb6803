//! The core: the session's domain and the engine that runs it. Drivers (the TUI, `exec`,
//! replay, the demo) run a session only through `engine::start` and its `CoreHandle` (`Op`s in,
//! `Event`s out), and read sessions through the pure modules (`state`, `describe`, `sessions`,
//! `history`); the core reaches the outside world only through `infra`.
//!
//! Invariants: nothing in here imports a driver, the TUI or the report. Domain state changes
//! only by appending a `journal` event and folding it with `state`'s pure reducer.

pub mod describe;
pub mod engine;
pub mod history;
pub mod journal;
pub mod plan;
pub mod protocol;
pub mod sessions;
pub mod state;
pub mod threads;

pub use journal::Decision;
