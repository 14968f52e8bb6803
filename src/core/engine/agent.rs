//! The agent loop: planning (the `submit_plan` tool) and drafting (the workspace tools), with
//! the write hook that journals every file's old and new content before the agent writes it.
//!
//! Invariants: each model call is journaled with its usage; each tool call with clipped
//! arguments and result (the snapshot in git holds the real content); a write is refused if it
//! cannot be journaled first.

use super::*;

impl Engine {
    pub(super) fn delta_sink(&self) -> impl Fn(Delta) + Send + Sync + use<> {
        let events = self.rec.events.clone();
        move |d: Delta| {
            events.send(match d {
                Delta::Text(text) => Event::ModelText { text },
                Delta::ToolStarted(name) => Event::ToolStarted { name },
                Delta::Retrying {
                    attempt,
                    max,
                    delay,
                    reason,
                } => Event::Retrying {
                    attempt,
                    max,
                    delay_ms: delay.as_millis() as u64,
                    reason,
                },
            })
        }
    }

    pub(super) async fn plan(&mut self, brief: &str, note: Option<&str>) -> Result<(), CoreError> {
        let system = self.prompts.render("planner", json!({ "note": note }))?;
        let mut messages = vec![Message::system(system), Message::user(brief)];
        let tools = vec![crate::core::plan::tool_schema()];
        let sink = self.delta_sink();
        let mut last = String::from("the model did not call submit_plan");
        for step in 1..=self.settings.planner_attempts {
            let started = Instant::now();
            let resp = self
                .model
                .chat(
                    &ChatRequest {
                        messages: messages.clone(),
                        tools: tools.clone(),
                    },
                    &sink,
                )
                .await?;
            self.record_model_call(Purpose::Plan, None, None, step, &resp, started)?;
            messages.push(resp.as_message());
            if resp.tool_calls.is_empty() {
                last = "the model answered in text instead of calling submit_plan".into();
                messages.push(Message::user(
                    "Answer by calling the submit_plan tool with the plan; do not write it as text.",
                ));
                continue;
            }
            for call in &resp.tool_calls {
                let answer = if call.name == "submit_plan" {
                    crate::core::plan::from_tool_call(&call.arguments)
                } else {
                    Err(format!(
                        "only submit_plan can be called while planning, not `{}`",
                        call.name
                    ))
                };
                match answer {
                    Ok(tasks) => {
                        self.rec.record(JournalEvent::PlanSet {
                            tasks,
                            source: PlanSource::Planner,
                        })?;
                        return Ok(());
                    }
                    Err(problem) => {
                        messages.push(Message::tool(&call.id, format!("error: {problem}")));
                        last = problem;
                    }
                }
            }
        }
        Err(CoreError::PlanFailed {
            attempts: self.settings.planner_attempts,
            last,
        })
    }

    pub(super) fn record_model_call(
        &mut self,
        purpose: Purpose,
        task: Option<usize>,
        iteration: Option<u32>,
        step: u32,
        resp: &crate::infra::model::ChatResponse,
        started: Instant,
    ) -> Result<(), CoreError> {
        self.rec.record(JournalEvent::ModelCall {
            purpose,
            task,
            iteration,
            step,
            prompt_tokens: resp.usage.prompt_tokens,
            completion_tokens: resp.usage.completion_tokens,
            duration_ms: started.elapsed().as_millis() as u64,
            finish_reason: resp.finish_reason.clone(),
            text: clip(&resp.content, 2000),
            tool_calls: resp.tool_calls.iter().map(|c| c.name.clone()).collect(),
        })?;
        Ok(())
    }

    pub(super) fn draft_prompt(&self, task: usize, iteration: u32) -> Result<String, CoreError> {
        let st = &self.rec.state;
        let t = st.task(task).ok_or(CoreError::NoTask(task))?;
        let total = st.tasks.len();
        if iteration == 1 {
            return Ok(self.prompts.render(
                "task",
                json!({
                    "number": task, "total": total, "title": t.spec.title,
                    "instructions": t.spec.instructions, "acceptance": t.spec.acceptance,
                }),
            )?);
        }
        let prev = st.iteration(task, iteration - 1);
        let comments: Vec<_> = prev
            .map(|p| {
                p.comments
                    .iter()
                    .map(|c| json!({"path": c.path, "line": c.line, "quote": c.quote, "text": c.text}))
                    .collect()
            })
            .unwrap_or_default();
        Ok(self.prompts.render(
            "revision",
            json!({
                "number": task, "total": total, "title": t.spec.title,
                "instructions": t.spec.instructions, "acceptance": t.spec.acceptance,
                "met": t.criteria_met, "iteration": iteration,
                "summary": prev.map(|p| p.summary.clone()).unwrap_or_default(),
                "incomplete": prev.is_some_and(|p| p.incomplete),
                "note": prev.and_then(|p| p.note.clone()),
                "comments": comments,
                "threads": self.prompt_threads(task, iteration),
            }),
        )?)
    }

