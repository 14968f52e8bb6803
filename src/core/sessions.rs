//! A repository's sessions: where their journals live, how to list them, and how to load one
//! (the local file, or the copy stored under `refs/tandem/` after a fetch). `tandem sessions`,
//! resume, replay and report all find and read sessions here.
//!
//! Invariants: nothing here writes. A local journal is the newest copy of its session, so it
//! wins over the one stored in git. A journal that cannot be read is listed with the reason,
//! never skipped in silence. A session id becomes a path, so ids that could leave the
//! sessions directory are refused.

use crate::core::journal::{self, Entry, JournalError};
use crate::core::state::SessionState;
use crate::infra::gitops::{self, GitError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(
        "no tandem session{0} in this repository (see `tandem sessions`; fetch others with `git fetch origin 'refs/tandem/*:refs/tandem/*'`)"
    )]
    NotFound(String),
}

/// Where a repository's sessions live: inside its git dir, so they never show in `git status`.
pub fn sessions_dir(repo: &git2::Repository) -> PathBuf {
    repo.path().join("tandem").join("sessions")
}

pub fn journal_path(repo: &git2::Repository, session: &str) -> PathBuf {
    sessions_dir(repo).join(session).join("journal.jsonl")
}

/// Whether `id` can name a session: it becomes a path, so it must not leave the sessions
/// directory.
pub fn valid_id(id: &str) -> bool {
    !(id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\']))
}

/// A fresh session id: the start time (sortable) and a random suffix.
pub fn new_id() -> String {
    format!(
        "{}-{:04x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        fastrand::u16(..)
    )
}

/// One session as `tandem sessions` shows it.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    /// True: the journal is in this clone's git dir; false: only stored in git refs.
    pub local: bool,
    /// The folded journal, or why it cannot be read (a newer tandem wrote it, it is damaged).
    pub state: Result<SessionState, JournalError>,
    /// The entries `state` was folded from (empty when unreadable), so a caller that needs
    /// them too (a report over every session) does not read and parse each journal again.
    pub entries: Vec<Entry>,
}

impl Listed {
    /// A readable session's state.
    pub fn readable(&self) -> Option<&SessionState> {
        self.state.as_ref().ok()
    }

    /// A session `tandem` and `tandem exec --resume` would continue: in this clone, readable,
    /// neither finished nor abandoned.
    pub fn resumable(&self) -> bool {
        self.local
            && self
                .readable()
                .is_some_and(|s| !s.finished && !s.abandoned())
    }

    /// The one line `tandem sessions` prints after the id.
    pub fn describe(&self) -> String {
        let when = self
            .readable()
            .and_then(|s| s.started)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let what = match &self.state {
            Ok(s) => s.describe(),
            Err(e) => format!("unreadable: {e}"),
        };
        let from = if self.local { "" } else { "  (from git refs)" };
        format!("{when}  {what}{from}")
    }
}

/// Every session of the repository at `workdir`, newest first; unreadable ones last.
pub fn list(workdir: &Path) -> Result<Vec<Listed>, GitError> {
    let repo = gitops::open(workdir)?;
    let mut out: BTreeMap<String, Listed> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(sessions_dir(&repo)) {
        for d in dir.flatten() {
            // A stray file here is not a session.
            if !d.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let id = d.file_name().to_string_lossy().to_string();
            let (state, entries) = match journal::read_file(&d.path().join("journal.jsonl")) {
                Ok(read) => (Ok(SessionState::from_entries(&read.entries)), read.entries),
                // A directory without a journal holds no session (a start that failed early).
                Err(JournalError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => (Err(e), Vec::new()),
            };
            out.insert(
                id.clone(),
                Listed {
                    id,
                    local: true,
                    state,
                    entries,
                },
            );
        }
    }
    for id in gitops::stored_journal_ids(&repo)? {
        // A local journal, readable or not, is newer than any stored copy; its error is the
        // one to show.
        if out.contains_key(&id) {
            continue;
        }
        // One broken ref is that session's problem, not the whole listing's.
        let (state, entries) = match gitops::stored_journal(&repo, &id) {
            Ok(Some(bytes)) => match journal::parse(&bytes, &gitops::journal_ref(&id)) {
                Ok(r) => (Ok(SessionState::from_entries(&r.entries)), r.entries),
                Err(e) => (Err(e), Vec::new()),
            },
            Ok(None) => continue,
            Err(e) => (
                Err(JournalError::Io {
                    path: gitops::journal_ref(&id),
                    source: std::io::Error::other(e.to_string()),
                }),
                Vec::new(),
            ),
        };
        out.insert(
            id.clone(),
            Listed {
                id,
                local: false,
                state,
                entries,
            },
        );
    }
    let mut v: Vec<Listed> = out.into_values().collect();
    let started = |l: &Listed| l.readable().and_then(|s| s.started);
    v.sort_by(|a, b| started(b).cmp(&started(a)).then(b.id.cmp(&a.id)));
    Ok(v)
}

/// The id of the session `tandem exec --resume` would continue (the newest resumable one), if
/// any: while there is one, a new session is not started beside it.
pub fn newest_unfinished(workdir: &Path) -> Result<Option<String>, GitError> {
    Ok(list(workdir)?
        .into_iter()
        .find(|l| l.resumable())
        .map(|l| l.id))
}

/// A session's whole journal.
#[derive(Debug)]
pub struct Loaded {
    pub id: String,
    pub entries: Vec<Entry>,
    /// Read from the copy stored in git (no local journal).
    pub from_git: bool,
}

impl Loaded {
    pub fn state(&self) -> SessionState {
        SessionState::from_entries(&self.entries)
    }
}

/// Read a session's journal: the named one, or the newest. A torn last line, from a session
/// still being written or killed, is left out as the journal reader always does.
pub fn load(workdir: &Path, session: Option<&str>) -> Result<Loaded, SessionsError> {
    let id = match session {
        Some(id) => id.to_string(),
        None => match list(workdir)?.into_iter().next() {
            Some(l) => l.id,
            None => return Err(SessionsError::NotFound(String::new())),
        },
    };
    let not_found = || SessionsError::NotFound(format!(" with id {id}"));
    if !valid_id(&id) {
        return Err(not_found());
    }
    let repo = gitops::open(workdir)?;
    let path = journal_path(&repo, &id);
    if path.is_file() {
        let read = journal::read_file(&path)?;
        return Ok(Loaded {
            id,
            entries: read.entries,
            from_git: false,
        });
    }
    let Some(bytes) = gitops::stored_journal(&repo, &id)? else {
        return Err(not_found());
    };
    let read = journal::parse(&bytes, &gitops::journal_ref(&id))?;
    Ok(Loaded {
        id,
        entries: read.entries,
        from_git: true,
    })
}
