//! The Markdown report, with every piece of user text escaped for Markdown.

use super::*;

/// A Markdown report for a client; several sessions get an overview first.
pub fn to_markdown(reports: &[SessionReport]) -> String {
    to_markdown_in(reports, &chrono::Local)
}

pub fn to_markdown_in<Tz: TimeZone>(reports: &[SessionReport], tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let mut out = String::new();
    match reports {
        [] => out.push_str("# Work report\n\nNo sessions to report.\n"),
        [one] => md_session(&mut out, one, tz, "#"),
        many => {
            out.push_str("# Work report\n\n");
            let _ = writeln!(out, "{} sessions.\n", many.len());
            out.push_str("## Overview\n\n");
            out.push_str(
                "| Session | Started | Tasks | Accepted | Review |\n|---|---|---|---|---|\n",
            );
            for r in many {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    md_cell(&r.session),
                    r.started.map(|t| local_stamp(t, tz)).unwrap_or_default(),
                    r.totals.tasks,
                    r.totals.accepted,
                    fmt_minutes(r.totals.review_seconds)
                );
            }
            out.push('\n');
            md_totals(
                &mut out,
                &Totals::combine(many.iter().map(|r| &r.totals)),
                "###",
            );
            for r in many {
                out.push('\n');
                md_session(&mut out, r, tz, "##");
            }
        }
    }
    out
}

/// "started … · model … · branch … · progress", each value escaped for the target format.
pub(super) fn meta_line<Tz: TimeZone, E: Fn(&str) -> String>(
    r: &SessionReport,
    tz: &Tz,
    escape: E,
) -> String
where
    Tz::Offset: Display,
{
    let mut meta = Vec::new();
    if let Some(t) = r.started {
        meta.push(format!("started {}", local_stamp(t, tz)));
    }
    if !r.model.is_empty() {
        meta.push(format!("model {}", escape(&r.model)));
    }
    if let Some(b) = &r.branch {
        meta.push(format!("branch {}", escape(b)));
    }
    meta.push(escape(&r.progress));
    meta.join(" · ")
}

// Long: one section of the log after another, in the order the Markdown reads.
pub(super) fn md_session<Tz: TimeZone>(out: &mut String, r: &SessionReport, tz: &Tz, h: &str)
where
    Tz::Offset: Display,
{
    let _ = writeln!(out, "{h} Work report: session {}\n", md_inline(&r.session));
    let _ = writeln!(out, "{}\n", meta_line(r, tz, md_inline));

    let _ = writeln!(out, "{h}# Brief\n");
    match r.brief.as_deref().filter(|b| !b.trim().is_empty()) {
        Some(b) => {
            for line in md_block(b).lines() {
                if line.is_empty() {
                    out.push_str(">\n");
                } else {
                    let _ = writeln!(out, "> {line}");
                }
            }
            out.push('\n');
        }
        None => out.push_str("No brief: the work was given as a plan.\n\n"),
    }

    let _ = writeln!(out, "{h}# Plan\n");
    let _ = writeln!(
        out,
        "{} task{}, {}.\n",
        r.tasks.len(),
        if r.tasks.len() == 1 { "" } else { "s" },
        plan_source_words(r.plan_source)
    );
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "{h}## {}. {}\n",
            t.number,
            md_inline(&one_line(&t.title))
        );
        let _ = writeln!(out, "Status: **{}**\n", status_words(t));
        for line in md_block(&t.instructions).lines() {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("\nAcceptance criteria:\n\n");
        for c in &t.criteria {
            let _ = writeln!(
                out,
                "- [{}] {}",
                if c.met { "x" } else { " " },
                md_inline(&one_line(&c.text))
            );
            if let Some(v) = &c.checker {
                let _ = writeln!(out, "  - {}", md_inline(&checker_words(v)));
            }
        }
        out.push('\n');
        if !t.checks.is_empty() {
            out.push_str("Checks before review:\n\n");
            for c in &t.checks {
                let _ = writeln!(out, "- {}", md_inline(&check_words(c)));
            }
            out.push('\n');
        }
        match summary_items(t).as_slice() {
            [] => {}
            [one] => {
                let _ = writeln!(out, "{}: {}\n", summary_label(t), md_inline(&one_line(one)));
            }
            many => {
                let _ = writeln!(out, "{}:\n", summary_label(t));
                for s in many {
                    let _ = writeln!(out, "- {}", md_inline(&one_line(s)));
                }
                out.push('\n');
            }
        }
        if !t.review_seconds_per_cycle.is_empty() {
            let _ = writeln!(out, "Review per cycle: {}\n", cycle_words(t));
        }
        if !t.threads.is_empty() {
            out.push_str("Review threads:\n\n");
            for th in &t.threads {
                let _ = writeln!(out, "- {}", md_inline(&one_line(&thread_head(th))));
                for p in &th.posts {
                    let _ = writeln!(out, "  - {}", md_inline(&one_line(&post_words(p))));
                }
            }
            out.push('\n');
        }
        if !t.lessons_applied.is_empty() {
            out.push_str("Lessons applied (from earlier reviews):\n\n");
            for l in &t.lessons_applied {
                let _ = writeln!(out, "- {}", md_inline(&one_line(l)));
            }
            out.push('\n');
        }
        if !t.lessons_proposed.is_empty() {
            out.push_str("Lessons proposed from this review:\n\n");
            md_lessons(out, &t.lessons_proposed);
        }
    }
    if !r.lessons_proposed.is_empty() {
        let _ = writeln!(out, "{h}# Lessons from the whole session\n");
        md_lessons(out, &r.lessons_proposed);
    }

    let _ = writeln!(out, "{h}# Delivered\n");
    out.push_str(
        "| # | Task | Status | Drafts | Comments | Review | Agent | Commit |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for t in &r.tasks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            t.number,
            md_cell(&t.title),
            status_words(t),
            t.iterations,
            t.comments,
            fmt_minutes(t.review_seconds),
            fmt_minutes(t.agent_seconds),
            t.commit
                .as_deref()
                .map(|c| format!("`{}`", short(c)))
                .unwrap_or_else(|| "—".into())
        );
    }
    out.push('\n');
    md_totals(out, &r.totals, &format!("{h}#"));
}

