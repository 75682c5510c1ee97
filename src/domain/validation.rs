//! How a raw value is refused: the error every parser gives, and the characters no
//! one-line value may hold.

/// Why a raw value was refused, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The field was empty after trimming.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's label as shown to people.
        field: &'static str,
    },
    /// The field is longer than allowed.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// The field's label as shown to people.
        field: &'static str,
        /// The largest number of characters accepted.
        max: usize,
    },
    /// The field holds control characters (new lines, tabs, bidi overrides …).
    #[error("{field} must not contain control characters")]
    ControlCharacters {
        /// The field's label as shown to people.
        field: &'static str,
    },
    /// The field holds characters that show nothing (zero-width spaces, joiners …).
    #[error("{field} must not contain invisible characters such as zero-width spaces")]
    InvisibleCharacters {
        /// The field's label as shown to people.
        field: &'static str,
    },
    /// A scope that is not in the catalogue.
    #[error("unknown scope `{0}`")]
    UnknownScope(String),
    /// A new password the strength estimator finds easy to guess.
    #[error("{field} is too easy to guess. {reason}")]
    TooEasyToGuess {
        /// The field's label as shown to people.
        field: &'static str,
        /// Why, and what would help, as whole sentences.
        reason: String,
    },
    /// An entry of an IP allowlist that is not an address or a CIDR range, named.
    #[error("{field}: `{entry}` {reason}")]
    IpEntry {
        /// The field's label as shown to people.
        field: &'static str,
        /// The entry as typed (shortened).
        entry: String,
        /// What is wrong with it, and what would be right.
        reason: String,
    },
    /// The field does not have the shape it must have.
    #[error("{field} is not valid: {reason}")]
    Invalid {
        /// The field's label as shown to people.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ValidationError {
    /// The label of the field the error is about, as the form shows it ("Name"), so a
    /// page can put the message next to that field.
    pub fn field(&self) -> &'static str {
        match self {
            ValidationError::UnknownScope(_) => "Scopes",
            ValidationError::Empty { field }
            | ValidationError::TooLong { field, .. }
            | ValidationError::ControlCharacters { field }
            | ValidationError::InvisibleCharacters { field }
            | ValidationError::TooEasyToGuess { field, .. }
            | ValidationError::IpEntry { field, .. }
            | ValidationError::Invalid { field, .. } => field,
        }
    }
}

/// True for characters that have no business in a single-line value: ASCII and
/// Unicode control characters, and the bidirectional overrides that can make a
/// name read differently from what it is.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// True for the invisible characters that change the direction text is shown in
/// (embeddings, overrides, isolates, marks), which can make text read as something
/// it is not.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}
