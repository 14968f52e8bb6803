//! Timesheets: work blocks (see `blocks.rs`) written as tandem's own CSV or in the exact import
//! format of Toggl Track, Harvest or Clockify.
//!
//! Invariants: one row per work block, rows never overlap, and each preset's amounts are
//! apportioned in the unit it writes (seconds, minutes, hundredths of a minute or of an hour),
//! so an unfiltered sheet adds up to the commit trailers in that unit. A preset that needs a
//! field (an email, a client, a name) and has none is an error naming the setting, never a
//! sheet that the tool then refuses.

use super::*;

/// Which timesheet to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Preset {
    /// tandem's own: date, start, end, minutes, task, activity.
    #[default]
    Tandem,
    /// Toggl Track's CSV import.
    Toggl,
    /// Harvest's time import (exactly its eight columns, in order).
    Harvest,
    /// Clockify's time import (formats as `[timesheet] clockify_*` say; US defaults).
    Clockify,
}

impl Preset {
    fn name(self) -> &'static str {
        match self {
            Preset::Tandem => "tandem",
            Preset::Toggl => "Toggl Track",
            Preset::Harvest => "Harvest",
            Preset::Clockify => "Clockify",
        }
    }
}

/// How Clockify's workspace writes dates, times and durations: an import must match them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockifyFormat {
    /// A chrono format for "Start Date", from e.g. `MM/DD/YYYY`.
    pub date: String,
    pub hours24: bool,
    pub duration: ClockifyDuration,
}

impl Default for ClockifyFormat {
    /// Clockify's own defaults, as its sample import file: 08/31/2019, 9:00 AM, 8:00.
    fn default() -> Self {
        ClockifyFormat {
            date: "%m/%d/%Y".into(),
            hours24: false,
            duration: ClockifyDuration::Compact,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockifyDuration {
    /// h:mm
    Compact,
    /// hh:mm:ss
    Full,
    /// h.hh
    Decimal,
}

impl ClockifyFormat {
    /// `[timesheet] clockify_date`, `clockify_time`, `clockify_duration` as Clockify's settings
    /// name them; anything else is an error naming the setting and what it takes.
    pub fn parse(
        date: Option<&str>,
        time: Option<&str>,
        duration: Option<&str>,
    ) -> Result<Self, String> {
        let mut f = ClockifyFormat::default();
        if let Some(d) = date {
            let known = [
                ("MM/DD/YYYY", "%m/%d/%Y"),
                ("DD/MM/YYYY", "%d/%m/%Y"),
                ("YYYY-MM-DD", "%Y-%m-%d"),
                ("DD-MM-YYYY", "%d-%m-%Y"),
                ("MM-DD-YYYY", "%m-%d-%Y"),
                ("DD.MM.YYYY", "%d.%m.%Y"),
                ("YYYY/MM/DD", "%Y/%m/%d"),
            ];
            f.date = known
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(d.trim()))
                .map(|(_, v)| v.to_string())
                .ok_or_else(|| {
                    format!(
                        "`clockify_date = \"{d}\"` under [timesheet]: use one of {}",
                        known.map(|(k, _)| k).join(", ")
                    )
                })?;
        }
        if let Some(t) = time {
            f.hours24 = match t.trim() {
                "24h" | "24" => true,
                "12h" | "12" => false,
                _ => {
                    return Err(format!(
                        "`clockify_time = \"{t}\"` under [timesheet]: use \"12h\" or \"24h\""
                    ));
                }
            };
        }
        if let Some(d) = duration {
            f.duration = match d.trim() {
                "h:mm" | "compact" => ClockifyDuration::Compact,
                "hh:mm:ss" | "full" => ClockifyDuration::Full,
                "decimal" | "h.hh" => ClockifyDuration::Decimal,
                _ => {
                    return Err(format!(
                        "`clockify_duration = \"{d}\"` under [timesheet]: use \"h:mm\", \"hh:mm:ss\" or \"decimal\""
                    ));
                }
            };
        }
        Ok(f)
    }
}

/// Everything a timesheet needs besides the journals.
#[derive(Debug, Clone)]
pub struct TimesheetOptions {
    pub preset: Preset,
    /// Spans closer than this merge into one block.
    pub gap: chrono::Duration,
    /// Rows kept by their local start date.
    pub range: DateRange,
    pub who: Identity,
    pub billable: bool,
    pub harvest_task: String,
    pub clockify: ClockifyFormat,
}

impl Default for TimesheetOptions {
    fn default() -> Self {
        TimesheetOptions {
            preset: Preset::Tandem,
            gap: chrono::Duration::minutes(
                crate::infra::config::TimesheetSettings::MERGE_GAP_MINUTES as i64,
            ),
            range: DateRange::default(),
            who: Identity::default(),
            billable: true,
            harvest_task: crate::infra::config::TimesheetSettings::HARVEST_TASK.into(),
            clockify: ClockifyFormat::default(),
        }
    }
}

/// The timesheet in local time.
pub fn timesheet(sheets: &[Sheet<'_>], opts: &TimesheetOptions) -> Result<String, ReportError> {
    timesheet_in(sheets, opts, &chrono::Local)
}

fn activity(kind: TimeKind) -> &'static str {
    match kind {
        TimeKind::Review => "review",
        TimeKind::HandEdit => "hand edit",
    }
}

/// What a row says it was: "1. Greet the user (review)".
fn description(b: &Block) -> String {
    format!("{} ({})", b.task_words(), activity(b.kind))
}

/// `h:mm:ss` (or `hh:mm:ss` with `pad`) from seconds.
fn clock(seconds: u64, pad: bool) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if pad {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

fn hundredths(n: u64) -> String {
    format!("{}.{:02}", n / 100, n % 100)
}

/// A field a preset cannot do without, or an error naming where to set it.
fn need<'a>(
    value: &'a Option<String>,
    preset: Preset,
    what: &str,
    setting: String,
) -> Result<&'a str, ReportError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ReportError::Missing(format!(
                "the {} timesheet needs {what}: {setting}",
                preset.name()
            ))
        })
}

