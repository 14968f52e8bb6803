//! Drivers without a screen: `exec` (headless, answers from a review script), the scripted
//! `demo`, and `doctor`. Each drives the core through `protocol` only; the TUI is the driver
//! with a screen (`crate::tui`).
//!
//! Invariants: commands do not import each other. What they share is the headless loop
//! (`headless`), the review script format (`review_script`) and start-up (`crate::setup`).

pub mod demo;
pub mod doctor;
pub mod exec;
pub mod headless;
pub mod review_script;
