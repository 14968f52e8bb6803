//! Infrastructure: what the core uses to touch the world — git (`gitops`, `diff`), the
//! agent's confined file tools (`tools`) and sandboxed commands (`sandbox`), the model client (`model`), prompts, themes, the
//! user's config and the repository lock.
//!
//! Invariants: nothing in here imports the core, a driver, the TUI or the report; these
//! modules know files, git objects and HTTP, not sessions.

pub mod cache;
pub mod config;
pub mod deliverables;
pub mod diff;
pub mod files;
pub mod gitops;
pub mod knowledge;
pub mod lock;
pub mod model;
pub mod prompts;
pub mod sandbox;
pub mod theme;
pub mod tools;
