//! Lessons from review: after a task is accepted, the model reads what the reviewer wrote on it
//! (comments and notes, by thread) and proposes a few general lessons, each one sentence and
//! linked to the threads it came from (`lessons_proposed`). The reviewer approves, edits or
//! discards each (`Op::DecideLessons`); approved ones are added to the lessons file of their
//! scope — `.tandem/lessons.md` or the client's `lessons.md` — and from then on every planner
//! and drafter conversation is given them (engine/knowledge.rs).
//!
//! At the end of a session (when at least two tasks got reviewer's words) one more pass reads
//! the reviews of every task, rejected ones included, for points that recur across tasks; it is
//! journaled for task 0 (`SESSION_LESSONS`) and decided the same way.
//!
//! Invariants: nothing is stored unapproved; a lessons file is written before `lessons_decided`
//! is journaled, and a lesson already in the file is not added twice, so a crash in between
//! asks again without duplicating anything. Proposing never costs the accepted work: a model
//! failure journals the problem and the session goes on.

use super::*;
use crate::core::journal::{LessonChoice, LessonScope, ProposedLesson};
use crate::core::state::SESSION_LESSONS;
use crate::infra::knowledge;

/// Lessons one proposal may hold.
const MAX_LESSONS: usize = 5;
/// Characters one lesson may have.
const MAX_LESSON_CHARS: usize = 300;

#[derive(serde::Deserialize)]
struct ProposeArgs {
    #[serde(default)]
    lessons: Vec<ProposeItem>,
}

#[derive(serde::Deserialize)]
struct ProposeItem {
    text: String,
    #[serde(default)]
    from: Vec<String>,
}

impl Engine {
    /// The reviewer's words on `task`, one line per thread, labelled; empty when none. For
    /// `SESSION_LESSONS`, every task's, each label prefixed with its task (`2:c1.1`).
    fn review_words(&self, task: usize) -> Vec<(String, String)> {
        use crate::core::threads::Author;
        if task == SESSION_LESSONS {
            return self
                .rec
                .state
                .tasks
                .iter()
                .flat_map(|t| {
                    self.review_words(t.number)
                        .into_iter()
                        .map(move |(label, line)| {
                            let prefixed = format!("{}:{label}", t.number);
                            (
                                prefixed.clone(),
                                line.replacen(&format!("[{label}]"), &format!("[{prefixed}]"), 1),
                            )
                        })
                })
                .collect();
        }
        let Some(t) = self.rec.state.task(task) else {
            return Vec::new();
        };
        t.threads
            .iter()
            .filter_map(|th| {
                let words: Vec<&str> = th
                    .posts
                    .iter()
                    .filter(|p| matches!(p.by, Author::Reviewer | Author::Reopened))
                    .map(|p| p.text.trim())
                    .filter(|t| !t.is_empty())
                    .collect();
                if words.is_empty() {
                    return None;
                }
                let label = th.key.to_string();
                let place = match th.anchors.values().next() {
                    Some(a) if !th.key.is_note() => format!(
                        " on {}{}",
                        a.path,
                        a.line.map(|l| format!(":{l}")).unwrap_or_default()
                    ),
                    _ => " (note)".to_string(),
                };
                Some((
                    label.clone(),
                    format!("[{label}]{place}: {}", words.join(" / ")),
                ))
            })
            .collect()
    }

    /// Whether the end-of-session pass is due: lessons on, not drawn yet, and at least two
    /// tasks got words from the reviewer (one task's review had its own pass).
    pub(super) fn session_lessons_due(&self) -> bool {
        self.settings.lessons
            && self.rec.state.session_lessons.is_none()
            && self
                .rec
                .state
                .tasks
                .iter()
                .filter(|t| !self.review_words(t.number).is_empty())
                .count()
                >= 2
    }

