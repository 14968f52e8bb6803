use super::*;
use crate::core::journal::JournalEvent as E;

fn entries(events: Vec<E>) -> Vec<Entry> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Entry {
            seq: i as u64 + 1,
            at: DateTime::from_timestamp_millis(1_000 * i as i64).unwrap(),
            event,
        })
        .collect()
}

fn spec(title: &str) -> TaskSpec {
    TaskSpec {
        title: title.into(),
        instructions: "do".into(),
        acceptance: vec!["a".into(), "b".into()],
        human: false,
        ..Default::default()
    }
}

fn ready(task: usize, iteration: u32) -> E {
    E::IterationReady {
        task,
        iteration,
        snapshot: format!("s{task}{iteration}"),
        base: "b".into(),
        summary: "sum".into(),
        agent_ms: 1500,
        incomplete: false,
        cut_off: false,
        files: vec![],
        proposal: None,
        review_base: None,
        excluded: vec![],
        foreign: vec![],
        anchors: vec![],
    }
}

#[test]
fn walks_the_loop() {
    let mut ev = vec![E::PlanSet {
        tasks: vec![spec("one"), spec("two")],
        source: PlanSource::File,
    }];
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(s.next_step(), NextStep::ApprovePlan);
    ev.push(E::PlanApproved);
    ev.push(E::DraftStarted {
        task: 1,
        iteration: 1,
        base: Some("h".into()),
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(
        s.next_step(),
        NextStep::Draft {
            task: 1,
            iteration: 1,
            restart: true
        }
    );
    ev.push(ready(1, 1));
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(
        s.next_step(),
        NextStep::Review {
            task: 1,
            iteration: 1
        }
    );
    ev.push(E::HumanTime {
        task: 1,
        iteration: 1,
        kind: TimeKind::Review,
        ms: 60_000,
        started: DateTime::from_timestamp_millis(0).unwrap(),
    });
    ev.push(E::Decision {
        task: 1,
        iteration: 1,
        action: Decision::Revise,
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(
        s.next_step(),
        NextStep::Draft {
            task: 1,
            iteration: 2,
            restart: false
        }
    );
    ev.push(E::DraftStarted {
        task: 1,
        iteration: 2,
        base: None,
    });
    ev.push(ready(1, 2));
    ev.push(E::Decision {
        task: 1,
        iteration: 2,
        action: Decision::Accept,
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(
        s.next_step(),
        NextStep::Commit {
            task: 1,
            iteration: 2
        }
    );
    assert_eq!(s.task(1).unwrap().review_ms(), 60_000);
    assert_eq!(s.task(1).unwrap().agent_ms(), 3000);
    assert_eq!(s.task(1).unwrap().base.as_deref(), Some("h"));
    ev.push(E::Committed {
        task: 1,
        iteration: 2,
        commit: "c".into(),
    });
    ev.push(E::DraftStarted {
        task: 2,
        iteration: 1,
        base: Some("c".into()),
    });
    ev.push(ready(2, 1));
    ev.push(E::Decision {
        task: 2,
        iteration: 1,
        action: Decision::Reject,
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(
        s.next_step(),
        NextStep::Restore {
            task: 2,
            iteration: 1
        }
    );
    ev.push(E::Restored {
        task: 2,
        iteration: 1,
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(s.next_step(), NextStep::Finish);
    ev.push(E::SessionFinished);
    let s = SessionState::from_entries(&entries(ev));
    assert_eq!(s.next_step(), NextStep::Done);
    assert_eq!(s.describe(), "finished: 1/2 tasks accepted");
}

#[test]
fn human_tasks_are_skipped_and_first_preimage_wins() {
    let mut human = spec("by hand");
    human.human = true;
    let ev = vec![
        E::PlanSet {
            tasks: vec![human, spec("agent")],
            source: PlanSource::Planner,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 2,
            iteration: 1,
            base: None,
        },
        E::FileTouched {
            task: 2,
            iteration: 1,
            path: "a".into(),
            preimage: None,
            created_dirs: vec![],
            exec: None,
        },
        E::FileTouched {
            task: 2,
            iteration: 2,
            path: "a".into(),
            preimage: Some("x".into()),
            created_dirs: vec![],
            exec: None,
        },
    ];
    let s = SessionState::from_entries(&entries(ev));
    assert_eq!(s.task(1).unwrap().status, TaskStatus::Human);
    assert_eq!(s.task(2).unwrap().touched["a"].preimage, None);
    assert!(matches!(s.next_step(), NextStep::Draft { task: 2, .. }));
}

#[test]
fn comments_edit_and_delete() {
    let ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: None,
        },
        E::CommentAdded {
            task: 1,
            iteration: 1,
            id: 1,
            path: "a".into(),
            line: 2,
            text: "x".into(),
            quote: "q".into(),
        },
        E::CommentAdded {
            task: 1,
            iteration: 1,
            id: 2,
            path: "a".into(),
            line: 3,
            text: "y".into(),
            quote: "q".into(),
        },
        E::CommentEdited {
            task: 1,
            iteration: 1,
            id: 1,
            text: "x2".into(),
        },
        E::CommentDeleted {
            task: 1,
            iteration: 1,
            id: 2,
        },
        E::CriterionTicked {
            task: 1,
            iteration: 1,
            criterion: 2,
            met: true,
        },
        // Out of range: ignored, not a panic.
        E::CriterionTicked {
            task: 1,
            iteration: 1,
            criterion: 0,
            met: true,
        },
    ];
    let s = SessionState::from_entries(&entries(ev));
    let it = s.iteration(1, 1).unwrap();
    assert_eq!(it.comments.len(), 1);
    assert_eq!(it.comments[0].text, "x2");
    assert_eq!(s.task(1).unwrap().criteria_met, vec![false, true]);
}

fn ready_saying(task: usize, iteration: u32, summary: &str) -> E {
    match ready(task, iteration) {
        E::IterationReady {
            task,
            iteration,
            snapshot,
            base,
            agent_ms,
            incomplete,
            cut_off,
            files,
            proposal,
            review_base,
            excluded,
            foreign,
            anchors,
            ..
        } => E::IterationReady {
            task,
            iteration,
            snapshot,
            base,
            summary: summary.into(),
            agent_ms,
            incomplete,
            cut_off,
            files,
            proposal,
            review_base,
            excluded,
            foreign,
            anchors,
        },
        other => other,
    }
}

#[test]
fn the_whole_task_is_every_drafts_summary_in_order() {
    let mut ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: None,
        },
        ready_saying(1, 1, " takes a name\n"),
    ];
    let s = SessionState::from_entries(&entries(ev.clone()));
    let t = s.task(1).unwrap();
    // One draft: its summary as it always read.
    assert_eq!(t.summary_text(1), "takes a name");
    assert_eq!(t.summaries(1), vec![(1, "takes a name")]);
    ev.extend([
        E::Decision {
            task: 1,
            iteration: 1,
            action: Decision::Revise,
        },
        E::DraftStarted {
            task: 1,
            iteration: 2,
            base: None,
        },
        ready_saying(1, 2, ""),
        E::Decision {
            task: 1,
            iteration: 2,
            action: Decision::Revise,
        },
        E::DraftStarted {
            task: 1,
            iteration: 3,
            base: None,
        },
        ready_saying(1, 3, "friendlier"),
    ]);
    let s = SessionState::from_entries(&entries(ev.clone()));
    let t = s.task(1).unwrap();
    assert_eq!(
        t.summary_text(3),
        "Iteration 1: takes a name\n\nIteration 3: friendlier"
    );
    // Up to an earlier iteration: only what was drafted by then.
    assert_eq!(t.summary_text(2), "Iteration 1: takes a name");
    // A draft still running has no summary yet.
    ev.extend([
        E::Decision {
            task: 1,
            iteration: 3,
            action: Decision::Revise,
        },
        E::DraftStarted {
            task: 1,
            iteration: 4,
            base: None,
        },
    ]);
    let s = SessionState::from_entries(&entries(ev));
    assert_eq!(
        s.task(1).unwrap().summaries(4),
        vec![(1, "takes a name"), (3, "friendlier")]
    );
}

#[test]
fn an_abandoned_session_is_done_and_says_where_it_stood() {
    let mut ev = vec![
        E::SessionStarted {
            session: "s".into(),
            tandem_version: "t".into(),
            model: "m".into(),
            branch: None,
            head: None,
            brief: Some("b".into()),
            allow_dirty: false,
            author: None,
        },
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: None,
        },
        E::FileTouched {
            task: 1,
            iteration: 1,
            path: "a".into(),
            preimage: Some("x".into()),
            created_dirs: vec![],
            exec: None,
        },
        ready(1, 1),
    ];
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert!(!s.abandoned());
    assert_eq!(s.task(1).unwrap().uncommitted_agent_paths(), vec!["a"]);
    ev.push(E::SessionAbandoned {
        left: vec!["a".into()],
    });
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert!(s.user_abandoned && s.abandoned() && !s.finished);
    assert_eq!(s.next_step(), NextStep::Done);
    assert_eq!(
        s.describe(),
        "abandoned at: awaiting review of task 1, iteration 1"
    );
    // The journal line reads back, and an older line without `left` still parses.
    let line = serde_json::to_string(&entries(ev).pop().unwrap()).unwrap();
    assert!(
        line.contains(r#""type":"session_abandoned","left":["a"]"#),
        "{line}"
    );
    let bare: Entry = serde_json::from_str(
        r#"{"seq":1,"at":"2026-01-01T00:00:00Z","event":{"type":"session_abandoned"}}"#,
    )
    .unwrap();
    assert_eq!(bare.event, E::SessionAbandoned { left: vec![] });
}

#[test]
fn agent_paths_are_uncommitted_until_the_task_is_committed_or_put_back() {
    let mut ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: None,
        },
        E::FileTouched {
            task: 1,
            iteration: 1,
            path: "a".into(),
            preimage: None,
            created_dirs: vec![],
            exec: None,
        },
    ];
    // Mid-draft (or killed in it).
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(s.task(1).unwrap().uncommitted_agent_paths(), vec!["a"]);
    ev.extend([
        ready(1, 1),
        E::Decision {
            task: 1,
            iteration: 1,
            action: Decision::Accept,
        },
    ]);
    // Accepted, commit not made yet: still only on disk.
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(s.task(1).unwrap().uncommitted_agent_paths(), vec!["a"]);
    ev.push(E::Committed {
        task: 1,
        iteration: 1,
        commit: "c".into(),
    });
    let s = SessionState::from_entries(&entries(ev));
    assert!(s.task(1).unwrap().uncommitted_agent_paths().is_empty());
}

fn judged(task: usize, iteration: u32, verdicts: &[(usize, Judgement)]) -> E {
    E::CriteriaJudged {
        task,
        iteration,
        verdicts: verdicts
            .iter()
            .map(
                |&(criterion, verdict)| crate::core::journal::CriterionVerdict {
                    criterion,
                    verdict,
                    evidence: "e".into(),
                },
            )
            .collect(),
        problem: None,
    }
}

use crate::core::journal::Judgement;

#[test]
fn a_regression_needs_an_earlier_met_not_a_tick_given_now() {
    let start = |iteration| E::DraftStarted {
        task: 1,
        iteration,
        base: Some("h".into()),
    };
    let tick = |iteration, met| E::CriterionTicked {
        task: 1,
        iteration,
        criterion: 1,
        met,
    };
    let mut ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        start(1),
        judged(1, 1, &[(1, Judgement::NotMet)]),
        ready(1, 1),
        start(2),
        judged(1, 2, &[(1, Judgement::NotMet)]),
        ready(1, 2),
        // The reviewer disagrees with the checker while reviewing iteration 2.
        tick(2, true),
    ];
    let s = SessionState::from_entries(&entries(ev.clone()));
    let t = s.task(1).unwrap();
    assert!(t.criteria_met[0]);
    assert!(
        t.regressed(2).is_empty(),
        "a tick given now is no regression"
    );
    // Iteration 3 is judged not met: the tick from iteration 2's review made it a regression.
    ev.extend([
        start(3),
        judged(1, 3, &[(1, Judgement::NotMet)]),
        ready(1, 3),
    ]);
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert_eq!(s.task(1).unwrap().regressed(3), vec![1]);
    // Ticks carry into the next iteration as they do on screen; an untick there ends them.
    assert!(s.task(1).unwrap().iterations[2].ticked.contains(&1));
    ev.push(tick(3, false));
    let s = SessionState::from_entries(&entries(ev.clone()));
    assert!(s.task(1).unwrap().iterations[2].ticked.is_empty());
    assert_eq!(
        s.task(1).unwrap().regressed(3),
        vec![1],
        "iteration 2's tick stands"
    );
}

#[test]
fn a_restarted_attempt_forgets_the_dropped_attempts_verdicts() {
    let ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: Some("h".into()),
        },
        judged(1, 1, &[(1, Judgement::Met)]),
        // Interrupted before iteration_ready: the attempt starts again.
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: Some("h".into()),
        },
    ];
    let s = SessionState::from_entries(&entries(ev));
    let it = &s.task(1).unwrap().iterations[0];
    assert!(it.verdicts.is_empty() && it.checker_problem.is_none());
}