/// Each proposed lesson, where it came from, and what the reviewer made of it.
fn md_lessons(out: &mut String, lessons: &[LessonReport]) {
    for l in lessons {
        let fate = match (l.kept, &l.kept_as) {
            (Some(true), Some(as_)) => format!("kept as: {as_}"),
            (Some(true), None) => "kept".to_string(),
            (Some(false), _) => "discarded".to_string(),
            (None, _) => "not answered yet".to_string(),
        };
        let from = if l.from.is_empty() {
            String::new()
        } else {
            format!(" ({})", l.from.join(", "))
        };
        let _ = writeln!(
            out,
            "- {}{from}: {}",
            md_inline(&one_line(&l.text)),
            md_inline(&fate)
        );
    }
    out.push('\n');
}

pub(super) fn md_totals(out: &mut String, t: &Totals, h: &str) {
    let _ = writeln!(out, "{h} Human review\n");
    let _ = writeln!(
        out,
        "- Tasks: {} — {} accepted on first draft, {} accepted after feedback, {}{} rejected{}{}",
        t.tasks,
        t.accepted_first_draft,
        t.accepted_after_feedback,
        if t.accepted_empty > 0 {
            format!("{} accepted with no changes, ", t.accepted_empty)
        } else {
            String::new()
        },
        t.rejected,
        if t.human > 0 {
            format!(", {} done by hand", t.human)
        } else {
            String::new()
        },
        if t.open > 0 {
            format!(", {} open", t.open)
        } else {
            String::new()
        },
    );
    let _ = writeln!(
        out,
        "- Review: {} over {} review cycles{}",
        fmt_minutes(t.review_seconds),
        t.review_cycles,
        t.mean_review_minutes_per_cycle
            .map(|m| format!(" (mean {m:.2} min per cycle)"))
            .unwrap_or_default()
    );
    if t.hand_edit_seconds > 0 {
        let _ = writeln!(out, "- Hand edits: {}", fmt_minutes(t.hand_edit_seconds));
    }
    let _ = writeln!(out, "- Agent: {}", fmt_minutes(t.agent_seconds));
    let _ = writeln!(
        out,
        "- Tokens: {} in, {} out (planner: {} in, {} out{})",
        t.prompt_tokens,
        t.completion_tokens,
        t.planner_prompt_tokens,
        t.planner_completion_tokens,
        lessons_tokens(t)
    );
    if let Some(c) = cost_words(t) {
        let _ = writeln!(out, "- Estimated model cost: {c}");
    }
}

