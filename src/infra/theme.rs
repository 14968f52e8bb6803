//! UI themes: the colours every view paints with, plus the syntect theme the diff view
//! highlights code with.
//!
//! Themes are TOML files. The shipped ones live in `themes/` and are compiled in; a user file
//! `<config dir>/themes/<name>.toml` wins over a shipped theme of the same name. A user file may
//! set only some keys: the rest come from a shipped base theme, named by `base = "..."` (default:
//! the shipped theme of the same name if there is one, else `dark`).
//!
//! Invariants:
//! - A loaded [`Theme`] is complete: every [`Ui`] key has a colour and `syntax_theme` names one of
//!   syntect's default themes ([`SYNTAX_THEMES`]). Shipped themes set every key (a test checks),
//!   so a partial user file always has something to fall back on.
//! - A bad theme file is an error naming the file, the line and the field, never a silent
//!   fallback: the user asked for that theme and should learn why they did not get it.
//! - With `NO_COLOR` set (and non-empty) every colour is `Color::Reset` and `monochrome` is true;
//!   renderers must then show state with modifiers (BOLD, REVERSED, UNDERLINED) and skip syntax
//!   highlighting. The named theme is still loaded and checked first, so an error in it is
//!   reported the same way with or without `NO_COLOR`.
//! - Loading a theme never touches syntect's theme set: that load is deferred to
//!   `tui::highlight::warm_up` so it cannot delay the first frame.

use ratatui::style::Color;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The shipped themes, compiled in. The first one is the default.
pub const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
];

/// The theme used when none is configured.
pub const DEFAULT_THEME: &str = "dark";

