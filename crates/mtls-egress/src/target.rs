//! [`connect_target`]: the `host:port` an HTTP CONNECT request asks for.

use http::{Method, Request};
use mtls_route_spec::{HostPort, RouteSpecError};

/// Why a request does not name a CONNECT destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectTargetError {
    /// The CONNECT request does not name a `host:port`.
    #[error("CONNECT target {target:?} is not host:port")]
    BadTarget {
        /// What the request named.
        target: String,
        /// Why it was refused.
        #[source]
        source: Option<RouteSpecError>,
    },
    /// The request is not a CONNECT.
    #[error("method {method} is not CONNECT")]
    NotConnect {
        /// The method.
        method: Method,
    },
}

/// The `host:port` a CONNECT request asks for.
///
/// ```
/// let request = http::Request::connect("db.example.com:5432").body(())?;
/// let target = mtls_egress::connect_target(&request)?;
/// assert_eq!((target.host(), target.port()), ("db.example.com", 5432));
///
/// let request = http::Request::connect("db.example.com").body(())?;
/// let err = mtls_egress::connect_target(&request).unwrap_err();
/// assert_eq!(err.to_string(), r#"CONNECT target "db.example.com" is not host:port"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_target<B>(request: &Request<B>) -> Result<HostPort, ConnectTargetError> {
    if request.method() != Method::CONNECT {
        return Err(ConnectTargetError::NotConnect {
            method: request.method().clone(),
        });
    }
    let Some(authority) = request.uri().authority() else {
        return Err(ConnectTargetError::BadTarget {
            target: request.uri().to_string(),
            source: None,
        });
    };
    authority
        .as_str()
        .parse()
        .map_err(|source| ConnectTargetError::BadTarget {
            target: authority.to_string(),
            source: Some(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connect_with_host_and_port_is_a_target() {
        let get = Request::get("http://db.example.com:5432/")
            .body(())
            .unwrap();
        match connect_target(&get).unwrap_err() {
            ConnectTargetError::NotConnect { method } => assert_eq!(method, Method::GET),
            other => panic!("unexpected {other}"),
        }

        let no_port = Request::connect("db.example.com").body(()).unwrap();
        match connect_target(&no_port).unwrap_err() {
            ConnectTargetError::BadTarget { target, source } => {
                assert_eq!(target, "db.example.com");
                assert!(source.is_some());
            }
            other => panic!("unexpected {other}"),
        }

        let ok = Request::connect("[2001:db8::1]:443").body(()).unwrap();
        let target = connect_target(&ok).unwrap();
        assert_eq!(target.port(), 443);
    }
}
