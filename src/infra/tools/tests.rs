use super::*;

fn ws() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    let ws = Workspace::new(dir.path()).unwrap();
    (dir, ws)
}

fn no_hook() -> impl FnMut(&PendingWrite<'_>) -> Result<(), String> + Send {
    |_: &PendingWrite<'_>| Ok(())
}

#[test]
fn confine_refuses_each_escape() {
    let (_d, ws) = ws();
    assert!(matches!(
        ws.confine("/etc/passwd", false),
        Err(PathError::Absolute(_))
    ));
    assert!(matches!(
        ws.confine("C:\\x", false),
        Err(PathError::Absolute(_))
    ));
    assert!(matches!(
        ws.confine("../x", false),
        Err(PathError::Escapes(_))
    ));
    assert!(matches!(
        ws.confine("a/../../x", false),
        Err(PathError::Escapes(_))
    ));
    assert!(matches!(
        ws.confine(".git/config", false),
        Err(PathError::GitDir(_))
    ));
    assert!(matches!(
        ws.confine("sub/.GiT/x", false),
        Err(PathError::GitDir(_))
    ));
    assert!(matches!(
        ws.confine(".git. /x", false),
        Err(PathError::GitDir(_))
    ));
    assert_eq!(ws.confine("a/./b/../c.txt", false).unwrap().1, "a/c.txt");
    assert!(ws.confine("", true).is_ok());
    assert_eq!(ws.confine("", false), Err(PathError::Empty));
}

#[test]
fn edit_needs_exactly_one_occurrence() {
    let (d, ws) = ws();
    std::fs::write(d.path().join("b.txt"), "x\nx\n").unwrap();
    let mut hook = no_hook();
    let out = ws.run(
        "edit_file",
        r#"{"path":"b.txt","old_text":"x","new_text":"y"}"#,
        &mut hook,
    );
    assert!(matches!(out, Outcome::Continue { ok: false, ref text } if text.contains("2 times")));
    let out = ws.run(
        "edit_file",
        r#"{"path":"b.txt","old_text":"z","new_text":"y"}"#,
        &mut hook,
    );
    assert!(
        matches!(out, Outcome::Continue { ok: false, ref text } if text.contains("does not occur"))
    );
    let out = ws.run(
        "edit_file",
        r#"{"path":"a.txt","old_text":"two","new_text":"2"}"#,
        &mut hook,
    );
    assert_eq!(
        out,
        Outcome::Wrote {
            text: "edited a.txt (+1 -1)".into(),
            lines: LineChange {
                added: 1,
                removed: 1
            }
        }
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\n2\nthree\n"
    );
}

#[test]
fn hook_sees_preimage_and_created_dirs() {
    let (d, ws) = ws();
    let mut seen = Vec::new();
    {
        let mut hook = |w: &PendingWrite<'_>| {
            seen.push((
                w.rel.to_string(),
                w.old.map(|b| b.to_vec()),
                w.created_dirs.to_vec(),
            ));
            Ok(())
        };
        ws.run(
            "write_file",
            r#"{"path":"n/m/x.txt","content":"hi"}"#,
            &mut hook,
        );
        ws.run(
            "write_file",
            r#"{"path":"a.txt","content":"new"}"#,
            &mut hook,
        );
    }
    assert_eq!(
        seen[0],
        ("n/m/x.txt".into(), None, vec!["n".into(), "n/m".into()])
    );
    assert_eq!(
        seen[1],
        ("a.txt".into(), Some(b"one\ntwo\nthree\n".to_vec()), vec![])
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("n/m/x.txt")).unwrap(),
        "hi"
    );
}

#[test]
fn refused_hook_stops_the_write() {
    let (d, ws) = ws();
    let mut hook = |_: &PendingWrite<'_>| Err("journal full".to_string());
    let out = ws.run(
        "write_file",
        r#"{"path":"a.txt","content":"new"}"#,
        &mut hook,
    );
    assert!(matches!(out, Outcome::Continue { ok: false, .. }));
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
}

