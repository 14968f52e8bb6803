//! `tandem report`: pick the sessions, build, render, and write (atomically to a file).

use super::*;
use crate::core::sessions::{Listed, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Markdown (for the client unless --for me).
    #[default]
    Md,
    /// One self-contained, printable HTML page (for the client unless --for me).
    Html,
    /// Plain text to paste into a milestone submission or an email (--task N for one task).
    Text,
    /// One JSON object for other tools (schema in the README).
    Json,
    /// A timesheet: one row per work block (--preset for Toggl Track, Harvest, Clockify).
    Csv,
}

/// Who reads the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Audience {
    /// What was delivered, against which criteria, and the time in h:mm.
    Client,
    /// The detailed log: models, tokens, agent time, review cycles, threads, lessons.
    Me,
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
    /// What to write (default md; csv when --preset is given).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Who the Markdown or HTML report is for (default client).
    #[arg(long = "for", value_enum, value_name = "WHO")]
    pub audience: Option<Audience>,
    /// The timesheet's import format (with csv).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Only this task, by number (with --format text).
    #[arg(long, value_name = "N")]
    pub task: Option<usize>,
    /// The client's name (default: `[client] name` in .tandem/config.toml).
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// The project's name (default: `[client] project` in .tandem/config.toml).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Your full name (default: `[me] name` in the config file).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Your email in the time tracker (default: `[me] email` in the config file).
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// Timesheet spans of one task and activity less than this many minutes apart make one row
    /// (default: `[timesheet] merge_gap_minutes`, else 10).
    #[arg(long, value_name = "MINUTES")]
    pub gap: Option<u64>,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report on every session of the repository.
    #[arg(long)]
    pub all: bool,
    /// From this local date on: csv rows by their date, other formats sessions by start date.
    /// Without a SESSION, every session of the period is reported (as with --all).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub since: Option<NaiveDate>,
    /// Up to and including this local date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub until: Option<NaiveDate>,
    /// Every session of the period was asked for by the period alone (no SESSION, no --all):
    /// a period with none is then an error, not an empty report.
    #[arg(skip)]
    pub period: bool,
}

/// `tandem report`: pick the sessions, build, render, write. Exit code 0.
pub fn run(mut args: ReportArgs) -> anyhow::Result<i32> {
    let (format, audience) = check_flags(&args)?;
    // A period without a session named means every session of that period: a report for
    // November that took only the newest session would bill part of the month.
    if !args.all
        && args.session.is_none()
        && args.task.is_none()
        && (args.since.is_some() || args.until.is_some())
    {
        args.all = true;
        args.period = true;
    }
    let root = crate::setup::open_repo(&args.dir, false)?;
    let range = DateRange {
        since: args.since,
        until: args.until,
    };
    // A timesheet filters rows by date; every other format filters sessions by start date.
    let session_range = if format == Format::Csv {
        DateRange::default()
    } else {
        range
    };
    let mut built = super::cache::Built::default();
    // A timesheet reads the journals themselves; every other format takes reports.
    let want_reports = (format != Format::Csv).then_some(&mut built);
    // A timesheet of sessions not named bills only your own.
    let own = format == Format::Csv && args.session.is_none();
    let picked = pick_sessions(&args, &root, session_range, want_reports, own)?;
    let config = crate::infra::config::Config::load()?;
    let repo_config = crate::infra::config::RepoConfig::load(&root)?;
    let who = identity(&args, &config, &repo_config);
    let text = if format == Format::Csv {
        let mut loaded = Vec::with_capacity(picked.len());
        for l in &picked {
            let l = crate::core::sessions::load(&root, Some(&l.id))?;
            loaded.push((l.state(), l.entries));
        }
        let sheets: Vec<Sheet<'_>> = loaded.iter().map(|(s, e)| (s, e.as_slice())).collect();
        let opts = timesheet_options(&args, &config, who, range)?;
        timesheet(&sheets, &opts)?
    } else {
        let reports = picked
            .iter()
            .map(|l| super::cache::report_of(&root, l, &mut built, &config.prices))
            .collect::<Result<Vec<SessionReport>, ReportError>>()?;
        // A report may name the client by its id when it has no name, and the project by the
        // repository's folder.
        let mut who = who;
        if who.client.is_none() {
            who.client = repo_config.client.as_ref().and_then(|c| c.id.clone());
        }
        if who.project.is_none() {
            who.project = Some(format!(
                "Work report: {}",
                root.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| root.display().to_string())
            ));
        }
        render(&args, &root, (format, audience), &reports, &who, range)?
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

/// A timesheet bills your own work: sessions someone else began (fetched with `refs/tandem/*`)
/// are left out, and named on stderr. A session's author is the git email it began with; an
/// older journal without one counts as yours when its journal is local (not only fetched).
fn only_mine(root: &Path, picked: Vec<Listed>) -> Vec<Listed> {
    let me = crate::infra::gitops::open(root)
        .ok()
        .and_then(|r| crate::infra::gitops::signature(&r).ok())
        .and_then(|s| s.email().ok().map(str::to_string));
    let (mine, theirs): (Vec<Listed>, Vec<Listed>) =
        picked.into_iter().partition(|l| match l.readable() {
            Some(Summary {
                author: Some(a), ..
            }) => me.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(a)),
            _ => l.local,
        });
    if !theirs.is_empty() {
        let whose: Vec<String> = theirs
            .iter()
            .map(|l| match l.readable().and_then(|s| s.author.as_deref()) {
                Some(a) => format!("{} ({a})", l.id),
                None => format!("{} (fetched)", l.id),
            })
            .collect();
        eprintln!(
            "tandem: left out of the timesheet, not your sessions: {}. Name one to include it.",
            whose.join(", ")
        );
    }
    mine
}

