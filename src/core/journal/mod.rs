//! The session journal: an append-only JSONL file of domain events, one fsynced line per event.
//!
//! Invariants: a line is written whole, with its newline, and synced before the event is applied
//! or announced, so anything the user saw is on disk. A torn last line (a crash mid-write) is
//! detected on open and cut off; it is never read as an event. Any other unreadable line is an
//! error naming the file and line, never skipped silently. `seq` is dense from 1, which lets
//! readers prove nothing was lost or written twice.

use crate::core::plan::TaskSpec;
use crate::core::threads::{AgentReply, Anchor, ThreadRef};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

mod file;
pub use file::*;

/// The reviewer's verdict on one iteration: the core's own type, which the review script,
/// the TUI and the journal all use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Accept,
    Revise,
    Reject,
}

/// One recorded step, wrapped with its sequence number and wall-clock time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339 UTC, milliseconds.
    pub at: chrono::DateTime<chrono::Utc>,
    pub event: JournalEvent,
}

/// Where a plan came from; shown in reports and replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    Planner,
    File,
    Edited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Plan,
    Draft,
    /// The checker judging a draft's acceptance criteria before review.
    Check,
    /// Drawing lessons from an accepted task's review.
    Lessons,
}

impl Purpose {
    /// Who made the call, in one word.
    pub fn word(self) -> &'static str {
        match self {
            Purpose::Plan => "planner",
            Purpose::Draft => "drafter",
            Purpose::Check => "checker",
            Purpose::Lessons => "lessons",
        }
    }
}

/// A changed file in an iteration, with line counts against the task base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub path: String,
    pub added: u32,
    pub removed: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
}

/// A touched path that accept leaves out of the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    pub path: String,
    pub reason: String,
}

/// One check command or deliverable, as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub kind: CheckKind,
    /// The command, or the deliverable's path.
    pub name: String,
    pub status: CheckStatus,
    /// Why it failed or did not run (the problem, or the command's ending and output tail).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Check,
    Deliverable,
}

impl CheckKind {
    /// "check" or "deliverable", as every surface names it.
    pub fn word(self) -> &'static str {
        match self {
            CheckKind::Check => "check",
            CheckKind::Deliverable => "deliverable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// A check command the policy or the sandbox did not let run.
    NotRun,
}

/// A lesson the model drew from a task's review, for the reviewer to approve, edit or discard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedLesson {
    /// One sentence.
    pub text: String,
    /// The review threads it came from (`c1.2`, `n1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
}

/// Where an approved lesson is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LessonScope {
    /// `.tandem/lessons.md` in the repository.
    #[default]
    Repo,
    /// The client's `lessons.md` in the config dir.
    Client,
}

/// The reviewer's answer on one proposed lesson (1-based `number` in the proposal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonChoice {
    pub number: usize,
    pub keep: bool,
    /// The text kept (the proposal's, or the reviewer's edit); empty when discarded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default)]
    pub scope: LessonScope,
}

/// One knowledge document a request carried, by reference: its name (`AGENTS.md`,
/// `repo/style.md`, `client/glossary.md`) and the git blob id of the bytes it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeRef {
    pub name: String,
    pub hash: String,
    pub given: KnowledgeGiven,
}

/// How much of a document a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnowledgeGiven {
    /// Its whole text (instructions).
    Whole,
    /// Its text up to the budget, with a note saying so (instructions).
    Cut,
    /// Its name, size and first line in the index; the agent can read it with the tools.
    Indexed,
}

/// The checker's verdict on one acceptance criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionVerdict {
    /// 1-based, as the criteria are numbered everywhere.
    pub criterion: usize,
    pub verdict: Judgement,
    /// One line: a file:line or a check's output that shows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Met,
    NotMet,
    Unclear,
}

impl Judgement {
    /// The mark every surface shows beside the criterion.
    pub fn mark(self) -> &'static str {
        match self {
            Judgement::Met => "✓",
            Judgement::NotMet => "✗",
            Judgement::Unclear => "?",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Judgement::Met => "met",
            Judgement::NotMet => "not met",
            Judgement::Unclear => "unclear",
        }
    }
}

/// What to do with files the user changed when tandem needs to put them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictChoice {
    /// Leave the user's version; put back only the other paths.
    KeepMine,
    /// Put tandem's version back over the user's (which stays saved under refs/tandem-local/).
    Take,
    /// Put tandem's version back and keep the user's beside it as `<path>.mine`.
    KeepBoth,
}

/// What kind of human time a span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    #[default]
    Review,
    HandEdit,
}

