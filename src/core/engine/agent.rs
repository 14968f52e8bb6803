//! The agent loop: planning (the `submit_plan` tool) and drafting (the workspace tools), with
//! the write hook that journals every file's old and new content before the agent writes it.
//!
//! Invariants: each model call is journaled with its usage; each tool call with clipped
//! arguments and result (the snapshot in git holds the real content); a write is refused if it
//! cannot be journaled first.

use super::text_protocol::{self, DraftEnd, MAX_CUT_OFFS};
use super::*;

/// Planner turns that may go to reading knowledge before it must plan.
const MAX_KNOWLEDGE_TURNS: u32 = 6;

impl Engine {
    pub(super) fn delta_sink(&self) -> impl Fn(Delta) + Send + Sync + use<> {
        let events = self.rec.events.clone();
        move |d: Delta| {
            events.send(match d {
                Delta::Text(text) => Event::ModelText { text },
                Delta::ToolStarted(name) => Event::ToolStarted { name },
                Delta::Waiting { prompt_tokens } => Event::ModelWaiting { prompt_tokens },
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

    /// One model request. A server that refuses tools switches the session to the text
    /// protocol (journaled) and gives None, so the caller starts over in text.
    pub(super) async fn ask(
        &mut self,
        messages: &[Message],
        tools: &[crate::infra::model::ToolSchema],
        max_tokens: u32,
    ) -> Result<Option<crate::infra::model::ChatResponse>, CoreError> {
        let sink = self.delta_sink();
        let req = ChatRequest {
            messages: messages.to_vec(),
            tools: tools.to_vec(),
            max_tokens: Some(max_tokens),
        };
        match self.model.chat(&req, &sink).await {
            Ok(resp) => Ok(Some(resp)),
            Err(ModelError::ToolsUnsupported { message, fix }) if !tools.is_empty() => {
                self.switch_to_text(&format!(
                    "the model server refused tools ({message}). {fix}"
                ))?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The config asks for the text protocol: recorded once, before the first request.
    fn text_protocol_from_config(&mut self) -> Result<(), CoreError> {
        if self.settings.text_protocol {
            self.switch_to_text("text_protocol = true in the config")?;
        }
        Ok(())
    }

    fn plan_messages(
        &self,
        brief: &str,
        note: Option<&str>,
        knowledge: &str,
    ) -> Result<Vec<Message>, CoreError> {
        let text = self.rec.state.text_protocol.is_some();
        let system = self
            .prompts
            .render("planner", json!({ "note": note, "text_protocol": text }))?;
        Ok(vec![
            Message::system(Self::with_knowledge(system, knowledge)),
            Message::user(brief),
        ])
    }

    // Long: the planner's loop (ask, read knowledge when asked, validate the plan, retry with the
    // problem), bounded; the attempts share the conversation.
    pub(super) async fn plan(&mut self, brief: &str, note: Option<&str>) -> Result<(), CoreError> {
        self.text_protocol_from_config()?;
        let knowledge = self.brief_knowledge(Purpose::Plan, None, None).await?;
        let mut messages = self.plan_messages(brief, note, &knowledge)?;
        let cap = self.settings.planner_max_tokens;
        let mut last = String::from("the model did not call submit_plan");
        let mut step = 0;
        // Turns spent only reading knowledge: not attempts at a plan, but bounded.
        let mut reading = 0;
        while step < self.settings.planner_attempts {
            let tools = if self.rec.state.text_protocol.is_some() {
                Vec::new()
            } else {
                let mut tools = vec![crate::core::plan::tool_schema()];
                if self.knowledge_tools_offered() && reading < MAX_KNOWLEDGE_TURNS {
                    tools.extend(tools::knowledge_tool_schemas());
                }
                tools
            };
            let started = Instant::now();
            let Some(resp) = self.ask(&messages, &tools, cap).await? else {
                messages = self.plan_messages(brief, note, &knowledge)?;
                continue;
            };
            step += 1;
            self.record_model_call(Purpose::Plan, None, None, step, &resp, started)?;
            messages.push(resp.as_message());
            if resp.tool_calls.is_empty() {
                // A plan written as TOML: the text protocol's form, taken from any model.
                let ask_again = match text_protocol::plan_from_text(&resp.content) {
                    Some(Ok(tasks)) => {
                        self.rec.record(JournalEvent::PlanSet {
                            tasks,
                            source: PlanSource::Planner,
                        })?;
                        return Ok(());
                    }
                    Some(Err(problem)) => {
                        last = problem.clone();
                        format!(
                            "The plan in your answer cannot be used: {problem}\nSend the whole plan again, corrected, as TOML [[task]] tables in a ```toml fence."
                        )
                    }
                    None if resp.cut_off() => {
                        last = format!(
                            "the answer was cut off at the output limit before it held a plan (max_output_tokens.planner = {cap})"
                        );
                        format!(
                            "{} Answer again with only the plan, shorter: fewer words per task.",
                            text_protocol::cut_off_words(cap)
                        )
                    }
                    None if tools.is_empty() => {
                        last = "the model answered in text without a plan".into();
                        "Write the plan now as TOML [[task]] tables (title, instructions, acceptance) in a ```toml fence, as the system prompt shows.".into()
                    }
                    None => {
                        last = "the model answered in text instead of calling submit_plan".into();
                        "Answer by calling the submit_plan tool with the plan. If you cannot call tools, write the plan as TOML [[task]] tables (title, instructions, acceptance) in a ```toml fence.".into()
                    }
                };
                messages.push(Message::user(ask_again));
                continue;
            }
            let only_reading = resp
                .tool_calls
                .iter()
                .all(|c| tools::KNOWLEDGE_TOOLS.contains(&c.name.as_str()));
            if only_reading && reading < MAX_KNOWLEDGE_TURNS {
                reading += 1;
                step -= 1;
            }
            for call in &resp.tool_calls {
                if let Some((_, text)) = self.knowledge_call(&call.name, &call.arguments) {
                    messages.push(Message::tool(&call.id, text));
                    continue;
                }
                let answer = if call.name != "submit_plan" {
                    Err(format!(
                        "only submit_plan can be called while planning, not `{}`",
                        call.name
                    ))
                } else if resp.cut_off() && tools::parse_arguments(&call.arguments).is_err() {
                    Err(format!(
                        "{} Call submit_plan again with a shorter plan: fewer words per task.",
                        text_protocol::cut_off_words(cap)
                    ))
                } else {
                    crate::core::plan::from_tool_call(&call.arguments)
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
                    "deliverables": t.spec.deliverables, "checks": self.task_checks(task),
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
                "deliverables": t.spec.deliverables, "checks": self.task_checks(task),
                "met": t.criteria_met, "iteration": iteration,
                "summary": prev.map(|p| p.summary.clone()).unwrap_or_default(),
                "incomplete": prev.is_some_and(|p| p.incomplete),
                "note": prev.and_then(|p| p.note.clone()),
                "comments": comments,
                "threads": self.prompt_threads(task, iteration),
                "text_protocol": st.text_protocol.is_some(),
            }),
        )?)
    }

    pub(super) async fn draft(&mut self, task: usize, iteration: u32) -> Result<(), CoreError> {
        let started = Instant::now();
        self.waited = std::time::Duration::ZERO;
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
        self.text_protocol_from_config()?;
        let mut step = 0;
        let end = loop {
            if self.rec.state.text_protocol.is_some() {
                break self.draft_in_text(task, iteration, &mut step).await?;
            }
            // None: the model turned out not to call tools; the text protocol starts over.
            if let Some(end) = self.draft_with_tools(task, iteration, &mut step).await? {
                break end;
            }
        };
        self.snapshot(task, iteration, end, started).await
    }

    /// One drafting turn: ask, journal the call, keep the answer in the conversation. None:
    /// the session switched to the text protocol.
    pub(super) async fn draft_turn(
        &mut self,
        task: usize,
        iteration: u32,
        step: &mut u32,
        messages: &mut Vec<Message>,
        tools: &[crate::infra::model::ToolSchema],
        cap: u32,
    ) -> Result<Option<crate::infra::model::ChatResponse>, CoreError> {
        *step += 1;
        let t0 = Instant::now();
        let Some(resp) = self.ask(messages, tools, cap).await? else {
            return Ok(None);
        };
        self.record_model_call(
            Purpose::Draft,
            Some(task),
            Some(iteration),
            *step,
            &resp,
            t0,
        )?;
        messages.push(resp.as_message());
        Ok(Some(resp))
    }

    /// Out of steps or tokens for this draft.
    pub(super) fn over_budget(&self, task: usize, step: u32) -> bool {
        step >= self.settings.max_steps
            || self
                .settings
                .max_task_tokens
                .is_some_and(|limit| self.task_tokens(task) >= limit)
    }

    /// Draft with the workspace tools. None: the session switched to the text protocol.
    // Long: the tool-calling agent loop: one turn per model answer, its tool calls run in order,
    // until `finish` or a limit; the turns share the conversation and the counters.
    async fn draft_with_tools(
        &mut self,
        task: usize,
        iteration: u32,
        step: &mut u32,
    ) -> Result<Option<DraftEnd>, CoreError> {
        let system = self.prompts.render(
            "drafter",
            json!({ "commands": self.settings.commands.offered() }),
        )?;
        let knowledge = self
            .brief_knowledge(Purpose::Draft, Some(task), Some(iteration))
            .await?;
        let mut messages = vec![
            Message::system(Self::with_knowledge(system, &knowledge)),
            Message::user(self.draft_prompt(task, iteration)?),
        ];
        let mut tools = tools::draft_tool_schemas(self.settings.commands.offered());
        if self.knowledge_tools_offered() {
            tools.extend(tools::knowledge_tool_schemas());
        }
        let cap = self.settings.drafter_max_tokens;
        let mut nudged = false;
        let mut cut_offs = 0;
        // A `finish` with unanswered review threads is sent back once (engine::replies).
        let mut finish_refused = false;
        loop {
            if self.over_budget(task, *step) {
                return Ok(Some(DraftEnd {
                    summary: format!(
                        "(the draft stopped after {step} steps without calling finish)"
                    ),
                    incomplete: true,
                    cut_off: cut_offs > 0,
                }));
            }
            let Some(resp) = self
                .draft_turn(task, iteration, step, &mut messages, &tools, cap)
                .await?
            else {
                return Ok(None);
            };
            let cut = resp.cut_off();
            cut_offs = if cut { cut_offs + 1 } else { 0 };
            if resp.tool_calls.is_empty() {
                if cut {
                    if cut_offs >= MAX_CUT_OFFS {
                        return Ok(Some(DraftEnd {
                            summary: resp.content,
                            incomplete: true,
                            cut_off: true,
                        }));
                    }
                    messages.push(Message::user(format!(
                        "{} Do not repeat it: make the change with the tools now, in small steps (edit_file), then call finish.",
                        text_protocol::cut_off_words(cap)
                    )));
                    continue;
                }
                if !nudged {
                    nudged = true;
                    messages.push(Message::user(
                        "You answered in text. Make the change with the tools (edit_file or write_file), then call finish. If you cannot call tools, write each change as a SEARCH/REPLACE block or a whole file in a fence headed by its path, as the system prompt shows.",
                    ));
                    continue;
                }
                // Twice in text: this model does not call tools, and the text protocol (files
                // in the prompt) takes over for the session. Changes this answer already
                // wrote as text blocks are applied first, through the same workspace.
                self.switch_to_text("the model answered in text twice when asked to call tools")?;
                let parsed = crate::infra::model::text_edits::parse(&resp.content);
                let calls = crate::infra::model::text_edits::to_calls(*step, parsed.edits);
                let mut all_ok = !calls.is_empty();
                for (call, problem) in &calls {
                    let (ok, _, _) = self
                        .run_call(
                            task,
                            iteration,
                            *step,
                            call,
                            problem.as_deref(),
                            &mut finish_refused,
                        )
                        .await?;
                    all_ok &= ok;
                }
                if all_ok {
                    return Ok(Some(DraftEnd {
                        summary: if parsed.prose.is_empty() {
                            "(changes written as text blocks)".to_string()
                        } else {
                            parsed.prose
                        },
                        incomplete: false,
                        cut_off: false,
                    }));
                }
                return Ok(None);
            }
            let mut summary = None;
            for call in &resp.tool_calls {
                // A call the cap cut in half is not run: its arguments end mid-way.
                let problem = (cut && tools::parse_arguments(&call.arguments).is_err()).then(|| {
                    format!(
                        "{} This call was not run. Send it again in smaller pieces: edit_file with a short old_text, or a shorter file.",
                        text_protocol::cut_off_words(cap)
                    )
                });
                let (_, text, finished) = self
                    .run_call(
                        task,
                        iteration,
                        *step,
                        call,
                        problem.as_deref(),
                        &mut finish_refused,
                    )
                    .await?;
                messages.push(Message::tool(&call.id, text));
                summary = summary.or(finished);
            }
            if let Some(summary) = summary {
                return Ok(Some(DraftEnd {
                    summary,
                    incomplete: false,
                    cut_off: false,
                }));
            }
        }
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
    pub(super) async fn run_call(
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
            None if call.name == "run_command" => {
                let (ok, text) = self
                    .run_command_call(task, iteration, step, &call.arguments)
                    .await?;
                Outcome::Continue { ok, text }
            }
            None if let Some((ok, text)) = self.knowledge_call(&call.name, &call.arguments) => {
                Outcome::Continue { ok, text }
            }
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
            Outcome::Finish { .. }
                if let verify::Verdict::FixFirst(text) =
                    self.verify(task, iteration, step).await? =>
            {
                (false, text, None, None)
            }
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
    let blob = match w.new {
        Some(bytes) => Some(gitops::write_blob(&repo, bytes).map_err(|e| e.to_string())?),
        None => None,
    };
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
        blob: blob.map(|b| b.to_string()),
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
