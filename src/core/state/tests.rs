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
        files: vec![],
        proposal: None,
        review_base: None,
        excluded: vec![],
        foreign: vec![],
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
