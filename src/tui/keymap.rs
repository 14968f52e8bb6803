//! Key bindings: actions, their default keys, user overrides from the config's `[keys]` table,
//! and the hint bar and help text generated from them.
//!
//! Invariants: every action has at least one key; a user binding replaces the defaults of that
//! action only; an unknown action or unreadable key in the config is an error naming it. Hints
//! and help are generated from the live map, so they can never disagree with what keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    SwitchPane,
    Confirm,
    Comment,
    Note,
    Tick,
    Revise,
    Accept,
    Reject,
    Editor,
    Interdiff,
    SideBySide,
    Plan,
    Help,
    Quit,
    Close,
    AddTask,
    DeleteTask,
    MoveTaskDown,
    MoveTaskUp,
    ToggleHuman,
    Replan,
    DeleteComment,
    Resolve,
    NextThread,
    PrevThread,
    NextChange,
    PrevChange,
    NextHunk,
    PrevHunk,
    NextFile,
    PrevFile,
    Wrap,
    ScrollLeft,
    ScrollRight,
    Zoom,
    /// The draft's verification in full: checks, the checker, commands and their output.
    Output,
    CancelDraft,
    Play,
    Faster,
    Slower,
    NextIteration,
    PrevIteration,
    NextTask,
    PrevTask,
}

/// (action, config name, default keys, description)
const TABLE: &[(Action, &str, &[&str], &str)] = &[
    (Action::Down, "down", &["j", "down"], "down"),
    (Action::Up, "up", &["k", "up"], "up"),
    (
        Action::PageDown,
        "page_down",
        &["pgdn", "ctrl-d"],
        "page down",
    ),
    (Action::PageUp, "page_up", &["pgup", "ctrl-u"], "page up"),
    (Action::Top, "top", &["g", "home"], "top"),
    (Action::Bottom, "bottom", &["G", "end"], "bottom"),
    (Action::SwitchPane, "switch_pane", &["tab"], "pane"),
    (Action::Confirm, "confirm", &["enter"], "open/confirm"),
    (Action::Comment, "comment", &["c"], "comment"),
    (Action::Note, "note", &["n"], "note"),
    (Action::Tick, "tick", &["space"], "tick"),
    (Action::Revise, "revise", &["r"], "revise"),
    (Action::Accept, "accept", &["a"], "accept"),
    (Action::Reject, "reject", &["x"], "reject"),
    (Action::Editor, "editor", &["e"], "edit"),
    (Action::Interdiff, "interdiff", &["d"], "interdiff"),
    (Action::SideBySide, "side_by_side", &["s"], "side by side"),
    (Action::Plan, "plan", &["p"], "plan"),
    (Action::Help, "help", &["?"], "help"),
    (Action::Quit, "quit", &["q"], "quit"),
    (Action::Close, "close", &["esc"], "close"),
    (Action::AddTask, "add_task", &["o"], "add task"),
    (Action::DeleteTask, "delete_task", &["D"], "delete task"),
    (Action::MoveTaskDown, "move_task_down", &["J"], "task down"),
    (Action::MoveTaskUp, "move_task_up", &["K"], "task up"),
    (Action::ToggleHuman, "toggle_human", &["h"], "mark human"),
    (Action::Replan, "replan", &["R"], "re-plan"),
    (
        Action::DeleteComment,
        "delete_comment",
        &["delete", "D"],
        "delete comment",
    ),
    (Action::Resolve, "resolve", &["v"], "resolve/re-open thread"),
    (
        Action::NextThread,
        "next_thread",
        &["t"],
        "next open thread",
    ),
    (
        Action::PrevThread,
        "prev_thread",
        &["T"],
        "previous open thread",
    ),
    (Action::NextChange, "next_change", &["]"], "next change"),
    (Action::PrevChange, "prev_change", &["["], "previous change"),
    (Action::NextHunk, "next_hunk", &["}"], "next hunk"),
    (Action::PrevHunk, "prev_hunk", &["{"], "previous hunk"),
    (Action::NextFile, "next_file", &["f"], "next file"),
    (Action::PrevFile, "prev_file", &["F"], "previous file"),
    (Action::Wrap, "wrap", &["w"], "wrap long lines on/off"),
    (Action::ScrollLeft, "scroll_left", &["left"], "scroll left"),
    (
        Action::ScrollRight,
        "scroll_right",
        &["right"],
        "scroll right",
    ),
    (Action::Zoom, "zoom", &["z"], "zoom: hide/show side panes"),
    (
        Action::Output,
        "output",
        &["i"],
        "checks, checker and command output in full",
    ),
    (Action::CancelDraft, "cancel_draft", &["x"], "cancel draft"),
    (Action::Play, "play", &["space"], "replay: play/pause"),
    (Action::Faster, "faster", &["+", "="], "replay: faster"),
    (Action::Slower, "slower", &["-"], "replay: slower"),
    (
        Action::NextIteration,
        "next_iteration",
        &["]"],
        "replay: next iteration",
    ),
    (
        Action::PrevIteration,
        "prev_iteration",
        &["["],
        "replay: previous iteration",
    ),
    (Action::NextTask, "next_task", &["}"], "replay: next task"),
    (
        Action::PrevTask,
        "prev_task",
        &["{"],
        "replay: previous task",
    ),
];

