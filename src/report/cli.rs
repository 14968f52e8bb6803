//! `tandem report`: pick the sessions, build, render, and write (atomically to a file).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Markdown for a client.
    #[default]
    Md,
    /// One self-contained HTML page for a client.
    Html,
    /// One JSON object for other tools (schema in the README).
    Json,
    /// A timesheet: one row per review or hand-edit span.
    Csv,
}

/// `tandem report`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The repository directory (set from the global `-C`).
    #[arg(skip)]
    pub dir: PathBuf,
    /// The session to report on (default: the newest).
    #[arg(value_name = "SESSION", conflicts_with = "all")]
    pub session: Option<String>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report on every session of the repository.
    #[arg(long)]
    pub all: bool,
    /// From this local date on: csv rows by their date, other formats sessions by start date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub since: Option<NaiveDate>,
    /// Up to and including this local date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub until: Option<NaiveDate>,
}

/// `tandem report`: pick the sessions, build, render, write. Exit code 0.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let root = crate::setup::open_repo(&args.dir, false)?;
    let range = DateRange {
        since: args.since,
        until: args.until,
    };
    // A timesheet filters rows by date; every other format filters sessions by start date.
    let session_range = if args.format == Format::Csv {
        DateRange::default()
    } else {
        range
    };
    let in_range = |s: &SessionState| {
        !session_range.is_set()
            || s.started
                .is_some_and(|t| session_range.contains(local_date(t, &chrono::Local)))
    };
    let ids: Vec<String> = match &args.session {
        Some(id) => vec![id.clone()],
        None => {
            let listed = crate::core::sessions::list(&root)?;
            // A session that cannot be read is named, not silently left out.
            for l in &listed {
                if let Err(e) = &l.state {
                    eprintln!("tandem: session {} is left out of the report: {e}", l.id);
                }
            }
            let mut ids: Vec<String> = listed
                .iter()
                .filter(|l| l.readable().is_some_and(&in_range))
                .map(|l| l.id.clone())
                .collect();
            if ids.is_empty() && !args.all {
                let why = if listed.is_empty() || !session_range.is_set() {
                    String::new()
                } else {
                    format!(" that started within {session_range}")
                };
                return Err(ReportError::NoSessions(root.display().to_string(), why).into());
            }
            if args.all {
                // Listed newest first; a report reads in the order the work happened.
                ids.reverse();
            } else {
                ids.truncate(1);
            }
            ids
        }
    };
    let mut loaded = Vec::with_capacity(ids.len());
    for id in &ids {
        let l = crate::core::sessions::load(&root, Some(id))?;
        let (state, entries) = (l.state(), l.entries);
        if args.session.is_some() && !in_range(&state) {
            return Err(ReportError::OutOfRange {
                session: id.clone(),
                date: state
                    .started
                    .map(|t| local_date(t, &chrono::Local).to_string())
                    .unwrap_or_else(|| "an unknown date".into()),
                range: session_range.to_string(),
            }
            .into());
        }
        loaded.push((state, entries));
    }
    let prices = crate::infra::config::Config::load()?.prices;
    let text = if args.format == Format::Csv {
        let sheets: Vec<Sheet<'_>> = loaded.iter().map(|(s, e)| (s, e.as_slice())).collect();
        to_csv(&sheets, range)
    } else {
        let reports: Vec<SessionReport> =
            loaded.iter().map(|(s, e)| build(s, e, &prices)).collect();
        match args.format {
            Format::Json if args.all => all_to_json(&combine(reports))?,
            Format::Json => match reports.first() {
                Some(r) => to_json(r)?,
                None => {
                    return Err(
                        ReportError::NoSessions(root.display().to_string(), String::new()).into(),
                    );
                }
            },
            Format::Html => to_html(&reports),
            Format::Md | Format::Csv => to_markdown(&reports),
        }
    };
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| ReportError::Write {
                    path: "standard output".into(),
                    source,
                })?;
        }
    }
    Ok(0)
}

/// Write through a temp file in the same directory and a rename, so a reader never sees half a
/// report and an old one survives a failed write.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::infra::files::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}
