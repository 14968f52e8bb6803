//! The session journal stored in git, under `refs/tandem/sessions/<id>/journal`, so history
//! travels with `git push/fetch 'refs/tandem/*'`.
//!
//! The journal is append-only and stored at every decision, so writing it whole each time made
//! `.git` grow with the square of its length (a 2.6 MB journal left 229 MB of blobs). It is
//! stored in parts instead: a tree `parts/` of blobs named by the byte offset where each starts
//! (`000000000000`, `000000016380`, …), each a run of whole lines of at most `PART_BYTES` (a
//! longer line is a part of its own). Parts are cut greedily from the start, so every part but
//! the last stays the same as the journal grows: a store writes the last part again and the new
//! ones, and reuses every other blob. Growth per store is bounded by `PART_BYTES` plus a small
//! tree, whatever the journal's length.
//!
//! Invariants: reading concatenates the parts in name order and gives back exactly the bytes
//! stored; a journal stored whole by an older tandem (`journal.jsonl` in the tree) still reads;
//! a journal that is not the stored one plus an append (cut after a torn line, say) is stored
//! by cutting it afresh, never by trusting the old parts. Each store is a commit on the previous
//! one, so a fetch of the ref only fast-forwards.

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

fn part_name(offset: usize) -> String {
    format!("{offset:012}")
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

/// The parts of the stored journal: (offset, blob), in order. None when the ref holds none.
fn stored_parts(repo: &Repository, tree: &git2::Tree<'_>) -> Option<Vec<(usize, Oid)>> {
    let sub = repo.find_tree(tree.get_name(PARTS)?.id()).ok()?;
    sub.iter()
        .map(|e| Some((e.name().ok()?.parse::<usize>().ok()?, e.id())))
        .collect()
}

/// Store the journal bytes as a commit under the session's journal ref (see the module doc).
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
    let mut keep: Vec<(usize, Oid)> = Vec::new();
    let mut from = 0;
    if let Some(p) = &parent
        && let Ok(old) = p.tree()
    {
        if let Some(mut parts) = stored_parts(repo, &old)
            && let Some(&(offset, last)) = parts.last()
            && let Ok(blob) = repo.find_blob(last)
            && bytes
                .get(offset..)
                .is_some_and(|rest| rest.starts_with(blob.content()))
        {
            if bytes.len() == offset + blob.content().len() {
                // Unchanged since last time: nothing to store.
                return Ok(p.id());
            }
            parts.pop();
            keep = parts;
            from = offset;
        } else if old
            .get_name(WHOLE)
            .and_then(|e| repo.find_blob(e.id()).ok())
            .is_some_and(|b| b.content() == bytes)
        {
            return Ok(p.id());
        }
    }
    let mut sub = repo.treebuilder(None).ctx("tree builder")?;
    for (offset, oid) in &keep {
        sub.insert(part_name(*offset), *oid, i32::from(FileMode::Blob))
            .ctx("build journal parts")?;
    }
    let rest = &bytes[from..];
    let starts = cuts(rest);
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(rest.len());
        let blob = repo.blob(&rest[start..end]).ctx("write journal part")?;
        sub.insert(part_name(from + start), blob, i32::from(FileMode::Blob))
            .ctx("build journal parts")?;
    }
    let sub = sub.write().ctx("write journal parts")?;
    let mut root = repo.treebuilder(None).ctx("tree builder")?;
    root.insert(PARTS, sub, i32::from(FileMode::Tree))
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
    repo.reference(&refname, oid, true, "tandem: journal")
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
    let Some(entry) = tree.get_name(PARTS) else {
        return Ok(None);
    };
    let sub = repo.find_tree(entry.id()).ctx("read journal parts")?;
    let mut out = Vec::new();
    // Tree entries sort by name, and the names are zero-padded offsets: file order.
    for e in sub.iter() {
        out.extend_from_slice(repo.find_blob(e.id()).ctx("read journal part")?.content());
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
            for _ in 0..rng.usize(1..6) {
                journal.push_str(&line(i, rng.usize(20..900)));
            }
            let oid = store_journal(&repo, "s1", journal.as_bytes()).unwrap();
            let added = new_bytes(&repo, head, oid);
            // The last part (at most PART_BYTES), the new lines, two trees and a commit.
            assert!(
                added < 2 * PART_BYTES + 4096 + 6 * 900,
                "store {i} added {added}"
            );
            head = Some(oid);
            if i % 37 == 0 {
                assert_eq!(
                    stored_journal(&repo, "s1").unwrap().unwrap(),
                    journal.as_bytes()
                );
            }
        }
        assert!(journal.len() > 20 * PART_BYTES, "{}", journal.len());
        assert_eq!(
            stored_journal(&repo, "s1").unwrap().unwrap(),
            journal.as_bytes()
        );
        // Unchanged: the same commit.
        assert_eq!(
            store_journal(&repo, "s1", journal.as_bytes()).unwrap(),
            head.unwrap()
        );
        // Every part but the last is full to within one line, and lines are never split.
        let tree = repo.find_commit(head.unwrap()).unwrap().tree().unwrap();
        let parts = stored_parts(&repo, &tree).unwrap();
        for (offset, oid) in &parts {
            let blob = repo.find_blob(*oid).unwrap();
            assert!(blob.content().len() <= PART_BYTES);
            assert_eq!(blob.content().last(), Some(&b'\n'));
            assert_eq!(
                &journal.as_bytes()[*offset..*offset + blob.content().len()],
                blob.content()
            );
        }
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
