//! The terminal UI (being written).
pub mod highlight;