/// Inline user text for Markdown: its own Markdown (code spans, emphasis) is kept, but a `<`
/// that could open raw HTML outside a code span is escaped, so it cannot inject markup.
pub(super) fn md_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // Length of the backtick run that opened the current code span, if inside one.
    let mut open: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        // A backslash escape (CommonMark, outside code spans): the escaped character is
        // literal, so `\`` opens no code span and must not shelter what follows it.
        if open.is_none() && c == '\\' && chars.get(i + 1).is_some_and(char::is_ascii_punctuation) {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '`' {
            let run = chars[i..].iter().take_while(|&&b| b == '`').count();
            match open {
                Some(n) if n == run => open = None,
                None if closes(&chars[i + run..], run) => open = Some(run),
                _ => {}
            }
            out.extend(std::iter::repeat_n('`', run));
            i += run;
            continue;
        }
        let starts_tag = c == '<'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?'));
        let next = chars.get(i + 1).copied();
        if open.is_some() {
            out.push(c);
        } else if starts_tag {
            out.push_str("\\<");
        } else if c == '!' && next == Some('[') {
            // An image would load its address when the Markdown is viewed: keep the words.
            out.push_str("!\\");
        } else if c == ']' && next == Some('(') && !safe_destination(&chars[i + 2..]) {
            // A link to anything but a web or mail address (javascript:, data:) stays text.
            out.push_str("\\]");
        } else if c == '[' && closes_with(&chars[i..], "]:") {
            // A reference definition would give every [label] in the document a target; one
            // can follow a quote or list marker too, so any `[label]:` is escaped (in running
            // text the escape shows nothing).
            out.push_str("\\[");
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Whether a link destination (what follows `](`) is a web or mail address.
fn safe_destination(rest: &[char]) -> bool {
    let dest: String = rest
        .iter()
        .skip_while(|c| c.is_whitespace() || **c == '<')
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| dest.starts_with(p))
}

/// Whether `rest` (starting at `[`) holds `pattern` before any other `]`.
fn closes_with(rest: &[char], pattern: &str) -> bool {
    let text: String = rest.iter().collect();
    text.find(']')
        .is_some_and(|i| text[i..].starts_with(pattern))
}

/// Whether a backtick run of exactly `run` follows: only that closes a code span (CommonMark).
/// Only on the same line: a line below may start a block (a fence) that cuts the span off, and
/// what was taken for code would then be read as HTML.
pub(super) fn closes(rest: &[char], run: usize) -> bool {
    let mut i = 0;
    while i < rest.len() && rest[i] != '\n' {
        if rest[i] == '`' {
            let n = rest[i..].iter().take_while(|&&b| b == '`').count();
            if n == run {
                return true;
            }
            i += n;
        } else {
            i += 1;
        }
    }
    false
}

/// A block of user Markdown (brief, instructions): fenced code is kept verbatim, every other
/// line goes through `md_inline`.
pub(super) fn md_block(s: &str) -> String {
    let mut out = String::new();
    // The open fence: its character and length.
    let mut fence: Option<(char, usize)> = None;
    for line in s.lines() {
        match (fence, fence_of(line)) {
            // Closed by a run of the same character, at least as long, with nothing after it
            // (indented up to three spaces, as CommonMark closes one).
            (Some((c, n)), Some((m, k, info))) if m == c && k >= n && info.trim().is_empty() => {
                fence = None;
                out.push_str(line);
            }
            (Some(_), _) => out.push_str(line),
            // Opened only at the margin: an indented fence may belong to a list item or a
            // quote, which a line at the margin ends, fence and all, and what follows would
            // then be read as HTML. Not taken for a fence, its lines are escaped: safe either way.
            (None, Some((m, k, _))) if !line.starts_with(' ') => {
                fence = Some((m, k));
                out.push_str(line);
            }
            (None, _) => out.push_str(&md_inline(line)),
        }
        out.push('\n');
    }
    out
}

/// A code fence line as CommonMark reads one: at most three spaces in, three or more backticks
/// or tildes, and (for backticks) no backtick in the info string after them. Anything else is
/// not a fence, whatever it looks like, and its text is escaped like any other line.
fn fence_of(line: &str) -> Option<(char, usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let n = rest.chars().take_while(|&x| x == c).count();
    let info = &rest[n..];
    (n >= 3 && !(c == '`' && info.contains('`'))).then_some((c, n, info))
}

/// A table cell: one line, pipes escaped (GFM needs that even inside code spans).
pub(super) fn md_cell(s: &str) -> String {
    md_inline(&one_line(s)).replace('|', "\\|")
}
