//! Request-path normalisation of multi-mtls-proxy: the one function that turns the path of an
//! HTTP request into the path the gateway routes on and forwards, or refuses it.
//!
//! Routes match path prefixes on segment boundaries. If the gateway matched the raw path and
//! forwarded it verbatim, `/v1/../admin/` would be matched by a `/v1` route and the upstream
//! (which resolves dot segments itself, as nginx, Python's `http.server` and most frameworks
//! do) would serve `/admin/`. So the gateway routes on, and forwards, the normalised path.
//!
//! # Rules
//!
//! [`normalize`] takes the path of the request target (no query; [`split_query`] separates
//! it) and, in this order:
//!
//! 1. **Checks the bytes.** The path must start with `/`. Refused: a literal backslash `\`
//!    (some servers treat it as `/`); control bytes (`0x00`–`0x1F`, `0x7F`, NUL included);
//!    space, `#`, `?` and non-ASCII bytes (they must be percent-encoded); a `%` that does
//!    not start two hex digits (`%zz`, a truncated `%2`); escapes of control bytes
//!    (`%00`–`%1F`, `%7F`).
//! 2. **Refuses escaped separators** `%2F` (`/`) and `%5C` (`\`), any hex case, unless the
//!    options say [`EscapedSlashes::Keep`] (a route's opt-in, like Envoy's
//!    `path_with_escaped_slashes_action: KEEP_UNCHANGED`). Kept, they stay as they are
//!    (uppercased) and are **not** separators: `/a%2Fb` is one segment.
//! 3. **Decodes unreserved characters** (`A`–`Z`, `a`–`z`, `0`–`9`, `-`, `.`, `_`, `~`):
//!    `%7E` becomes `~` and `%2e` becomes `.`. Every other escape stays encoded, with its hex
//!    digits uppercased (`%2f` → `%2F`, `%c3%a9` → `%C3%A9`).
//! 4. **Merges repeated slashes**: `//` anywhere becomes `/` (an empty segment carries no
//!    meaning for routing, and servers disagree on it).
//! 5. **Removes dot segments** (RFC 3986 section 5.2.4): `.` segments go, `..` removes the
//!    segment before it. `..` at the root stays at the root (clamped, as RFC 3986 says:
//!    `/../a` is `/a`), so no path climbs above `/`. A trailing `.` or `..` leaves a
//!    trailing slash (`/a/b/..` is `/a/`); a trailing slash is kept.
//!
//! The result is idempotent (normalising it again changes nothing), never longer than the
//! input, and returned borrowed when the input was already normal, so the common request
//! costs one scan and no allocation. With escaped slashes refused, an upstream that decodes
//! the path once and resolves dot segments again sees exactly the segments the gateway routed
//! on: a request routed by a prefix cannot leave it.
//!
//! # Routing with a per-route opt-in
//!
//! Which route wins decides whether escaped slashes are allowed, so the gateway first parses
//! with [`NormalizedPath::parse`] (escaped separators kept, and remembered), matches the
//! route on [`NormalizedPath::as_str`], then asks [`NormalizedPath::allow`] with the winning
//! route's setting. Without escaped separators the kept and refused forms are identical, so a
//! route that refuses them is matched exactly as if they had been refused up front, and an
//! opt-in route only ever receives requests its own prefix matched.
//!
//! # Example
//!
//! ```
//! use std::borrow::Cow;
//! use mtls_request_path::{EscapedSlashes, NormalizeOptions, NormalizedPath, PathError, normalize};
//!
//! let refuse = NormalizeOptions::default();
//! // Dot segments, also encoded, are resolved: this request is for /admin/, not /v1.
//! assert_eq!(normalize("/v1/../admin/", refuse)?, "/admin/");
//! assert_eq!(normalize("/v1/%2e%2E/admin/", refuse)?, "/admin/");
//! assert_eq!(normalize("/v1/./x//y", refuse)?, "/v1/x/y");
//! assert_eq!(normalize("/../../etc", refuse)?, "/etc");
//! // Unreserved escapes are decoded, the others uppercased.
//! assert_eq!(normalize("/%7Euser/a%2cb", refuse)?, "/~user/a%2Cb");
//! // An already normal path is borrowed, not copied.
//! assert!(matches!(normalize("/v1/orders", refuse)?, Cow::Borrowed("/v1/orders")));
//!
//! // Escaped slashes and backslashes are refused, naming the sequence and where it is.
//! let err = normalize("/v1/a%2fb", refuse).unwrap_err();
//! assert_eq!(err, PathError::EncodedSlash { at: 5 });
//! assert_eq!(err.reason(), "encoded_slash");
//! assert_eq!(err.to_string(), "encoded slash %2F at byte 5");
//! assert_eq!(normalize("/a\\b", refuse).unwrap_err().reason(), "backslash");
//! assert_eq!(normalize("/a%zz", refuse).unwrap_err().reason(), "bad_escape");
//!
//! // ... unless a route opts in; then %2F is kept and is not a separator.
//! let keep = NormalizeOptions { escaped_slashes: EscapedSlashes::Keep };
//! assert_eq!(normalize("/v1/a%2fb/../c", keep)?, "/v1/c");
//! assert_eq!(normalize("/v1/..%2f../c", keep)?, "/v1/..%2F../c");
//!
//! // The gateway: parse once, match on the normalised path, then apply the winner's setting.
//! let path = NormalizedPath::parse("/v1/a%2Fb")?;
//! assert_eq!(path.as_str(), "/v1/a%2Fb");
//! assert!(path.allow(EscapedSlashes::Keep).is_ok());
//! assert_eq!(path.allow(EscapedSlashes::Refuse), Err(PathError::EncodedSlash { at: 5 }));
//! # Ok::<(), PathError>(())
//! ```

mod error;
mod normalize;

pub use error::PathError;
pub use normalize::{
    EscapedSlashes, NormalizeOptions, NormalizedPath, UnknownEscapedSlashes, normalize, split_query,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
