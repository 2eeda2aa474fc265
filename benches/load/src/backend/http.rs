//! The backend's HTTP side: hyper's auto server (HTTP/1.1 keep-alive, or h2 when the client
//! starts with the h2 preface) and its three routes.

use std::convert::Infallible;
use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

use super::body::Reply;

/// The largest `N` of `GET /bytes/N` (64 GiB: streamed, so only time bounds it).
pub(super) const MAX_BYTES_BODY: u64 = 64 << 30;

/// Serves one connection until it closes.
pub(super) async fn serve_connection(tcp: TcpStream, _peer: SocketAddr) {
    let service =
        service_fn(
            |request: Request<Incoming>| async move { Ok::<_, Infallible>(respond(request)) },
        );
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tcp), service)
        .await;
}

/// The answer to one request.
pub(super) fn respond(request: Request<Incoming>) -> Response<Reply> {
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::GET, "/") => reply(StatusCode::OK, Reply::text("ok\n")),
        (&Method::GET, _) if path.starts_with("/bytes/") => {
            match path["/bytes/".len()..].parse::<u64>() {
                Ok(n) if n <= MAX_BYTES_BODY => {
                    let mut response = reply(StatusCode::OK, Reply::Repeat { remaining: n });
                    response
                        .headers_mut()
                        .insert(header::CONTENT_LENGTH, n.into());
                    response
                }
                _ => reply(
                    StatusCode::BAD_REQUEST,
                    Reply::text("GET /bytes/N: N is a byte count up to 64 GiB\n"),
                ),
            }
        }
        (&Method::POST, "/echo") => {
            let length = request.headers().get(header::CONTENT_LENGTH).cloned();
            let mut response = reply(StatusCode::OK, Reply::Echo(request.into_body()));
            if let Some(length) = length {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, length);
            }
            response
        }
        _ => reply(StatusCode::NOT_FOUND, Reply::text("not found\n")),
    }
}

/// A response with `status` and `body`.
fn reply(status: StatusCode, body: Reply) -> Response<Reply> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
