//! Review threads: every comment and every iteration note opens a thread that lives across a
//! task's iterations. The agent answers each one by its label when it finishes a revision; the
//! reviewer resolves, re-opens or answers it; each new iteration re-anchors it to where its line
//! now is, or marks it outdated.
//!
//! Invariants: threads are built only from journal events by `state`'s pure reducer (this module
//! holds the types and the pure rules: status, labels, re-anchoring); a thread's label
//! (`c1.2`, `n1`) never changes, so the agent, the journal, replay and reports all name it
//! the same way.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which thread: the iteration it was opened in and the comment's id there (0: that
/// iteration's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ThreadRef {
    pub iteration: u32,
    pub id: u32,
}

impl ThreadRef {
    pub fn comment(iteration: u32, id: u32) -> ThreadRef {
        ThreadRef { iteration, id }
    }
    pub fn note(iteration: u32) -> ThreadRef {
        ThreadRef { iteration, id: 0 }
    }
    pub fn is_note(&self) -> bool {
        self.id == 0
    }
}

impl fmt::Display for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_note() {
            write!(f, "n{}", self.iteration)
        } else {
            write!(f, "c{}.{}", self.iteration, self.id)
        }
    }
}

impl From<ThreadRef> for String {
    fn from(r: ThreadRef) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for ThreadRef {
    type Error = String;
    fn try_from(s: String) -> Result<ThreadRef, String> {
        s.parse()
    }
}

impl std::str::FromStr for ThreadRef {
    type Err = String;
    fn from_str(s: &str) -> Result<ThreadRef, String> {
        let bad =
            || format!("`{s}` is not a thread label (like c1.2 for a comment, n1 for a note)");
        let s = s.trim().trim_start_matches('#');
        if let Some(n) = s.strip_prefix('n') {
            let iteration: u32 = n.parse().map_err(|_| bad())?;
            return (iteration > 0)
                .then(|| ThreadRef::note(iteration))
                .ok_or_else(bad);
        }
        let rest = s.strip_prefix('c').ok_or_else(bad)?;
        let (it, id) = rest.split_once('.').ok_or_else(bad)?;
        let (iteration, id): (u32, u32) = (
            it.parse().map_err(|_| bad())?,
            id.parse().map_err(|_| bad())?,
        );
        if iteration == 0 || id == 0 {
            return Err(bad());
        }
        Ok(ThreadRef { iteration, id })
    }
}

/// The agent's answer to a thread, given with `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentReply {
    /// Done as asked.
    Addressed,
    /// Not done; the text says why.
    NotDone,
    /// The agent needs an answer first.
    Question,
}

impl AgentReply {
    pub fn label(self) -> &'static str {
        match self {
            AgentReply::Addressed => "addressed",
            AgentReply::NotDone => "not done",
            AgentReply::Question => "question",
        }
    }
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Post {
    /// The iteration under review (reviewer) or being drafted (agent) when it was written.
    pub iteration: u32,
    pub by: Author,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Reviewer,
    /// The reviewer re-opened the thread (with or without words).
    Reopened,
    /// The reviewer resolved it.
    Resolved,
    Agent(AgentReply),
}

/// Where a thread's line is in one iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub path: String,
    /// None: the file is gone and the line was found nowhere else.
    pub line: Option<u32>,
    /// The line itself changed or went away: shown near where it was, marked outdated.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outdated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thread {
    pub key: ThreadRef,
    /// The commented line as the reviewer saw it (empty for a note).
    pub quote: String,
    pub posts: Vec<Post>,
    pub resolved: bool,
    /// Iteration → where the line was then (none for notes).
    pub anchors: BTreeMap<u32, Anchor>,
}

/// Where a thread stands, for the reviewer and the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    /// The reviewer spoke last and no draft has run since: the agent's turn, next revision.
    Open,
    /// A draft ran after the reviewer spoke and the agent said nothing about it.
    NoReply,
    /// The agent answered; the reviewer's turn.
    Replied(AgentReply),
    Resolved,
}

impl ThreadStatus {
    pub fn label(self) -> &'static str {
        match self {
            ThreadStatus::Open => "open",
            ThreadStatus::NoReply => "no reply",
            ThreadStatus::Replied(r) => r.label(),
            ThreadStatus::Resolved => "resolved",
        }
    }
}

impl Thread {
    /// Its status when `latest` is the task's newest iteration that finished drafting.
    pub fn status(&self, latest: u32) -> ThreadStatus {
        if self.resolved {
            return ThreadStatus::Resolved;
        }
        match self.posts.last() {
            Some(Post {
                by: Author::Agent(r),
                ..
            }) => ThreadStatus::Replied(*r),
            Some(p) if latest > p.iteration => ThreadStatus::NoReply,
            _ => ThreadStatus::Open,
        }
    }

    /// The reviewer's first words (the comment or the note).
    pub fn opening(&self) -> &str {
        self.posts.first().map_or("", |p| p.text.as_str())
    }

