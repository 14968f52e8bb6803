#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
//! Shared helpers for the integration tests.

pub mod fake_openai;
