//! The text protocol: how a session works with a model that cannot call tools (the server
//! refused them, or the model answers in text when asked to call them).
//!
//! The drafter gets the task's files in its prompt (named by the plan, touched before, pinned
//! by review threads, or all of a small repository), within a budget, and changes them with
//! search/replace blocks or whole files in fences (`model::text_edits`); it may ask for more
//! files with `READ path` lines. The planner writes the plan as TOML `[[task]]` tables, parsed
//! and validated like a plan file, and is re-asked with the exact error.
//!
//! Invariants: every file put in a prompt is read through the confined workspace and journaled
//! as a `read_file` tool call (so replay shows what the model saw); every change goes through
//! the same workspace and pre-write journaling as a tool call. The switch to the text protocol
//! is a journal event, so a resumed session stays in it.

use super::*;
use crate::infra::model::text_edits;

/// Answers in a row cut off at the output cap before a draft stops as "cut off".
pub(super) const MAX_CUT_OFFS: u32 = 3;

/// Names of the working directory's files listed in a text-protocol prompt, at most.
const LISTED_FILES: usize = 200;

/// A repository this small (in files) is shown whole when the plan names none of its files.
const SMALL_REPO: usize = 12;

/// How a draft's agent loop ended.
pub(super) struct DraftEnd {
    pub summary: String,
    pub incomplete: bool,
    pub cut_off: bool,
}

/// What to tell a model whose answer stopped at the output cap.
pub(super) fn cut_off_words(cap: u32) -> String {
    format!(
        "Your answer was cut off at the output limit ({cap} tokens), so its unfinished part was not used."
    )
}

/// The plan in a text answer: a fenced TOML block (or bare `[[task]]` tables), parsed and
/// validated like a plan file. None: the answer holds no plan at all.
pub(super) fn plan_from_text(content: &str) -> Option<Result<Vec<TaskSpec>, String>> {
    let start = content.find("[[task]]")?;
    // Up to the fence that closes the block (or the end of the answer).
    let rest = &content[start..];
    let end = rest
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let line = rest[i..].trim_start();
            line.starts_with("```") || line.starts_with("~~~")
        })
        .unwrap_or(rest.len());
    Some(
        crate::core::plan::parse(&rest[..end], "the plan in the model's answer")
            .map_err(|e| e.to_string()),
    )
}

/// `READ path` lines: files a text-protocol model asks to see.
pub(super) fn read_requests(content: &str) -> Vec<String> {
    content
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("READ")?;
            let rest = rest.strip_prefix(':').unwrap_or(rest);
            if !rest.starts_with(char::is_whitespace) {
                return None;
            }
            let path = rest.trim().trim_matches('`').trim();
            (!path.is_empty() && !path.contains(char::is_whitespace)).then(|| path.to_string())
        })
        .collect()
}

/// Thread replies written as `[c1.2] addressed: text` lines, and the summary without them.
pub(super) fn text_replies(prose: &str) -> (Vec<tools::FinishReply>, String) {
    let mut replies = Vec::new();
    let mut rest = Vec::new();
    for line in prose.lines() {
        let parsed = line
            .trim()
            .trim_start_matches(['-', '*', ' '])
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .and_then(|(label, after)| {
                let (status, text) = after.trim().split_once(':')?;
                let status = status.trim().to_lowercase().replace([' ', '-'], "_");
                ["addressed", "not_done", "question"]
                    .contains(&status.as_str())
                    .then(|| tools::FinishReply {
                        thread: label.trim().to_string(),
                        status,
                        text: text.trim().to_string(),
                    })
            });
        match parsed {
            Some(r) => replies.push(r),
            None => rest.push(line),
        }
    }
    (replies, rest.join("\n").trim().to_string())
}

/// A file's text in a fence longer than any backtick run inside it, headed by its path.
fn fenced(path: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{path}\n{text}{nl}{fence}\n")
}

/// The `path` argument of a tool call, if it has one.
fn call_path(call: &crate::infra::model::ToolCall) -> Option<String> {
    tools::parse_arguments(&call.arguments)
        .ok()?
        .get("path")?
        .as_str()
        .map(str::to_string)
}

