//! Work blocks: the rows of every timesheet.
//!
//! The journal records human time as short spans (the TUI saves the review clock every few
//! seconds, and a hand edit is its own span). A timesheet wants work blocks: consecutive spans of
//! the same task and activity, less than `gap` apart, become one block.
//!
//! Invariants:
//! - A block's duration is the sum of its spans' durations, never the wall time it covers, so
//!   merging changes no total.
//! - Blocks never overlap: a block that would start before the previous one ends (a review span
//!   whose clock paused while the editor was open, say) is laid after it, keeping its duration.
//! - Each block's amount in a unit (seconds, minutes, hundredths of a minute or of an hour) is
//!   apportioned by largest remainder from the sheet's total down to tasks and then to blocks,
//!   so a whole sheet adds up to the commit trailers in any unit, whatever the rounding.

use super::*;

/// One session's input to a timesheet: its state and the entries it was folded from.
pub type Sheet<'a> = (&'a SessionState, &'a [Entry]);

/// One row of a timesheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// When the block starts on the sheet (after laying it clear of the one before).
    pub start: DateTime<Utc>,
    /// Exact milliseconds of the spans merged into it.
    pub ms: u64,
    pub task: usize,
    pub title: String,
    pub kind: TimeKind,
    /// Index of the (sheet, task, activity) group it belongs to.
    group: usize,
}

impl Block {
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds(self.ms as i64)
    }

    /// "1. Title": the task as a timesheet names it, on one line.
    pub fn task_words(&self) -> String {
        format!("{}. {}", self.task, one_line(&self.title))
    }
}

/// What a timesheet measures its rows in: `num / den` seconds a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    num: u64,
    den: u64,
}

impl Unit {
    pub const SECOND: Unit = Unit { num: 1, den: 1 };
    pub const MINUTE: Unit = Unit { num: 60, den: 1 };
    /// A hundredth of a minute: 0.6 s.
    pub const CENTIMINUTE: Unit = Unit { num: 3, den: 5 };
    /// A hundredth of an hour: 36 s.
    pub const CENTIHOUR: Unit = Unit { num: 36, den: 1 };

    /// Whole seconds in this unit, rounded half up.
    pub fn of_seconds(self, seconds: u64) -> u64 {
        (seconds * self.den * 2 + self.num) / (2 * self.num)
    }
}

/// Every time span of `sheets`, merged into blocks (spans of the same task and activity that
/// follow each other with less than `gap` between them), in order, none overlapping. Spans the
/// reducer ignores (a task or iteration that does not exist) and empty ones are left out.
pub fn blocks(sheets: &[Sheet<'_>], gap: chrono::Duration) -> Vec<Block> {
    struct Span {
        start: DateTime<Utc>,
        ms: u64,
        key: (usize, usize, TimeKind),
    }
    let mut spans: Vec<Span> = Vec::new();
    let mut titles: HashMap<(usize, usize), String> = HashMap::new();
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
            titles
                .entry((si, *task))
                .or_insert_with(|| t.spec.title.clone());
            spans.push(Span {
                start: *started,
                ms: *ms,
                key: (si, *task, *kind),
            });
        }
    }
    // Chronological; the stable sort keeps journal order for spans that start together.
    spans.sort_by_key(|s| s.start);

    let mut groups: Vec<(usize, usize, TimeKind)> = Vec::new();
    let mut out: Vec<Block> = Vec::new();
    // The wall-clock end of the last span merged into the newest block: gaps are measured from
    // it, not from the block's shown end.
    let mut last_end: Option<DateTime<Utc>> = None;
    for s in spans {
        let end = s.start + chrono::Duration::milliseconds(s.ms as i64);
        if let (Some(b), Some(prev_end)) = (out.last_mut(), last_end)
            && groups[b.group] == s.key
            && s.start - prev_end < gap
        {
            b.ms += s.ms;
            last_end = Some(prev_end.max(end));
            continue;
        }
        let group = match groups.iter().position(|g| *g == s.key) {
            Some(g) => g,
            None => {
                groups.push(s.key);
                groups.len() - 1
            }
        };
        let (si, task, kind) = s.key;
        out.push(Block {
            start: s.start,
            ms: s.ms,
            task,
            title: titles.get(&(si, task)).cloned().unwrap_or_default(),
            kind,
            group,
        });
        last_end = Some(end);
    }
    // Lay each block clear of the one before it: durations stay, overlaps go.
    for i in 1..out.len() {
        let prev_end = out[i - 1].end();
        if out[i].start < prev_end {
            out[i].start = prev_end;
        }
    }
    out
}

