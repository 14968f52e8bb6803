//! Project knowledge: the repository's agent instructions (`AGENTS.md`, nested ones applying to
//! their folder) and the user's own material — a knowledge folder per repository
//! (`.tandem/knowledge/`) and per client in the config dir (`clients/<client>/knowledge/`).
//!
//! Approved lessons from review live beside them: `.tandem/lessons.md` in the repository and
//! `lessons.md` in the client's folder — plain Markdown lists the user can edit and commit.
//!
//! Invariants:
//! - Nothing here writes but `append_lessons`, and it only adds the reviewer's approved lessons
//!   to a lessons file (atomically, never twice the same text). The agent reads knowledge through `read_knowledge` and
//!   `search_knowledge`, which resolve names against the set loaded here (never a path the
//!   model made up), and the workspace refuses agent writes under `.tandem/`.
//! - What reaches a request is bounded: instructions by `instructions_tokens` (cut with a note
//!   that says so), the index of knowledge files by `index_tokens` (files left out are counted),
//!   never a folder sent whole. Token counts are estimated at four characters a token.
//! - Every document carries the git blob id of its bytes, so the journal can name exactly what
//!   the agent knew (`knowledge_used`).
//! - Read as text: Markdown (`.md`, `.markdown`), plain text (`.txt`, `.text`) and text data
//!   (`.csv`, `.tsv`, `.json`, `.toml`, `.yaml`, `.yml`) in UTF-8. Anything else, or a file over
//!   1 MiB, is listed as not read, with why.

use std::path::{Path, PathBuf};

/// The repository's knowledge folder, relative to its root.
pub const REPO_DIR: &str = ".tandem/knowledge";
/// The repository's lessons file, relative to its root.
pub const REPO_LESSONS: &str = ".tandem/lessons.md";
/// Extensions read as text.
pub const TEXT_EXTENSIONS: &[&str] = &[
    "md", "markdown", "txt", "text", "csv", "tsv", "json", "toml", "yaml", "yml",
];
/// A knowledge file bigger than this is not read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Files one folder may hold before the rest are left out (and counted).
const MAX_FILES: usize = 2000;
/// Characters a token stands for in the budgets.
pub const CHARS_PER_TOKEN: usize = 4;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An `AGENTS.md` in the repository.
    Instructions,
    /// The repository's knowledge folder.
    Repo,
    /// The client's knowledge folder in the user's config dir.
    Client,
    /// A lessons file.
    Lessons,
}

/// The lessons in a lessons file's text: its list items, without the provenance comments.
pub fn lessons_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let item = l.strip_prefix("- ").or_else(|| l.strip_prefix("* "))?;
            let item = match item.find("<!--") {
                Some(i) => &item[..i],
                None => item,
            };
            let item = item.trim();
            (!item.is_empty()).then(|| item.to_string())
        })
        .collect()
}

/// Add `lessons` (text, where it came from) to the lessons file at `path`, creating it with a
/// header when missing; a lesson whose text is there already is not added again. Written to a
/// temp file beside it and renamed, so a crash leaves the old file or the new one. Returns how
/// many were added.
pub fn append_lessons(path: &Path, lessons: &[(String, String)]) -> std::io::Result<usize> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let have: Vec<String> = lessons_in(&old).iter().map(|l| l.to_lowercase()).collect();
    let mut text = if old.is_empty() {
        "# Lessons from review\n\nApproved in tandem's review; given to the planner and the drafter. Edit or delete freely.\n\n".to_string()
    } else if old.ends_with('\n') {
        old.clone()
    } else {
        format!("{old}\n")
    };
    let mut added = 0;
    for (lesson, from) in lessons {
        let lesson = lesson.replace('\n', " ");
        let lesson = lesson.trim();
        if lesson.is_empty() || have.contains(&lesson.to_lowercase()) {
            continue;
        }
        text.push_str(&format!("- {lesson} <!-- {from} -->\n"));
        added += 1;
    }
    if added == 0 {
        return Ok(0);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, path)?;
    Ok(added)
}

/// One document: its name as the agent and the journal see it, and its text.
#[derive(Debug, Clone)]
pub struct Doc {
    /// `AGENTS.md`, `docs/AGENTS.md`, `repo/style.md`, `client/glossary.md`.
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    pub text: String,
    /// The git blob id of its bytes.
    pub hash: String,
}