    /// After `task` was accepted: propose lessons from its review, when the reviewer wrote
    /// anything and lessons are on. The proposal (or why there is none) is journaled.
    pub(super) async fn propose_lessons(&mut self, task: usize) -> Result<(), CoreError> {
        if !self.settings.lessons {
            return Ok(());
        }
        let words = self.review_words(task);
        if words.is_empty() {
            return Ok(());
        }
        self.emit(Event::Status {
            message: if task == SESSION_LESSONS {
                "drawing lessons from the whole session's reviews".to_string()
            } else {
                format!("drawing lessons from task {task}'s review")
            },
        });
        let (lessons, problem) = match self.ask_for_lessons(task, &words).await {
            Ok(found) => (found, None),
            Err(e @ CoreError::Journal(_)) => return Err(e),
            Err(e) => (Vec::new(), Some(format!("the model failed: {e}"))),
        };
        let labels: Vec<&str> = words.iter().map(|(l, _)| l.as_str()).collect();
        let lessons: Vec<ProposedLesson> = lessons
            .into_iter()
            .filter_map(|mut l| {
                let text = tools::clean_text(&l.text).replace('\n', " ");
                let text = text.trim();
                if text.is_empty() || text.eq_ignore_ascii_case("none") {
                    return None;
                }
                l.text = text.chars().take(MAX_LESSON_CHARS).collect();
                if task == SESSION_LESSONS {
                    // A bare thread label (a prompt override without the task numbers) names
                    // the one task that has it, if only one does.
                    for f in &mut l.from {
                        let suffix = format!(":{f}");
                        let mut owners = labels.iter().filter(|l| l.ends_with(&suffix));
                        if !f.contains(':')
                            && let (Some(only), None) = (owners.next(), owners.next())
                        {
                            *f = only.to_string();
                        }
                    }
                }
                l.from.retain(|f| labels.contains(&f.as_str()));
                Some(l)
            })
            .take(MAX_LESSONS)
            .collect();
        let problem = problem.or_else(|| {
            lessons
                .is_empty()
                .then(|| "nothing general in the review to keep".to_string())
        });
        self.rec.record(JournalEvent::LessonsProposed {
            task,
            lessons,
            problem,
        })?;
        Ok(())
    }

    // Long: two bounded attempts at a valid answer from the lessons model; the attempts share the
    // conversation.
    async fn ask_for_lessons(
        &mut self,
        task: usize,
        words: &[(String, String)],
    ) -> Result<Vec<ProposedLesson>, CoreError> {
        let root = self.workdir.clone();
        let sources = self.settings.knowledge.clone();
        let known = blocking(move || knowledge::load(&root, &sources)).await?;
        let mut kept: Vec<String> = known
            .lesson_files
            .iter()
            .flat_map(|d| knowledge::lessons_in(&d.text))
            .collect();
        let session = task == SESSION_LESSONS;
        let (title, whose) = if session {
            // What this session's per-task passes proposed, kept or not, is not asked again.
            for t in &self.rec.state.tasks {
                for p in t.lessons.iter().flat_map(|l| &l.proposed) {
                    if !kept.contains(&p.text) {
                        kept.push(p.text.clone());
                    }
                }
            }
            (
                "every task of this session".to_string(),
                "every task of this session (labels start with the task number)".to_string(),
            )
        } else {
            let t = self.rec.state.task(task).ok_or(CoreError::NoTask(task))?;
            (
                t.spec.title.clone(),
                format!("task {task} ({})", t.spec.title),
            )
        };
        let text = self.rec.state.text_protocol.is_some();
        let system = self.prompts.render(
            "lessons",
            json!({
                "title": title, "kept": kept, "text_protocol": text, "session": session,
            }),
        )?;
        let review: Vec<&str> = words.iter().map(|(_, w)| w.as_str()).collect();
        let mut messages = vec![
            Message::system(system),
            Message::user(format!(
                "The reviewer's comments and notes on {whose}:\n{}",
                review.join("\n")
            )),
        ];
        let tools = if text {
            Vec::new()
        } else {
            vec![tools::lessons_tool_schema()]
        };
        for step in 1..=2 {
            let started = Instant::now();
            let Some(resp) = self.ask(&messages, &tools, 1024).await? else {
                return Ok(Vec::new());
            };
            let on = (task != SESSION_LESSONS).then_some(task);
            self.record_model_call(Purpose::Lessons, on, None, step, &resp, started)?;
            if let Some(call) = resp.tool_calls.iter().find(|c| c.name == "propose_lessons") {
                let args = tools::parse_arguments(&call.arguments).and_then(|v| {
                    serde_json::from_value::<ProposeArgs>(v).map_err(|e| e.to_string())
                });
                if let Ok(a) = args {
                    return Ok(a
                        .lessons
                        .into_iter()
                        .map(|i| ProposedLesson {
                            text: i.text,
                            from: i.from,
                        })
                        .collect());
                }
            }
            if resp.tool_calls.is_empty() {
                return Ok(lessons_from_text(&resp.content));
            }
            messages.push(resp.as_message());
            for call in &resp.tool_calls {
                messages.push(Message::tool(
                    &call.id,
                    "error: answer with propose_lessons {lessons: [{text, from}]} (an empty list when nothing is general)",
                ));
            }
        }
        Ok(Vec::new())
    }