/// Every domain change of a session. Task numbers and iterations count from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JournalEvent {
    /// After an accept: lessons drawn from the task's review threads, waiting for the reviewer
    /// (nothing is stored before `lessons_decided`). `problem`: why none could be drawn.
    LessonsProposed {
        task: usize,
        lessons: Vec<ProposedLesson>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<String>,
    },
    /// The reviewer's answers; the kept lessons were written to `stored` (files) first.
    LessonsDecided {
        task: usize,
        choices: Vec<LessonChoice>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stored: Vec<String>,
    },
    /// The project's knowledge a planner or drafter conversation was given (its instructions
    /// and index), recorded before its first request: what the agent knew, by path and hash.
    KnowledgeUsed {
        purpose: Purpose,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iteration: Option<u32>,
        /// The client whose folder `client/…` names are in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        sources: Vec<KnowledgeRef>,
        /// The approved lessons it was given, word for word.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lessons: Vec<String>,
        /// Knowledge files the index had no room for.
        #[serde(default, skip_serializing_if = "is_zero")]
        unlisted: usize,
    },
    SessionStarted {
        session: String,
        tandem_version: String,
        model: String,
        /// The branch commits go to (None: detached HEAD).
        branch: Option<String>,
        /// HEAD when the session began (None: a repo with no commits yet).
        head: Option<String>,
        brief: Option<String>,
        allow_dirty: bool,
        /// Whose session it is: the git author's email when it began (absent in journals of
        /// older versions), so a timesheet bills only its own sessions, not fetched ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author: Option<String>,
    },
    PlanSet {
        tasks: Vec<TaskSpec>,
        source: PlanSource,
    },
    PlanApproved,
    /// One model round trip, summarised (full text is capped; tool calls are journaled apart).
    ModelCall {
        purpose: Purpose,
        task: Option<usize>,
        iteration: Option<u32>,
        step: u32,
        prompt_tokens: u64,
        completion_tokens: u64,
        duration_ms: u64,
        finish_reason: Option<String>,
        text: String,
        tool_calls: Vec<String>,
    },
    ToolCall {
        task: usize,
        iteration: u32,
        step: u32,
        call_id: String,
        name: String,
        /// Arguments with long strings shortened; the iteration snapshot holds the real content.
        args: serde_json::Value,
        ok: bool,
        /// The result text as the model saw it, capped.
        result: String,
        /// Lines written and taken out, for a write that happened (absent in old journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<crate::infra::tools::LineChange>,
    },
    DraftStarted {
        task: usize,
        iteration: u32,
        /// The task base: HEAD when the task's first draft began.
        base: Option<String>,
    },
    /// Written before the agent's first write to a path in a task, so a crash at any point
    /// still knows how to put the file back.
    FileTouched {
        task: usize,
        iteration: u32,
        path: String,
        /// Blob id of the content before the task; None when the file did not exist.
        preimage: Option<String>,
        /// Directories the write will create, outermost first, removed again on reject.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        created_dirs: Vec<String>,
        /// Whether the old file was executable (absent in journals of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec: Option<bool>,
    },
    /// Written before each write tandem makes for the agent, with the new content's raw blob
    /// id (None: a deletion): what the disk may hold afterwards, so a restore can tell the
    /// agent's bytes from the user's.
    FileWritten {
        task: usize,
        iteration: u32,
        path: String,
        blob: Option<String>,
        /// The file was not what tandem last left there: someone else changed it during the
        /// draft, so putting it back later must ask first.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        foreign: bool,
    },
    /// The running draft was abandoned (crash, cancel); its files were put back and the iteration
    /// starts over.
    DraftAborted {
        task: usize,
        iteration: u32,
        reason: String,
    },
    IterationReady {
        task: usize,
        iteration: u32,
        /// Commit under refs/tandem/ holding this iteration's tree.
        snapshot: String,
        /// Commit holding the task base tree the diff is taken against.
        base: String,
        summary: String,
        agent_ms: u64,
        incomplete: bool,
        /// The draft's last answer stopped at the output cap (`finish_reason=length`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cut_off: bool,
        files: Vec<FileStat>,
        /// The commit accept would make, as a child of `review_base`: the review diff is
        /// `review_base → proposal`. Absent in journals of older versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review_base: Option<String>,
        /// Touched paths that accept will not commit, and why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        excluded: Vec<Excluded>,
        /// Touched paths someone else changed during the draft (putting them back asks first).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        foreign: Vec<String>,
        /// Where each unresolved thread stands in this iteration: in the same line as the
        /// draft, so a crash cannot leave a ready draft without its threads placed. (Older
        /// journals record them in a `threads_anchored` line right after.)
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        anchors: Vec<ThreadAnchor>,
    },
    CommentAdded {
        task: usize,
        iteration: u32,
        id: u32,
        path: String,
        line: u32,
        text: String,
        /// The commented line as the reviewer saw it.
        quote: String,
    },
    CommentEdited {
        task: usize,
        iteration: u32,
        id: u32,
        text: String,
    },
    CommentDeleted {
        task: usize,
        iteration: u32,
        id: u32,
    },
    NoteSet {
        task: usize,
        iteration: u32,
        text: String,
    },
    /// The agent's answer to a review thread, given with `finish`.
    ThreadReply {
        task: usize,
        iteration: u32,
        thread: ThreadRef,
        reply: AgentReply,
        text: String,
    },
    /// The reviewer resolved a thread, or re-opened it.
    ThreadResolved {
        task: usize,
        iteration: u32,
        thread: ThreadRef,
        resolved: bool,
    },
    /// The reviewer answered a thread (re-opening it); the answer goes to the agent with the
    /// next revision.
    ThreadAnswered {
        task: usize,
        iteration: u32,
        thread: ThreadRef,
        text: String,
    },
    /// Where each unresolved thread's line is in a new iteration (recorded as it is ready).
    ThreadsAnchored {
        task: usize,
        iteration: u32,
        anchors: Vec<ThreadAnchor>,
    },
    CriterionTicked {
        task: usize,
        iteration: u32,
        criterion: usize,
        met: bool,
    },
    HumanTime {
        task: usize,
        iteration: u32,
        kind: TimeKind,
        ms: u64,
        started: chrono::DateTime<chrono::Utc>,
    },
    Decision {
        task: usize,
        iteration: u32,
        action: Decision,
    },
    /// The reviewer changed a file by hand during review; the iteration's snapshot now includes it.
    HandEdited {
        task: usize,
        iteration: u32,
        path: String,
        snapshot: String,
        files: Vec<FileStat>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal: Option<String>,
        /// Other files of the task that changed outside tandem since the iteration was stored:
        /// the new snapshot takes them in, and they are partly someone else's from now on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        foreign: Vec<String>,
    },
    /// Files tandem was about to write held the user's own changes; their bytes were saved in
    /// `commit` (under `refs/tandem-local/…/rescue-N`) before anything was written.
    UserBytesSaved {
        task: usize,
        iteration: u32,
        paths: Vec<String>,
        commit: String,
    },
    /// The user's answer to a conflict between their changes and a restore; it holds for the
    /// paths the user was shown, no others.
    ConflictResolved {
        task: usize,
        iteration: u32,
        choice: ConflictChoice,
        #[serde(default)]
        paths: Vec<String>,
    },
    /// Accept could not commit (the branch moved, signing or a hook failed): nothing was
    /// committed and the iteration is back in review.
    AcceptFailed {
        task: usize,
        iteration: u32,
        reason: String,
    },
    /// Accepted, but the reviewed change was empty: nothing was committed.
    AcceptedEmpty {
        task: usize,
        iteration: u32,
    },
    Committed {
        task: usize,
        iteration: u32,
        commit: String,
    },
    Restored {
        task: usize,
        iteration: u32,
    },
    SessionFinished,
    /// A drafter's command is about to run. `before` is a tree of the working tree as it was:
    /// a crash during the command can still tell what it changed and put it back.
    CommandStarted {
        task: usize,
        iteration: u32,
        step: u32,
        command: String,
        before: String,
        sandboxed: bool,
    },
    /// A drafter's command ended (or was found interrupted on resume). Files it changed were
    /// journaled as `file_touched`/`file_written` just before this event.
    CommandRan {
        task: usize,
        iteration: u32,
        step: u32,
        command: String,
        /// None: killed (time limit, cancel, a signal) or interrupted.
        exit_code: Option<i32>,
        /// How it ended, in words ("exit 1", "killed after 30 s (time limit)").
        ending: String,
        duration_ms: u64,
        /// Combined output, capped (head and tail).
        output: String,
        output_bytes: u64,
        sandboxed: bool,
        /// Paths it changed, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
        /// Paths it changed that tandem does not let the agent write (hooks, .gitmodules…):
        /// put back at once.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reverted: Vec<String>,
    },
    /// The reviewer's answer to a command the policy asked about (`commands.policy = "ask"`).
    CommandAnswered {
        task: usize,
        iteration: u32,
        step: u32,
        command: String,
        approved: bool,
        /// Allowed for the rest of the session: the same command runs without asking again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        always: bool,
        /// How long the draft waited for the answer (not counted as agent time).
        waited_ms: u64,
        /// It would have run in the sandbox. An "always" holds only for the confinement it was
        /// given under: allowed sandboxed, the same command is asked again when it would run
        /// unconfined. (Journals before this field: taken as sandboxed, the safer reading.)
        #[serde(default = "yes")]
        sandboxed: bool,
    },
    /// The draft's checks and deliverables, verified when the drafter called finish. A failing
    /// round with rounds left sends the draft back to the drafter; the last one goes to review.
    ChecksRun {
        task: usize,
        iteration: u32,
        round: u32,
        results: Vec<CheckResult>,
        /// The draft goes back to the drafter to fix these.
        sent_back: bool,
    },
    /// The checker's verdict on each acceptance criterion of a finished draft, judged against
    /// the diff that goes to review and the checks. Advice for the reviewer: only the human
    /// ticks criteria.
    CriteriaJudged {
        task: usize,
        iteration: u32,
        verdicts: Vec<CriterionVerdict>,
        /// Why the checker gave no (or not every) verdict: the model failed, ran out of steps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<String>,
    },
    /// The model cannot call tools (the server refused them, or the model answered in text
    /// when asked to call them): from here on the session uses the text protocol.
    TextProtocol {
        reason: String,
    },
    /// The user dropped the unfinished session (`tandem sessions abandon`): nothing resumes it,
    /// and `tandem` / `tandem exec` start a new one. Nothing in the working tree was changed.
    SessionAbandoned {
        /// Paths that still held the agent's uncommitted changes, left as they were (the
        /// user said `--force`). Absent when there were none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        left: Vec<String>,
    },
}