impl Doc {
    /// The first non-empty line, without Markdown heading marks, cut to 100 characters.
    pub fn first_line(&self) -> String {
        let line = self
            .text
            .lines()
            .map(|l| l.trim().trim_start_matches('#').trim())
            .find(|l| !l.is_empty())
            .unwrap_or("");
        cut_chars(line, 100)
    }

    /// For an `AGENTS.md`: the folder it applies to ("" for the whole repository).
    pub fn scope(&self) -> &str {
        self.name
            .strip_suffix("AGENTS.md")
            .unwrap_or("")
            .trim_end_matches('/')
    }
}

/// The budgets, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub instructions_tokens: usize,
    pub index_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instructions_tokens: 4000,
            index_tokens: 1500,
        }
    }
}

/// Where to look: the repository, and the client's folder when a client is named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub client: Option<String>,
    /// `<config dir>/clients/<client>` (None: no client, or no config dir).
    pub client_dir: Option<PathBuf>,
    pub limits: Limits,
}

/// Everything found, loaded.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// `AGENTS.md` files, the root's first, then by depth and name.
    pub instructions: Vec<Doc>,
    /// Knowledge files: the repository's, then the client's, each by name.
    pub docs: Vec<Doc>,
    /// Files not read, each with why.
    pub skipped: Vec<String>,
    pub limits: Limits,
    /// The lessons files found (the repository's, then the client's).
    pub lesson_files: Vec<Doc>,
}

/// How much of a document a request was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    Whole,
    /// Cut at the budget (instructions).
    Cut,
    /// Named in the index (the agent can read it with the tools).
    Indexed,
}

/// What a request was given: the text to add to the system prompt, and each document's share.
#[derive(Debug, Clone, Default)]
pub struct Briefing {
    pub text: String,
    pub used: Vec<(Doc, Given)>,
    /// The lessons given, word for word.
    pub lessons: Vec<String>,
    /// Knowledge files the index had no room for.
    pub unlisted: usize,
}

/// Load the repository's instructions and knowledge and the client's knowledge. Blocking.
pub fn load(root: &Path, sources: &Sources) -> Knowledge {
    let mut k = Knowledge {
        limits: sources.limits,
        ..Default::default()
    };
    k.instructions = agents_files(root, &mut k.skipped);
    let mut lesson_paths = vec![(root.join(REPO_LESSONS), "lessons.md".to_string())];
    if let Some(dir) = &sources.client_dir {
        lesson_paths.push((dir.join("lessons.md"), "client/lessons.md".to_string()));
    }
    for (path, name) in lesson_paths {
        if path.is_file()
            && let Some(doc) = read_doc(&path, name, Origin::Lessons, &mut k.skipped)
        {
            k.lesson_files.push(doc);
        }
    }
    read_folder(
        &root.join(REPO_DIR),
        "repo",
        Origin::Repo,
        &mut k.docs,
        &mut k.skipped,
    );
    if let Some(dir) = &sources.client_dir {
        read_folder(
            &dir.join("knowledge"),
            "client",
            Origin::Client,
            &mut k.docs,
            &mut k.skipped,
        );
    }
    k
}

/// Every `AGENTS.md` git tracks (from the index: no walk of the working tree), read from disk.
fn agents_files(root: &Path, skipped: &mut Vec<String>) -> Vec<Doc> {
    let Ok(repo) = crate::infra::gitops::open(root) else {
        return Vec::new();
    };
    let Ok(index) = crate::infra::gitops::index(&repo) else {
        return Vec::new();
    };
    let mut names: Vec<String> = index
        .iter()
        .filter_map(|e| String::from_utf8(e.path).ok())
        .filter(|p| p == "AGENTS.md" || p.ends_with("/AGENTS.md"))
        .collect();
    names.sort_by_key(|n| (n.matches('/').count(), n.clone()));
    names
        .into_iter()
        .filter_map(|name| {
            read_doc(
                &root.join(&name),
                name.clone(),
                Origin::Instructions,
                skipped,
            )
        })
        .collect()
}