    /// `Op::DecideLessons`: store the kept lessons in their files, then journal the answers.
    // Long: every answer is checked before any file is written, then the files, then the
    // journal, so a refused answer writes nothing.
    pub(super) fn decide_lessons(
        &mut self,
        task: usize,
        choices: Vec<LessonChoice>,
    ) -> Result<(), String> {
        let proposed = match self.rec.state.lessons(task) {
            Some(l) if l.waiting() => l.proposed.clone(),
            _ if task == SESSION_LESSONS => {
                return Err("the session has no lessons waiting for an answer".into());
            }
            _ => return Err(format!("task {task} has no lessons waiting for an answer")),
        };
        let mut answered: Vec<LessonChoice> = Vec::new();
        for (i, p) in proposed.iter().enumerate() {
            let number = i + 1;
            // A lesson the driver did not answer is discarded: nothing is kept unapproved.
            let c = choices
                .iter()
                .find(|c| c.number == number)
                .cloned()
                .unwrap_or(LessonChoice {
                    number,
                    keep: false,
                    text: String::new(),
                    scope: LessonScope::Repo,
                });
            let text = tools::clean_text(if c.text.trim().is_empty() {
                &p.text
            } else {
                &c.text
            })
            .replace('\n', " ")
            .trim()
            .to_string();
            if c.keep
                && c.scope == LessonScope::Client
                && self.settings.knowledge.client_dir.is_none()
            {
                return Err(format!(
                    "lesson {number} is for the client's file, but no client is named (set `client` in {}, or TANDEM_CLIENT)",
                    crate::infra::config::RepoConfig::PATH
                ));
            }
            answered.push(LessonChoice {
                text: if c.keep { text } else { String::new() },
                ..c
            });
        }
        let session = self.session().to_string();
        let mut stored = Vec::new();
        for scope in [LessonScope::Repo, LessonScope::Client] {
            let kept: Vec<(String, String)> = answered
                .iter()
                .filter(|c| c.keep && c.scope == scope && !c.text.is_empty())
                .map(|c| {
                    let from = &proposed[c.number - 1].from;
                    let what = if task == SESSION_LESSONS {
                        "tasks".to_string()
                    } else {
                        format!("task {task}")
                    };
                    let whence = if from.is_empty() {
                        format!("{what}, session {session}")
                    } else {
                        format!("{what} ({}), session {session}", from.join(", "))
                    };
                    (c.text.clone(), whence)
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            let (path, shown) = match scope {
                LessonScope::Repo => (
                    self.workdir.join(knowledge::REPO_LESSONS),
                    knowledge::REPO_LESSONS.to_string(),
                ),
                LessonScope::Client => {
                    let dir = self
                        .settings
                        .knowledge
                        .client_dir
                        .clone()
                        .unwrap_or_default();
                    let p = dir.join("lessons.md");
                    let shown = p.display().to_string();
                    (p, shown)
                }
            };
            knowledge::append_lessons(&path, &kept)
                .map_err(|e| format!("cannot write the lessons to {shown}: {e}"))?;
            stored.push(shown);
        }
        self.record(JournalEvent::LessonsDecided {
            task,
            choices: answered,
            stored,
        })?;
        self.store_recorded()
    }
}

/// Lessons written as lines: `- text [c1.2, n1]` (or numbered); "none" gives none.
pub(super) fn lessons_from_text(text: &str) -> Vec<ProposedLesson> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("- ")
                .or_else(|| l.strip_prefix("* "))
                .or_else(|| {
                    let digits = l.find(|c: char| !c.is_ascii_digit())?;
                    (digits > 0)
                        .then(|| {
                            l[digits..]
                                .strip_prefix(". ")
                                .or(l[digits..].strip_prefix(") "))
                        })
                        .flatten()
                })?;
            let (text, from) = match (rest.rfind('['), rest.ends_with(']')) {
                (Some(i), true) => (
                    rest[..i].trim(),
                    rest[i + 1..rest.len() - 1]
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                _ => (rest.trim(), Vec::new()),
            };
            (!text.is_empty()).then(|| ProposedLesson {
                text: text.to_string(),
                from,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::lessons_from_text;

    #[test]
    fn lessons_written_as_lines_are_read_with_their_threads() {
        let got = lessons_from_text(
            "Here they are:\n- Use British spelling. [c1.2, n1]\n2. Prices in EUR with two decimals.\nnone of the rest\n",
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].text, "Use British spelling.");
        assert_eq!(got[0].from, ["c1.2", "n1"]);
        assert_eq!(got[1].text, "Prices in EUR with two decimals.");
        assert!(got[1].from.is_empty());
    }
}
