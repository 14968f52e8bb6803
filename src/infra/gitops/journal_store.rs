//! The session journal stored in git, under `refs/tandem/sessions/<id>/journal`, so history
//! travels with `git push/fetch 'refs/tandem/*'`.
//!
//! The journal is append-only and stored at every decision, so writing it whole each time made
//! `.git` grow with the square of its length (a 2.6 MB journal left 229 MB of blobs). It is
//! stored in parts instead: blobs named by where each starts and how long it is
//! (`parts/000000/000000000000-16377`, …), each a run of whole lines of at most `PART_BYTES` (a
//! longer line is a part of its own), grouped in folders of 1 MiB of journal so no tree grows
//! with it. Parts are cut greedily from the start, so every part but the last stays the same as
//! the journal grows: a store writes the last part again, the new ones, the last folder's tree
//! and the small top tree, and reuses every other object.
//!
//! Invariants: reading puts the parts in offset order, checks that each starts where the one
//! before ended, and gives back exactly the bytes stored (a gap or overlap is an error, never a
//! silently different journal); a journal stored whole by an older tandem (`journal.jsonl` in
//! the tree) still reads. A store keeps the old parts only when they are contiguous and the new
//! journal is the stored one plus an append (checked on the last part, the only one an append
//! can touch: the local journal is append-only under its lock, and a torn tail is cut before
//! anything is stored); otherwise it cuts the journal afresh. Each store is a commit on the
//! previous one, and the ref moves only from the commit it was read at (compare and swap), so a
//! concurrent fetch of the ref is never overwritten unseen.

use super::{Ctx, REF_ROOT, Result};
use git2::{FileMode, Oid, Repository, Signature};

/// The most bytes one part holds (unless one line is longer).
pub const PART_BYTES: usize = 16 * 1024;
/// Where an older tandem stored the whole journal, read still.
const WHOLE: &str = "journal.jsonl";
const PARTS: &str = "parts";

pub fn journal_ref(session: &str) -> String {
    format!("{REF_ROOT}/{session}/journal")
}

/// Bytes of journal one folder of parts covers.
const GROUP_BITS: u32 = 20;

/// One stored part: where it starts in the journal, its length, its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    offset: usize,
    len: usize,
    oid: Oid,
}

fn group_name(offset: usize) -> String {
    format!("{:06}", offset >> GROUP_BITS)
}

fn part_name(offset: usize, len: usize) -> String {
    format!("{offset:012}-{len}")
}

/// Greedy cuts of `bytes` into runs of whole lines of at most `PART_BYTES`: the offsets (from
/// the start of `bytes`) where each part begins.
fn cuts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| line_start + i + 1);
        if line_start > start && line_end - start > PART_BYTES {
            starts.push(start);
            start = line_start;
        }
        line_start = line_end;
    }
    if start < bytes.len() || starts.is_empty() {
        starts.push(start);
    }
    starts
}

/// The parts of a stored journal tree, in offset order, or None when the tree holds no parts
/// or they do not join up (a gap, an overlap, a name that is not ours).
fn stored_parts(repo: &Repository, tree: &git2::Tree<'_>) -> Option<Vec<Part>> {
    let top = repo.find_tree(tree.get_name(PARTS)?.id()).ok()?;
    let mut parts = Vec::new();
    let mut add = |e: &git2::TreeEntry<'_>| -> Option<()> {
        let name = e.name().ok()?;
        let (offset, len) = match name.split_once('-') {
            Some((o, l)) => (o.parse().ok()?, l.parse().ok()?),
            // Parts named by offset alone (this layout's first form): read the length.
            None => (
                name.parse().ok()?,
                repo.odb().ok()?.read_header(e.id()).ok()?.0,
            ),
        };
        parts.push(Part {
            offset,
            len,
            oid: e.id(),
        });
        Some(())
    };
    for e in top.iter() {
        match e.kind() {
            Some(git2::ObjectType::Tree) => {
                for inner in repo.find_tree(e.id()).ok()?.iter() {
                    add(&inner)?;
                }
            }
            _ => add(&e)?,
        }
    }
    parts.sort_by_key(|p| p.offset);
    let mut next = 0;
    for p in &parts {
        if p.offset != next {
            return None;
        }
        next += p.len;
    }
    Some(parts)
}