/// The themes syntect ships with its `default-themes` feature. Kept as a list here so that
/// validating a theme file does not load syntect's theme set (that load belongs to the highlight
/// warm-up, off the first frame); a test keeps the list equal to syntect's.
pub const SYNTAX_THEMES: &[&str] = &[
    "InspiredGitHub",
    "Solarized (dark)",
    "Solarized (light)",
    "base16-eighties.dark",
    "base16-mocha.dark",
    "base16-ocean.dark",
    "base16-ocean.light",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// The name it was loaded by (a shipped name or a user file's stem).
    pub name: String,
    /// A syntect default theme, one of [`SYNTAX_THEMES`].
    pub syntax_theme: String,
    pub ui: Ui,
    /// True under `NO_COLOR`: every colour is `Reset`; use modifiers, not colour, for state.
    pub monochrome: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("cannot read theme file {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Parse errors, bad colours, unknown keys or base or syntax theme; `message` starts with the
    /// line and names the field.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("unknown theme `{name}`; available themes: {}{hint}", available.join(", "))]
    Unknown {
        name: String,
        available: Vec<String>,
        /// Where user themes go, e.g. " (add your own as ~/.config/tandem/themes/<name>.toml)".
        hint: String,
    },
}

/// Declares the UI colour keys once and derives from that list: the public [`Ui`] struct, the
/// all-optional [`ThemeFile`] a TOML file parses into, the overlay of a user file on its base,
/// and the completeness check. One list means a new key cannot be forgotten in one of them.
macro_rules! ui_keys {
    ($( $(#[doc = $doc:literal])+ $key:ident, )+) => {
        /// Every colour a view may use. Keys are the TOML keys of a theme file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Ui {
            $( $(#[doc = $doc])+ pub $key: Color, )+
        }

        impl Ui {
            /// The TOML keys, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($key)),+];

            /// Every colour `Reset`: the terminal's own colours, for `NO_COLOR`.
            pub fn monochrome() -> Ui {
                Ui { $( $key: Color::Reset, )+ }
            }
        }

        /// A theme file as written: every key optional, so user files can be partial.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            base: Option<Spanned<String>>,
            syntax_theme: Option<Spanned<String>>,
            $( $key: Option<ThemeColor>, )+
        }

        impl ThemeFile {
            /// `over`'s keys replace this file's; keys `over` leaves out are kept.
            fn overlay(mut self, over: ThemeFile) -> ThemeFile {
                if over.syntax_theme.is_some() {
                    self.syntax_theme = over.syntax_theme;
                }
                $( if over.$key.is_some() { self.$key = over.$key; } )+
                self
            }

            /// The complete [`Ui`], or the first key nobody set.
            fn ui(&self) -> Result<Ui, &'static str> {
                Ok(Ui { $( $key: self.$key.ok_or(stringify!($key))?.0, )+ })
            }
        }
    };
}

ui_keys! {
    /// Normal text.
    fg,
    /// Background of every pane.
    bg,
    /// Secondary text: hints, timestamps, unchanged context that matters less.
    dim,
    /// What should draw the eye: the current task, links, the active tab.
    accent,
    /// Borders of unfocused panes.
    border,
    /// The border of the pane that has the keyboard.
    border_focused,
    /// Pane titles.
    title,
    /// Status bar text.
    status_fg,
    /// Status bar background.
    status_bg,
    /// A key in the key-hint bar, e.g. the `a` of "a accept".
    hint_key,
    /// The description next to a hint key.
    hint_text,
    /// Background of the cursor line.
    cursor_bg,
    /// Background of a selected range of lines.
    selection_bg,
    /// Foreground of added-line markers (`+`, line numbers) and of added text when unhighlighted.
    added_fg,
    /// Background of an added line; subtle, so syntax colours stay readable on it.
    added_bg,
    /// Foreground of removed-line markers and of removed text when unhighlighted.
    removed_fg,
    /// Background of a removed line; subtle, like `added_bg`.
    removed_bg,
    /// `@@ -1,4 +1,6 @@` hunk headers.
    hunk_header,
    /// The line-number gutter.
    line_number,
    /// A review comment's text, shown under the line it is about.
    comment_fg,
    /// A review comment's background.
    comment_bg,
    /// Errors.
    error,
    /// Warnings, e.g. an incomplete draft.
    warn,
    /// Success, e.g. accepted, criteria met.
    ok,
    /// The activity spinner while the agent works.
    spinner,
}

/// One colour as written in a theme file: a name ("red", "lightblue", "darkgray", "reset"), a
/// hex string "#rrggbb", or an index 0-255 (as a number or a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ThemeColor(Color);

const COLOUR_HELP: &str = "use a name like \"red\", \"#rrggbb\", or 0-255";

impl<'de> Deserialize<'de> for ThemeColor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColorVisitor;

        impl Visitor<'_> for ColorVisitor {
            type Value = ThemeColor;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a colour ({COLOUR_HELP})")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ThemeColor, E> {
                parse_color(v)
                    .map(ThemeColor)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a colour ({COLOUR_HELP})")))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ThemeColor, E> {
                u8::try_from(v)
                    .map(|i| ThemeColor(Color::Indexed(i)))
                    .map_err(|_| E::custom(format!("{v} is not a colour ({COLOUR_HELP})")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ThemeColor, E> {
                u8::try_from(v)
                    .map(|i| ThemeColor(Color::Indexed(i)))
                    .map_err(|_| E::custom(format!("{v} is not a colour ({COLOUR_HELP})")))
            }
        }

        deserializer.deserialize_any(ColorVisitor)
    }
}

/// Parse a colour string. ratatui's parser accepts the names (also spelled "light-blue",
/// "grey", "bright red"), "#rrggbb" and "0"-"255"; blank strings are refused here because
/// ratatui would not say why.
pub fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse().ok()
}

impl Theme {
    /// Load the theme `name` (None: [`DEFAULT_THEME`]), with user themes from
    /// `<config_dir>/themes/`. Honours `NO_COLOR`: present and non-empty gives the monochrome
    /// version of the theme.
    pub fn load(name: Option<&str>, config_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::load_with_env(name, config_dir, no_color)
    }

    /// [`Theme::load`] with `NO_COLOR` passed in, so tests need not touch the environment.
    pub fn load_with_env(
        name: Option<&str>,
        config_dir: Option<&Path>,
        no_color: bool,
    ) -> Result<Theme, ThemeError> {
        let mut theme = resolve(name.unwrap_or(DEFAULT_THEME), config_dir)?;
        if no_color {
            theme.ui = Ui::monochrome();
            theme.monochrome = true;
        }
        Ok(theme)
    }

