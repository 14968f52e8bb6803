//! A repository's sessions: where their journals live, how to list them, and how to load one
//! (the local file, or the copy stored under `refs/tandem/` after a fetch). `tandem sessions`,
//! resume, replay and report all find and read sessions here.
//!
//! Invariants: nothing here writes but the derived summaries (`infra::cache`, never trusted
//! over the journal they came from). A local journal is the newest copy of its session, so it
//! wins over the one stored in git. A journal that cannot be read is listed with the reason,
//! never skipped in silence. A session id becomes a path, so ids that could leave the
//! sessions directory are refused.

use crate::core::journal::{self, Entry, JournalError};
use crate::core::state::SessionState;
use crate::infra::cache::Key;
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

/// What listing, resuming and choosing sessions need of one, without its whole journal: derived
/// from the journal and cached beside it (`infra::cache`), so a listing of thousands of sessions
/// reads one small file per session instead of folding every journal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub started: Option<chrono::DateTime<chrono::Utc>>,
    pub finished: bool,
    /// Abandoned by the user, or killed before its plan (`SessionState::abandoned`).
    pub abandoned: bool,
    /// Where it stands, in one line (`SessionState::describe`).
    pub progress: String,
    /// The git author's email when it began (None: a journal of an older version).
    #[serde(default)]
    pub author: Option<String>,
}

impl Summary {
    pub fn of(state: &SessionState) -> Summary {
        Summary {
            author: state.author.clone(),
            started: state.started,
            finished: state.finished,
            abandoned: state.abandoned(),
            progress: state.describe(),
        }
    }
}

/// One session as `tandem sessions` shows it.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    /// True: the journal is in this clone's git dir; false: only stored in git refs.
    pub local: bool,
    /// Where it stands, or why its journal cannot be read (a newer tandem wrote it, it is
    /// damaged).
    pub summary: Result<Summary, JournalError>,
    /// What `summary` was derived from, for other values derived from the same journal (a
    /// report caches its own under it); None when it cannot be told.
    pub key: Option<Key>,
}

impl Listed {
    /// A readable session's summary.
    pub fn readable(&self) -> Option<&Summary> {
        self.summary.as_ref().ok()
    }

    /// A session `tandem` and `tandem exec --resume` would continue: in this clone, readable,
    /// neither finished nor abandoned.
    pub fn resumable(&self) -> bool {
        self.local && self.readable().is_some_and(|s| !s.finished && !s.abandoned)
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
        let what = match &self.summary {
            Ok(s) => s.progress.clone(),
            Err(e) => format!("unreadable: {e}"),
        };
        let from = if self.local { "" } else { "  (from git refs)" };
        format!("{when}  {what}{from}")
    }
}

/// The key of what a session's journal is now: the local file, else the stored commit.
pub fn key_of(repo: &git2::Repository, id: &str, local: bool) -> Option<Key> {
    if local {
        Key::of_file(&journal_path(repo, id))
    } else {
        let commit = repo.refname_to_id(&gitops::journal_ref(id)).ok()?;
        Key::of_object(&commit.to_string())
    }
}

/// Every session of the repository at `workdir`, newest first; unreadable ones last.
pub fn list(workdir: &Path) -> Result<Vec<Listed>, GitError> {
    list_visiting(workdir, &mut |_| {})
}

/// A journal `list` had to read (its summary was not cached), lent to a caller that derives
/// more from it while it is in memory (a report caches its own value under `key`).
pub struct Read<'a> {
    pub id: &'a str,
    pub state: &'a SessionState,
    pub entries: &'a [Entry],
    /// The key of exactly these entries; None when the journal changed while it was read.
    pub key: Option<&'a Key>,
}

/// `list`, showing `visit` every journal it reads in full.
pub fn list_visiting(
    workdir: &Path,
    visit: &mut dyn FnMut(Read<'_>),
) -> Result<Vec<Listed>, GitError> {
    let repo = gitops::open(workdir)?;
    let mut out: BTreeMap<String, Listed> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(sessions_dir(&repo)) {
        for d in dir.flatten() {
            // A stray file here is not a session.
            if !d.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let id = d.file_name().to_string_lossy().to_string();
            // A directory without a journal holds no session (a start that failed early).
            if let Some(l) = listed(&repo, &id, true, visit) {
                out.insert(id, l);
            }
        }
    }
    for id in gitops::stored_journal_ids(&repo)? {
        // A local journal, readable or not, is newer than any stored copy; its error is the
        // one to show.
        if out.contains_key(&id) {
            continue;
        }
        if let Some(l) = listed(&repo, &id, false, visit) {
            out.insert(id, l);
        }
    }
    let mut v: Vec<Listed> = out.into_values().collect();
    // An unreadable session sorts by the start time its id carries, so a damaged newest session
    // is still the newest, not one left behind at the end.
    let started = |l: &Listed| {
        l.readable().and_then(|s| s.started).or_else(|| {
            l.id.get(..15)
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%d-%H%M%S").ok())
                .map(|t| t.and_utc())
        })
    };
    v.sort_by(|a, b| started(b).cmp(&started(a)).then(b.id.cmp(&a.id)));
    Ok(v)
}

/// The listing of the session `id` (its local journal, else the one stored in git).
pub fn listed_one(workdir: &Path, id: &str) -> Result<Listed, SessionsError> {
    let not_found = || SessionsError::NotFound(format!(" with id {id}"));
    if !valid_id(id) {
        return Err(not_found());
    }
    let repo = gitops::open(workdir)?;
    listed(&repo, id, true, &mut |_| {})
        .or_else(|| listed(&repo, id, false, &mut |_| {}))
        .ok_or_else(not_found)
}

/// One session's listing from its cached summary, else from its journal (local or stored);
/// None when it has no journal at all.
fn listed(
    repo: &git2::Repository,
    id: &str,
    local: bool,
    visit: &mut dyn FnMut(Read<'_>),
) -> Option<Listed> {
    let cache_dir = crate::infra::cache::dir(repo.path());
    let name = format!("{id}.summary");
    let key = key_of(repo, id, local);
    if let Some(k) = &key
        && let Some(summary) = crate::infra::cache::read::<Summary>(&cache_dir, &name, k)
    {
        return Some(Listed {
            id: id.to_string(),
            local,
            summary: Ok(summary),
            key,
        });
    }
    let read = if local {
        match journal::read_file(&journal_path(repo, id)) {
            Err(JournalError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return None;
            }
            read => read,
        }
    } else {
        // One broken ref is that session's problem, not the whole listing's.
        match gitops::stored_journal(repo, id) {
            Ok(Some(bytes)) => journal::parse(&bytes, &gitops::journal_ref(id)),
            Ok(None) => return None,
            Err(e) => Err(JournalError::Io {
                path: gitops::journal_ref(id),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    };
    // A value is kept only when the journal did not grow while it was read: it must be
    // derived from exactly what the key names.
    let key = key.filter(|k| key_of(repo, id, local).as_ref() == Some(k));
    let summary = read.map(|r| {
        let state = SessionState::from_entries(&r.entries);
        visit(Read {
            id,
            state: &state,
            entries: &r.entries,
            key: key.as_ref(),
        });
        Summary::of(&state)
    });
    if let (Ok(s), Some(k)) = (&summary, &key) {
        crate::infra::cache::write(&cache_dir, &name, k, s);
    }
    Some(Listed {
        id: id.to_string(),
        local,
        summary,
        key,
    })
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
