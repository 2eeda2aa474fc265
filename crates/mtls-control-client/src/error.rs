//! Why a control-plane call, an enrollment or a renewal failed ([`ClientError`]).

use std::path::PathBuf;

use mtls_control_api::ErrorCode;

/// Everything the client can fail with. Every variant names the URL, file or field at
/// fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error body `{"error": {"code", "message"}}`.
    #[error("{url}: the server refused the request ({status} {code}): {message}")]
    Api {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The server answered with a failure status and a body that is not our error JSON
    /// (a proxy in the way, a different server on that port).
    #[error("{url}: HTTP {status} with a body that is not a control-plane error: {body}")]
    UnexpectedResponse {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// A success response whose body is not the expected JSON.
    #[error("{url}: cannot decode the server's {status} response")]
    Decode {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The request never got an answer: connection refused, TLS handshake failed, timeout.
    #[error("{url}: request failed")]
    Transport {
        /// The URL called.
        url: String,
        /// The transport error (its chain says whether it was TCP, TLS or a timeout).
        #[source]
        source: reqwest::Error,
    },
    /// The server URL is not usable.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CA, certificate or key file could not be loaded (names the file).
    #[error(transparent)]
    Pem(#[from] mtls_tls::PemError),
    /// PEM material given in memory (or written by the server) is unusable.
    #[error("{what} is unusable: {reason}")]
    Material {
        /// What it was: `CA bundle`, `client certificate`, `certificate from the server`...
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key do not belong together.
    #[error("the certificate {cert} does not match the private key {key}: {reason}")]
    KeyMismatch {
        /// Where the certificate came from.
        cert: String,
        /// Where the key came from.
        key: String,
        /// The check's error.
        reason: String,
    },
    /// The rustls client config could not be built.
    #[error("cannot build the TLS client configuration")]
    Tls(#[from] mtls_tls::BuildError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for {url}")]
    HttpClient {
        /// The server URL.
        url: String,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// Generating the key or the CSR failed.
    #[error("cannot generate the key and CSR")]
    KeyGeneration(#[source] Box<mtls_ca::CaError>),
    /// A file or directory operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The output directory exists and is not empty.
    #[error("output {} already exists and is not empty; choose a new path", path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// The renewal succeeded and its files are installed, but revoking the previous
    /// certificate failed: revoke it again later.
    #[error(
        "renewed: certificate {renewed} is installed, but revoking the previous certificate {previous} failed; revoke it again (tenantctl cert revoke {previous})"
    )]
    RevokePreviousFailed {
        /// The previous certificate's serial.
        previous: String,
        /// The new certificate's serial.
        renewed: String,
        /// Why the revocation failed.
        #[source]
        source: Box<ClientError>,
    },
    /// A certificate was issued but its files could not be moved into place.
    #[error(
        "certificate {serial} was issued, but its files could not be moved from {} to {}; move them by hand",
        staging.display(),
        target.display()
    )]
    PublishFailed {
        /// The new certificate's serial.
        serial: String,
        /// Where the files are.
        staging: PathBuf,
        /// Where they should have gone.
        target: PathBuf,
        /// The rename's error.
        #[source]
        source: std::io::Error,
    },
}

// === impl ClientError ===

impl ClientError {
    /// The server's error code, if the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::UnexpectedResponse { status, .. }
            | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn material(what: impl Into<String>, reason: impl ToString) -> Self {
        Self::Material {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<mtls_ca::CaError> for ClientError {
    fn from(e: mtls_ca::CaError) -> Self {
        Self::KeyGeneration(Box::new(e))
    }
}

/// The most of a non-JSON error body quoted in [`ClientError::UnexpectedResponse`].
const BODY_QUOTE_CHARS: usize = 200;

/// Turns a failed response into an error: the server's code and message when the body is
/// our error JSON, else [`ClientError::UnexpectedResponse`] quoting the start of the body.
pub fn error_from_response(url: &str, status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<mtls_control_api::ErrorBody>(body) {
        Ok(parsed) => ClientError::Api {
            url: url.to_owned(),
            status,
            code: parsed.error.code,
            message: parsed.error.message,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let mut quoted: String = text.trim().chars().take(BODY_QUOTE_CHARS).collect();
            if text.trim().chars().count() > BODY_QUOTE_CHARS {
                quoted.push_str("...");
            }
            if quoted.is_empty() {
                quoted = "(empty)".to_owned();
            }
            ClientError::UnexpectedResponse {
                url: url.to_owned(),
                status,
                body: quoted,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_becomes_code_and_message() {
        let body =
            br#"{"error":{"code":"policy_violation","message":"route breaks rule allow_private"}}"#;
        let err = error_from_response("https://127.0.0.1:1/v1/tenants/a/routes", 403, body);
        assert_eq!(err.code(), Some(ErrorCode::PolicyViolation));
        assert_eq!(err.status(), Some(403));
        let text = err.to_string();
        assert!(text.contains("403 policy_violation"), "{text}");
        assert!(text.contains("route breaks rule allow_private"), "{text}");
        assert!(text.contains("/v1/tenants/a/routes"), "{text}");
    }

    #[test]
    fn a_body_that_is_not_error_json_is_quoted() {
        let err = error_from_response("https://h:1/v1/whoami", 502, b"<html>Bad Gateway</html>");
        assert_eq!(err.code(), None);
        assert_eq!(err.status(), Some(502));
        assert!(err.to_string().contains("HTTP 502"), "{err}");
        assert!(
            err.to_string().contains("<html>Bad Gateway</html>"),
            "{err}"
        );

        let long = vec![b'x'; 1000];
        let text = error_from_response("u", 500, &long).to_string();
        assert!(text.ends_with("..."), "{text}");
        assert!(text.len() < 300, "{text}");

        let empty = error_from_response("u", 500, b"").to_string();
        assert!(empty.contains("(empty)"), "{empty}");
    }

    #[test]
    fn an_unknown_code_falls_back_to_the_quoted_body() {
        let body = br#"{"error":{"code":"brand_new_code","message":"m"}}"#;
        let err = error_from_response("u", 418, body);
        assert!(matches!(
            err,
            ClientError::UnexpectedResponse { status: 418, .. }
        ));
        assert!(err.to_string().contains("brand_new_code"));
    }
}