/// Read the text files under `dir` (recursively, links not followed) as `<prefix>/<relative>`.
fn read_folder(
    dir: &Path,
    prefix: &str,
    origin: Origin,
    docs: &mut Vec<Doc>,
    skipped: &mut Vec<String>,
) {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut left_out = 0;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                if files.len() < MAX_FILES {
                    files.push(path);
                } else {
                    left_out += 1;
                }
            }
        }
    }
    if left_out > 0 {
        skipped.push(format!(
            "{left_out} more files in {} (only the first {MAX_FILES} are read)",
            dir.display()
        ));
    }
    files.sort();
    let start = docs.len();
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let name = format!("{prefix}/{rel}");
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !TEXT_EXTENSIONS.contains(&ext.as_str()) {
            skipped.push(format!(
                "{name}: not read (only {} files are)",
                TEXT_EXTENSIONS.join(", ")
            ));
            continue;
        }
        if let Some(doc) = read_doc(&path, name, origin.clone(), skipped) {
            docs.push(doc);
        }
    }
    docs[start..].sort_by(|a, b| a.name.cmp(&b.name));
}

fn read_doc(path: &Path, name: String, origin: Origin, skipped: &mut Vec<String>) -> Option<Doc> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            skipped.push(format!(
                "{name}: not read ({} bytes; the limit is 1 MiB)",
                m.len()
            ));
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            skipped.push(format!("{name}: cannot be read: {e}"));
            return None;
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            skipped.push(format!("{name}: cannot be read: {e}"));
            return None;
        }
    };
    let hash = git2::Oid::hash_object(git2::ObjectType::Blob, &bytes)
        .map(|o| o.to_string())
        .unwrap_or_default();
    match String::from_utf8(bytes) {
        Ok(text) => Some(Doc {
            name,
            path: path.to_path_buf(),
            origin,
            text: crate::infra::tools::clean_text(&text),
            hash,
        }),
        Err(_) => {
            skipped.push(format!("{name}: not read (not UTF-8 text)"));
            None
        }
    }
}