/// A thread placed in an iteration (`ThreadsAnchored`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadAnchor {
    pub thread: ThreadRef,
    #[serde(flatten)]
    pub anchor: Anchor,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// serde's default for fields that were always true before they were written.
fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_journal(n: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (mut w, existing) = JournalWriter::open(&path).unwrap();
        assert!(existing.is_empty());
        for i in 0..n {
            w.append(JournalEvent::NoteSet {
                task: 1,
                iteration: 1,
                text: format!("note {i} ✓"),
            })
            .unwrap();
        }
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn every_truncation_reads_a_prefix_and_resumes() {
        let (_dir, path, bytes) = sample_journal(4);
        let full = parse(&bytes, "j").unwrap().entries;
        for cut in 0..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (mut w, entries) = JournalWriter::open(&path).unwrap();
            assert_eq!(entries[..], full[..entries.len()], "cut at {cut}");
            let complete_lines = bytes[..cut].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(entries.len(), complete_lines, "cut at {cut}");
            // Appending after a torn tail must yield a clean journal again.
            w.append(JournalEvent::PlanApproved).unwrap();
            drop(w);
            let again = read_file(&path).unwrap();
            assert_eq!(again.torn_bytes, 0);
            assert_eq!(again.entries.len(), complete_lines + 1);
        }
    }

    #[test]
    fn garbled_last_line_is_torn_but_garbled_middle_is_an_error() {
        let (_dir, _path, bytes) = sample_journal(3);
        let mut tail = bytes.clone();
        tail.extend_from_slice(b"{\"seq\":4,\"at\":\0\0\0\n");
        let out = parse(&tail, "j").unwrap();
        assert_eq!(out.entries.len(), 3);
        assert!(out.torn_bytes > 0);

        let text = String::from_utf8(bytes).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "not json";
        let err = parse((lines.join("\n") + "\n").as_bytes(), "j.jsonl")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("j.jsonl, line 2"), "{err}");
    }

    #[test]
    fn duplicated_line_is_detected() {
        let (_dir, _path, bytes) = sample_journal(2);
        let text = String::from_utf8(bytes).unwrap();
        let first = text.lines().next().unwrap();
        let doubled = format!("{first}\n{text}");
        let err = parse(doubled.as_bytes(), "j").err().unwrap().to_string();
        assert!(err.contains("expected event #2"), "{err}");
    }

    #[test]
    fn second_writer_is_refused() {
        let (_dir, path, _) = sample_journal(1);
        let (_w, _) = JournalWriter::open(&path).unwrap();
        let err = JournalWriter::open(&path).err().unwrap();
        assert!(matches!(err, JournalError::Locked { .. }));
    }
}
