//! The probes' HTTP over mTLS through the gateway: one request on a fresh connection (a new
//! handshake each time) or on a kept-alive HTTP/1.1 connection. Connections and TLS come
//! from `mtls-load` (loopback only); every request is bounded by [`REQUEST_TIMEOUT`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use mtls_load::LoadError;
use mtls_load::cli::{Common, Kx};
use mtls_load::conn::Connector;

use crate::ScaleError;

/// The longest one probe request may take (connect, handshake, response) before it counts
/// as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A response with this status.
    Status(StatusCode),
    /// No response: the handshake or the connection failed (a refused tenant or certificate
    /// is closed right after the handshake).
    Failed(String),
    /// Nothing within [`REQUEST_TIMEOUT`].
    TimedOut,
    /// No TCP connection at all (nothing listens): says nothing about the registry.
    Unreachable(String),
}

// === impl Answer ===

impl Answer {
    /// A 2xx response.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Status(s) if s.is_success())
    }

    /// Refused by the gateway: a non-2xx status or a failed connection (not a timeout,
    /// which says nothing).
    pub fn is_refused(&self) -> bool {
        match self {
            Self::Status(s) => !s.is_success(),
            Self::Failed(_) => true,
            Self::TimedOut | Self::Unreachable(_) => false,
        }
    }
}

/// One client certificate's way into the gateway.
#[derive(Clone)]
pub struct Client {
    connector: Connector,
}

// === impl Client ===

impl Client {
    /// A client presenting `bundle`'s `cert.pem`/`key.pem`, trusting `ca`, to `gateway`
    /// (SNI `localhost`, ALPN `http/1.1`, no session resumption: every connection is a full
    /// handshake).
    pub fn new(bundle: &Path, ca: &Path, gateway: SocketAddr) -> Result<Self, ScaleError> {
        let common = Common {
            connect: Some(gateway.to_string()),
            cert: Some(bundle.join("cert.pem")),
            key: Some(bundle.join("key.pem")),
            ca: Some(ca.to_owned()),
            server_name: "localhost".to_owned(),
            plain: false,
            kx: Kx::Default,
            duration: None,
            count: None,
            pids: Vec::new(),
            label: None,
            warmup: 0.0,
            threads: None,
        };
        let connector = Connector::new(&common, || {
            mtls_load::tls::client_config(&common, &[b"http/1.1"], false)
        })
        .map_err(ScaleError::client(format!(
            "a client for {}",
            bundle.display()
        )))?;
        Ok(Self { connector })
    }

    /// A new connection (full handshake) and one `GET /` for `host` on it.
    pub async fn fresh_get(&self, host: &str) -> Answer {
        let attempt = async {
            let mut conn = KeepAlive::open(&self.connector).await?;
            conn.request(host, true).await
        };
        bounded(attempt).await
    }

    /// A kept-alive connection.
    pub async fn keep_alive(&self) -> Result<KeepAlive, LoadError> {
        KeepAlive::open(&self.connector).await
    }
}

/// An open HTTP/1.1 connection; its driver runs as a task until the sender is dropped.
pub struct KeepAlive {
    sender: http1::SendRequest<Empty<Bytes>>,
}

// === impl KeepAlive ===

impl KeepAlive {
    async fn open(connector: &Connector) -> Result<Self, LoadError> {
        let io = TokioIo::new(connector.connect().await?);
        let (sender, conn) = http1::handshake(io).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// `GET /` for `host` on this connection.
    pub async fn get(&mut self, host: &str) -> Answer {
        bounded(self.request(host, false)).await
    }

    /// Whether the connection is gone (open another).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    async fn request(&mut self, host: &str, close: bool) -> Result<StatusCode, LoadError> {
        self.sender.ready().await?;
        let mut request = Request::get("/").header(header::HOST, host);
        if close {
            request = request.header(header::CONNECTION, "close");
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| LoadError::Unexpected(format!("request: {e}")))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        // The whole body: the request is done when it is.
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// `attempt` within [`REQUEST_TIMEOUT`], as an [`Answer`].
async fn bounded(attempt: impl Future<Output = Result<StatusCode, LoadError>>) -> Answer {
    match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
        Ok(Ok(status)) => Answer::Status(status),
        // The connector names a failed TCP connect "connect ADDR"; a failed handshake and
        // everything after it are the gateway's answer.
        Ok(Err(LoadError::Io { context, source })) if context.starts_with("connect ") => {
            Answer::Unreachable(format!("{context}: {source}"))
        }
        Ok(Err(e)) => Answer::Failed(e.to_string()),
        Err(_) => Answer::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert!(Answer::Status(StatusCode::OK).is_success());
        assert!(!Answer::Status(StatusCode::OK).is_refused());
        assert!(Answer::Status(StatusCode::NOT_FOUND).is_refused());
        assert!(Answer::Failed("alert".into()).is_refused());
        assert!(!Answer::TimedOut.is_refused());
        assert!(!Answer::TimedOut.is_success());
        assert!(!Answer::Unreachable("refused".into()).is_refused());
    }

    #[tokio::test]
    async fn nothing_listening_is_not_a_refusal() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let answer = bounded(async {
            mtls_load::conn::Connector::new(
                &Common {
                    connect: Some(port.to_string()),
                    cert: None,
                    key: None,
                    ca: None,
                    server_name: "localhost".into(),
                    plain: true,
                    kx: Kx::Default,
                    duration: None,
                    count: None,
                    pids: Vec::new(),
                    label: None,
                    warmup: 0.0,
                    threads: None,
                },
                || unreachable!("plain"),
            )
            .unwrap()
            .connect()
            .await
            .map(|_| StatusCode::OK)
        })
        .await;
        assert!(matches!(answer, Answer::Unreachable(_)), "{answer:?}");
        assert!(!answer.is_refused());
    }
}