/// (keys, description) rows of the help.
pub type KeyHelp = Vec<(String, &'static str)>;

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("config [keys]: there is no action `{0}`; actions are: {1}")]
    UnknownAction(String, String),
    #[error(
        "config [keys]: `{action}`: cannot read key `{key}` (use e.g. \"a\", \"A\", \"ctrl-s\", \"enter\", \"pgdn\", \"space\")"
    )]
    BadKey { action: String, key: String },
    #[error(
        "config [keys]: `{key}` is given to `{action}` but is already `{other}`'s, and both act on the same screen; give `{action}` another key (or `{other}` one, e.g. `{other} = \"...\"`)"
    )]
    Clash {
        action: String,
        other: String,
        key: String,
    },
}

/// The keys each screen handles, in priority order (earlier wins where keys are shared) and
/// in the order its help lists them.
pub const REVIEW_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::PageDown,
    Action::PageUp,
    Action::Top,
    Action::Bottom,
    Action::NextChange,
    Action::PrevChange,
    Action::NextHunk,
    Action::PrevHunk,
    Action::NextFile,
    Action::PrevFile,
    Action::NextThread,
    Action::PrevThread,
    Action::SwitchPane,
    Action::Confirm,
    Action::Zoom,
    Action::Output,
    Action::Wrap,
    Action::ScrollLeft,
    Action::ScrollRight,
    Action::SideBySide,
    Action::Interdiff,
    Action::DeleteComment,
    Action::Comment,
    Action::Note,
    Action::Resolve,
    Action::Tick,
    Action::Editor,
    Action::Revise,
    Action::Accept,
    Action::Reject,
];
pub const DRAFTING_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::Top,
    Action::Bottom,
    Action::PageDown,
    Action::PageUp,
    Action::CancelDraft,
    Action::Confirm,
];
pub const PLAN_KEYS: &[Action] = &[
    Action::Down,
    Action::Up,
    Action::Top,
    Action::Bottom,
    Action::Confirm,
    Action::AddTask,
    Action::Editor,
    Action::DeleteTask,
    Action::MoveTaskDown,
    Action::MoveTaskUp,
    Action::ToggleHuman,
    Action::Replan,
];

/// The summary's keys: moving through its task rows.
pub const SUMMARY_KEYS: &[Action] = &[Action::Down, Action::Up, Action::Top, Action::Bottom];

/// The keys replay handles, in the order its help lists them.
pub const REPLAY_KEYS: &[Action] = &[
    Action::Play,
    Action::Faster,
    Action::Slower,
    Action::NextIteration,
    Action::PrevIteration,
    Action::NextTask,
    Action::PrevTask,
    Action::Interdiff,
    Action::SwitchPane,
    Action::Down,
    Action::Up,
    Action::PageDown,
    Action::PageUp,
    Action::Top,
    Action::Bottom,
    Action::Close,
    Action::Help,
    Action::Quit,
];

/// Keys every screen takes before its own (`App::screen_key`).
const EVERYWHERE: &[Action] = &[Action::Help, Action::Quit, Action::Plan];

/// Each screen's keys: two actions of one of these may not share a key.
const SCREENS: &[&[Action]] = &[
    REVIEW_KEYS,
    DRAFTING_KEYS,
    PLAN_KEYS,
    SUMMARY_KEYS,
    REPLAY_KEYS,
];

#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Action, Vec<KeyEvent>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut keys = BTreeMap::new();
        for (action, _, defaults, _) in TABLE {
            keys.insert(
                *action,
                defaults.iter().filter_map(|k| parse_key(k)).collect(),
            );
        }
        Keymap { keys }
    }
}

