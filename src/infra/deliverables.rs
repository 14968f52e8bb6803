//! Deliverable validation: a file the plan says a task must leave exists, is not empty and
//! parses by its type, so a structurally broken file never reaches the reviewer.
//!
//! Types by extension: JSON, TOML, YAML (syntax), CSV (every record has the header's column
//! count, quoted fields allowed), and text formats (Markdown, text, HTML, source code…) must be
//! UTF-8; anything else must only exist and be non-empty. Problems name the line (and column
//! where the parser gives one), in words a drafter can act on.
//!
//! Invariant: the path is confined like a tool path (never outside the working directory).

use crate::infra::tools::Workspace;

/// One deliverable's verdict: None when it is fine, else the sentence that says why not.
// Long: one check after another on one file (exists, readable, text, parses as its format), each
// returning its sentence.
pub fn check(ws: &Workspace, rel: &str) -> Option<String> {
    let (path, rel) = match ws.confine(rel, false) {
        Ok(p) => p,
        Err(e) => return Some(e.to_string()),
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(_) => return Some(format!("`{rel}` does not exist")),
    };
    if meta.is_dir() {
        return Some(format!("`{rel}` is a directory, not a file"));
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return Some(format!("`{rel}` cannot be read: {e}")),
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Some(format!("`{rel}` is empty"));
    }
    let ext = rel
        .rsplit('/')
        .next()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let structured = matches!(ext.as_str(), "json" | "toml" | "yaml" | "yml" | "csv");
    let text_like = structured
        || matches!(
            ext.as_str(),
            "md" | "markdown"
                | "txt"
                | "html"
                | "htm"
                | "xml"
                | "svg"
                | "css"
                | "js"
                | "ts"
                | "py"
                | "rs"
                | "sh"
                | "rst"
                | "tex"
                | "ini"
                | "cfg"
        );
    if !text_like {
        return None;
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            return Some(format!("`{rel}` line {line}: not UTF-8 text (byte {at})"));
        }
    };
    let problem = match ext.as_str() {
        "json" => serde_json::from_str::<serde_json::Value>(text)
            .err()
            .map(|e| {
                format!(
                    "line {} column {}: {}",
                    e.line(),
                    e.column(),
                    json_words(&e)
                )
            }),
        "toml" => toml::from_str::<toml::Table>(text).err().map(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            }
        }),
        "yaml" | "yml" => yaml_problem(text),
        "csv" => csv_problem(text),
        _ => None,
    };
    problem.map(|p| format!("`{rel}` {p}"))
}

/// serde_json's message without its own " at line L column C" tail (we say it first).
fn json_words(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn yaml_problem(text: &str) -> Option<String> {
    for ev in saphyr_parser::Parser::new_from_str(text) {
        if let Err(e) = ev {
            return Some(format!(
                "line {} column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            ));
        }
    }
    None
}

fn csv_problem(text: &str) -> Option<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    for rec in reader.records() {
        if let Err(e) = rec {
            return Some(match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => format!(
                    "line {}: {len} columns where the first row has {expected_len}",
                    pos.as_ref().map_or(0, |p| p.line())
                ),
                _ => e.to_string(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
        let ws = Workspace::new(dir.path()).unwrap();
        (dir, ws)
    }

    #[test]
    fn each_type_is_parsed_and_problems_name_the_line() {
        let (_d, ws) = ws_with(&[
            ("ok.json", b"{\"a\": [1, 2]}\n"),
            ("bad.json", b"{\n  \"a\": 1\n  \"b\": 2\n}\n"),
            ("ok.toml", b"a = 1\n[t]\nb = \"x\"\n"),
            ("bad.toml", b"a = 1\nb = \n"),
            ("ok.yaml", b"a: 1\nb:\n  - x\n"),
            ("bad.yml", b"a: [1, 2\nb: 3\n"),
            ("ok.csv", b"item,price\n\"tea, green\",3.50\n"),
            ("bad.csv", b"item,price\ntea,3.50\ncoffee\n"),
            ("empty.md", b"  \n"),
            ("latin.md", b"caf\xe9\n"),
            ("logo.png", b"\x89PNG"),
            ("docs/ok.md", b"# Title\n"),
        ]);
        for ok in [
            "ok.json",
            "ok.toml",
            "ok.yaml",
            "ok.csv",
            "logo.png",
            "docs/ok.md",
        ] {
            assert_eq!(check(&ws, ok), None, "{ok}");
        }
        let said = |p: &str| check(&ws, p).unwrap_or_default();
        assert!(said("bad.json").contains("line 3"), "{}", said("bad.json"));
        assert!(said("bad.toml").contains("line 2"), "{}", said("bad.toml"));
        assert!(
            said("bad.yml").starts_with("`bad.yml` line "),
            "{}",
            said("bad.yml")
        );
        assert!(
            said("bad.csv").contains("line 3: 1 columns where the first row has 2"),
            "{}",
            said("bad.csv")
        );
        assert_eq!(said("empty.md"), "`empty.md` is empty");
        assert!(
            said("latin.md").contains("not UTF-8"),
            "{}",
            said("latin.md")
        );
        assert_eq!(said("missing.json"), "`missing.json` does not exist");
        assert_eq!(said("docs"), "`docs` is a directory, not a file");
        assert!(said("../x.json").contains("leaves the working directory"));
    }
}
