//! Integration tests: the real binary and the real async-openai path against a fake
//! chat-completions server on loopback. One test binary, so the suite links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod cli;
mod core_loop;
mod escape;
mod pty;
mod replay;
mod resume;
mod tui;