    /// Where the thread's line is in `iteration`: its anchor there, else the latest before.
    pub fn anchor_at(&self, iteration: u32) -> Option<&Anchor> {
        self.anchors.range(..=iteration).next_back().map(|(_, a)| a)
    }

    /// Whether it waits for the agent: unresolved, and the reviewer spoke last.
    pub fn awaits_agent(&self) -> bool {
        !self.resolved
            && self
                .posts
                .last()
                .is_some_and(|p| !matches!(p.by, Author::Agent(_)))
    }
}

/// Where line `line` (1-based) of `old`, which read `quote`, is in `new`.
///
/// An unchanged line keeps its place (shifted by what was inserted or removed above it). A
/// line that moved unchanged is found by its text (the occurrence nearest to where it would
/// have been). A line that changed or went away is placed where the change is, marked
/// outdated. Returns `(line, outdated)`.
pub fn reanchor(old: &str, line: u32, quote: &str, new: &str) -> (u32, bool) {
    use similar::{Algorithm, DiffOp};
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let at = line.saturating_sub(1) as usize;
    let ops = similar::capture_diff_slices(Algorithm::Patience, &old_lines, &new_lines);
    let mut guess = 0usize;
    for op in &ops {
        let (o, n) = (op.old_range(), op.new_range());
        if o.contains(&at) {
            if let DiffOp::Equal { .. } = op {
                return ((n.start + (at - o.start) + 1) as u32, false);
            }
            guess = n.start;
            break;
        }
        if o.start > at {
            break;
        }
        guess = n.end;
    }
    let wanted = quote.trim();
    if !wanted.is_empty() {
        let nearest = new_lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim() == wanted)
            .min_by_key(|(i, _)| i.abs_diff(guess));
        if let Some((i, _)) = nearest {
            return (i as u32 + 1, false);
        }
    }
    let last = new_lines.len().max(1);
    ((guess + 1).min(last) as u32, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back() {
        for r in [
            ThreadRef::comment(1, 2),
            ThreadRef::note(3),
            ThreadRef::comment(12, 40),
        ] {
            assert_eq!(r.to_string().parse::<ThreadRef>(), Ok(r));
        }
        assert_eq!("#c1.2".parse::<ThreadRef>(), Ok(ThreadRef::comment(1, 2)));
        for bad in ["c1", "x1.2", "n0", "c0.1", "c1.0", "c1.2.3", ""] {
            assert!(bad.parse::<ThreadRef>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&ThreadRef::comment(2, 5)).unwrap();
        assert_eq!(json, "\"c2.5\"");
    }

    #[test]
    fn an_unchanged_line_follows_insertions_above_it() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nnew 1\nnew 2\nb\nc\nd\n";
        assert_eq!(reanchor(old, 3, "c", new), (5, false));
        // Lines removed above it.
        assert_eq!(reanchor(new, 5, "c", "a\nc\nd\n"), (2, false));
    }

    #[test]
    fn a_moved_line_is_found_by_its_text() {
        let old = "one\ntwo\nthree\nfour\nfive\n";
        let new = "two\nthree\nfour\nfive\none\n";
        assert_eq!(reanchor(old, 1, "one", new), (5, false));
    }

    #[test]
    fn a_changed_line_is_outdated_where_the_change_is() {
        let old = "a\nprice: 10\nc\n";
        let new = "a\nprice: 12\nc\n";
        assert_eq!(reanchor(old, 2, "price: 10", new), (2, true));
    }

    #[test]
    fn a_deleted_line_is_outdated_at_the_next_line() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nd\n";
        assert_eq!(reanchor(old, 3, "c", new), (2, true));
        // Everything after it gone: the last line.
        assert_eq!(reanchor(old, 4, "d", "a\n"), (1, true));
        assert_eq!(reanchor(old, 2, "b", ""), (1, true));
    }

    #[test]
    fn of_two_copies_the_nearer_wins() {
        let old = "x\n}\ny\nz\n}\n";
        // The second `}` moved below a new line, and the first changed.
        let new = "x\n};\ny\nz\nw\n}\n";
        assert_eq!(reanchor(old, 5, "}", new), (6, false));
    }

    #[test]
    fn status_follows_who_spoke_last() {
        let mut t = Thread {
            key: ThreadRef::comment(1, 1),
            quote: "x".into(),
            posts: vec![Post {
                iteration: 1,
                by: Author::Reviewer,
                text: "fix".into(),
            }],
            resolved: false,
            anchors: BTreeMap::new(),
        };
        assert_eq!(t.status(1), ThreadStatus::Open);
        assert!(t.awaits_agent());
        // Iteration 2 was drafted and the agent said nothing.
        assert_eq!(t.status(2), ThreadStatus::NoReply);
        t.posts.push(Post {
            iteration: 2,
            by: Author::Agent(AgentReply::Question),
            text: "which?".into(),
        });
        assert_eq!(t.status(2), ThreadStatus::Replied(AgentReply::Question));
        assert!(!t.awaits_agent());
        t.resolved = true;
        assert_eq!(t.status(2), ThreadStatus::Resolved);
    }
}
