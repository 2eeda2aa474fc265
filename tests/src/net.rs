//! Loopback TCP peers for socket tests.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A listener on `ip` (port chosen by the OS) that reports each peer address and echoes
/// bytes back until the peer closes. Runs until the runtime ends.
pub async fn echo_listener(ip: &str) -> (SocketAddr, UnboundedReceiver<SocketAddr>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, peer)) = listener.accept().await else {
                return;
            };
            let _ = tx.send(peer);
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, rx)
}

/// A loopback port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A plain HTTP/1.1 upstream on `ip` (port chosen by the OS) that answers every request with
/// the IP address of the peer it sees, as the whole body (`127.0.0.2`). Connections are kept
/// alive (a pooled client's reuse shows in the answer), one thread per connection; runs
/// until the process ends.
///
/// What an upstream that allow-lists source addresses would see: the test of a route's or a
/// tenant's egress address.
pub fn peer_http_upstream(ip: &str) -> SocketAddr {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || answer_with_peer(stream));
        }
    });
    addr
}

/// Serves one keep-alive connection of [`peer_http_upstream`]: request heads (bodies are
/// skipped by `Content-Length`), each answered with the peer's IP address.
fn answer_with_peer(stream: std::net::TcpStream) {
    use std::io::{BufRead, BufReader, Read, Write};

    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Bounded: one request per round, until the client closes or goes quiet.
    for _ in 0..10_000 {
        let mut body_len = 0u64;
        let mut line = String::new();
        let mut lines = 0;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {
                    lines += 1;
                    if lines > 200 {
                        return;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        body_len = value.trim().parse().unwrap_or(0);
                    }
                }
            }
        }
        if std::io::copy(&mut (&mut reader).take(body_len), &mut std::io::sink()).is_err() {
            return;
        }
        let body = peer.ip().to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A TCP upstream on `ip` (port chosen by the OS) that writes the IP address of the peer it
/// sees, then a newline, and closes. One thread per connection; runs until the process ends.
pub fn peer_tcp_upstream(ip: &str) -> SocketAddr {
    use std::io::Write;

    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                if let Ok(peer) = stream.peer_addr() {
                    let _ = writeln!(stream, "{}", peer.ip());
                }
                let _ = stream.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    use super::*;

    /// A blocking connection to `to` from the source address `source`.
    fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
            socket.connect(to).await.unwrap()
        });
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    }

    #[test]
    fn the_upstreams_report_the_peer_they_see() {
        let http = peer_http_upstream("127.0.0.1");
        let mut s = connect_from("127.0.0.5", http);
        for _ in 0..2 {
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                .unwrap();
            let mut reply = Vec::new();
            let mut buf = [0u8; 256];
            // The reply may come in pieces: read until it holds the whole body (bounded).
            for _ in 0..100 {
                if reply.ends_with(b"127.0.0.5") {
                    break;
                }
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the upstream closed early");
                reply.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&reply);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.ends_with("\r\n\r\n127.0.0.5"), "{text}");
        }
        let tcp = peer_tcp_upstream("127.0.0.1");
        let mut s = connect_from("127.0.0.6", tcp);
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "127.0.0.6\n");
    }
}
