//! The diff view shared by review and replay: a flat list of rows (file headers, hunk headers,
//! lines, review threads) with a cursor, drawn unified or side by side, highlighted lazily.
//!
//! Invariants: rows are rebuilt only when the diff, the threads or the layout change, never
//! per frame; drawing touches only the rows on screen, so a 20,000-line diff costs what a screen
//! costs. Highlighting is per hunk and optional: a row draws as plain text until its hunk's
//! highlight arrives, and results for an older diff (`generation`) are dropped. Thread rows are
//! never cursor stops: the cursor is always on a line or a header, so a comment lands on the
//! line the reviewer sees it on.

mod cursor;
mod highlighting;
mod layout;
mod render;
mod rows;
mod threads;

pub use highlighting::{CHUNK, HighlightJob, HunkHighlight};

use crate::core::state::TaskState;
use crate::core::threads::{Author, ThreadRef, ThreadStatus};
use crate::infra::diff::FileDiff;
use crate::tui::highlight::StyledLine;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    File {
        file: usize,
    },
    Hunk {
        file: usize,
        hunk: usize,
    },
    /// A diff line. Unified: one side set (both, with the same index, for context).
    /// Side by side: a removed line paired with an added one.
    Line {
        file: usize,
        hunk: usize,
        left: Option<usize>,
        right: Option<usize>,
    },
    /// A row of a review thread shown under its line (`file` None: above every file, for notes
    /// and threads on files this diff does not show). `part` 0 is the thread's head.
    Thread {
        file: Option<usize>,
        pin: usize,
        part: usize,
    },
    Binary {
        file: usize,
    },
}

/// A review thread as the diff shows it, for one iteration (`pins_for`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    pub key: ThreadRef,
    /// None: a note (about the whole iteration).
    pub path: Option<String>,
    /// The line in this iteration's new file (0 with no line: the file is gone).
    pub line: u32,
    /// Written in this iteration (editable, deletable), not carried over from an earlier one.
    pub mine: bool,
    pub status: ThreadStatus,
    pub outdated: bool,
    pub quote: String,
    pub posts: Vec<(Author, u32, String)>,
}

impl Pin {
    /// Rows it takes: one while it is this iteration's own comment or is resolved, else a
    /// head and one per post.
    fn parts(&self) -> usize {
        if self.mine || self.status == ThreadStatus::Resolved {
            1
        } else {
            1 + self.posts.len()
        }
    }
}

/// The threads of `task` to show with `iteration`: this iteration's own comments, and every
/// thread from an earlier iteration that was carried into this one (placed where its line is
/// now) or is a note still open here. This iteration's own note is not a pin: the note pane
/// shows it.
pub fn pins_for(task: &TaskState, iteration: u32) -> Vec<Pin> {
    task.threads
        .iter()
        .filter(|th| th.key.iteration <= iteration)
        .filter(|th| !(th.key.is_note() && th.key.iteration == iteration))
        .filter_map(|th| {
            let mine = th.key.iteration == iteration;
            let (path, line, outdated) = if th.key.is_note() {
                // A note resolved before this iteration is history, not a thread here.
                let resolved_before = th.resolved
                    && th
                        .posts
                        .iter()
                        .rev()
                        .find(|p| p.by == Author::Resolved)
                        .is_some_and(|p| p.iteration < iteration);
                if resolved_before {
                    return None;
                }
                (None, 0, false)
            } else {
                // Placed in this iteration; an open thread not placed yet (the iteration is
                // being made ready) shows where it last was.
                let a = match th.anchors.get(&iteration) {
                    Some(a) => a,
                    None if !th.resolved => th.anchor_at(iteration)?,
                    None => return None,
                };
                (Some(a.path.clone()), a.line.unwrap_or(0), a.outdated)
            };
            Some(Pin {
                key: th.key,
                path,
                line,
                mine,
                // As things stood when this iteration was drafted: replies made during it count.
                status: th.status(iteration),
                outdated,
                quote: th.quote.clone(),
                posts: th
                    .posts
                    .iter()
                    .filter(|p| p.iteration <= iteration)
                    .map(|p| (p.by, p.iteration, p.text.clone()))
                    .collect(),
            })
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct DiffView {
    pub files: Vec<FileDiff>,
    pub rows: Vec<Row>,
    pub cursor: usize,
    pub scroll: usize,
    pub side_by_side: bool,
    pub generation: u64,
    /// Soft wrap chosen by the reviewer for every file; None: prose files wrap, code does not.
    pub wrap: Option<bool>,
    /// Columns unwrapped lines are scrolled sideways by.
    pub hscroll: usize,
    pins: Vec<Pin>,
    /// Per file, per hunk, per line: the line it is paired with (a removed line with the added
    /// line that replaces it), for marking the words that changed.
    partners: Vec<Vec<Vec<Option<usize>>>>,
    /// Per (file, hunk): highlighted lines by index in the hunk, filled chunk by chunk.
    highlights: HashMap<(usize, usize), Vec<Option<StyledLine>>>,
    requested: HashSet<(usize, usize, usize)>,
}