/// Each block's amount in `unit`, apportioned so that, per activity, the sheet's total is the
/// sum of its tasks' trailer seconds (each task's milliseconds rounded as the trailers round
/// them) in that unit.
pub fn amounts(blocks: &[Block], unit: Unit) -> Vec<u64> {
    let n_groups = blocks.iter().map(|b| b.group + 1).max().unwrap_or(0);
    let mut group_ms = vec![0u64; n_groups];
    let mut group_kind = vec![TimeKind::Review; n_groups];
    for b in blocks {
        group_ms[b.group] += b.ms;
        group_kind[b.group] = b.kind;
    }
    let mut out = vec![0u64; blocks.len()];
    for kind in [TimeKind::Review, TimeKind::HandEdit] {
        let ids: Vec<usize> = (0..n_groups)
            .filter(|&g| group_kind[g] == kind && group_ms[g] > 0)
            .collect();
        let seconds: Vec<u64> = ids.iter().map(|&g| secs(group_ms[g])).collect();
        let total = unit.of_seconds(seconds.iter().sum());
        for (&g, share) in ids.iter().zip(apportion(total, &seconds)) {
            let members: Vec<usize> = (0..blocks.len())
                .filter(|&i| blocks[i].group == g)
                .collect();
            let weights: Vec<u64> = members.iter().map(|&i| blocks[i].ms).collect();
            for (&i, part) in members.iter().zip(apportion(share, &weights)) {
                out[i] = part;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journal::JournalEvent as E;
    use crate::core::plan::TaskSpec;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A session with `tasks` one-draft tasks and the given time spans (task, kind, ms, start).
    fn sheet(tasks: usize, spans: &[(usize, TimeKind, u64, &str)]) -> (SessionState, Vec<Entry>) {
        let mut ev = vec![E::PlanSet {
            tasks: (1..=tasks)
                .map(|i| TaskSpec {
                    title: format!("task {i}"),
                    instructions: "x".into(),
                    acceptance: vec!["y".into()],
                    ..Default::default()
                })
                .collect(),
            source: PlanSource::File,
        }];
        for task in 1..=tasks {
            ev.push(E::DraftStarted {
                task,
                iteration: 1,
                base: None,
            });
        }
        for (task, kind, ms, start) in spans {
            ev.push(E::HumanTime {
                task: *task,
                iteration: 1,
                kind: *kind,
                ms: *ms,
                started: at(start),
            });
        }
        let entries: Vec<Entry> = ev
            .into_iter()
            .enumerate()
            .map(|(i, event)| Entry {
                seq: i as u64 + 1,
                at: at("2026-01-01T10:00:00Z"),
                event,
            })
            .collect();
        (SessionState::from_entries(&entries), entries)
    }

    use TimeKind::{HandEdit as H, Review as R};

    #[test]
    fn saves_every_15_seconds_become_one_block() {
        // 14 saves of 15 s, back to back, then a 20-minute break and one more span.
        let starts: Vec<String> = (0..14)
            .map(|i| format!("2026-01-01T10:{:02}:{:02}Z", i * 15 / 60, i * 15 % 60))
            .collect();
        let mut spans: Vec<(usize, TimeKind, u64, &str)> =
            starts.iter().map(|s| (1, R, 15_000, s.as_str())).collect();
        spans.push((1, R, 30_000, "2026-01-01T10:25:00Z"));
        let (state, entries) = sheet(1, &spans);
        let b = blocks(&[(&state, &entries)], chrono::Duration::minutes(10));
        assert_eq!(b.len(), 2, "{b:?}");
        assert_eq!(b[0].start, at("2026-01-01T10:00:00Z"));
        assert_eq!(b[0].ms, 14 * 15_000);
        assert_eq!(b[1].ms, 30_000);
        // A gap threshold under the break's length keeps it apart; over it, one block.
        let one = blocks(&[(&state, &entries)], chrono::Duration::minutes(30));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].ms, 14 * 15_000 + 30_000);
    }

    #[test]
    fn other_work_in_between_keeps_blocks_apart() {
        let (state, entries) = sheet(
            2,
            &[
                (1, R, 60_000, "2026-01-01T10:00:00Z"),
                (2, R, 60_000, "2026-01-01T10:01:00Z"),
                (1, R, 60_000, "2026-01-01T10:02:00Z"),
                (1, H, 60_000, "2026-01-01T10:03:00Z"),
                (1, R, 60_000, "2026-01-01T10:04:00Z"),
            ],
        );
        let b = blocks(&[(&state, &entries)], chrono::Duration::minutes(10));
        let shape: Vec<(usize, TimeKind)> = b.iter().map(|b| (b.task, b.kind)).collect();
        assert_eq!(shape, vec![(1, R), (2, R), (1, R), (1, H), (1, R)]);
    }

    #[test]
    fn a_hand_edit_inside_a_review_span_is_laid_after_it() {
        // The review clock counted 5 minutes from 10:00 while the editor ran 10:02–10:04.
        let (state, entries) = sheet(
            1,
            &[
                (1, R, 300_000, "2026-01-01T10:00:00Z"),
                (1, H, 120_000, "2026-01-01T10:02:00Z"),
                (1, R, 60_000, "2026-01-01T10:04:30Z"),
            ],
        );
        let b = blocks(&[(&state, &entries)], chrono::Duration::minutes(10));
        for w in b.windows(2) {
            assert!(w[1].start >= w[0].end(), "{b:?}");
        }
        assert_eq!(b[1].kind, H);
        assert_eq!(b[1].start, at("2026-01-01T10:05:00Z"));
        assert_eq!(b.iter().map(|b| b.ms).sum::<u64>(), 480_000);
    }

    #[test]
    fn any_spans_merge_without_overlap_and_keep_the_trailer_totals() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..300 {
            let tasks = rng.usize(1..4);
            let mut owned: Vec<(usize, TimeKind, u64, String)> = Vec::new();
            for _ in 0..rng.usize(0..30) {
                let minute = rng.u32(0..120);
                owned.push((
                    rng.usize(1..=tasks),
                    if rng.u8(0..4) == 0 { H } else { R },
                    rng.u64(0..400_000),
                    format!(
                        "2026-01-01T{:02}:{:02}:{:02}Z",
                        10 + minute / 60,
                        minute % 60,
                        rng.u32(0..60)
                    ),
                ));
            }
            let spans: Vec<(usize, TimeKind, u64, &str)> = owned
                .iter()
                .map(|(t, k, ms, s)| (*t, *k, *ms, s.as_str()))
                .collect();
            let (state, entries) = sheet(tasks, &spans);
            let gap = chrono::Duration::minutes(rng.i64(0..20));
            let b = blocks(&[(&state, &entries)], gap);
            for w in b.windows(2) {
                assert!(w[1].start >= w[0].end(), "overlap: {b:?}");
            }
            for kind in [R, H] {
                let trailers: u64 = state
                    .tasks
                    .iter()
                    .map(|t| {
                        secs(
                            t.iterations
                                .iter()
                                .map(|i| {
                                    if kind == R {
                                        i.review_ms
                                    } else {
                                        i.hand_edit_ms
                                    }
                                })
                                .sum(),
                        )
                    })
                    .sum();
                let ms: u64 = b.iter().filter(|b| b.kind == kind).map(|b| b.ms).sum();
                let journal: u64 = spans.iter().filter(|s| s.1 == kind).map(|s| s.2).sum();
                assert_eq!(ms, journal);
                for unit in [
                    Unit::SECOND,
                    Unit::MINUTE,
                    Unit::CENTIMINUTE,
                    Unit::CENTIHOUR,
                ] {
                    let sum: u64 = amounts(&b, unit)
                        .iter()
                        .zip(&b)
                        .filter(|(_, b)| b.kind == kind)
                        .map(|(a, _)| a)
                        .sum();
                    assert_eq!(sum, unit.of_seconds(trailers), "{unit:?}");
                }
            }
        }
    }

    #[test]
    fn units_round_half_up() {
        assert_eq!(Unit::SECOND.of_seconds(7), 7);
        assert_eq!(Unit::MINUTE.of_seconds(29), 0);
        assert_eq!(Unit::MINUTE.of_seconds(30), 1);
        assert_eq!(Unit::CENTIMINUTE.of_seconds(175), 292);
        assert_eq!(Unit::CENTIHOUR.of_seconds(17), 0);
        assert_eq!(Unit::CENTIHOUR.of_seconds(18), 1);
        assert_eq!(Unit::CENTIHOUR.of_seconds(5400), 150);
    }
}