impl Engine {
    /// Record the switch to the text protocol once (`reason` says why).
    pub(super) fn switch_to_text(&mut self, reason: &str) -> Result<(), CoreError> {
        if self.rec.state.text_protocol.is_none() {
            self.rec.record(JournalEvent::TextProtocol {
                reason: reason.to_string(),
            })?;
        }
        Ok(())
    }

    /// Journal the thread replies written in a text answer (taken as a second `finish` is:
    /// valid ones kept, the rest left as "no reply"); the summary is the text without them.
    fn record_text_replies(
        &mut self,
        task: usize,
        iteration: u32,
        prose: &str,
    ) -> Result<String, CoreError> {
        let (replies, summary) = text_replies(prose);
        if let Ok(events) = self.check_replies(task, iteration, &replies, false) {
            for ev in events {
                self.rec.record(ev)?;
            }
        }
        Ok(summary)
    }

    /// Read `path` through the workspace for a prompt, journaled as a `read_file` call.
    async fn read_for_prompt(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        path: &str,
        id: &str,
    ) -> Result<Option<String>, CoreError> {
        let call = crate::infra::model::ToolCall {
            id: id.to_string(),
            name: "read_file".into(),
            arguments: json!({ "path": path }).to_string(),
        };
        let (ok, text, _) = self
            .run_call(task, iteration, step, &call, None, &mut false)
            .await?;
        Ok(ok.then_some(text))
    }

    /// The files a text-protocol draft starts with: the working directory's listing, then the
    /// task's files in full within the budget, and the names of those left out.
    async fn text_context(&mut self, task: usize, iteration: u32) -> Result<String, CoreError> {
        let listing = match self.ws.run("list_files", "{}", &mut |_| Ok(())) {
            Outcome::Continue { ok: true, text } => text,
            _ => String::new(),
        };
        let all: Vec<&str> = listing
            .lines()
            .filter(|l| !l.starts_with('(') && !l.starts_with('…'))
            .collect();
        let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
        let spec = format!(
            "{}\n{}\n{}",
            t.spec.title,
            t.spec.instructions,
            t.spec.acceptance.join("\n")
        );
        let mentioned = |path: &str| {
            let name = path.rsplit('/').next().unwrap_or(path);
            spec.contains(path)
                || (name.contains('.')
                    && name.len() >= 4
                    && spec
                        .split(|c: char| c.is_whitespace() || "`'\"()[],;:*".contains(c))
                        .any(|w| w.trim_end_matches('.') == name))
        };
        let mut wanted: Vec<String> = t.touched.keys().cloned().collect();
        wanted.extend(
            t.threads
                .iter()
                .filter_map(|th| th.anchors.values().next_back().map(|a| a.path.clone())),
        );
        wanted.extend(all.iter().filter(|p| mentioned(p)).map(|p| p.to_string()));
        if wanted.is_empty() && all.len() <= SMALL_REPO {
            wanted.extend(all.iter().map(|p| p.to_string()));
        }
        let mut seen = BTreeSet::new();
        wanted.retain(|p| seen.insert(p.clone()) && all.contains(&p.as_str()));

        let mut out = String::from("\n\nFiles in the working directory:\n");
        for p in all.iter().take(LISTED_FILES) {
            out.push_str(&format!("  {p}\n"));
        }
        if all.len() > LISTED_FILES {
            out.push_str(&format!("  … and {} more\n", all.len() - LISTED_FILES));
        }
        let budget = self.settings.text_context_chars;
        let mut used = 0;
        let mut shown = String::new();
        let mut left = Vec::new();
        for (i, path) in wanted.iter().enumerate() {
            // A file that cannot fit is left out unread, so the journal lists only what the
            // model was shown (the first file is shown, paged by read_file, whatever its size).
            let size = std::fs::metadata(self.workdir.join(path)).map_or(0, |m| m.len() as usize);
            if used > 0 && used + size > budget {
                left.push(path.clone());
                continue;
            }
            let id = format!("context_{iteration}_{i}");
            if let Some(text) = self.read_for_prompt(task, iteration, 0, path, &id).await? {
                used += text.len();
                shown.push('\n');
                shown.push_str(&fenced(path, &text));
            }
        }
        if shown.is_empty() {
            out.push_str("\nNo file was named by the task; READ the ones you need.\n");
        } else {
            out.push_str("\nThe task's files as they are now:\n");
            out.push_str(&shown);
        }
        if !left.is_empty() {
            out.push_str(&format!(
                "\nNot shown, to keep the prompt small: {}. READ them if you need them.\n",
                left.join(", ")
            ));
        }
        Ok(out)
    }