    /// Every theme name that [`Theme::load`] accepts: shipped and user themes, sorted, without
    /// duplicates.
    pub fn available(config_dir: Option<&Path>) -> Vec<String> {
        let mut names: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        if let Some(dir) = config_dir.map(user_dir)
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml")
                    && path.is_file()
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    && valid_name(stem)
                {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

fn user_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("themes")
}

/// A theme name must be a plain file stem: it is joined onto the themes directory, so anything
/// that could walk out of it (separators, a leading dot) is refused as unknown.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '+'))
}

fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn shipped_file(name: &str) -> String {
    format!("themes/{name}.toml (built in)")
}

fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn resolve(name: &str, config_dir: Option<&Path>) -> Result<Theme, ThemeError> {
    let user_path = config_dir
        .filter(|_| valid_name(name))
        .map(|d| user_dir(d).join(format!("{name}.toml")))
        .filter(|p| p.is_file());
    if let Some(path) = user_path {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Read {
            file: file.clone(),
            source,
        })?;
        let user = parse(&file, &text)?;
        let base_name = match &user.base {
            Some(base) => base.get_ref().clone(),
            None if shipped(name).is_some() => name.to_string(),
            None => DEFAULT_THEME.to_string(),
        };
        // `parse` has checked that an explicit base is shipped; the fallbacks are shipped names.
        let base_text = shipped(&base_name).ok_or_else(|| ThemeError::Invalid {
            file: file.clone(),
            message: format!("base theme `{base_name}` is not shipped"),
        })?;
        let base_file = shipped_file(&base_name);
        let base = parse(&base_file, base_text)?;
        return finish(name, base.overlay(user), &base_file);
    }
    match shipped(name) {
        Some(text) => {
            let file = shipped_file(name);
            finish(name, parse(&file, text)?, &file)
        }
        None => Err(ThemeError::Unknown {
            name: name.to_string(),
            available: Theme::available(config_dir),
            hint: match config_dir {
                Some(dir) => format!(
                    " (add your own as {})",
                    user_dir(dir).join("<name>.toml").display()
                ),
                None => String::new(),
            },
        }),
    }
}

