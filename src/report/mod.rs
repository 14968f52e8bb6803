//! Session reports and timesheets: `tandem report`.
//!
//! A report is computed from a session's journal alone: `build` folds a `SessionState` (and the
//! entries it came from) into a `SessionReport`. Two audiences read it: the client
//! (`client_report`: Markdown, HTML and a plain-text milestone, with no models or tokens) and
//! the freelancer (`--for me`: the detailed log in Markdown or HTML). JSON is for other tools;
//! timesheets (`blocks`, `csv`) are for invoicing and time-tracking tools.
//!
//! Invariants:
//! - `build` and the renderers do no I/O and give the same output for the same input (the public
//!   renderers show times in the machine's local zone; the `*_in` variants take the zone), so a
//!   report made in a clone of the repository equals one made where the work happened.
//! - Seconds are rounded exactly as the commit trailers round them (`(ms + 500) / 1000` per task),
//!   so `review_seconds` of a task is its `Tandem-Review-Seconds`.
//! - Timesheet rows are work blocks (`blocks.rs`), and rounding each row on its own would let the
//!   total drift from what the commits record. Each row's amount is therefore apportioned by
//!   largest remainder from the sheet's total (per activity) down to tasks and then to blocks, in
//!   the unit the sheet is written in, so a whole sheet adds up to the tasks' trailer seconds.
//!   The client report's h:mm per task is apportioned the same way, per activity, so its total
//!   is the total of a timesheet in minutes.
//! - `SessionReport` is the JSON schema. `schema_version` changes when a field is renamed,
//!   removed or changes meaning; adding a field does not change it.
//! - Every piece of user text (brief, titles, criteria, summaries) is escaped for the format it is
//!   written into; nothing a model or a client wrote can add markup or a CSV column.

use crate::core::Decision;
use crate::core::journal::{Entry, JournalEvent, PlanSource, TimeKind};
use crate::core::state::{SessionState, TaskState, TaskStatus};
use crate::infra::config::Price;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Version of the JSON shape; see the module invariants for when it changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Git(#[from] crate::infra::gitops::GitError),
    #[error(transparent)]
    Journal(#[from] crate::core::journal::JournalError),
    #[error(transparent)]
    Core(#[from] crate::core::engine::CoreError),
    #[error(
        "no tandem sessions in {0}{1}: a report is written from a session's journal. Start one with `tandem` (or `tandem exec`), or see `tandem sessions`"
    )]
    NoSessions(String, String),
    #[error(transparent)]
    Sessions(#[from] crate::core::sessions::SessionsError),
    #[error("session {session} started on {date}, outside {range}")]
    OutOfRange {
        session: String,
        date: String,
        range: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A setting the report or timesheet needs, named with where to set it.
    #[error("{0}")]
    Missing(String),
    /// Flags that do not go together, or a task that is not there.
    #[error("{0}")]
    Usage(String),
    #[error("report template {file}: {message}")]
    Template { file: String, message: String },
    #[error("cannot write the timesheet: {0}")]
    Csv(#[from] ::csv::Error),
    #[error(transparent)]
    Config(#[from] crate::infra::config::ConfigError),
}

mod blocks;
mod cache;
mod cli;
mod client;
mod client_html;
mod csv;
mod html;
mod markdown;
mod model;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_client;
mod wording;

pub use blocks::*;
pub use cli::*;
pub use client::*;
pub use client_html::*;
pub use csv::*;
pub use html::*;
pub use markdown::*;
pub use model::*;
use wording::*;
