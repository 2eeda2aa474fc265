//! The client's HTTP: a raw one-shot `GET` with `Connection: close` (the `handshake` mode's
//! request, no client library in the way), and hyper HTTP/1.1 or h2 connections that stay
//! open (`rr`, `bulk`, `idle`).

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::LoadError;
use crate::conn::{Conn, Connector};

/// The most a one-shot response may hold (a small `GET`; anything bigger is a wrong target).
const ONE_SHOT_MAX: usize = 1 << 20;

/// An open HTTP connection of hyper's: requests go through the sender, the connection is
/// driven by its own task.
#[derive(Debug)]
pub enum HttpConn {
    /// HTTP/1.1 keep-alive.
    H1(http1::SendRequest<Empty<Bytes>>),
    /// HTTP/2.
    H2(http2::SendRequest<Empty<Bytes>>),
}

/// How requests address the target: the `Host`/`:authority` and the URI scheme.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The `Host` header (h2: `:authority`).
    pub host: String,
    /// `https` or `http` (`--plain`).
    pub scheme: &'static str,
}

/// Writes the request of a one-shot `GET path` and reads the whole response until the
/// server closes; the status must be 2xx and the body as long as any `Content-Length`.
pub async fn one_shot_get(conn: &mut Conn, request: &[u8]) -> Result<(), LoadError> {
    conn.write_all(request)
        .await
        .map_err(|e| LoadError::io("write request", e))?;
    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match conn.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.len() > ONE_SHOT_MAX {
                    return Err(LoadError::Unexpected(format!(
                        "a response of more than {ONE_SHOT_MAX} bytes"
                    )));
                }
            }
            // A server that closes without TLS close_notify: the response is what arrived.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
                break;
            }
            Err(e) => return Err(LoadError::io("read response", e)),
        }
    }
    check_one_shot(&response)
}

/// The request bytes of [`one_shot_get`].
pub fn one_shot_request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mtls-load\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Checks a complete HTTP/1.x response: 2xx, and a body at least `Content-Length` long.
fn check_one_shot(response: &[u8]) -> Result<(), LoadError> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| LoadError::Unexpected(format!("{} bytes, no HTTP head", response.len())))?;
    let head = String::from_utf8_lossy(&response[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| LoadError::Unexpected(format!("status line {status_line:?}")))?;
    if !(200..300).contains(&status) {
        return Err(LoadError::Unexpected(format!("status {status}")));
    }
    let body = response.len() - head_end - 4;
    let declared = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    match declared {
        Some(len) if body < len => Err(LoadError::Unexpected(format!(
            "body of {body} bytes, Content-Length {len}"
        ))),
        _ => Ok(()),
    }
}

// === impl HttpConn ===

impl HttpConn {
    /// Connects and starts HTTP/1.1 (or h2) on the connection; its driver runs as a task
    /// that ends when the sender is dropped or the connection fails.
    pub async fn open(connector: &Connector, h2: bool) -> Result<Self, LoadError> {
        let io = TokioIo::new(connector.connect().await?);
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Self::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Self::H1(sender))
        }
    }

    /// `GET path`; checks the status is 2xx and returns the body's length.
    pub async fn get(&mut self, origin: &Origin, path: &str) -> Result<u64, LoadError> {
        self.get_counting(origin, path, |_| {}).await
    }

    /// [`get`](Self::get), calling `on_data` with the length of each piece of the body as
    /// it arrives.
    pub async fn get_counting(
        &mut self,
        origin: &Origin,
        path: &str,
        mut on_data: impl FnMut(usize) + Send,
    ) -> Result<u64, LoadError> {
        let response = match self {
            Self::H1(sender) => {
                sender.ready().await?;
                let request = Request::get(path)
                    .header(header::HOST, &origin.host)
                    .body(Empty::new())
                    .map_err(|e| LoadError::Unexpected(format!("request: {e}")))?;
                sender.send_request(request).await?
            }
            Self::H2(sender) => {
                sender.ready().await?;
                let uri = format!("{}://{}{path}", origin.scheme, origin.host);
                let request = Request::get(uri)
                    .body(Empty::new())
                    .map_err(|e| LoadError::Unexpected(format!("request: {e}")))?;
                sender.send_request(request).await?
            }
        };
        let status = response.status();
        let mut body = response.into_body();
        let mut len = 0u64;
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                len += data.len() as u64;
                on_data(data.len());
            }
        }
        if !status.is_success() {
            return Err(unexpected_status(status));
        }
        Ok(len)
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::H1(sender) => sender.is_closed(),
            Self::H2(sender) => sender.is_closed(),
        }
    }
}

/// A non-2xx status as an error.
fn unexpected_status(status: StatusCode) -> LoadError {
    LoadError::Unexpected(format!("status {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_responses_are_checked() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        assert!(check_one_shot(ok).is_ok());
        let chunked = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
        assert!(check_one_shot(chunked).is_ok());
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        assert!(
            check_one_shot(short)
                .unwrap_err()
                .to_string()
                .contains("Content-Length 10")
        );
        let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert!(
            check_one_shot(refused)
                .unwrap_err()
                .to_string()
                .contains("status 403")
        );
        assert!(check_one_shot(b"SSH-2.0-x\r\n").is_err());
        assert!(check_one_shot(b"").is_err());
        let request = String::from_utf8(one_shot_request("demo.localhost", "/x")).unwrap();
        assert!(request.starts_with("GET /x HTTP/1.1\r\nHost: demo.localhost\r\n"));
        assert!(request.ends_with("Connection: close\r\n\r\n"));
    }
}