/// The sessions to report, oldest first: the one named, or those of the listing (from each
/// session's cached summary) that started in the range.
fn pick_sessions(
    args: &ReportArgs,
    root: &Path,
    session_range: DateRange,
    mut built: Option<&mut super::cache::Built>,
    own: bool,
) -> Result<Vec<Listed>, ReportError> {
    let in_range = |s: &Summary| {
        !session_range.is_set()
            || s.started
                .is_some_and(|t| session_range.contains(local_date(t, &chrono::Local)))
    };
    if let Some(id) = &args.session {
        let l = crate::core::sessions::listed_one(root, id)?;
        let summary = l.summary?;
        if !in_range(&summary) {
            return Err(ReportError::OutOfRange {
                session: id.clone(),
                date: summary
                    .started
                    .map(|t| local_date(t, &chrono::Local).to_string())
                    .unwrap_or_else(|| "an unknown date".into()),
                range: session_range.to_string(),
            });
        }
        return Ok(vec![Listed {
            summary: Ok(summary),
            ..l
        }]);
    }
    // Journals the listing reads in full (no cached summary) give their reports on the way.
    let cache_dir = crate::infra::cache::dir(crate::infra::gitops::open(root)?.path());
    let listed = crate::core::sessions::list_visiting(root, &mut |read| {
        if let Some(built) = built.as_deref_mut() {
            built.visit(&cache_dir, read);
        }
    })?;
    let nothing_listed = listed.is_empty();
    // The newest session is the one asked for: when it cannot be read, say so rather than
    // report an older one as if it were the latest work.
    if !args.all
        && !session_range.is_set()
        && let Some(newest) = listed.first()
        && let Err(e) = &newest.summary
    {
        return Err(ReportError::Usage(format!(
            "the newest session, {}, cannot be read: {e}\nNothing was reported. Name a session to report on another (tandem sessions lists them).",
            newest.id
        )));
    }
    let mut picked = Vec::new();
    for l in listed {
        match &l.summary {
            // A session that cannot be read is named, not silently left out.
            Err(e) => eprintln!("tandem: session {} is left out of the report: {e}", l.id),
            Ok(s) if in_range(s) => picked.push(l),
            Ok(_) => {}
        }
    }
    if own {
        picked = only_mine(root, picked);
    }
    if picked.is_empty() && (!args.all || args.period) {
        let why = if nothing_listed || !session_range.is_set() {
            String::new()
        } else {
            format!(" that started within {session_range}")
        };
        return Err(ReportError::NoSessions(root.display().to_string(), why));
    }
    if args.all {
        // Listed newest first; a report reads in the order the work happened.
        picked.reverse();
    } else {
        picked.truncate(1);
    }
    Ok(picked)
}

/// Every format but the timesheet, for its audience.
fn render(
    args: &ReportArgs,
    root: &Path,
    (format, audience): (Format, Audience),
    reports: &[SessionReport],
    who: &Identity,
    range: DateRange,
) -> Result<String, ReportError> {
    // A session that never got a plan has nothing to tell a client.
    let client = || {
        let worked: Vec<SessionReport> = reports
            .iter()
            .filter(|r| !r.tasks.is_empty())
            .cloned()
            .collect();
        client_report(&worked, who, range, &chrono::Local)
    };
    Ok(match (format, audience) {
        (Format::Json, _) if args.all => all_to_json(&combine(reports.to_vec()))?,
        (Format::Json, _) => match reports.first() {
            Some(r) => to_json(r)?,
            None => {
                let dir = root.display().to_string();
                return Err(ReportError::NoSessions(dir, String::new()));
            }
        },
        (Format::Text, _) => {
            let r = client();
            if let Some(n) = args.task
                && !r
                    .sessions
                    .iter()
                    .flat_map(|s| &s.tasks)
                    .any(|t| t.number == n)
            {
                return Err(ReportError::Usage(format!(
                    "there is no task {n} in session {}",
                    reports.first().map_or("", |r| r.session.as_str())
                )));
            }
            milestone_text(&r, args.task)
        }
        (Format::Html, Audience::Client) => {
            let (template, origin) = client_template()?;
            client_html(&client(), &template, &origin)?
        }
        (Format::Html, Audience::Me) => to_html(reports)?,
        (_, Audience::Client) => client_markdown(&client()),
        (_, Audience::Me) => to_markdown(reports),
    })
}

