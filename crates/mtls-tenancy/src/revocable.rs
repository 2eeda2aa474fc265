//! An I/O wrapper that fails once the registry stops admitting its connection.
//!
//! Dropping a connection's task closes the connection, except what hyper handed off: an
//! upgraded (WebSocket) connection owns the client I/O and is spliced in a task of its own.
//! Wrapping the client stream before hyper sees it makes every later read or write fail
//! with [`io::ErrorKind::ConnectionAborted`] as soon as a new snapshot refuses the tenant or
//! certificate, wherever the stream has moved; the splice then ends and drops both sides.
//!
//! The revocation future (a registry-view subscription raced with the certificate's expiry)
//! is polled only after it has woken: every read and write checks one flag, instead of
//! polling the future, whose view subscription takes the lock of a notification list that
//! every connection of the listener shares.
//!
//! The wrapper also stamps the time of the last byte moved either way ([`Activity`]), which
//! the HTTP/2 idle timer reads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use atomic_waker::AtomicWaker;

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

/// The waker the revocation future is polled with: it records that the future may have
/// made progress, then wakes the task that last used the stream.
struct RevocationWake {
    /// Set by a wake-up of the revocation future, cleared when the future is polled.
    woken: AtomicBool,
    /// The task of the last read or write (the stream moves between tasks on upgrades).
    task: AtomicWaker,
}

// === impl RevocationWake ===

impl Wake for RevocationWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A stream that ends with an error once `revoked` resolves.
pub(super) struct Revocable<T> {
    inner: T,
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Whether `revoked` woke since it was last polled, and whom to wake when it does.
    wake: Arc<RevocationWake>,
    /// `wake` as a [`Waker`], made once.
    waker: Waker,
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
        // Woken from the start: the first read or write polls the future once, which
        // registers `waker` with whatever it waits on.
        let wake = Arc::new(RevocationWake {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            inner,
            revoked: Box::pin(revoked),
            waker: Waker::from(wake.clone()),
            wake,
            closed: false,
            activity,
        }
    }

    fn moved(&self, bytes: usize) {
        if bytes > 0 {
            self.activity.touch();
        }
    }

    /// The error once the revocation fired. Registers the caller's waker for the
    /// revocation's wake-ups, and polls the revocation future only if it woke since its last
    /// poll (registering first: a wake-up between the two is then never missed).
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.closed {
            self.wake.task.register(cx.waker());
            if self.wake.woken.swap(false, Ordering::AcqRel) {
                let mut revocation_cx = Context::from_waker(&self.waker);
                if self.revoked.as_mut().poll(&mut revocation_cx).is_ready() {
                    self.closed = true;
                }
            }
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

    #[tokio::test]
    async fn the_revocation_is_polled_only_after_it_woke() {
        use std::sync::atomic::AtomicUsize;

        let polls = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let counted = polls.clone();
        let revoked = std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut rx).poll(cx).map(|_| ())
        });
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = Revocable::new(near, revoked, Arc::new(Activity::new()));
        for _ in 0..100 {
            far.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(b"pong").await.unwrap();
            far.read_exact(&mut buf).await.unwrap();
        }
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "hundreds of reads and writes, one poll: the one that registered the waker"
        );
        // A wake-up of the revocation reaches a read that is waiting for bytes.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            stream.read(&mut buf).await.unwrap_err().kind()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!reader.is_finished());
        tx.send(()).unwrap();
        let kind = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("the revocation woke the pending read")
            .unwrap();
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        assert_eq!(polls.load(Ordering::Relaxed), 2);
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