/// Parse one theme file and check what can be checked per file: colours (while parsing), unknown
/// keys, that `base` is a shipped theme and that `syntax_theme` exists.
fn parse(file: &str, text: &str) -> Result<ThemeFile, ThemeError> {
    let invalid = |message: String| ThemeError::Invalid {
        file: file.to_string(),
        message,
    };
    let parsed: ThemeFile = toml::from_str(text)
        .map_err(|e| invalid(crate::infra::config::toml_error_sentence(text, &e)))?;
    if let Some(base) = &parsed.base
        && shipped(base.get_ref()).is_none()
    {
        return Err(invalid(format!(
            "line {}, field `base`: {:?} is not a shipped theme (shipped: {})",
            line_of(text, base.span().start),
            base.get_ref(),
            shipped_names()
        )));
    }
    if let Some(syntax) = &parsed.syntax_theme
        && !SYNTAX_THEMES.contains(&syntax.get_ref().as_str())
    {
        return Err(invalid(format!(
            "line {}, field `syntax_theme`: {:?} is not a syntax theme (available: {})",
            line_of(text, syntax.span().start),
            syntax.get_ref(),
            SYNTAX_THEMES
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(parsed)
}

/// Turn a merged file into a theme. A missing key can only come from an incomplete shipped
/// theme (user files sit on a shipped base), so the error names the base file.
fn finish(name: &str, merged: ThemeFile, base_file: &str) -> Result<Theme, ThemeError> {
    let missing = |field: &str| ThemeError::Invalid {
        file: base_file.to_string(),
        message: format!("missing field `{field}`"),
    };
    let ui = merged.ui().map_err(missing)?;
    let syntax_theme = merged
        .syntax_theme
        .map(Spanned::into_inner)
        .ok_or_else(|| missing("syntax_theme"))?;
    Ok(Theme {
        name: name.to_string(),
        syntax_theme,
        ui,
        monochrome: false,
    })
}

/// 1-based line of a byte offset. Counts bytes so a bad offset cannot split a character.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_theme(name: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(dir.path().join("themes").join(format!("{name}.toml")), text).unwrap();
        dir
    }

    #[test]
    fn every_shipped_theme_is_complete_and_its_syntax_theme_exists() {
        let syntect = syntect::highlighting::ThemeSet::load_defaults();
        for (name, text) in SHIPPED {
            let theme = Theme::load_with_env(Some(name), None, false).unwrap();
            assert_eq!(theme.name, *name);
            assert!(!theme.monochrome);
            assert!(
                syntect.themes.contains_key(&theme.syntax_theme),
                "{name}: {}",
                theme.syntax_theme
            );
            // Complete on its own: no key may come from elsewhere.
            let file: ThemeFile = toml::from_str(text).unwrap();
            assert!(file.base.is_none(), "{name}: shipped themes have no base");
            for key in Ui::KEYS {
                assert!(
                    text.lines()
                        .any(|l| l.split('=').next().map(str::trim) == Some(key)),
                    "{name}: key {key} not set"
                );
            }
        }
        let light = Theme::load_with_env(Some("light"), None, false).unwrap();
        assert_eq!(light.syntax_theme, "InspiredGitHub");
        let dark = Theme::load_with_env(None, None, false).unwrap();
        assert_eq!(dark.name, "dark");
        assert_eq!(dark.syntax_theme, "base16-ocean.dark");
        assert_ne!(dark.ui, light.ui);
    }

    #[test]
    fn syntax_theme_list_matches_syntect() {
        let syntect = syntect::highlighting::ThemeSet::load_defaults();
        let names: Vec<&str> = syntect.themes.keys().map(String::as_str).collect();
        assert_eq!(names, SYNTAX_THEMES);
    }

    #[test]
    fn no_color_gives_monochrome() {
        let theme = Theme::load_with_env(Some("light"), None, true).unwrap();
        assert!(theme.monochrome);
        assert_eq!(theme.name, "light");
        assert_eq!(theme.ui, Ui::monochrome());
        assert_eq!(theme.ui.accent, Color::Reset);
        assert_eq!(theme.ui.added_bg, Color::Reset);
        // A broken theme is still an error: NO_COLOR does not hide it.
        let dir = user_theme("bad", "accent = \"nope\"\n");
        assert!(Theme::load_with_env(Some("bad"), Some(dir.path()), true).is_err());
    }

    #[test]
    fn user_file_partially_overrides_its_base() {
        let dir = user_theme(
            "mine",
            "# my tweaks\nbase = \"light\"\naccent = \"#ff8800\"\nspinner = 208\nerror = \"LightRed\"\n",
        );
        let light = Theme::load_with_env(Some("light"), None, false).unwrap();
        let mine = Theme::load_with_env(Some("mine"), Some(dir.path()), false).unwrap();
        assert_eq!(mine.name, "mine");
        assert_eq!(mine.syntax_theme, light.syntax_theme);
        assert_eq!(mine.ui.accent, Color::Rgb(0xff, 0x88, 0x00));
        assert_eq!(mine.ui.spinner, Color::Indexed(208));
        assert_eq!(mine.ui.error, Color::LightRed);
        let expected = Ui {
            accent: mine.ui.accent,
            spinner: mine.ui.spinner,
            error: mine.ui.error,
            ..light.ui
        };
        assert_eq!(mine.ui, expected);

        // Without `base`, a new name sits on dark.
        let dir = user_theme("other", "syntax_theme = \"Solarized (dark)\"\n");
        let other = Theme::load_with_env(Some("other"), Some(dir.path()), false).unwrap();
        let dark = Theme::load_with_env(Some("dark"), None, false).unwrap();
        assert_eq!(other.ui, dark.ui);
        assert_eq!(other.syntax_theme, "Solarized (dark)");
    }

    #[test]
    fn user_file_with_a_shipped_name_replaces_it() {
        let dir = user_theme("light", "bg = \"reset\"\n");
        let theme = Theme::load_with_env(Some("light"), Some(dir.path()), false).unwrap();
        let shipped = Theme::load_with_env(Some("light"), None, false).unwrap();
        assert_eq!(theme.ui.bg, Color::Reset);
        // Its base defaults to the shipped theme of the same name, not to dark.
        assert_eq!(theme.ui.fg, shipped.ui.fg);
        assert_eq!(theme.syntax_theme, "InspiredGitHub");
    }

    #[test]
    fn bad_colour_names_file_line_and_field() {
        let dir = user_theme(
            "mine",
            "# comment\nbase = \"dark\"\nfg = \"white\"\naccent = \"#12\"\n",
        );
        let err = Theme::load_with_env(Some("mine"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("themes/mine.toml: line 4"), "{err}");
        assert!(err.contains("field `accent`"), "{err}");
        assert!(
            err.contains(r##""#12" is not a colour (use a name like "red", "#rrggbb", or 0-255)"##),
            "{err}"
        );

        let dir = user_theme("big", "\n\nok = 300\n");
        let err = Theme::load_with_env(Some("big"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("field `ok`"), "{err}");
        assert!(err.contains("300 is not a colour"), "{err}");

        let dir = user_theme("typed", "warn = true\n");
        let err = Theme::load_with_env(Some("typed"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("warn"), "{err}");
    }

    #[test]
    fn unknown_key_base_and_syntax_theme_are_errors() {
        let dir = user_theme("typo", "acent = \"red\"\n");
        let err = Theme::load_with_env(Some("typo"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("typo.toml: line 1"), "{err}");
        assert!(err.contains("acent"), "{err}");

        let dir = user_theme("b", "fg = \"red\"\nbase = \"solar\"\n");
        let err = Theme::load_with_env(Some("b"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2, field `base`"), "{err}");
        assert!(err.contains("dark, light"), "{err}");

        let dir = user_theme("s", "syntax_theme = \"Monokai\"\n");
        let err = Theme::load_with_env(Some("s"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1, field `syntax_theme`"), "{err}");
        assert!(err.contains("\"Monokai\" is not a syntax theme"), "{err}");
        assert!(err.contains("\"InspiredGitHub\""), "{err}");
        assert!(err.contains("\"base16-ocean.dark\""), "{err}");
    }

    #[test]
    fn unknown_theme_lists_available_ones() {
        let dir = user_theme("mine", "");
        let err = Theme::load_with_env(Some("nord"), Some(dir.path()), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown theme `nord`"), "{err}");
        assert!(err.contains("available themes: dark, light, mine"), "{err}");
        assert!(err.contains("<name>.toml"), "{err}");
        // Names that could leave the themes directory are just unknown.
        for name in ["../mine", "themes/mine", "", ".hidden"] {
            assert!(
                matches!(
                    Theme::load_with_env(Some(name), Some(dir.path()), false),
                    Err(ThemeError::Unknown { .. })
                ),
                "{name}"
            );
        }
        // An empty user file is the base theme under a new name.
        let mine = Theme::load_with_env(Some("mine"), Some(dir.path()), false).unwrap();
        assert_eq!(mine.name, "mine");
    }

    #[test]
    fn available_lists_shipped_and_user_themes() {
        let dir = user_theme("zen", "");
        std::fs::write(dir.path().join("themes/dark.toml"), "").unwrap();
        std::fs::write(dir.path().join("themes/notes.txt"), "").unwrap();
        assert_eq!(
            Theme::available(Some(dir.path())),
            vec!["dark", "light", "zen"]
        );
        assert_eq!(Theme::available(None), vec!["dark", "light"]);
    }

    #[test]
    fn colour_forms() {
        assert_eq!(parse_color("red"), Some(Color::Red));
        assert_eq!(parse_color("lightblue"), Some(Color::LightBlue));
        assert_eq!(parse_color("darkgray"), Some(Color::DarkGray));
        assert_eq!(parse_color("reset"), Some(Color::Reset));
        assert_eq!(parse_color("#1E2a3b"), Some(Color::Rgb(0x1e, 0x2a, 0x3b)));
        assert_eq!(parse_color("42"), Some(Color::Indexed(42)));
        assert_eq!(parse_color(""), None);
        assert_eq!(parse_color("#12"), None);
        assert_eq!(parse_color("256"), None);
        assert_eq!(parse_color("chartreuse"), None);
    }
}