#[test]
fn always_holds_only_for_the_confinement_it_was_given_under() {
    let answered = |command: &str, sandboxed| E::CommandAnswered {
        task: 1,
        iteration: 1,
        step: 1,
        command: command.into(),
        approved: true,
        always: true,
        waited_ms: 5,
        sandboxed,
    };
    let s = SessionState::from_entries(&entries(vec![
        answered("make test", true),
        answered("make lint", false),
    ]));
    assert!(s.always_allowed.contains("make test"));
    assert!(!s.always_unsandboxed.contains("make test"));
    assert!(s.always_unsandboxed.contains("make lint"));
    // A journal from before the field: read as sandboxed, so it never widens.
    let old: crate::core::journal::JournalEvent = serde_json::from_str(
        r#"{"type":"command_answered","task":1,"iteration":1,"step":1,"command":"x","approved":true,"always":true,"waited_ms":1}"#,
    )
    .unwrap();
    let s = SessionState::from_entries(&entries(vec![old]));
    assert!(s.always_allowed.contains("x") && s.always_unsandboxed.is_empty());
}

#[test]
fn a_ready_draft_places_its_threads_in_the_same_journal_line() {
    use crate::core::journal::ThreadAnchor;
    use crate::core::threads::{Anchor, ThreadRef};
    let key: ThreadRef = "c1.1".parse().unwrap();
    let mut second = ready(1, 2);
    if let E::IterationReady { anchors, .. } = &mut second {
        anchors.push(ThreadAnchor {
            thread: key,
            anchor: Anchor {
                path: "a".into(),
                line: Some(5),
                outdated: false,
            },
        });
    }
    let ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: None,
        },
        ready(1, 1),
        E::CommentAdded {
            task: 1,
            iteration: 1,
            id: 1,
            path: "a".into(),
            line: 2,
            text: "x".into(),
            quote: "q".into(),
        },
        E::Decision {
            task: 1,
            iteration: 1,
            action: Decision::Revise,
        },
        E::DraftStarted {
            task: 1,
            iteration: 2,
            base: None,
        },
        second,
    ];
    let s = SessionState::from_entries(&entries(ev));
    let th = &s.task(1).unwrap().threads[0];
    assert_eq!(th.anchors.get(&2).and_then(|a| a.line), Some(5));
}

