//! Why a request path is refused.

/// Why a request path is refused. Every variant but [`NotAbsolute`](Self::NotAbsolute) names
/// the byte offset (in the raw path) of the byte or escape sequence at fault.
///
/// [`reason`](Self::reason) is a stable snake_case name for logs, metrics and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` (empty, `*`, or a relative path).
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// `%2F` or `%2f`, an escaped `/`, and escaped slashes are refused.
    #[error("encoded slash %2F at byte {at}")]
    EncodedSlash {
        /// Offset of the `%`.
        at: usize,
    },
    /// `%5C` or `%5c`, an escaped `\`, and escaped slashes are refused.
    #[error("encoded backslash %5C at byte {at}")]
    EncodedBackslash {
        /// Offset of the `%`.
        at: usize,
    },
    /// A literal `\`, which some servers treat as `/`.
    #[error("backslash at byte {at}")]
    Backslash {
        /// Offset of the backslash.
        at: usize,
    },
    /// A `%` not followed by two hex digits (`%zz`, a truncated `%2`).
    #[error("'%' at byte {at} does not start a two-hex-digit escape")]
    BadEscape {
        /// Offset of the `%`.
        at: usize,
    },
    /// An escaped control byte, `%00` to `%1F` or `%7F`.
    #[error("encoded control byte %{byte:02X} at byte {at}")]
    EncodedControl {
        /// Offset of the `%`.
        at: usize,
        /// The byte the escape stands for.
        byte: u8,
    },
    /// A raw control byte, `0x00` to `0x1F` or `0x7F`.
    #[error("control byte 0x{byte:02X} at byte {at}")]
    Control {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// A character that must be percent-encoded in a path: space, `#`, `?` (a query must be
    /// split off first) or any non-ASCII character.
    #[error("character {found:?} at byte {at} must be percent-encoded")]
    MustBeEncoded {
        /// Offset of the character's first byte.
        at: usize,
        /// The character.
        found: char,
    },
}

// === impl PathError ===

impl PathError {
    /// The stable name: `not_absolute`, `encoded_slash`, `encoded_backslash`, `backslash`,
    /// `bad_escape`, `encoded_control`, `control_byte` or `must_be_encoded`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAbsolute => "not_absolute",
            Self::EncodedSlash { .. } => "encoded_slash",
            Self::EncodedBackslash { .. } => "encoded_backslash",
            Self::Backslash { .. } => "backslash",
            Self::BadEscape { .. } => "bad_escape",
            Self::EncodedControl { .. } => "encoded_control",
            Self::Control { .. } => "control_byte",
            Self::MustBeEncoded { .. } => "must_be_encoded",
        }
    }

    /// Whether this is an escaped separator (`%2F` or `%5C`), which a route may opt in to
    /// keep; every other refusal applies to all routes.
    pub fn is_escaped_separator(&self) -> bool {
        matches!(
            self,
            Self::EncodedSlash { .. } | Self::EncodedBackslash { .. }
        )
    }
}