    /// Verify a text-protocol draft that is done (its deliverables and checks, as `finish`
    /// does with tools). True: it goes back to the model, with what failed in `messages`.
    async fn send_back(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        messages: &mut Vec<Message>,
    ) -> Result<bool, CoreError> {
        match self.verify(task, iteration, step).await? {
            super::verify::Verdict::FixFirst(text) => {
                messages.push(Message::user(format!(
                    "{}\nYou write in text: send the fixes as search/replace blocks or whole files, as before.",
                    text.replace("then call finish again", "then answer again")
                )));
                Ok(true)
            }
            super::verify::Verdict::Review => Ok(false),
        }
    }

    /// Draft in the text protocol: files in the prompt, changes as text blocks.
    // Long: the text-protocol agent loop (ask, parse blocks, apply, report back) until the model
    // finishes or a limit stops it; the turns share the conversation and the counters.
    pub(super) async fn draft_in_text(
        &mut self,
        task: usize,
        iteration: u32,
        step: &mut u32,
    ) -> Result<DraftEnd, CoreError> {
        let system = self.prompts.render("drafter_text", json!({}))?;
        let knowledge = self
            .brief_knowledge(Purpose::Draft, Some(task), Some(iteration))
            .await?;
        let system = Self::with_knowledge(system, &knowledge);
        let prompt =
            self.draft_prompt(task, iteration)? + &self.text_context(task, iteration).await?;
        let mut messages = vec![Message::system(system), Message::user(prompt)];
        let cap = self.settings.drafter_max_tokens;
        let (mut nudged, mut applied, mut cut_offs) = (false, false, 0);
        loop {
            if self.over_budget(task, *step) {
                return Ok(DraftEnd {
                    summary: format!("(the draft stopped after {step} steps without finishing)"),
                    incomplete: true,
                    cut_off: cut_offs > 0,
                });
            }
            // No tools are offered, so nothing can switch the protocol again.
            let Some(resp) = self
                .draft_turn(task, iteration, step, &mut messages, &[], cap)
                .await?
            else {
                continue;
            };
            let cut = resp.cut_off();
            cut_offs = if cut { cut_offs + 1 } else { 0 };
            let parsed = text_edits::parse(&resp.content);
            let calls = text_edits::to_calls(*step, parsed.edits);
            if calls.is_empty() {
                let reads = read_requests(&resp.content);
                if !reads.is_empty() {
                    let mut reply = String::new();
                    for (i, path) in reads.iter().enumerate().take(8) {
                        let id = format!("read_{step}_{i}");
                        match self
                            .read_for_prompt(task, iteration, *step, path, &id)
                            .await?
                        {
                            Some(text) => reply.push_str(&fenced(path, &text)),
                            None => reply.push_str(&format!("{path}: cannot be read\n")),
                        }
                    }
                    messages.push(Message::user(reply));
                    continue;
                }
                if cut && cut_offs < MAX_CUT_OFFS {
                    messages.push(Message::user(format!(
                        "{} Do not repeat it: send the changes now as short search/replace blocks.",
                        cut_off_words(cap)
                    )));
                    continue;
                }
                if applied || cut {
                    // Changes landed earlier: this answer is the summary (or it was cut off
                    // again, and the reviewer sees that). A finished draft is verified first,
                    // as a `finish` call is.
                    if !cut
                        && self
                            .send_back(task, iteration, *step, &mut messages)
                            .await?
                    {
                        continue;
                    }
                    return Ok(DraftEnd {
                        summary: self.record_text_replies(task, iteration, &resp.content)?,
                        incomplete: cut,
                        cut_off: cut,
                    });
                }
                if !nudged {
                    nudged = true;
                    messages.push(Message::user(
                        "Your answer changed no file. Write each change as a search/replace block or a whole file in a fence headed by its path, as the system prompt shows.",
                    ));
                    continue;
                }
                return Ok(DraftEnd {
                    summary: resp.content,
                    incomplete: true,
                    cut_off: false,
                });
            }
            let mut report = Vec::new();
            let mut failed = BTreeSet::new();
            for (i, (call, problem)) in calls.iter().enumerate() {
                let (ok, text, _) = self
                    .run_call(task, iteration, *step, call, problem.as_deref(), &mut false)
                    .await?;
                applied |= ok;
                if !ok && let Some(p) = call_path(call) {
                    failed.insert(p);
                }
                report.push(format!("{}. {text}", i + 1));
            }
            if failed.is_empty() && !cut && report.len() == calls.len() {
                if self
                    .send_back(task, iteration, *step, &mut messages)
                    .await?
                {
                    continue;
                }
                let summary = self.record_text_replies(task, iteration, &parsed.prose)?;
                return Ok(DraftEnd {
                    summary: if summary.is_empty() {
                        "(changes written as text blocks)".to_string()
                    } else {
                        summary
                    },
                    incomplete: false,
                    cut_off: false,
                });
            }
            let mut reply = format!(
                "Results of the changes in your answer:\n{}\n",
                report.join("\n")
            );
            if cut {
                reply.push_str(&cut_off_words(cap));
                reply.push_str(" Send what is missing, in short blocks; if nothing is, say what you changed in a sentence or two.\n");
            }
            if !failed.is_empty() || report.iter().any(|r| r.contains("error:")) {
                reply.push_str(
                    "The failed ones were not applied; send them again, corrected. SEARCH must copy lines exactly as they are now:\n",
                );
                for (i, path) in failed.iter().enumerate() {
                    let id = format!("reread_{step}_{i}");
                    if let Some(text) = self
                        .read_for_prompt(task, iteration, *step, path, &id)
                        .await?
                    {
                        reply.push_str(&fenced(path, &text));
                    }
                }
            }
            messages.push(Message::user(reply));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_in_text_are_found_parsed_and_errors_named() {
        let answer = "Here is the plan.\n\n```toml\n[[task]]\ntitle = \"Add a flag\"\ninstructions = \"Add --name to greet.py\"\nacceptance = [\"--name works\"]\n```\nThanks.";
        let tasks = plan_from_text(answer).unwrap().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].title, "Add a flag");
        // No fence at all, two tasks.
        let bare = "[[task]]\ntitle = \"A\"\ninstructions = \"a\"\nacceptance = [\"x\"]\n\n[[task]]\ntitle = \"B\"\ninstructions = \"b\"\nacceptance = [\"y\"]\n";
        assert_eq!(plan_from_text(bare).unwrap().unwrap().len(), 2);
        // A task without acceptance: the exact problem, to send back.
        let bad = "```toml\n[[task]]\ntitle = \"A\"\ninstructions = \"a\"\nacceptance = []\n```";
        let err = plan_from_text(bad).unwrap().unwrap_err();
        assert!(err.contains("acceptance"), "{err}");
        assert!(plan_from_text("I would split this into two tasks.").is_none());
    }

