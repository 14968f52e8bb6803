//! The CSV timesheet: one row per review or hand-edit span, minutes apportioned so the sheet
//! adds up to the commit trailers.

use super::*;

/// One session's input to a timesheet: its state and the entries it was folded from.
pub type Sheet<'a> = (&'a SessionState, &'a [Entry]);

/// A timesheet in local time: one row per review or hand-edit span, `range` filtering rows by
/// their local start date. See `to_csv_in`.
pub fn to_csv(sheets: &[Sheet<'_>], range: DateRange) -> String {
    to_csv_in(sheets, range, &chrono::Local)
}

pub(super) struct Span {
    start: DateTime<Utc>,
    ms: u64,
    task: String,
    kind: TimeKind,
    /// Index into the apportioning groups.
    group: usize,
    centiminutes: u64,
}

/// The timesheet with times shown in `tz`. Columns `date,start,end,minutes,task,activity`, CRLF
/// line ends and the task quoted, per RFC 4180. Spans the reducer ignores (naming a task or
/// iteration that does not exist) are left out, as are empty ones.
///
/// Minutes are apportioned before the date filter, over all sheets together and per activity:
/// the sheet total is `round(sum of per-task rounded seconds / 60)` in hundredths, split over
/// tasks by their seconds, then over a task's spans by their milliseconds. So an unfiltered
/// sheet's review minutes × 60, rounded, equal the summed `Tandem-Review-Seconds` of its tasks.
pub fn to_csv_in<Tz: TimeZone>(sheets: &[Sheet<'_>], range: DateRange, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let mut spans: Vec<Span> = Vec::new();
    // (sheet, task, is review) → group index; TimeKind is not Hash.
    let mut groups: HashMap<(usize, usize, bool), usize> = HashMap::new();
    let mut group_ms: Vec<u64> = Vec::new();
    let mut group_kind: Vec<TimeKind> = Vec::new();
    for (si, (state, entries)) in sheets.iter().enumerate() {
        for e in entries.iter() {
            let JournalEvent::HumanTime {
                task,
                iteration,
                kind,
                ms,
                started,
            } = &e.event
            else {
                continue;
            };
            if *ms == 0 || state.iteration(*task, *iteration).is_none() {
                continue;
            }
            let Some(t) = state.task(*task) else { continue };
            let group = *groups
                .entry((si, *task, *kind == TimeKind::Review))
                .or_insert_with(|| {
                    group_ms.push(0);
                    group_kind.push(*kind);
                    group_ms.len() - 1
                });
            group_ms[group] += ms;
            spans.push(Span {
                start: *started,
                ms: *ms,
                task: format!("{} {}", t.number, one_line(&t.spec.title)),
                kind: *kind,
                group,
                centiminutes: 0,
            });
        }
    }
    for kind in [TimeKind::Review, TimeKind::HandEdit] {
        let ids: Vec<usize> = (0..group_ms.len())
            .filter(|&g| group_kind[g] == kind)
            .collect();
        let seconds: Vec<u64> = ids.iter().map(|&g| secs(group_ms[g])).collect();
        let total = centiminutes(seconds.iter().sum());
        for (&g, share) in ids.iter().zip(apportion(total, &seconds)) {
            let members: Vec<usize> = (0..spans.len()).filter(|&i| spans[i].group == g).collect();
            let weights: Vec<u64> = members.iter().map(|&i| spans[i].ms).collect();
            for (&i, c) in members.iter().zip(apportion(share, &weights)) {
                spans[i].centiminutes = c;
            }
        }
    }
    // Chronological; the stable sort keeps journal order for spans that start together.
    spans.sort_by_key(|s| s.start);
    let mut out = String::from("date,start,end,minutes,task,activity\r\n");
    for s in spans {
        let start = s.start.with_timezone(tz);
        if !range.contains(start.date_naive()) {
            continue;
        }
        let end = (s.start + chrono::Duration::milliseconds(s.ms as i64)).with_timezone(tz);
        let _ = write!(
            out,
            "{},{},{},{}.{:02},{},{}\r\n",
            start.format("%Y-%m-%d"),
            start.format("%H:%M:%S"),
            end.format("%H:%M:%S"),
            s.centiminutes / 100,
            s.centiminutes % 100,
            csv_quote(&s.task),
            match s.kind {
                TimeKind::Review => "review",
                TimeKind::HandEdit => "hand edit",
            }
        );
    }
    out
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
