//! [`check_request_framing`]: HTTP/1 request framing the gateway refuses before anything is
//! forwarded, because a proxy and its upstream could read it differently (request
//! smuggling).
//!
//! hyper's parser already refuses most ambiguous forms (two different `Content-Length`s, a
//! `Transfer-Encoding` that does not end in `chunked`, obsolete line folding). It accepts
//! `chunked` applied more than once or next to other codings, which RFC 9112 §6.1 forbids
//! (and the proxy applies no codings, so only a single `chunked` is meaningful). A request
//! with both `Content-Length` and `Transfer-Encoding` never reaches this check from hyper's
//! server: it reads such a request as chunked, removes the length and closes the connection
//! after the response (§6.3); the check refuses it in requests built some other way.

use http::{HeaderMap, HeaderValue, Request, Response, Version, header};

use crate::ProxyErrorKind;

/// Why a request's framing is refused (400 `bad_request`, and the connection is closed: the
/// body's end is uncertain).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// Both `Content-Length` and `Transfer-Encoding`.
    #[error(
        "request has both Content-Length and Transfer-Encoding (refused: a request smuggling form)"
    )]
    LengthAndChunked,
    /// `Transfer-Encoding` is anything but one `chunked` coding.
    #[error("Transfer-Encoding {value:?} refused: only a single \"chunked\" coding is accepted")]
    TransferCoding {
        /// The field values, joined with `, ` and lossily decoded.
        value: String,
    },
}

impl From<&FramingError> for ProxyErrorKind {
    fn from(_: &FramingError) -> Self {
        Self::BadRequest
    }
}

/// Checks an HTTP/1 request's framing headers; HTTP/2 and later frame by the protocol
/// (their parsers refuse `Transfer-Encoding`), so they always pass.
///
/// ```
/// use mtls_http_proxy::{FramingError, check_request_framing};
///
/// let chunked = http::Request::post("/").header("transfer-encoding", "chunked").body(())?;
/// assert_eq!(check_request_framing(&chunked), Ok(()));
///
/// let both = http::Request::post("/")
///     .header("content-length", "4")
///     .header("transfer-encoding", "chunked")
///     .body(())?;
/// assert_eq!(check_request_framing(&both), Err(FramingError::LengthAndChunked));
///
/// let twice = http::Request::post("/").header("transfer-encoding", "chunked, chunked").body(())?;
/// assert!(matches!(check_request_framing(&twice), Err(FramingError::TransferCoding { .. })));
/// # Ok::<(), http::Error>(())
/// ```
pub fn check_request_framing<B>(request: &Request<B>) -> Result<(), FramingError> {
    framing_of(request.version(), request.headers())
}

/// Marks a refusal of a badly framed request so that the connection closes after it: where
/// the refused request's body ends is exactly what is in doubt, so nothing after it on the
/// connection can be read as a next request.
pub fn close_after<B>(mut response: Response<B>) -> Response<B> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// [`check_request_framing`] on a request's version and headers.
pub fn framing_of(version: Version, headers: &HeaderMap) -> Result<(), FramingError> {
    if !matches!(version, Version::HTTP_10 | Version::HTTP_11) {
        return Ok(());
    }
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    if codings.peek().is_none() {
        return Ok(());
    }
    if headers.contains_key(header::CONTENT_LENGTH) {
        return Err(FramingError::LengthAndChunked);
    }
    let values: Vec<String> = codings
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let mut all = values.iter().flat_map(|v| v.split(',')).map(str::trim);
    let single_chunked = all
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case("chunked"))
        && all.next().is_none();
    if single_chunked {
        Ok(())
    } else {
        Err(FramingError::TransferCoding {
            value: values.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn single_chunked_or_a_length_pass() {
        for fields in [
            &[][..],
            &[("content-length", "12")][..],
            &[("transfer-encoding", "chunked")][..],
            &[("transfer-encoding", " Chunked ")][..],
        ] {
            assert_eq!(framing_of(Version::HTTP_11, &headers(fields)), Ok(()));
        }
    }

    #[test]
    fn smuggling_forms_are_refused() {
        let both = headers(&[("content-length", "4"), ("transfer-encoding", "chunked")]);
        assert_eq!(
            framing_of(Version::HTTP_11, &both),
            Err(FramingError::LengthAndChunked)
        );
        assert_eq!(
            framing_of(Version::HTTP_10, &both),
            Err(FramingError::LengthAndChunked)
        );
        for (fields, value) in [
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ][..],
                "chunked, chunked",
            ),
            (
                &[("transfer-encoding", "chunked, chunked")][..],
                "chunked, chunked",
            ),
            (
                &[("transfer-encoding", "gzip, chunked")][..],
                "gzip, chunked",
            ),
            (&[("transfer-encoding", "identity")][..], "identity"),
            (&[("transfer-encoding", "")][..], ""),
        ] {
            assert_eq!(
                framing_of(Version::HTTP_11, &headers(fields)),
                Err(FramingError::TransferCoding {
                    value: value.to_owned()
                }),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn http2_frames_by_the_protocol() {
        let both = headers(&[("content-length", "4"), ("transfer-encoding", "chunked")]);
        assert_eq!(framing_of(Version::HTTP_2, &both), Ok(()));
    }
}
