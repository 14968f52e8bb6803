//! The client report as one self-contained HTML page: `templates/report_client.html` (compiled
//! in, overridable from the config dir's `templates/`) rendered by minijinja with HTML
//! auto-escaping, and the brief's Markdown rendered to HTML.
//!
//! Invariants: the page loads nothing (no script, no external stylesheet, image or font); every
//! piece of user text is escaped by the template engine, and the brief's Markdown is rendered
//! with its raw HTML shown as text, images reduced to their alt text and links kept only for
//! http(s) and mailto addresses, so a brief cannot add markup, script or a remote load.

use super::*;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The shipped template.
pub const CLIENT_TEMPLATE: &str = include_str!("../../templates/report_client.html");
/// Its file name, shipped and in the config dir's `templates/`.
pub const CLIENT_TEMPLATE_NAME: &str = "report_client.html";

/// Render `r` with `template` (the shipped one, or a user's override named by `origin`).
pub fn client_html(r: &ClientReport, template: &str, origin: &str) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A file ends with a newline, as every other report does.
    env.set_keep_trailing_newline(true);
    let fail = |e: minijinja::Error| ReportError::Template {
        file: origin.to_string(),
        message: crate::infra::prompts::describe(&e),
    };
    // The name ends in .html, so minijinja escapes every value for HTML.
    // `| md`: a line of user Markdown as safe inline HTML (code spans, emphasis, safe links).
    env.add_filter("md", |s: String| {
        minijinja::Value::from_safe_string(inline_markdown_to_html(&s))
    });
    env.add_template(CLIENT_TEMPLATE_NAME, template)
        .map_err(fail)?;
    let briefs: Vec<String> = r
        .sessions
        .iter()
        .map(|s| s.brief.as_deref().map(markdown_to_html).unwrap_or_default())
        .collect();
    env.get_template(CLIENT_TEMPLATE_NAME)
        .and_then(|t| t.render(minijinja::context! { r => r, briefs => briefs }))
        .map_err(fail)
}

/// CommonMark (with tables, strikethrough and task lists) to HTML that is safe to inline: raw
/// HTML becomes text, images become their alt text, links other than http(s)/mailto become
/// their text, and headings start at h3 so they sit under the report's own.
pub fn markdown_to_html(src: &str) -> String {
    render(src, false)
}

/// One line of user Markdown (a title, a criterion, a summary) as inline HTML: code spans,
/// emphasis and safe links kept, every block construct flattened into the line.
pub fn inline_markdown_to_html(src: &str) -> String {
    render(&escape_block_start(src), true).trim().to_string()
}

/// A line that would open a block (a list item "2. Add login", a heading, a quote, a rule, a
/// reference definition, a fence) keeps its text: its first character is escaped.
fn escape_block_start(src: &str) -> String {
    let s = src.trim_start();
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let first = bytes.first().copied().unwrap_or(b' ');
    let then = bytes.get(1).copied().unwrap_or(b' ');
    let opens_block = match first {
        b'#' | b'>' | b'|' | b'=' => true,
        b'-' | b'+' | b'*' | b'_' => {
            then == b' ' || s.chars().all(|c| c == first as char || c == ' ')
        }
        b'[' => s.find("]:").is_some_and(|i| !s[..i].contains(']')),
        b'`' | b'~' => s.starts_with("```") || s.starts_with("~~~"),
        _ => digits > 0 && matches!(bytes.get(digits), Some(b'.' | b')')),
    };
    if !opens_block {
        return s.to_string();
    }
    // Escape the marker itself: for an ordered list that is the dot or parenthesis.
    let at = if first.is_ascii_digit() { digits } else { 0 };
    format!("{}\\{}", &s[..at], &s[at..])
}

fn render(src: &str, inline: bool) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut dropped_link = false;
    let events = Parser::new_ext(src, options).filter_map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            ref dest_url,
            ..
        }) => {
            let url = dest_url.trim().to_ascii_lowercase();
            // An email autolink's address gets its mailto: only when written out.
            let safe = link_type == pulldown_cmark::LinkType::Email
                || ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|p| url.starts_with(p));
            dropped_link = !safe;
            safe.then_some(ev)
        }
        Event::End(TagEnd::Link) if dropped_link => {
            dropped_link = false;
            None
        }
        Event::SoftBreak | Event::HardBreak if inline => Some(Event::Text(" ".into())),
        Event::Rule | Event::TaskListMarker(_) if inline => None,
        Event::Start(tag) if inline && !is_inline(&tag) => None,
        Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item) if inline => {
            Some(Event::Text(" ".into()))
        }
        Event::End(tag)
            if inline
                && !matches!(
                    tag,
                    TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link
                ) =>
        {
            None
        }
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: demote(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(demote(level)))),
        other => Some(other),
    });
    let mut out = String::with_capacity(src.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

fn is_inline(tag: &Tag<'_>) -> bool {
    matches!(
        tag,
        Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Link { .. }
    )
}

fn demote(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}
