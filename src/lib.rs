//! tandem: a terminal pair-work copilot. An LLM drafts each task of a job in a git working
//! directory; a human reviews the diff, comments, and accepts, revises or rejects; accepted work
//! is committed with the review time recorded.
//!
//! The crate is layered; arrows point one way only (see ARCHITECTURE.md):
//! `tui`, `report`, `drivers` → `setup` → `core` → `infra`.

pub mod core;
pub mod drivers;
pub mod infra;
pub mod report;
pub mod setup;
pub mod tui;