/// The format and audience the flags ask for, or a sentence saying which flags do not go
/// together (a flag that would be silently ignored is refused).
pub(super) fn check_flags(args: &ReportArgs) -> Result<(Format, Audience), ReportError> {
    let usage = |s: &str| Err(ReportError::Usage(s.to_string()));
    let format = match (args.format, args.preset) {
        (None, Some(_)) | (Some(Format::Csv), _) => Format::Csv,
        (Some(_), Some(_)) => {
            return usage("--preset names a timesheet format: use it with --format csv (or alone)");
        }
        (f, None) => f.unwrap_or_default(),
    };
    let audience = args.audience.unwrap_or(Audience::Client);
    if args.audience.is_some() && !matches!(format, Format::Md | Format::Html) {
        return usage(
            "--for chooses between the client's and your own Markdown or HTML report; \
             json, csv and text are the same for everyone",
        );
    }
    if args.task.is_some() && (format != Format::Text || args.all) {
        return usage(
            "--task picks one task of one session for a milestone text: use it with --format text, without --all",
        );
    }
    if format != Format::Csv && (args.gap.is_some() || args.email.is_some()) {
        return usage(
            "--gap and --email are for timesheets: use them with --format csv or --preset",
        );
    }
    let for_client = format == Format::Csv
        || format == Format::Text
        || (matches!(format, Format::Md | Format::Html) && audience == Audience::Client);
    if !for_client && (args.client.is_some() || args.project.is_some() || args.name.is_some()) {
        return usage(
            "--client, --project and --name go into the client report, the milestone text and timesheets, not into json or --for me",
        );
    }
    Ok((format, audience))
}

/// Who the work is for and by: flags over `.tandem/config.toml`'s `[client]` over the user
/// config's `[me]`. A client named only by its id (`client = "acme"`) is shown by that id.
fn identity(
    args: &ReportArgs,
    config: &crate::infra::config::Config,
    repo: &crate::infra::config::RepoConfig,
) -> Identity {
    let clean = |s: &Option<String>| {
        s.as_deref()
            .map(|v| one_line(v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let c = repo.client.clone().unwrap_or_default();
    Identity {
        // Not the id: a timesheet tool would create a client named "acme".
        client: clean(&args.client).or(clean(&c.name)),
        project: clean(&args.project).or(clean(&c.project)),
        name: clean(&args.name).or(clean(&config.me.name)),
        // A --name given on the command line wins over the config's split names.
        first_name: if args.name.is_some() {
            None
        } else {
            clean(&config.me.first_name)
        },
        last_name: if args.name.is_some() {
            None
        } else {
            clean(&config.me.last_name)
        },
        email: clean(&args.email).or(clean(&config.me.email)),
        config_file: crate::infra::config::config_file()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/tandem/config.toml".into()),
    }
}

fn timesheet_options(
    args: &ReportArgs,
    config: &crate::infra::config::Config,
    who: Identity,
    range: DateRange,
) -> Result<TimesheetOptions, ReportError> {
    let t = &config.timesheet;
    let gap = args
        .gap
        .or(t.merge_gap_minutes)
        .unwrap_or(crate::infra::config::TimesheetSettings::MERGE_GAP_MINUTES);
    let clockify = ClockifyFormat::parse(
        t.clockify_date.as_deref(),
        t.clockify_time.as_deref(),
        t.clockify_duration.as_deref(),
    )
    .map_err(|e| ReportError::Missing(format!("{e} (in {})", who.config_file)))?;
    Ok(TimesheetOptions {
        preset: args.preset.unwrap_or_default(),
        gap: chrono::Duration::minutes(gap.min(7 * 24 * 60) as i64),
        range,
        who,
        billable: t.billable.unwrap_or(true),
        harvest_task: t
            .harvest_task
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| crate::infra::config::TimesheetSettings::HARVEST_TASK.into()),
        clockify,
    })
}

/// The client report's template: the user's `templates/report_client.html` in the config dir
/// when there is one, else the shipped one; with where it came from, for errors.
fn client_template() -> Result<(String, String), ReportError> {
    crate::infra::prompts::shipped_or_override(
        crate::infra::config::config_dir().map(|d| d.join("templates").join(CLIENT_TEMPLATE_NAME)),
        CLIENT_TEMPLATE,
        &format!("templates/{CLIENT_TEMPLATE_NAME}"),
    )
    .map_err(
        |crate::infra::prompts::PromptError::Template { file, message }| ReportError::Template {
            file,
            message,
        },
    )
}

/// Write through a temp file in the same directory and a rename, so a reader never sees half a
/// report and an old one survives a failed write.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::infra::files::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}
