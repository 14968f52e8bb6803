//! The journal file: reading it back (only a torn last line is forgiven) and the single
//! writer that appends and syncs one line per event under an exclusive lock.

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("journal {path}, line {line}: {message}")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "journal {path}, line {line} was written by a newer tandem ({message}); update tandem to open this session (nothing was changed)"
    )]
    Newer {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "session journal {path} is in use by another tandem process; close it first (or wait for it to finish)"
    )]
    Locked { path: String },
}

/// Read a journal's entries. A torn final line is reported as `torn_bytes` and not returned.
pub struct ReadOutcome {
    pub entries: Vec<Entry>,
    /// Length of the valid prefix in bytes.
    pub valid_len: u64,
    pub torn_bytes: u64,
}

/// Parse journal bytes. Only the last line may be damaged (it is the one a crash can tear);
/// damage anywhere else means someone edited the file, and that is an error.
pub fn parse(bytes: &[u8], path: &str) -> Result<ReadOutcome, JournalError> {
    let mut entries = Vec::new();
    let mut offset = 0usize;
    let mut line_no = 0usize;
    while offset < bytes.len() {
        line_no += 1;
        let rest = &bytes[offset..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // No newline: the write never finished.
            return Ok(ReadOutcome {
                entries,
                valid_len: offset as u64,
                torn_bytes: rest.len() as u64,
            });
        };
        let line = &rest[..nl];
        let is_last = offset + nl + 1 == bytes.len();
        let parsed = std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<Entry>(s).map_err(|e| e.to_string()));
        match parsed {
            Ok(entry) => {
                let expected = entries.len() as u64 + 1;
                if entry.seq != expected {
                    return Err(JournalError::Corrupt {
                        path: path.into(),
                        line: line_no,
                        message: format!("expected event #{expected}, found #{}", entry.seq),
                    });
                }
                entries.push(entry);
            }
            // A whole JSON line that is not an event we know was written by a newer tandem:
            // never cut it off as torn.
            Err(message) if is_newer(line) => {
                return Err(JournalError::Newer {
                    path: path.into(),
                    line: line_no,
                    message,
                });
            }
            // A crash can leave a full-length line of zeros or garbage at the end on some
            // filesystems; only there is it treated as torn.
            Err(_) if is_last => {
                return Ok(ReadOutcome {
                    entries,
                    valid_len: offset as u64,
                    torn_bytes: (nl + 1) as u64,
                });
            }
            Err(message) => {
                return Err(JournalError::Corrupt {
                    path: path.into(),
                    line: line_no,
                    message,
                });
            }
        }
        offset += nl + 1;
    }
    Ok(ReadOutcome {
        entries,
        valid_len: offset as u64,
        torn_bytes: 0,
    })
}

/// A complete JSON object with a sequence number and an event tag: well-formed, just not an
/// event this version knows.
fn is_newer(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(line).is_ok_and(|v| {
        v.get("seq").is_some_and(|s| s.is_u64())
            && v.get("event")
                .and_then(|e| e.get("type"))
                .is_some_and(|t| t.is_string())
    })
}

pub fn read_file(path: &Path) -> Result<ReadOutcome, JournalError> {
    let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes, &path.display().to_string())
}

/// The single writer of one session's journal. Holding it holds an exclusive file lock, so two
/// tandem processes cannot interleave events of one session.
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    next_seq: u64,
    bytes: Vec<u8>,
}

impl JournalWriter {
    /// Open (creating if needed), lock, cut a torn tail, and return the writer with the entries
    /// already recorded.
    pub fn open(path: &Path) -> Result<(Self, Vec<Entry>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        match crate::infra::lock::try_lock_briefly(&file) {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    path: path.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.read_to_end(&mut bytes).map_err(io)?;
        let outcome = parse(&bytes, &path.display().to_string())?;
        if outcome.torn_bytes > 0 {
            file.set_len(outcome.valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
            bytes.truncate(outcome.valid_len as usize);
        }
        let next_seq = outcome.entries.len() as u64 + 1;
        Ok((
            JournalWriter {
                file,
                path: path.to_path_buf(),
                next_seq,
                bytes,
            },
            outcome.entries,
        ))
    }

    /// Append one event and make it durable before returning it.
    pub fn append(&mut self, event: JournalEvent) -> Result<Entry, JournalError> {
        let entry = Entry {
            seq: self.next_seq,
            at: now_ms(),
            event,
        };
        let text = serde_json::to_string(&entry).map_err(|e| JournalError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        // Backstop of the one redaction step: no line with the API key reaches the disk (or
        // the git copy users push). What is applied is what was written.
        let red = crate::infra::model::redact::Redactor::global();
        let (entry, mut line) = match red.redact(&text) {
            clean if clean != text => {
                let entry = serde_json::from_str(&clean).map_err(|e| JournalError::Io {
                    path: self.path.display().to_string(),
                    source: std::io::Error::other(e),
                })?;
                (entry, clean.into_bytes())
            }
            _ => (entry, text.into_bytes()),
        };
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.bytes.extend_from_slice(&line);
        self.next_seq += 1;
        Ok(entry)
    }

    /// The journal's bytes as written, for storing in git.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Now, at millisecond precision, so a written and re-read timestamp compare equal.
pub fn now_ms() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
