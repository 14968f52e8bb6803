//! Integration tests: the real binary and the real async-openai path against a fake
//! chat-completions server on loopback. One test binary, so the suite links once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod checker;
mod cli;
mod core_loop;
mod crash;
mod escape;
mod faults;
mod knowledge;
mod lessons;
mod local;
mod pty;
mod replay;
mod report;
mod resume;
mod trust;
mod tui;
mod verified;