impl Knowledge {
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty() && self.docs.is_empty() && self.lesson_files.is_empty()
    }

    /// What a planner or drafter request is given: the instructions (within their budget, cut
    /// with a note) and an index of the knowledge files (within its budget). `tools`: the
    /// model can call the knowledge tools (else the index only says what exists).
    // Long: fills two budgets in priority order (the reviewer's lessons, the instructions, then
    // the index); every step spends from the same budgets.
    pub fn briefing(&self, tools: bool) -> Briefing {
        let mut b = Briefing::default();
        if self.is_empty() {
            return b;
        }
        let mut text = String::new();
        // The reviewer's own words come first, and are paid from the instructions' budget.
        let mut room = self.limits.instructions_tokens * CHARS_PER_TOKEN;
        let mut lessons = Vec::new();
        for doc in &self.lesson_files {
            let all = lessons_in(&doc.text);
            let mut cut = false;
            for l in &all {
                if l.len() + 3 > room {
                    cut = true;
                    break;
                }
                room -= l.len() + 3;
                lessons.push(l.clone());
            }
            if !all.is_empty() {
                b.used
                    .push((doc.clone(), if cut { Given::Cut } else { Given::Whole }));
            }
        }
        if !lessons.is_empty() {
            text.push_str("## Lessons from the reviewer's earlier reviews\n");
            text.push_str("Follow them unless this task says otherwise.\n");
            for l in &lessons {
                text.push_str(&format!("- {l}\n"));
            }
            text.push('\n');
        }
        b.lessons = lessons;
        if !self.instructions.is_empty() {
            text.push_str("## The repository's instructions (AGENTS.md)\n");
            text.push_str(
                "Follow them; a nested AGENTS.md applies to its folder and wins there.\n\n",
            );
            for doc in &self.instructions {
                let scope = match doc.scope() {
                    "" => "the whole repository".to_string(),
                    s => format!("`{s}/`"),
                };
                text.push_str(&format!("### {} (applies to {scope})\n", doc.name));
                if room == 0 {
                    text.push_str(&format!(
                        "(left out: the instructions' budget is spent; `{}` holds them)\n\n",
                        doc.name
                    ));
                    b.used.push((doc.clone(), Given::Cut));
                    continue;
                }
                let body = doc.text.trim_end();
                if body.len() <= room {
                    text.push_str(body);
                    text.push_str("\n\n");
                    room -= body.len();
                    b.used.push((doc.clone(), Given::Whole));
                } else {
                    let mut end = room;
                    while !body.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.push_str(&body[..end]);
                    text.push_str(&format!(
                        "\n(cut here: {} more characters; `{}` holds the rest)\n\n",
                        body.len() - end,
                        doc.name
                    ));
                    room = 0;
                    b.used.push((doc.clone(), Given::Cut));
                }
            }
        }
        if !self.docs.is_empty() {
            text.push_str("## Knowledge files (the client's and the project's own material)\n");
            text.push_str(if tools {
                "Read what applies with read_knowledge {name}; search them with search_knowledge {query}. They are reference, not files of the repository: never copy a name here into a path.\n"
            } else {
                "They cannot be opened in this conversation; they are listed so you know what the reviewer's material covers. They are not files of the repository.\n"
            });
            let room = self.limits.index_tokens * CHARS_PER_TOKEN;
            let mut used = 0;
            for doc in &self.docs {
                let line = format!(
                    "- {} ({}, ~{} tokens): {}\n",
                    doc.name,
                    size_words(doc.text.len()),
                    doc.text.len().div_ceil(CHARS_PER_TOKEN),
                    doc.first_line()
                );
                if used + line.len() > room {
                    b.unlisted += 1;
                    continue;
                }
                used += line.len();
                text.push_str(&line);
                b.used.push((doc.clone(), Given::Indexed));
            }
            if b.unlisted > 0 {
                text.push_str(&format!(
                    "- … and {} more files not listed here (the index's budget is spent); search_knowledge finds them\n",
                    b.unlisted
                ));
            }
        }
        b.text = text;
        b
    }

    /// `read_knowledge`: a document by its exact name, from character `offset`, at most
    /// `max` characters, with a note when more follows.
    pub fn read(&self, name: &str, offset: usize, max: usize) -> Result<String, String> {
        let name = name.trim();
        let doc = self
            .docs
            .iter()
            .chain(&self.instructions)
            .find(|d| d.name == name)
            .ok_or_else(|| {
                format!(
                    "no knowledge file `{name}`; the names are: {}",
                    self.docs
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let text = &doc.text;
        let mut start = offset.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + max).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = text[start..end].to_string();
        if end < text.len() {
            out.push_str(&format!(
                "\n… ({} more characters: read_knowledge with offset {end})",
                text.len() - end
            ));
        }
        Ok(out)
    }

    /// `search_knowledge`: lines holding `query` (case-insensitive), as `name:line: text`.
    pub fn search(&self, query: &str, max_hits: usize) -> Result<String, String> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Err("the query is empty".into());
        }
        let mut hits = Vec::new();
        let mut more = 0;
        for doc in self.docs.iter().chain(&self.instructions) {
            for (i, line) in doc.text.lines().enumerate() {
                if line.to_lowercase().contains(&q) {
                    if hits.len() < max_hits {
                        hits.push(format!("{}:{}: {}", doc.name, i + 1, cut_chars(line, 200)));
                    } else {
                        more += 1;
                    }
                }
            }
        }
        if hits.is_empty() {
            return Ok(format!("no knowledge file mentions `{}`", query.trim()));
        }
        if more > 0 {
            hits.push(format!(
                "… {more} more lines match; search for something narrower"
            ));
        }
        Ok(hits.join("\n"))
    }

    /// One line per source for `doctor`: what a session would load and what it costs.
    pub fn describe(&self, client: Option<&str>) -> Vec<String> {
        let b = self.briefing(true);
        let mut out = Vec::new();
        if self.instructions.is_empty() {
            out.push("no AGENTS.md".to_string());
        } else {
            out.push(format!(
                "{} ({})",
                self.instructions
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                size_words(self.instructions.iter().map(|d| d.text.len()).sum())
            ));
        }
        for (origin, place) in [
            (Origin::Repo, REPO_DIR.to_string()),
            (
                Origin::Client,
                match client {
                    Some(c) => format!("client `{c}`"),
                    None => "no client named".to_string(),
                },
            ),
        ] {
            let docs: Vec<&Doc> = self.docs.iter().filter(|d| d.origin == origin).collect();
            if origin == Origin::Client && client.is_none() {
                continue;
            }
            out.push(format!(
                "{place}: {} files ({})",
                docs.len(),
                size_words(docs.iter().map(|d| d.text.len()).sum())
            ));
        }
        let lessons: Vec<String> = self
            .lesson_files
            .iter()
            .map(|d| format!("{} in {}", lessons_in(&d.text).len(), d.name))
            .collect();
        out.push(if lessons.is_empty() {
            "no lessons yet".to_string()
        } else {
            format!("lessons: {}", lessons.join(", "))
        });
        out.push(format!(
            "~{} tokens a request{}",
            b.text.len().div_ceil(CHARS_PER_TOKEN),
            if b.unlisted > 0 {
                format!(" ({} files left out of the index)", b.unlisted)
            } else {
                String::new()
            }
        ));
        out.extend(self.skipped.iter().cloned());
        out
    }
}