impl Keymap {
    /// Defaults with the config's overrides: `accept = "A"` or `accept = "A, ctrl-a"`.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Self, KeymapError> {
        let mut map = Keymap::default();
        for (name, spec) in overrides {
            let Some((action, ..)) = TABLE.iter().find(|(_, n, ..)| n == name) else {
                let names: Vec<&str> = TABLE.iter().map(|(_, n, ..)| *n).collect();
                return Err(KeymapError::UnknownAction(name.clone(), names.join(", ")));
            };
            let mut keys = Vec::new();
            for k in spec.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                keys.push(parse_key(k).ok_or_else(|| KeymapError::BadKey {
                    action: name.clone(),
                    key: k.to_string(),
                })?);
            }
            if keys.is_empty() {
                return Err(KeymapError::BadKey {
                    action: name.clone(),
                    key: spec.clone(),
                });
            }
            map.keys.insert(*action, keys);
        }
        // Two actions of one screen may not share a key unless the defaults have them share
        // it: one of them would be dead while the hints promise it.
        let by_default = Keymap::default().shared();
        for (a, b, key) in map.shared() {
            let together = SCREENS.iter().any(|screen| {
                let on = |x: Action| screen.contains(&x) || EVERYWHERE.contains(&x);
                on(a) && on(b)
            });
            if together && !by_default.iter().any(|(x, y, _)| (x, y) == (&a, &b)) {
                let overridden = |x: Action| overrides.contains_key(name_of(x));
                let (action, other) = if overridden(a) { (a, b) } else { (b, a) };
                return Err(KeymapError::Clash {
                    action: name_of(action).to_string(),
                    other: name_of(other).to_string(),
                    key,
                });
            }
        }
        Ok(map)
    }

    /// Pairs of actions that have a key in common, with the key's label.
    fn shared(&self) -> Vec<(Action, Action, String)> {
        let mut out = Vec::new();
        for (a, ka) in &self.keys {
            for (b, kb) in self
                .keys
                .range((std::ops::Bound::Excluded(*a), std::ops::Bound::Unbounded))
            {
                if let Some(k) = ka.iter().find(|k| kb.iter().any(|k2| same_key(k, k2))) {
                    out.push((*a, *b, key_label(k)));
                }
            }
        }
        out
    }

    /// Does this key trigger this action?
    pub fn is(&self, action: Action, key: &KeyEvent) -> bool {
        self.keys
            .get(&action)
            .is_some_and(|ks| ks.iter().any(|k| same_key(k, key)))
    }

    /// The first of `candidates` this key triggers (screens list what they handle, in priority).
    pub fn lookup(&self, key: &KeyEvent, candidates: &[Action]) -> Option<Action> {
        candidates.iter().copied().find(|a| self.is(*a, key))
    }

    pub fn label(&self, action: Action) -> String {
        self.keys
            .get(&action)
            .and_then(|ks| ks.first())
            .map(key_label)
            .unwrap_or_default()
    }

    /// "key description" pairs for a hint bar (short words: the help has the long ones).
    pub fn hints(&self, actions: &[Action]) -> Vec<(String, &'static str)> {
        actions
            .iter()
            .map(|a| (self.label(*a), short(*a)))
            .collect()
    }

    /// Every binding, for the help overlay: `first` (this screen's keys) in their order, then
    /// every other action.
    pub fn help(&self, first: &[Action]) -> (KeyHelp, KeyHelp) {
        let entry = |a: &Action| {
            let keys: Vec<String> = self
                .keys
                .get(a)
                .into_iter()
                .flatten()
                .map(key_label)
                .collect();
            (keys.join(" "), describe(*a))
        };
        let here = first.iter().map(entry).collect();
        let rest = TABLE
            .iter()
            .filter(|(a, ..)| !first.contains(a))
            .map(|(a, ..)| entry(a))
            .collect();
        (here, rest)
    }
}

/// The hint bar's word for an action, where the help's description is too long for it.
fn short(action: Action) -> &'static str {
    match action {
        Action::NextChange => "change",
        Action::NextThread => "thread",
        Action::Resolve => "resolve",
        Action::CancelDraft => "cancel",
        Action::Output => "checks",
        other => describe(other),
    }
}

/// The config name of an action (`accept`).
fn name_of(action: Action) -> &'static str {
    TABLE
        .iter()
        .find(|(a, ..)| *a == action)
        .map(|(_, n, ..)| *n)
        .unwrap_or("")
}

pub fn describe(action: Action) -> &'static str {
    TABLE
        .iter()
        .find(|(a, ..)| *a == action)
        .map(|(.., d)| *d)
        .unwrap_or("")
}

fn same_key(a: &KeyEvent, b: &KeyEvent) -> bool {
    // Shift is implied by an upper-case char; terminals disagree on whether they report it.
    let strip = |m: KeyModifiers| m - KeyModifiers::SHIFT;
    match (a.code, b.code) {
        (KeyCode::Char(x), KeyCode::Char(y)) => x == y && strip(a.modifiers) == strip(b.modifiers),
        (KeyCode::BackTab, KeyCode::BackTab) => true,
        _ => a.code == b.code && a.modifiers == b.modifiers,
    }
}