#[test]
fn bad_calls_become_error_results() {
    let (_d, ws) = ws();
    let mut hook = no_hook();
    for (name, args, needle) in [
        ("nope", "{}", "no tool named"),
        ("read_file", "{not json", "not valid JSON"),
        ("read_file", "{}", "missing field `path`"),
        ("write_file", r#"{"path":"x"}"#, "missing field `content`"),
    ] {
        match ws.run(name, args, &mut hook) {
            Outcome::Continue { ok: false, text } => assert!(text.contains(needle), "{text}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn html_escaped_quotes_are_repaired() {
    assert_eq!(
        parse_arguments("{&quot;path&quot;:&quot;a&quot;}").unwrap(),
        json!({"path":"a"})
    );
}

#[test]
fn read_file_pages() {
    let (d, ws) = ws();
    let body: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(d.path().join("big.txt"), body).unwrap();
    let mut hook = no_hook();
    let Outcome::Continue { ok: true, text } =
        ws.run("read_file", r#"{"path":"big.txt"}"#, &mut hook)
    else {
        panic!()
    };
    assert!(text.starts_with("[big.txt: lines 1-400 of 1000]"));
    assert!(text.contains("start_line 401"));
    let Outcome::Continue { ok: true, text } = ws.run(
        "read_file",
        r#"{"path":"big.txt","start_line":801}"#,
        &mut hook,
    ) else {
        panic!()
    };
    assert!(text.contains("line 1000"));
    assert!(!text.contains("[more"));
}

#[test]
fn list_and_search_skip_git_and_ignored() {
    let (d, ws) = ws();
    std::fs::write(d.path().join(".gitignore"), "target/\n").unwrap();
    std::fs::create_dir(d.path().join("target")).unwrap();
    std::fs::write(d.path().join("target/junk.txt"), "two").unwrap();
    std::fs::write(d.path().join(".git/HEAD"), "two").unwrap();
    let mut hook = no_hook();
    let Outcome::Continue { text, .. } = ws.run("list_files", "{}", &mut hook) else {
        panic!()
    };
    assert_eq!(text, ".gitignore\na.txt");
    let Outcome::Continue { text, .. } = ws.run("search", r#"{"pattern":"tw+o"}"#, &mut hook)
    else {
        panic!()
    };
    assert_eq!(text, "a.txt:2: two");
}

#[test]
fn delete_and_move_go_through_the_hook_and_refuse_what_they_must() {
    let (d, ws) = ws();
    std::fs::write(d.path().join("b.txt"), "bee\n").unwrap();
    let mut seen = Vec::new();
    {
        let mut hook = |w: &PendingWrite<'_>| {
            seen.push((
                w.rel.to_string(),
                w.old.map(|b| b.to_vec()),
                w.new.map(|b| b.to_vec()),
            ));
            Ok(())
        };
        let moved = ws.run(
            "move_file",
            r#"{"from":"a.txt","to":"docs/a.md"}"#,
            &mut hook,
        );
        assert!(matches!(moved, Outcome::Wrote { .. }), "{moved:?}");
        let deleted = ws.run("delete_file", r#"{"path":"b.txt"}"#, &mut hook);
        assert!(matches!(deleted, Outcome::Wrote { .. }), "{deleted:?}");
        // Refusals: missing source, existing destination, .git, a directory.
        for (tool, args, why) in [
            ("delete_file", r#"{"path":"nope.txt"}"#, "does not exist"),
            ("move_file", r#"{"from":"nope","to":"x"}"#, "does not exist"),
            (
                "move_file",
                r#"{"from":"docs/a.md","to":"docs/a.md"}"#,
                "same file",
            ),
            ("delete_file", r#"{"path":".git/config"}"#, ".git"),
            ("delete_file", r#"{"path":"docs"}"#, "directory"),
        ] {
            match ws.run(tool, args, &mut hook) {
                Outcome::Continue { ok: false, text } => assert!(text.contains(why), "{text}"),
                other => panic!("{tool} {args}: {other:?}"),
            }
        }
    }
    std::fs::write(d.path().join("c.txt"), "sea\n").unwrap();
    match ws.run(
        "move_file",
        r#"{"from":"c.txt","to":"docs/a.md"}"#,
        &mut no_hook(),
    ) {
        Outcome::Continue { ok: false, text } => assert!(text.contains("already exists"), "{text}"),
        other => panic!("{other:?}"),
    }
    let one = b"one\ntwo\nthree\n".to_vec();
    assert_eq!(
        seen,
        vec![
            ("docs/a.md".into(), None, Some(one.clone())),
            ("a.txt".into(), Some(one.clone()), None),
            ("b.txt".into(), Some(b"bee\n".to_vec()), None),
        ]
    );
    assert!(!d.path().join("a.txt").exists() && !d.path().join("b.txt").exists());
    assert_eq!(std::fs::read(d.path().join("docs/a.md")).unwrap(), one);
}