/// The user edited a file while iteration 1 drafted; iteration 2's attempt is dropped (a
/// cancel, a crash, a model error): the file is still partly the user's, so a reject must
/// still ask before writing it (the mark of iteration 1 stays; the dropped attempt's own go).
#[test]
fn a_dropped_attempt_keeps_earlier_iterations_marks_of_the_users_edits() {
    let touched = |path: &str, iteration| E::FileTouched {
        task: 1,
        iteration,
        path: path.into(),
        preimage: Some("p".into()),
        created_dirs: vec![],
        exec: None,
    };
    let written = |path: &str, iteration, foreign| E::FileWritten {
        task: 1,
        iteration,
        path: path.into(),
        blob: Some("w".into()),
        foreign,
    };
    let mut first = ready(1, 1);
    if let E::IterationReady { foreign, .. } = &mut first {
        *foreign = vec!["notes.md".into()];
    }
    let ev = vec![
        E::PlanSet {
            tasks: vec![spec("one")],
            source: PlanSource::File,
        },
        E::PlanApproved,
        E::DraftStarted {
            task: 1,
            iteration: 1,
            base: Some("h".into()),
        },
        touched("notes.md", 1),
        written("notes.md", 1, false),
        touched("other.md", 1),
        written("other.md", 1, false),
        first,
        E::Decision {
            task: 1,
            iteration: 1,
            action: Decision::Revise,
        },
        E::DraftStarted {
            task: 1,
            iteration: 2,
            base: Some("h".into()),
        },
        // During the dropped attempt the user also changed other.md.
        written("other.md", 2, true),
        E::DraftAborted {
            task: 1,
            iteration: 2,
            reason: "cancelled".into(),
        },
    ];
    let s = SessionState::from_entries(&entries(ev));
    let t = s.task(1).unwrap();
    assert!(t.touched["notes.md"].foreign, "{:?}", t.touched);
    assert!(!t.touched["other.md"].foreign, "{:?}", t.touched);
}
