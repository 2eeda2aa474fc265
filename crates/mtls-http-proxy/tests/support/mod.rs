//! Test servers and clients for the HTTP proxy tests: upstreams, a front server calling
//! `forward`, raw HTTP/1.1 exchanges and streaming bodies. (Plain TCP peers, like a closed
//! port, are in `mtls_test_support::net`.)

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_lc_rs::digest;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mtls_http_proxy::{ForwardContext, ForwardedClientCert, ProxyBody, RouteTarget, forward};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bound for every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// Serves `handler` over plain TCP (HTTP/1.1 and h2 prior knowledge, upgrades enabled).
pub async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req, peer).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// Like [`serve`], over TLS with the given config.
pub async fn serve_tls<F, Fut>(config: Arc<rustls::ServerConfig>, handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req, peer).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An upstream named `name`:
/// - `/stream...` streams the request body back as it arrives;
/// - an `Upgrade: echo` request is switched and then echoes bytes;
/// - anything else reads the whole body and answers JSON: server, method, uri, version,
///   headers (name to list of values), body length and SHA-256.
pub async fn echo_upstream(name: &'static str) -> SocketAddr {
    serve(move |req, peer| echo(name, req, peer)).await
}

/// The echo handler, for TLS upstreams too.
pub async fn echo(
    name: &'static str,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    if req.headers().get("upgrade").is_some_and(|v| v == "echo") {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if io.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "echo")
            .header("connection", "upgrade")
            .body(full(Bytes::new()))
            .unwrap();
    }
    if req.uri().path().starts_with("/stream") {
        let body = req.into_body().map_err(Into::into).boxed_unsync();
        return Response::builder()
            .header("x-server", name)
            .body(body)
            .unwrap();
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let version = format!("{:?}", req.version());
    let mut headers = serde_json::Map::new();
    for (key, value) in req.headers() {
        let entry = headers
            .entry(key.as_str())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(list) = entry {
            list.push(
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
    }
    let mut body = req.into_body();
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(full("body error"))
                .unwrap();
        };
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            hasher.update(data);
        }
    }
    let json = serde_json::json!({
        "server": name,
        "peer": peer.ip().to_string(),
        "method": method,
        "uri": uri,
        "version": version,
        "headers": headers,
        "body_len": len,
        "body_sha256": hex(hasher.finish().as_ref()),
    });
    Response::builder()
        .header("content-type", "application/json")
        .header("connection", "keep-alive")
        .header("x-server", name)
        .body(full(json.to_string()))
        .unwrap()
}

/// An upstream that waits `delay` before answering 200.
pub async fn slow_upstream(delay: Duration) -> SocketAddr {
    serve(move |_req, _peer| async move {
        tokio::time::sleep(delay).await;
        Response::new(full("late"))
    })
    .await
}

/// An upstream that accepts connections and resets them once the request arrives.
pub async fn resetting_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 64];
            let _ = tcp.read(&mut buf).await;
            // Linger 0: close with RST instead of FIN.
            let _ = tcp.set_zero_linger();
            drop(tcp);
        }
    });
    addr
}

/// A forward context for tenant `acme` from 127.0.0.1 with a fresh self-signed cert.
pub fn context() -> ForwardContext {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "acme");
    let der = params.self_signed(&key).unwrap().der().to_vec();
    ForwardContext {
        tenant: "acme".parse().unwrap(),
        client_ip: "127.0.0.1".parse().unwrap(),
        client_cert: ForwardedClientCert::from_der(&der, Some("spiffe://proxy.test/tenant/acme"))
            .unwrap(),
    }
}

/// A front server that forwards every request to `target` with [`context`].
pub async fn front(target: Arc<RouteTarget>) -> SocketAddr {
    let ctx = Arc::new(context());
    serve(move |req, _peer| {
        let target = target.clone();
        let ctx = ctx.clone();
        async move { forward(req, &ctx, &target).await }
    })
    .await
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A body of `chunks` deterministic 64 KiB chunks; `exact` controls whether its size is
/// announced (Content-Length) or not (chunked).
pub struct PatternBody {
    left: usize,
    chunk: Bytes,
    exact: bool,
}

impl PatternBody {
    pub fn new(chunks: usize, exact: bool) -> Self {
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        Self {
            left: chunks,
            chunk: Bytes::from(chunk),
            exact,
        }
    }

    /// SHA-256 of the whole body.
    pub fn sha256(chunks: usize) -> String {
        let body = Self::new(1, true);
        let mut hasher = digest::Context::new(&digest::SHA256);
        for _ in 0..chunks {
            hasher.update(&body.chunk);
        }
        hex(hasher.finish().as_ref())
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact((self.left * self.chunk.len()) as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// Reads a whole body, hashing it: (length, SHA-256 hex).
pub async fn hash_body<B>(mut body: B) -> (u64, String)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            hasher.update(data);
        }
    }
    (len, hex(hasher.finish().as_ref()))
}

/// Sends `head` (a full HTTP/1.1 request head) and reads until the response head and a
/// `Content-Length` body have arrived: (status, head text, body text).
pub async fn raw_exchange(addr: SocketAddr, head: &str) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    read_response(&mut tcp).await
}

/// Reads one response with a `Content-Length` body (or none) from `tcp`.
pub async fn read_response(tcp: &mut TcpStream) -> (u16, String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).into_owned();
                return (status, head, body);
            }
        }
        let n = tokio::time::timeout_at(deadline, tcp.read(&mut buf))
            .await
            .expect("response timed out")
            .expect("read failed");
        assert!(
            n > 0,
            "connection closed early: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}