    pub(super) async fn draft(&mut self, task: usize, iteration: u32) -> Result<(), CoreError> {
        let started = Instant::now();
        let base = match self.rec.state.task(task) {
            Some(t) if t.base.is_none() && iteration == 1 => {
                let repo = gitops::open(&self.workdir)?;
                gitops::head(&repo).map(|o| o.to_string())
            }
            _ => None,
        };
        self.rec.record(JournalEvent::DraftStarted {
            task,
            iteration,
            base,
        })?;
        let system = self.prompts.render("drafter", json!({}))?;
        let mut messages = vec![
            Message::system(system),
            Message::user(self.draft_prompt(task, iteration)?),
        ];
        let tools = tools::draft_tool_schemas();
        let sink = self.delta_sink();
        let mut summary: Option<String> = None;
        let mut incomplete = false;
        let mut nudged = false;
        // A `finish` with unanswered review threads is sent back once (engine::replies).
        let mut finish_refused = false;
        let mut step = 0;
        while summary.is_none() {
            if step >= self.settings.max_steps {
                incomplete = true;
                break;
            }
            if let Some(limit) = self.settings.max_task_tokens
                && self.task_tokens(task) >= limit
            {
                incomplete = true;
                break;
            }
            step += 1;
            let t0 = Instant::now();
            let resp = self
                .model
                .chat(
                    &ChatRequest {
                        messages: messages.clone(),
                        tools: tools.clone(),
                    },
                    &sink,
                )
                .await?;
            self.record_model_call(Purpose::Draft, Some(task), Some(iteration), step, &resp, t0)?;
            messages.push(resp.as_message());
            // A model that will not call tools may write its change as text blocks
            // (model::text_edits); after the one re-ask, those are applied as the tool calls
            // they stand for, through the same workspace and journaling.
            let mut text_prose: Option<String> = None;
            let calls = if resp.tool_calls.is_empty() {
                let parsed = if nudged {
                    crate::infra::model::text_edits::parse(&resp.content)
                } else {
                    Default::default()
                };
                if parsed.edits.is_empty() {
                    if !nudged {
                        nudged = true;
                        messages.push(Message::user(
                            "You answered in text. Make the change with the tools (edit_file or write_file), then call finish. If you cannot call tools, write each change as a SEARCH/REPLACE block or a whole file in a fence headed by its path, as the system prompt shows.",
                        ));
                        continue;
                    }
                    // Twice in text, and no change in it: stop and let the reviewer see.
                    summary = Some(resp.content.clone());
                    incomplete = true;
                    break;
                }
                text_prose = Some(parsed.prose);
                crate::infra::model::text_edits::to_calls(step, parsed.edits)
            } else {
                resp.tool_calls.iter().map(|c| (c.clone(), None)).collect()
            };
            let mut text_results: Vec<(bool, String)> = Vec::new();
            for (call, problem) in &calls {
                let (ok, text, finished) = self.run_call(
                    task,
                    iteration,
                    step,
                    call,
                    problem.as_deref(),
                    &mut finish_refused,
                )?;
                if finished.is_some() {
                    summary = finished;
                }
                if text_prose.is_some() {
                    text_results.push((ok, text));
                } else {
                    messages.push(Message::tool(&call.id, text));
                }
            }
            if let Some(prose) = text_prose {
                if text_results.iter().all(|(ok, _)| *ok) {
                    // Every change applied: a text-only model has no finish call, so this is it.
                    summary = Some(if prose.is_empty() {
                        "(changes written as text blocks)".to_string()
                    } else {
                        prose
                    });
                } else {
                    let report: Vec<String> = text_results
                        .iter()
                        .enumerate()
                        .map(|(i, (_, t))| format!("{}. {t}", i + 1))
                        .collect();
                    messages.push(Message::user(format!(
                        "Results of the changes in your answer:\n{}\nThe failed ones were not applied; send them again, corrected.",
                        report.join("\n")
                    )));
                }
            }
        }
        let summary = summary.unwrap_or_else(|| {
            format!("(the draft stopped after {step} steps without calling finish)")
        });
        self.snapshot(task, iteration, summary, incomplete, started)
            .await
    }

    /// Tokens the task's drafts have used so far, for `max_task_tokens`.
    fn task_tokens(&self, task: usize) -> u64 {
        self.rec.state.task(task).map_or(0, |t| {
            t.iterations
                .iter()
                .map(|i| i.prompt_tokens + i.completion_tokens)
                .sum()
        })
    }

