//! Against a real non-rustls server: `openssl s_server -Verify 1 -CAfile ca2.pem` sends CA 2's
//! name in its CertificateRequest; the resolver must present identity #2.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_resolver::{Fallback, MultiIdentityResolver, Reason};
use rustls::pki_types::ServerName;
use support::{Ca, Recorder, VERSIONS, client_config};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Kills and reaps the child when dropped, whatever happened in the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_s_server(dir: &Path, port: u16) -> KillOnDrop {
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let child = Command::new("/usr/bin/openssl")
        .arg("s_server")
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .args(["-Verify", "1", "-verify_return_error"])
        .arg("-CAfile")
        .arg(dir.join("ca2.pem"))
        .arg("-cert")
        .arg(dir.join("server.pem"))
        .arg("-key")
        .arg(dir.join("server-key.pem"))
        .arg("-www")
        .stdin(Stdio::null())
        .stdout(log("s_server.out"))
        .stderr(log("s_server.err"))
        .spawn()
        .expect("spawn openssl s_server");
    KillOnDrop(child)
}

fn wait_until_listening(server: &mut KillOnDrop, addr: SocketAddr, dir: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let err = std::fs::read_to_string(dir.join("s_server.err")).unwrap_or_default();
            panic!("s_server exited early ({status}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "s_server did not listen within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET / over TLS; returns the status page s_server renders.
fn fetch_status_page(config: Arc<rustls::ClientConfig>, addr: SocketAddr) -> String {
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
    let conn =
        rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("TLS handshake and request");
    let mut page = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => page.extend_from_slice(&buf[..n]),
            // s_server may close without close_notify once the page is out.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !page.is_empty() => break,
            Err(e) => panic!("reading the status page: {e}"),
        }
    }
    String::from_utf8_lossy(&page).into_owned()
}

#[test]
fn openssl_s_server_gets_the_identity_it_names() {
    let server_ca = Ca::root("Server CA");
    let ca1 = Ca::root("Client CA 1");
    let ca2 = Ca::root("Client CA 2");
    let dir = tempfile::tempdir().unwrap();
    let (server_cert, server_key) = server_ca.server_leaf_pem();
    std::fs::write(dir.path().join("ca2.pem"), ca2.pem()).unwrap();
    std::fs::write(dir.path().join("server.pem"), server_cert).unwrap();
    std::fs::write(dir.path().join("server-key.pem"), server_key).unwrap();

    let one = ca1.identity("one", &[]);
    let two = ca2.identity("two", &[]);
    let recorder = Arc::new(Recorder::default());
    let resolver = MultiIdentityResolver::builder()
        .identities([one.clone(), two.clone()])
        .fallback(Fallback::None)
        .observer(recorder.clone())
        .build()
        .unwrap();

    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = spawn_s_server(dir.path(), port);
    wait_until_listening(&mut server, addr, dir.path());

    for version in VERSIONS {
        let config = client_config(&server_ca, version, Arc::new(resolver.clone()));
        let page = fetch_status_page(config, addr);
        assert!(
            page.contains("Subject: CN=two client, O=Test PKI"),
            "{version:?}: s_server did not report identity two:\n{page}"
        );
        assert!(!page.contains("CN=one client"), "{version:?}");
        let expected_protocol = match version.version {
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "TLSv1.3",
        };
        assert!(page.contains(expected_protocol), "{version:?}:\n{page}");
        assert_eq!(
            recorder.take(),
            vec![(Some("two".to_owned()), Reason::MatchedCaName)],
            "{version:?}: the server's CA name list must have matched"
        );
    }
    assert_eq!(two.subject(), "CN=two client, O=Test PKI");
    drop(server);
}