fn size_words(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

fn cut_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, origin: Origin, text: &str) -> Doc {
        Doc {
            name: name.into(),
            path: PathBuf::from(name),
            origin,
            text: text.into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn the_briefing_keeps_to_its_budgets_and_says_what_it_cut() {
        let k = Knowledge {
            instructions: vec![
                doc("AGENTS.md", Origin::Instructions, &"Use tabs. ".repeat(50)),
                doc("docs/AGENTS.md", Origin::Instructions, "British spelling."),
            ],
            docs: (0..100)
                .map(|i| doc(&format!("repo/f{i:03}.md"), Origin::Repo, "# Title\nbody"))
                .collect(),
            skipped: vec![],
            lesson_files: vec![],
            limits: Limits {
                instructions_tokens: 50,
                index_tokens: 100,
            },
        };
        let b = k.briefing(true);
        assert!(
            b.text.contains("cut here: 299 more characters"),
            "{}",
            b.text
        );
        assert!(b.text.contains("docs/AGENTS.md (applies to `docs/`)"));
        assert!(
            b.text
                .contains("left out: the instructions' budget is spent")
        );
        assert!(b.unlisted > 0 && b.text.contains(&format!("{} more files", b.unlisted)));
        assert!(b.text.contains("- repo/f000.md (12 B, ~3 tokens): Title"));
        let listed = b.used.iter().filter(|(_, g)| *g == Given::Indexed).count();
        assert_eq!(listed + b.unlisted, 100);
        // The index stays within its budget (plus its header and the "more" line).
        assert!(b.text.len() < 50 * 4 + 100 * 4 + 800, "{}", b.text.len());
    }

    #[test]
    fn read_and_search_go_by_name_only() {
        let k = Knowledge {
            docs: vec![doc(
                "repo/prices.md",
                Origin::Repo,
                "EUR with two decimals\nline two",
            )],
            ..Default::default()
        };
        assert_eq!(k.read("repo/prices.md", 0, 100).unwrap().lines().count(), 2);
        assert!(k.read("repo/prices.md", 0, 5).unwrap().contains("offset 5"));
        assert!(
            k.read("../../etc/passwd", 0, 100)
                .unwrap_err()
                .contains("no knowledge file")
        );
        assert_eq!(
            k.search("eur", 10).unwrap(),
            "repo/prices.md:1: EUR with two decimals"
        );
        assert!(
            k.search("yen", 10)
                .unwrap()
                .starts_with("no knowledge file")
        );
    }

    #[test]
    fn lessons_are_appended_once_and_read_back_without_their_provenance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".tandem/lessons.md");
        let one = (
            "Use British spelling.".to_string(),
            "task 1 (c1.1)".to_string(),
        );
        assert_eq!(
            append_lessons(&path, std::slice::from_ref(&one)).unwrap(),
            1
        );
        // Again, in another case: not added twice (a crash before the journal asks again).
        let again = ("use british spelling.".to_string(), "task 2".to_string());
        let two = ("Prices in EUR.".to_string(), "task 2 (n2)".to_string());
        assert_eq!(append_lessons(&path, &[again, two]).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Lessons from review"), "{text}");
        assert!(
            text.contains("- Use British spelling. <!-- task 1 (c1.1) -->"),
            "{text}"
        );
        assert_eq!(
            lessons_in(&text),
            ["Use British spelling.", "Prices in EUR."]
        );
        // The user's own edits are kept and read.
        std::fs::write(&path, format!("{text}* Never use emoji.\n")).unwrap();
        assert_eq!(
            lessons_in(&std::fs::read_to_string(&path).unwrap()).len(),
            3
        );
    }
}