/// The timesheet with times shown in `tz`. See the module invariants.
// Long: one arm per import preset, each with its tool's exact columns; the arms share the
// identity closures and the writer, so they read side by side.
pub fn timesheet_in<Tz: TimeZone>(
    sheets: &[Sheet<'_>],
    opts: &TimesheetOptions,
    tz: &Tz,
) -> Result<String, ReportError>
where
    Tz::Offset: Display,
{
    let who = &opts.who;
    let me = |field: &str, flag: &str| {
        format!(
            "set `{field}` under [me] in {} or pass {flag}",
            who.config_file
        )
    };
    let repo = |field: &str, flag: &str| {
        format!(
            "set `{field}` under [client] in {} or pass {flag}",
            crate::infra::config::RepoConfig::PATH
        )
    };
    let (first, last) = who.first_last();
    // Toggl Track and Clockify book time to a user by their login email.
    let email = || {
        need(
            &who.email,
            opts.preset,
            "your email",
            me("email", "--email"),
        )
    };
    let yes_no = if opts.billable { "Yes" } else { "No" };
    let blocks = blocks(sheets, opts.gap);
    let unit = match (opts.preset, opts.clockify.duration) {
        (Preset::Tandem, _) => Unit::CENTIMINUTE,
        (Preset::Toggl, _) | (Preset::Clockify, ClockifyDuration::Full) => Unit::SECOND,
        (Preset::Harvest, _) | (Preset::Clockify, ClockifyDuration::Decimal) => Unit::CENTIHOUR,
        (Preset::Clockify, ClockifyDuration::Compact) => Unit::MINUTE,
    };
    let amounts = amounts(&blocks, unit);
    // A tool's import refuses (or keeps as empty entries) rows of no time: the presets leave
    // them out, which changes no total; tandem's own sheet keeps every block.
    let kept = blocks
        .iter()
        .zip(amounts)
        .filter(|(b, _)| opts.range.contains(b.start.with_timezone(tz).date_naive()))
        .filter(|(_, amount)| opts.preset == Preset::Tandem || *amount > 0);

    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut row = |fields: &[&str]| {
        w.write_record(fields.iter().map(|f| inert(f).into_owned()))
            .map_err(ReportError::from)
    };
    match opts.preset {
        Preset::Tandem => {
            // Kept as it always was: the task always quoted (some sheets split on bare commas).
            let mut out = String::from("date,start,end,minutes,task,activity\r\n");
            for (b, cm) in kept {
                let start = b.start.with_timezone(tz);
                let _ = write!(
                    out,
                    "{},{},{},{},{},{}\r\n",
                    start.format("%Y-%m-%d"),
                    start.format("%H:%M:%S"),
                    b.end().with_timezone(tz).format("%H:%M:%S"),
                    hundredths(cm),
                    csv_quote(&b.task_words()),
                    activity(b.kind)
                );
            }
            return Ok(out);
        }
        Preset::Toggl => {
            let email = email()?;
            let project = who.project.as_deref().unwrap_or("");
            let client = who.client.as_deref().unwrap_or("");
            row(&[
                "Email",
                "Start date",
                "Start time",
                "Duration",
                "Project",
                "Client",
                "Description",
                "Billable",
                "Tags",
            ])?;
            for (b, seconds) in kept {
                let start = b.start.with_timezone(tz);
                row(&[
                    email,
                    &start.format("%Y-%m-%d").to_string(),
                    &start.format("%H:%M:%S").to_string(),
                    &clock(seconds, true),
                    project,
                    client,
                    &description(b),
                    yes_no,
                    activity(b.kind),
                ])?;
            }
        }
        Preset::Harvest => {
            let client = need(
                &who.client,
                opts.preset,
                "a client",
                repo("name", "--client"),
            )?;
            let project = need(
                &who.project,
                opts.preset,
                "a project",
                repo("project", "--project"),
            )?;
            let first = need(
                &first,
                opts.preset,
                "your first name (a person in the Harvest account)",
                me("name", "--name"),
            )?;
            let last = need(
                &last,
                opts.preset,
                "your last name (a person in the Harvest account)",
                me(
                    "name` (first and last) or `last_name",
                    "--name \"First Last\"",
                ),
            )?;
            row(&[
                "Date",
                "Client",
                "Project",
                "Task",
                "Notes",
                "Hours",
                "First name",
                "Last name",
            ])?;
            for (b, centihours) in kept {
                row(&[
                    &b.start.with_timezone(tz).format("%Y-%m-%d").to_string(),
                    client,
                    project,
                    &opts.harvest_task,
                    &description(b),
                    &hundredths(centihours),
                    first,
                    last,
                ])?;
            }
        }
        Preset::Clockify => {
            let email = email()?;
            row(&[
                "Project",
                "Client",
                "Description",
                "Task",
                "Email",
                "Tags",
                "Billable",
                "Start Date",
                "Start Time",
                "Duration (h)",
            ])?;
            for (b, amount) in kept {
                let start = b.start.with_timezone(tz);
                let time = if opts.clockify.hours24 {
                    start.format("%H:%M").to_string()
                } else {
                    start.format("%-I:%M %p").to_string()
                };
                let duration = match opts.clockify.duration {
                    ClockifyDuration::Compact => hours_minutes(amount),
                    ClockifyDuration::Full => clock(amount, true),
                    ClockifyDuration::Decimal => hundredths(amount),
                };
                row(&[
                    who.project.as_deref().unwrap_or(""),
                    who.client.as_deref().unwrap_or(""),
                    &description(b),
                    "",
                    email,
                    activity(b.kind),
                    yes_no,
                    &start.format(&opts.clockify.date).to_string(),
                    &time,
                    &duration,
                ])?;
            }
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Csv(e.into_error().into()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cell a spreadsheet would not take for a formula: one starting with `=`, `+`, `-`, `@` or a
/// tab or carriage return gets a leading `'` (the client and project names come from a
/// repository's committed config, which whoever controls the repository writes).
pub(super) fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Line breaks and tabs become spaces: an invoicing tool shows a task as one line.
pub(super) fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn csv_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
