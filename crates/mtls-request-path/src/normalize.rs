//! The normaliser: one checking scan, and a rewrite only when the path is not normal yet.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error::PathError;

/// What to do with escaped separators, `%2F` (`/`) and `%5C` (`\`), in a request path.
///
/// A route's setting (`escaped_slashes` in an HTTP route's JSON, `"refuse"` or `"keep"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum EscapedSlashes {
    /// Refuse the request (the gateway answers 400 `bad_path`). The default.
    #[default]
    Refuse,
    /// Keep them as they are (hex uppercased). They are not separators: `/a%2Fb` is one
    /// segment, and `..%2F..` is not a dot segment. The upstream must not decode them into
    /// separators if it relies on the gateway's prefix matching.
    Keep,
}

/// How to normalise a request path: the per-route options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NormalizeOptions {
    /// Escaped separators: refused unless the route opts in.
    pub escaped_slashes: EscapedSlashes,
}

/// A request path normalised for routing: escaped separators kept (and not treated as
/// separators), the first one remembered so that [`allow`](Self::allow) can refuse it once
/// the winning route is known. Made by [`parse`](Self::parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath<'a> {
    path: Cow<'a, str>,
    escaped_separator: Option<PathError>,
}

// === impl EscapedSlashes ===

impl EscapedSlashes {
    /// `"refuse"` or `"keep"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Keep => "keep",
        }
    }
}

impl fmt::Display for EscapedSlashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `escaped_slashes` value other than `refuse` or `keep`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("escaped_slashes {0:?}: expected \"refuse\" or \"keep\"")]
pub struct UnknownEscapedSlashes(pub String);

impl FromStr for EscapedSlashes {
    type Err = UnknownEscapedSlashes;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "refuse" => Ok(Self::Refuse),
            "keep" => Ok(Self::Keep),
            other => Err(UnknownEscapedSlashes(other.to_owned())),
        }
    }
}

// === impl NormalizedPath ===

impl<'a> NormalizedPath<'a> {
    /// Checks and normalises `raw` (a request path without its query) by the crate's rules,
    /// keeping escaped separators. Borrows `raw` when it is already normal.
    pub fn parse(raw: &'a str) -> Result<Self, PathError> {
        let scan = scan(raw)?;
        let path = if scan.normal {
            Cow::Borrowed(raw)
        } else {
            Cow::Owned(remove_dot_segments(&decode_unreserved(raw)))
        };
        Ok(Self {
            path,
            escaped_separator: scan.escaped_separator,
        })
    }

    /// The normalised path.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether normalising changed nothing (the path is borrowed from the input).
    pub fn is_unchanged(&self) -> bool {
        matches!(self.path, Cow::Borrowed(_))
    }

    /// The first escaped separator (`%2F` or `%5C`) of the raw path, as the refusal it is
    /// when the route does not keep them.
    pub fn escaped_separator(&self) -> Option<PathError> {
        self.escaped_separator
    }

    /// Whether a route with this setting accepts the path: always with
    /// [`EscapedSlashes::Keep`], and with [`EscapedSlashes::Refuse`] when the raw path held
    /// no escaped separator.
    pub fn allow(&self, escaped_slashes: EscapedSlashes) -> Result<(), PathError> {
        match (escaped_slashes, self.escaped_separator) {
            (EscapedSlashes::Refuse, Some(refusal)) => Err(refusal),
            _ => Ok(()),
        }
    }

    /// The normalised path, borrowed from the input when unchanged.
    pub fn into_cow(self) -> Cow<'a, str> {
        self.path
    }
}

impl fmt::Display for NormalizedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// Normalises `raw`, a request path without its query, by the crate's rules (see the crate
/// docs), or says why it is refused. Borrows `raw` when it is already normal.
pub fn normalize(raw: &str, options: NormalizeOptions) -> Result<Cow<'_, str>, PathError> {
    let path = NormalizedPath::parse(raw)?;
    path.allow(options.escaped_slashes)?;
    Ok(path.into_cow())
}

/// Splits a request target's path from its query at the first `?`: `("/a", Some("x=1"))`
/// for `/a?x=1`. The query is not normalised; the gateway forwards it unchanged.
pub fn split_query(path_and_query: &str) -> (&str, Option<&str>) {
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

/// What the checking scan learnt.
struct Scan {
    /// Nothing to rewrite: no escape to decode or uppercase, no `//`, no dot segment.
    normal: bool,
    escaped_separator: Option<PathError>,
}

/// Checks every byte and finds whether a rewrite is needed. Does not allocate.
fn scan(raw: &str) -> Result<Scan, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut normal = true;
    let mut escaped_separator = None;
    // Start of the current segment (just after its '/').
    let mut segment = 1;
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (byte, lowercase) =
                    escape_at(bytes, i).ok_or(PathError::BadEscape { at: i })?;
                if byte < 0x20 || byte == 0x7F {
                    return Err(PathError::EncodedControl { at: i, byte });
                }
                let separator = match byte {
                    b'/' => Some(PathError::EncodedSlash { at: i }),
                    b'\\' => Some(PathError::EncodedBackslash { at: i }),
                    _ => None,
                };
                if escaped_separator.is_none() {
                    escaped_separator = separator;
                }
                if lowercase || is_unreserved(byte) {
                    normal = false;
                }
                i += 3;
                continue;
            }
            b'/' => {
                if is_dot_segment(&bytes[segment..i]) || i == segment {
                    // `/./`, `/../` or `//`.
                    normal = false;
                }
                segment = i + 1;
            }
            b'\\' => return Err(PathError::Backslash { at: i }),
            0..=0x1F | 0x7F => return Err(PathError::Control { at: i, byte: b }),
            b' ' | b'#' | b'?' | 0x80.. => {
                let found = raw[i..].chars().next().unwrap_or('\u{FFFD}');
                return Err(PathError::MustBeEncoded { at: i, found });
            }
            _ => {}
        }
        i += 1;
    }
    if is_dot_segment(&bytes[segment.min(bytes.len())..]) {
        normal = false;
    }
    Ok(Scan {
        normal,
        escaped_separator,
    })
}

/// The byte a `%XX` escape at `at` stands for, and whether its hex digits had lowercase.
fn escape_at(bytes: &[u8], at: usize) -> Option<(u8, bool)> {
    let hex = bytes.get(at + 1..at + 3)?;
    let high = hex_value(hex[0])?;
    let low = hex_value(hex[1])?;
    Some((high << 4 | low, hex.iter().any(u8::is_ascii_lowercase)))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 `unreserved`: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_dot_segment(segment: &[u8]) -> bool {
    segment == b"." || segment == b".."
}

/// Decodes escapes of unreserved characters and uppercases the others. Only called on a
/// path [`scan`] accepted, so every `%` starts a valid escape.
fn decode_unreserved(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some((byte, _)) = escape_at(bytes, i)
        {
            if is_unreserved(byte) {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // Everything else is ASCII (scan refused the rest).
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

/// Merges repeated slashes and removes dot segments (RFC 3986 section 5.2.4, with `..` at
/// the root clamped to the root) from an absolute path whose escapes are decoded.
fn remove_dot_segments(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    // Whether the output ends in a directory: after an empty, `.` or `..` last segment.
    let mut trailing_slash = false;
    for segment in path[1..].split('/') {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
                trailing_slash = true;
            }
            name => {
                out.push('/');
                out.push_str(name);
                trailing_slash = false;
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}
