//! An I/O wrapper that fails once the registry stops admitting its connection.
//!
//! Dropping a connection's task closes the connection, except what hyper handed off: an
//! upgraded (WebSocket) connection owns the client I/O and is spliced in a task of its own.
//! Wrapping the client stream before hyper sees it makes every later read or write fail
//! with [`io::ErrorKind::ConnectionAborted`] as soon as a new snapshot refuses the tenant or
//! certificate, wherever the stream has moved; the splice then ends and drops both sides.
//!
//! The wrapper also stamps the time of the last byte moved either way ([`Activity`]), which
//! the HTTP/2 idle timer reads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When a stream last moved a byte.
pub(super) struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte read or written.
    last: AtomicU64,
}

// === impl Activity ===

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// How long no byte has moved.
    pub(super) fn idle_for(&self) -> Duration {
        let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
        Instant::now().saturating_duration_since(last)
    }

    /// Resolves once no byte has moved for `limit`.
    pub(super) async fn idle(&self, limit: Duration) {
        loop {
            let idle = self.idle_for();
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

/// A stream that ends with an error once `revoked` resolves.
pub(super) struct Revocable<T> {
    inner: T,
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
    closed: bool,
    activity: Arc<Activity>,
}

// === impl Revocable ===

impl<T> Revocable<T> {
    pub(super) fn new(
        inner: T,
        revoked: impl Future<Output = ()> + Send + 'static,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            inner,
            revoked: Box::pin(revoked),
            closed: false,
            activity,
        }
    }

    fn moved(&self, bytes: usize) {
        if bytes > 0 {
            self.activity.touch();
        }
    }

    /// Polls the revocation (registering the caller's waker), and the error once it fired.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.closed && self.revoked.as_mut().poll(cx).is_ready() {
            self.closed = true;
        }
        if self.closed {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the registry no longer admits this connection",
            ))
        } else {
            Ok(())
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Revocable<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            this.moved(buf.filled().len() - before);
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Revocable<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.moved(n);
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Shutting down is always allowed: it is how a closed connection says goodbye.
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            this.moved(n);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_pending_read_fails_when_revoked() {
        let (near, mut far) = tokio::io::duplex(64);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let activity = Arc::new(Activity::new());
        let mut stream = Revocable::new(
            near,
            async move {
                let _ = rx.await;
            },
            activity.clone(),
        );
        far.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        assert!(activity.idle_for() < Duration::from_secs(1));

        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let err = stream.read(&mut buf).await.unwrap_err();
            (err.kind(), stream.write_all(b"x").await.is_err())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!reader.is_finished(), "nothing to read yet: the read waits");
        tx.send(()).unwrap();
        let (kind, write_failed) = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("the revocation woke the pending read")
            .unwrap();
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        assert!(write_failed, "writes fail too once revoked");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_resolves_after_the_limit_without_bytes() {
        let activity = Activity::new();
        let limit = Duration::from_secs(5);
        let started = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        activity.touch();
        activity.idle(limit).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(8),
            "5 s after the last byte"
        );
    }
}