/// Store the journal bytes as a commit under the session's journal ref (see the module doc).
// Long: reuse the stored parts, cut the new bytes, build the folder trees, then move the ref with
// compare-and-swap: one store, in order.
pub fn store_journal(repo: &Repository, session: &str, bytes: &[u8]) -> Result<Oid> {
    let refname = journal_ref(session);
    let parent = repo
        .find_reference(&refname)
        .ok()
        .and_then(|r| r.target())
        .and_then(|oid| repo.find_commit(oid).ok());
    // Keep the parts before the stored last one when the journal is that journal plus an
    // append: the last part is checked byte for byte, and the earlier ones are what the same
    // greedy cut made of the same (append-only) bytes.
    let mut parts: Vec<Part> = Vec::new();
    let mut from = 0;
    if let Some(p) = &parent
        && let Ok(old) = p.tree()
    {
        if let Some(mut old_parts) = stored_parts(repo, &old)
            && let Some(&last) = old_parts.last()
            && let Ok(blob) = repo.find_blob(last.oid)
            && bytes
                .get(last.offset..)
                .is_some_and(|rest| rest.starts_with(blob.content()))
        {
            if bytes.len() == last.offset + last.len {
                // Unchanged since last time: nothing to store.
                return Ok(p.id());
            }
            old_parts.pop();
            parts = old_parts;
            from = last.offset;
        } else if old
            .get_name(WHOLE)
            .and_then(|e| repo.find_blob(e.id()).ok())
            .is_some_and(|b| b.content() == bytes)
        {
            return Ok(p.id());
        }
    }
    let rest = &bytes[from..];
    let starts = cuts(rest);
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(rest.len());
        parts.push(Part {
            offset: from + start,
            len: end - start,
            oid: repo.blob(&rest[start..end]).ctx("write journal part")?,
        });
    }
    // One folder per MiB of journal; folders whose parts did not change get the same tree id,
    // so nothing new is written for them.
    let mut top = repo.treebuilder(None).ctx("tree builder")?;
    for group in parts.chunk_by(|a, b| group_name(a.offset) == group_name(b.offset)) {
        let mut folder = repo.treebuilder(None).ctx("tree builder")?;
        for p in group {
            folder
                .insert(part_name(p.offset, p.len), p.oid, i32::from(FileMode::Blob))
                .ctx("build journal parts")?;
        }
        let folder = folder.write().ctx("write journal parts")?;
        top.insert(
            group_name(group[0].offset),
            folder,
            i32::from(FileMode::Tree),
        )
        .ctx("build journal parts")?;
    }
    let top = top.write().ctx("write journal parts")?;
    let mut root = repo.treebuilder(None).ctx("tree builder")?;
    root.insert(PARTS, top, i32::from(FileMode::Tree))
        .ctx("build journal tree")?;
    let tree = repo
        .find_tree(root.write().ctx("write tree")?)
        .ctx("read tree")?;
    let sig = Signature::now("tandem", "tandem@localhost").ctx("signature")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            &format!("tandem journal {session}"),
            &tree,
            &parents,
        )
        .ctx("write journal commit")?;
    // Move the ref only from where it was read: a fetch that moved it meanwhile is not
    // overwritten (the next store starts from it).
    match &parent {
        Some(p) => repo.reference_matching(&refname, oid, true, p.id(), "tandem: journal"),
        None => repo.reference(&refname, oid, false, "tandem: journal"),
    }
    .ctx("update journal ref")?;
    Ok(oid)
}

