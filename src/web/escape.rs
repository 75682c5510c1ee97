//! The escaper of every HTML template (see `askama.toml`): askama's HTML escaping, and
//! each bidirectional control shown as U+FFFD. Forms refuse such characters, but text
//! that reached the database another way, or is echoed back from a query, must still
//! not make a page read differently from what it holds.

use std::fmt::{self, Write};

use askama::filters::Escaper;

use crate::domain::is_bidi_control;

/// What a bidirectional control is shown as: visible, and without its effect.
pub const BIDI_REPLACEMENT: char = '\u{FFFD}';

/// askama's `Html` escaper that also defuses bidirectional controls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl Escaper for Html {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        for (index, part) in string.split(is_bidi_control).enumerate() {
            if index > 0 {
                dest.write_char(BIDI_REPLACEMENT)?;
            }
            askama::filters::Html.write_escaped_str(&mut dest, part)?;
        }
        Ok(())
    }

    fn write_escaped_char<W: Write>(&self, mut dest: W, c: char) -> fmt::Result {
        if is_bidi_control(c) {
            dest.write_char(BIDI_REPLACEMENT)
        } else {
            askama::filters::Html.write_escaped_char(dest, c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        Html.write_escaped_str(&mut out, text).unwrap();
        out
    }

    #[test]
    fn markup_is_escaped_as_askama_does() {
        assert_eq!(escaped(r#"<script>"}'&"#), "&#60;script&#62;&#34;}&#39;&#38;");
    }

    #[test]
    fn bidirectional_controls_lose_their_effect() {
        assert_eq!(escaped("invoice\u{202E}fdp.exe"), "invoice\u{FFFD}fdp.exe");
        assert_eq!(escaped("\u{2066}a\u{2069}"), "\u{FFFD}a\u{FFFD}");
        assert_eq!(escaped("Ana Lima\nnäme"), "Ana Lima\nnäme");
    }
}
