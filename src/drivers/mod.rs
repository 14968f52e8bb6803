//! Commands without a screen: `exec` and the headless `demo` (both run a session through the
//! headless loop, `headless`, which talks to the core through a `CoreHandle` only) and `doctor`
//! (checks set-up; runs no session). The TUI is the driver with a screen (`crate::tui`).
//!
//! Invariants: commands do not import each other. What they share is the headless loop
//! (`headless`), the review script format (`review_script`) and start-up (`crate::setup`).

pub mod demo;
pub mod doctor;
pub mod exec;
pub mod headless;
pub mod review_script;