    #[test]
    fn thread_replies_in_text_are_taken_out_of_the_summary() {
        let (replies, summary) = text_replies(
            "Made greet take a name.\n[c1.2] addressed: renamed it\n- [n1] Not done: the client must say\n[x] nothing: here",
        );
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].thread, "c1.2");
        assert_eq!(replies[0].status, "addressed");
        assert_eq!(replies[0].text, "renamed it");
        assert_eq!(replies[1].status, "not_done");
        assert_eq!(summary, "Made greet take a name.\n[x] nothing: here");
    }

    #[test]
    fn read_requests_and_fences() {
        assert_eq!(
            read_requests("Let me see.\nREAD greet.py\nREAD: `docs/a b.md`\nREADME is long\n"),
            vec!["greet.py".to_string()]
        );
        let f = fenced("a.md", "x\n```\ny\n```\n");
        assert!(f.starts_with("````a.md\n"), "{f}");
        assert!(f.ends_with("\n````\n"), "{f}");
        // The fence round-trips through the text-edit parser as the same whole file.
        let parsed = text_edits::parse(&f);
        let calls = text_edits::to_calls(1, parsed.edits);
        let args: serde_json::Value = serde_json::from_str(&calls[0].0.arguments).unwrap();
        assert_eq!(args["content"], "x\n```\ny\n```\n");
    }
}
