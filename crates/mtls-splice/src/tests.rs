use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::pump::{Progress, Pump};

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn copies_both_ways_and_counts() {
    let (client, mut app) = tokio::io::duplex(1024);
    let (upstream, mut backend) = tokio::io::duplex(1024);
    let pump = tokio::spawn(splice(client, upstream, SpliceConfig::new(LONG)));

    app.write_all(b"hello upstream").await.unwrap();
    let mut buf = [0u8; 14];
    backend.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello upstream");
    backend.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    app.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");

    drop(app);
    drop(backend);
    let summary = tokio::time::timeout(LONG, pump).await.unwrap().unwrap();
    assert_eq!(summary.client_to_upstream, 14);
    assert_eq!(summary.upstream_to_client, 2);
    assert!(
        matches!(summary.end, SpliceEnd::Closed),
        "{:?}",
        summary.end
    );
    assert_eq!(summary.end.label(), "closed");
}

#[tokio::test]
async fn half_close_keeps_the_other_direction_flowing() {
    let (client, mut app) = tokio::io::duplex(64);
    let (upstream, mut backend) = tokio::io::duplex(64);
    let pump = tokio::spawn(splice(client, upstream, SpliceConfig::new(LONG)));

    app.write_all(b"request").await.unwrap();
    app.shutdown().await.unwrap();
    let mut got = Vec::new();
    backend.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"request");
    // The upstream answers after seeing EOF, in several chunks bigger than the pipe.
    let reply = vec![7u8; 10_000];
    let writer = tokio::spawn(async move {
        backend.write_all(&reply).await.unwrap();
        backend.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    app.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), 10_000);
    writer.await.unwrap();
    let summary = tokio::time::timeout(LONG, pump).await.unwrap().unwrap();
    assert_eq!(
        (summary.client_to_upstream, summary.upstream_to_client),
        (7, 10_000)
    );
    assert!(matches!(summary.end, SpliceEnd::Closed));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_fires_and_is_reset_by_traffic() {
    let (client, mut app) = tokio::io::duplex(64);
    let (upstream, mut backend) = tokio::io::duplex(64);
    let started = tokio::time::Instant::now();
    let pump = tokio::spawn(splice(
        client,
        upstream,
        SpliceConfig::new(Duration::from_secs(5)),
    ));
    // Traffic at t=3s pushes the deadline to t=8s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    backend.read_exact(&mut one).await.unwrap();
    let summary = pump.await.unwrap();
    assert!(
        matches!(summary.end, SpliceEnd::IdleTimeout),
        "{:?}",
        summary.end
    );
    assert_eq!(summary.end.label(), "idle_timeout");
    assert_eq!(summary.client_to_upstream, 1);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(8) && elapsed < Duration::from_secs(9),
        "{elapsed:?}"
    );
}

/// A stream whose reads fail.
struct Broken;

impl AsyncRead for Broken {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "boom")))
    }
}

impl AsyncWrite for Broken {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn errors_name_the_side_and_operation() {
    let (client, _app) = tokio::io::duplex(64);
    let summary = splice(client, Broken, SpliceConfig::new(LONG)).await;
    match summary.end {
        SpliceEnd::Error {
            side,
            operation,
            ref source,
        } => {
            assert_eq!(side, Side::Upstream);
            assert_eq!(operation, Operation::Read);
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset);
        }
        ref other => panic!("unexpected end {other:?}"),
    }
    assert_eq!(summary.end.label(), "upstream_error");
    assert!(summary.end.is_error());

    let (upstream, _backend) = tokio::io::duplex(64);
    let summary = splice(Broken, upstream, SpliceConfig::new(LONG)).await;
    assert!(matches!(
        summary.end,
        SpliceEnd::Error {
            side: Side::Client,
            operation: Operation::Read,
            ..
        }
    ));
}

#[tokio::test]
async fn real_tcp_transfer_both_ways() {
    // Echo backend on loopback.
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = backend.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    // The "proxy": accept one client, splice it to the backend.
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_addr = front.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let (client, _) = front.accept().await.unwrap();
        let upstream = TcpStream::connect(backend_addr).await.unwrap();
        splice(client, upstream, SpliceConfig::new(LONG)).await
    });

    let conn = TcpStream::connect(front_addr).await.unwrap();
    let (mut r, mut w) = conn.into_split();
    const LEN: usize = 4 * 1024 * 1024;
    let writer = tokio::spawn(async move {
        let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        for _ in 0..LEN / chunk.len() {
            w.write_all(&chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::with_capacity(LEN);
    tokio::time::timeout(LONG, r.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 256) as u8));
    let summary = tokio::time::timeout(LONG, proxy).await.unwrap().unwrap();
    assert_eq!(summary.client_to_upstream, LEN as u64);
    assert_eq!(summary.upstream_to_client, LEN as u64);
    assert!(
        matches!(summary.end, SpliceEnd::Closed),
        "{:?}",
        summary.end
    );
}

/// Polls one direction once with a no-op waker (the tests below drive both ends by hand).
fn poll_once<R, W>(pump: &mut Pump, reader: &mut R, writer: &mut W) -> Progress
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match pump.poll_copy(&mut cx, reader, writer) {
        Ok(progress) => progress,
        Err((_, operation, e)) => panic!("{operation} failed: {e}"),
    }
}