/// The journal stored in git for one session, if there is one.
pub fn stored_journal(repo: &Repository, session: &str) -> Result<Option<Vec<u8>>> {
    let Ok(r) = repo.find_reference(&journal_ref(session)) else {
        return Ok(None);
    };
    let commit = r.peel_to_commit().ctx("read journal commit")?;
    let tree = commit.tree().ctx("read journal tree")?;
    if let Some(entry) = tree.get_name(WHOLE) {
        return Ok(Some(
            repo.find_blob(entry.id())
                .ctx("read journal")?
                .content()
                .to_vec(),
        ));
    }
    if tree.get_name(PARTS).is_none() {
        return Ok(None);
    }
    let parts = stored_parts(repo, &tree).ok_or_else(|| super::GitError::Op {
        context: format!("read the journal stored under {}", journal_ref(session)),
        message: "its parts do not join up (a gap, an overlap or a name tandem did not write)"
            .into(),
    })?;
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len).sum());
    for p in parts {
        out.extend_from_slice(repo.find_blob(p.oid).ctx("read journal part")?.content());
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        (dir, repo)
    }

    fn line(i: usize, len: usize) -> String {
        let mut l = format!("{{\"seq\":{i},\"pad\":\"");
        while l.len() < len.saturating_sub(3) {
            l.push('x');
        }
        l.push_str("\"}\n");
        l
    }

    /// Bytes of the objects a store added that the previous commit could not reach.
    fn new_bytes(repo: &Repository, before: Option<Oid>, after: Oid) -> usize {
        let reach = |oid: Option<Oid>| {
            let mut set = std::collections::HashSet::new();
            if let Some(c) = oid.and_then(|o| repo.find_commit(o).ok()) {
                set.insert(c.id());
                let t = c.tree().unwrap();
                set.insert(t.id());
                t.walk(git2::TreeWalkMode::PreOrder, |_, e| {
                    set.insert(e.id());
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
            }
            set
        };
        let (old, new) = (reach(before), reach(Some(after)));
        let odb = repo.odb().unwrap();
        new.difference(&old)
            .map(|o| odb.read_header(*o).unwrap().0)
            .sum()
    }

    #[test]
    fn a_growing_journal_reads_back_and_each_store_costs_a_bounded_amount() {
        let (_d, repo) = repo();
        let mut journal = String::new();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut head: Option<Oid> = None;
        for i in 0..400 {
            let before = journal.len();
            for _ in 0..rng.usize(1..6) {
                journal.push_str(&line(i, rng.usize(20..4000)));
            }
            let appended = journal.len() - before;
            let oid = store_journal(&repo, "s1", journal.as_bytes()).unwrap();
            let added = new_bytes(&repo, head, oid);
            // The last part cut again with what was appended, one folder's tree (at most
            // ~65 parts), the top tree, the root and the commit: never the whole list of parts.
            assert!(
                added <= PART_BYTES + appended + 6000,
                "store {i} added {added} for {appended} appended"
            );
            head = Some(oid);
            if i % 37 == 0 {
                assert_eq!(
                    stored_journal(&repo, "s1").unwrap().unwrap(),
                    journal.as_bytes()
                );
            }
        }
        let tree = repo.find_commit(head.unwrap()).unwrap().tree().unwrap();
        let parts = stored_parts(&repo, &tree).unwrap();
        assert!(parts.len() > 150, "{} parts", parts.len());
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            journal.as_bytes()
        );
        // Unchanged: the same commit.
        assert_eq!(
            store_journal(&repo, "s1", journal.as_bytes()).unwrap(),
            head.unwrap()
        );
        // Every part is at most PART_BYTES (unless one line is longer) and ends a line.
        for p in &parts {
            let blob = repo.find_blob(p.oid).unwrap();
            assert_eq!(blob.content().len(), p.len);
            assert!(p.len <= PART_BYTES);
            assert_eq!(blob.content().last(), Some(&b'\n'));
            assert_eq!(
                &journal.as_bytes()[p.offset..p.offset + p.len],
                blob.content()
            );
        }
    }

    #[test]
    fn parts_that_do_not_join_up_are_an_error_and_stored_afresh() {
        let (_d, repo) = repo();
        let journal: String = (0..100).map(|i| line(i, 500)).collect();
        let c = store_journal(&repo, "s1", journal.as_bytes()).unwrap();
        // Drop one part from the stored tree, as a hand-made or damaged ref might.
        let tree = repo.find_commit(c).unwrap().tree().unwrap();
        let parts = stored_parts(&repo, &tree).unwrap();
        let mut folder = repo.treebuilder(None).unwrap();
        for p in parts.iter().filter(|p| p.offset != parts[1].offset) {
            folder
                .insert(part_name(p.offset, p.len), p.oid, i32::from(FileMode::Blob))
                .unwrap();
        }
        let mut top = repo.treebuilder(None).unwrap();
        top.insert("000000", folder.write().unwrap(), i32::from(FileMode::Tree))
            .unwrap();
        let mut root = repo.treebuilder(None).unwrap();
        root.insert(PARTS, top.write().unwrap(), i32::from(FileMode::Tree))
            .unwrap();
        let root = repo.find_tree(root.write().unwrap()).unwrap();
        let sig = Signature::now("t", "t@x").unwrap();
        let parent = repo.find_commit(c).unwrap();
        let gap = repo
            .commit(None, &sig, &sig, "gap", &root, &[&parent])
            .unwrap();
        repo.reference(&journal_ref("s1"), gap, true, "gap")
            .unwrap();
        let err = stored_journal(&repo, "s1").unwrap_err().to_string();
        assert!(err.contains("do not join up"), "{err}");
        // The next store does not trust them: the journal reads whole again.
        let grown = journal.clone() + &line(100, 50);
        store_journal(&repo, "s1", grown.as_bytes()).unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            grown.as_bytes()
        );
    }

    #[test]
    fn a_store_builds_on_the_ref_as_another_writer_left_it() {
        let (_d, repo) = repo();
        let journal = line(1, 100);
        store_journal(&repo, "s1", journal.as_bytes()).unwrap();
        // Another writer (a fetch) moved the ref since our last store: a second repository
        // handle stores first. (The race inside one store, between reading the ref and moving
        // it, is closed by reference_matching and not simulated here.)
        let other = Repository::open(repo.path()).unwrap();
        let theirs = journal.clone() + &line(2, 100);
        store_journal(&other, "s1", theirs.as_bytes()).unwrap();
        let ours = journal + &line(3, 100);
        // Ours starts from the ref as it is now, so it is built on theirs' commit and
        // re-cut (the last part is not a prefix of ours).
        store_journal(&repo, "s1", ours.as_bytes()).unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            ours.as_bytes()
        );
    }

    #[test]
    fn a_journal_cut_shorter_is_stored_afresh() {
        let (_d, repo) = repo();
        let long: String = (0..200).map(|i| line(i, 300)).collect();
        store_journal(&repo, "s1", long.as_bytes()).unwrap();
        // A torn tail cut on open, then new lines: not the stored journal plus an append.
        let mut cut = long[..long.len() - 450].to_string();
        cut.truncate(cut.rfind('\n').unwrap() + 1);
        cut.push_str(&line(999, 100));
        store_journal(&repo, "s1", cut.as_bytes()).unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            cut.as_bytes()
        );
        // A line longer than a part is a part of its own.
        let mut big = cut.clone();
        big.push_str(&line(1000, 3 * PART_BYTES));
        big.push_str(&line(1001, 50));
        store_journal(&repo, "s1", big.as_bytes()).unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            big.as_bytes()
        );
    }

    #[test]
    fn a_journal_stored_whole_by_an_older_tandem_still_reads_and_grows() {
        let (_d, repo) = repo();
        let old = line(1, 200);
        let blob = repo.blob(old.as_bytes()).unwrap();
        let mut tb = repo.treebuilder(None).unwrap();
        tb.insert(WHOLE, blob, i32::from(FileMode::Blob)).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let sig = Signature::now("t", "t@x").unwrap();
        let c = repo.commit(None, &sig, &sig, "old", &tree, &[]).unwrap();
        repo.reference(&journal_ref("s1"), c, true, "old").unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            old.as_bytes()
        );
        assert_eq!(store_journal(&repo, "s1", old.as_bytes()).unwrap(), c);
        let grown = old.clone() + &line(2, 100);
        let next = store_journal(&repo, "s1", grown.as_bytes()).unwrap();
        assert_eq!(repo.find_commit(next).unwrap().parent_id(0).unwrap(), c);
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            grown.as_bytes()
        );
    }

    #[test]
    fn a_lock_left_by_a_killed_store_is_cleared_on_resume() {
        let (_d, repo) = repo();
        let journal = line(1, 100);
        store_journal(&repo, "s1", journal.as_bytes()).unwrap();
        // What a kill inside the ref update leaves behind.
        let lock = repo.path().join(format!("{}.lock", journal_ref("s1")));
        std::fs::write(&lock, "x").unwrap();
        let grown = journal.clone() + &line(2, 100);
        assert!(store_journal(&repo, "s1", grown.as_bytes()).is_err());
        assert_eq!(super::super::clear_stale_ref_locks(&repo, "s1").unwrap(), 1);
        store_journal(&repo, "s1", grown.as_bytes()).unwrap();
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            grown.as_bytes()
        );
        // Another session's refs are not touched.
        std::fs::write(&lock, "x").unwrap();
        assert_eq!(super::super::clear_stale_ref_locks(&repo, "s2").unwrap(), 0);
        assert!(lock.exists());
    }

    #[test]
    fn cuts_are_greedy_whole_lines() {
        assert_eq!(cuts(b""), vec![0]);
        assert_eq!(cuts(b"a\nb\n"), vec![0]);
        let l = line(0, PART_BYTES / 2 + 10);
        let three = l.repeat(3);
        assert_eq!(cuts(three.as_bytes()), vec![0, l.len(), 2 * l.len()]);
        let no_newline = "x".repeat(10);
        assert_eq!(cuts(no_newline.as_bytes()), vec![0]);
    }
}