/// Parse "a", "A", "?", "ctrl-s", "alt-x", "enter", "esc", "tab", "space", "pgdn", "up", "f5".
pub fn parse_key(s: &str) -> Option<KeyEvent> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = s;
    loop {
        let lower = rest.to_ascii_lowercase();
        if let Some(r) = lower
            .strip_prefix("ctrl-")
            .or_else(|| lower.strip_prefix("c-"))
        {
            mods |= KeyModifiers::CONTROL;
            rest = &rest[rest.len() - r.len()..];
        } else if let Some(r) = lower.strip_prefix("alt-") {
            mods |= KeyModifiers::ALT;
            rest = &rest[rest.len() - r.len()..];
        } else {
            break;
        }
    }
    let code = match rest.to_ascii_lowercase().as_str() {
        "enter" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pgup" | "pageup" => KeyCode::PageUp,
        "pgdn" | "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
            KeyCode::F(f[1..].parse().ok()?)
        }
        _ => {
            let mut chars = rest.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            KeyCode::Char(c)
        }
    };
    Some(KeyEvent::new(code, mods))
}

pub fn key_label(k: &KeyEvent) -> String {
    let mut s = String::new();
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        s.push_str("ctrl-");
    }
    if k.modifiers.contains(KeyModifiers::ALT) {
        s.push_str("alt-");
    }
    s.push_str(&match k.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        KeyCode::Tab => "tab".into(),
        KeyCode::Delete => "del".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Home => "home".into(),
        KeyCode::End => "end".into(),
        KeyCode::F(n) => format!("f{n}"),
        other => format!("{other:?}").to_lowercase(),
    });
    s
}

/// Turn a helix-style key string into events: plain characters, and `<enter>`, `<esc>`,
/// `<tab>`, `<space>`, `<c-s>`, `<pgdn>`… in angle brackets. Used by tests and the demo.
pub fn key_string(s: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' {
            let mut name = String::new();
            for n in chars.by_ref() {
                if n == '>' {
                    break;
                }
                name.push(n);
            }
            if let Some(k) = parse_key(&name) {
                out.push(k);
            }
        } else if c == '\n' {
            out.push(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        } else {
            out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let k = Keymap::default();
        assert!(k.is(Action::Accept, &parse_key("a").unwrap()));
        assert!(k.is(
            Action::Bottom,
            &KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)
        ));
        let mut o = BTreeMap::new();
        o.insert("accept".to_string(), "A, ctrl-a".to_string());
        let k = Keymap::with_overrides(&o).unwrap();
        assert!(!k.is(Action::Accept, &parse_key("a").unwrap()));
        assert!(k.is(Action::Accept, &parse_key("ctrl-a").unwrap()));
        assert_eq!(k.label(Action::Accept), "A");
        assert!(
            k.hints(&[Action::Accept])
                .contains(&("A".to_string(), "accept"))
        );
    }

    #[test]
    fn bad_config_names_action_and_key() {
        let mut o = BTreeMap::new();
        o.insert("acept".to_string(), "a".to_string());
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .to_string()
                .contains("acept")
        );
        let mut o = BTreeMap::new();
        o.insert("accept".to_string(), "ctrl-".to_string());
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .to_string()
                .contains("accept")
        );
    }

    /// A key given to an action that another already has (outside the pairs the defaults share
    /// across screens) is refused by name; moving the other action away makes it fine.
    #[test]
    fn a_key_taken_twice_is_refused() {
        let mut o = BTreeMap::new();
        o.insert("accept".to_string(), "j".to_string());
        let err = Keymap::with_overrides(&o).unwrap_err().to_string();
        assert!(
            err.contains("`j`") && err.contains("`accept`") && err.contains("`down`"),
            "{err}"
        );
        o.insert("down".to_string(), "ctrl-n".to_string());
        let k = Keymap::with_overrides(&o).unwrap();
        assert!(k.is(Action::Accept, &parse_key("j").unwrap()));
        assert!(Keymap::with_overrides(&BTreeMap::new()).is_ok());
        // Two actions that never act on one screen may share a key: cancel (drafting) and
        // comment (review).
        let mut o = BTreeMap::new();
        o.insert("cancel_draft".to_string(), "c".to_string());
        assert!(Keymap::with_overrides(&o).is_ok());
    }

    #[test]
    fn key_strings() {
        let ks = key_string("jjc<space>hi<enter><c-s>");
        assert_eq!(ks.len(), 8);
        assert_eq!(ks[3].code, KeyCode::Char(' '));
        assert_eq!(ks[6].code, KeyCode::Enter);
        assert_eq!(ks[7].modifiers, KeyModifiers::CONTROL);
    }
}