#[tokio::test]
async fn a_direction_holds_no_buffer_while_idle_or_when_the_writer_keeps_up() {
    let (mut reader, mut app) = tokio::io::duplex(64 * 1024);
    let (mut writer, mut backend) = tokio::io::duplex(64 * 1024);
    let mut pump = Pump::new(16 * 1024);
    assert!(!pump.holds_buffer(), "a new direction allocates nothing");
    assert_eq!(
        poll_once(&mut pump, &mut reader, &mut writer),
        Progress::Idle
    );
    assert!(!pump.holds_buffer(), "waiting for bytes takes no buffer");

    app.write_all(b"through the scratch buffer").await.unwrap();
    assert_eq!(
        poll_once(&mut pump, &mut reader, &mut writer),
        Progress::Moved
    );
    assert!(
        !pump.holds_buffer(),
        "a writer that takes everything needs no spill"
    );
    let mut got = [0u8; 26];
    backend.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"through the scratch buffer");
    assert_eq!(pump.bytes(), 26);
}

#[tokio::test]
async fn a_backed_up_direction_keeps_its_bytes_and_frees_them_once_drained() {
    let (mut reader, mut app) = tokio::io::duplex(64 * 1024);
    // The writer's pipe takes 1000 bytes before it pushes back.
    let (mut writer, mut backend) = tokio::io::duplex(1000);
    let mut pump = Pump::new(16 * 1024);
    let sent: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    app.write_all(&sent).await.unwrap();

    assert_eq!(
        poll_once(&mut pump, &mut reader, &mut writer),
        Progress::Moved
    );
    assert!(pump.holds_buffer(), "what the writer refused is kept");
    assert_eq!(pump.bytes(), 1000);

    let mut got = Vec::new();
    let mut chunk = [0u8; 1000];
    while got.len() < sent.len() {
        let n = backend.read(&mut chunk).await.unwrap();
        got.extend_from_slice(&chunk[..n]);
        poll_once(&mut pump, &mut reader, &mut writer);
    }
    assert_eq!(got, sent, "bytes arrive once each, in order");
    assert_eq!(pump.bytes(), 5000);
    assert!(!pump.holds_buffer(), "drained and dry: the spill is freed");

    // End-of-stream still propagates after a spill.
    drop(app);
    poll_once(&mut pump, &mut reader, &mut writer);
    assert!(pump.is_done());
    assert_eq!(backend.read(&mut chunk).await.unwrap(), 0);
}

#[tokio::test]
async fn large_transfers_through_a_slow_writer_stay_intact() {
    // Many reads, a writer that takes a few bytes at a time: the spill path end to end.
    let (client, mut app) = tokio::io::duplex(4096);
    let (upstream, mut backend) = tokio::io::duplex(7);
    let config = SpliceConfig {
        idle_timeout: LONG,
        buffer_size: 1500,
    };
    let pump = tokio::spawn(splice(client, upstream, config));
    const LEN: usize = 200_000;
    let writer = tokio::spawn(async move {
        let data: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
        app.write_all(&data).await.unwrap();
        app.shutdown().await.unwrap();
        app
    });
    let mut got = Vec::with_capacity(LEN);
    tokio::time::timeout(LONG, backend.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), LEN);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, b)| *b == (i * 7 % 251) as u8)
    );
    let app = writer.await.unwrap();
    drop(app);
    drop(backend);
    let summary = tokio::time::timeout(LONG, pump).await.unwrap().unwrap();
    assert_eq!(summary.client_to_upstream, LEN as u64);
}

#[test]
fn a_nested_scratch_borrow_gets_a_buffer_of_its_own() {
    let outer = scratch::with(8, |outer| {
        outer.fill(1);
        let inner = scratch::with(8, |inner| {
            inner.fill(2);
            inner.iter().map(|b| u32::from(*b)).sum::<u32>()
        });
        (inner, outer.iter().map(|b| u32::from(*b)).sum::<u32>())
    });
    assert_eq!(outer, (16, 8), "the two calls never share bytes");
}