    /// Run one tool call of a draft (or report the `problem` a text block had) and journal it.
    /// Returns whether it worked, the result for the model, and the summary if it was `finish`
    /// (taken: its thread replies are journaled after the call).
    fn run_call(
        &mut self,
        task: usize,
        iteration: u32,
        step: u32,
        call: &crate::infra::model::ToolCall,
        problem: Option<&str>,
        finish_refused: &mut bool,
    ) -> Result<(bool, String, Option<String>), CoreError> {
        let outcome = match problem {
            Some(p) => Outcome::Continue {
                ok: false,
                text: format!("error: {p}"),
            },
            None => {
                let rec = &mut self.rec;
                let workdir = &self.workdir;
                let mut hook = |w: &tools::PendingWrite<'_>| {
                    touch(rec, workdir, task, iteration, w)?;
                    written(rec, workdir, task, iteration, w)
                };
                self.ws.run(&call.name, &call.arguments, &mut hook)
            }
        };
        let mut replies = Vec::new();
        let (ok, text, lines, finished) = match outcome {
            Outcome::Continue { ok, text } => (ok, text, None, None),
            Outcome::Wrote { text, lines } => (true, text, Some(lines), None),
            Outcome::Finish {
                summary,
                replies: given,
            } => match self.check_replies(task, iteration, &given, !*finish_refused) {
                Ok(events) => {
                    replies = events;
                    (
                        true,
                        "ok: the draft goes to review".to_string(),
                        None,
                        Some(summary),
                    )
                }
                Err(why) => {
                    *finish_refused = true;
                    (false, why, None, None)
                }
            },
        };
        self.rec.record(JournalEvent::ToolCall {
            task,
            iteration,
            step,
            call_id: call.id.clone(),
            name: call.name.clone(),
            args: shorten_args(&call.arguments),
            ok,
            result: clip(&text, 2000),
            lines,
        })?;
        for ev in replies {
            self.rec.record(ev)?;
        }
        Ok((ok, text, finished))
    }
}

/// The write hook: journal a path's pre-task content (and mode) the first time it is written in
/// a task.
pub(super) fn touch(
    rec: &mut Recorder,
    workdir: &Path,
    task: usize,
    iteration: u32,
    w: &tools::PendingWrite<'_>,
) -> Result<(), String> {
    if rec
        .state
        .task(task)
        .is_some_and(|t| t.touched.contains_key(w.rel))
    {
        return Ok(());
    }
    let preimage = match w.old {
        Some(bytes) => {
            let repo = gitops::open(workdir).map_err(|e| e.to_string())?;
            Some(
                gitops::write_blob(&repo, bytes)
                    .map_err(|e| e.to_string())?
                    .to_string(),
            )
        }
        None => None,
    };
    rec.record(JournalEvent::FileTouched {
        task,
        iteration,
        path: w.rel.to_string(),
        preimage,
        created_dirs: w.created_dirs.to_vec(),
        exec: w.old.map(|_| w.old_exec),
    })
    .map_err(|e| format!("cannot record the write: {e}"))
}

/// Journal the content an agent write is about to leave, before it is written: a restore can
/// then tell the agent's bytes on disk from the user's.
pub(super) fn written(
    rec: &mut Recorder,
    workdir: &Path,
    task: usize,
    iteration: u32,
    w: &tools::PendingWrite<'_>,
) -> Result<(), String> {
    let repo = gitops::open(workdir).map_err(|e| e.to_string())?;
    let blob = gitops::write_blob(&repo, w.new).map_err(|e| e.to_string())?;
    // Not what tandem left there: the user changed it while the agent worked.
    let foreign = match rec.state.task(task) {
        Some(t) => {
            let left = last_left(&repo, t, iteration, w.rel).map_err(|e| e.to_string())?;
            left.is_some_and(|left| left != w.old.map(gitops::raw_id))
        }
        None => false,
    };
    rec.record(JournalEvent::FileWritten {
        task,
        iteration,
        path: w.rel.to_string(),
        blob: Some(blob.to_string()),
        foreign,
    })
    .map_err(|e| format!("cannot record the write: {e}"))
}

pub(super) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// Tool arguments for the journal: long strings (file contents) are cut, since the iteration
/// snapshot in git holds the real content.
pub(super) fn shorten_args(raw: &str) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.len() > 400 => *s = clip(s, 400),
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::Object(o) => o.values_mut().for_each(walk),
            _ => {}
        }
    }
    match tools::parse_arguments(raw) {
        Ok(mut v) => {
            walk(&mut v);
            v
        }
        Err(_) => serde_json::Value::String(clip(raw, 400)),
    }
}
