//! The client stream of an HTTP gateway connection, as hyper gets it: it keeps the
//! connection's [`Live`] hold (tenant slot, listener slot, drain guard, gauges) for as long
//! as the stream exists, and counts the bytes it moves.
//!
//! hyper hands an upgraded HTTP/1 connection (a WebSocket, an HTTP/1.1 CONNECT tunnel) the
//! client stream itself, and the connection task ends: whoever owns the stream then owns
//! the hold, so upgraded connections stay bounded by `max_connections`, counted in the
//! active-connection gauges and waited for by the drain. When the stream goes, a close
//! action registered on its [`ClientIo`] runs (the WebSocket's access line).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::session::Live;

/// What runs once the client stream is dropped.
type OnClose = Box<dyn FnOnce(&ClientIo) + Send>;

/// Byte counts of a connection's client stream, and what to do when it closes.
#[derive(Default)]
pub(super) struct ClientIo {
    read: AtomicU64,
    written: AtomicU64,
    on_close: Mutex<Option<OnClose>>,
}

// === impl ClientIo ===

impl ClientIo {
    /// Bytes read from the client so far.
    pub(super) fn read(&self) -> u64 {
        self.read.load(Ordering::Acquire)
    }

    /// Bytes written to the client so far.
    pub(super) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Runs `action` when the stream is dropped (replacing an earlier one).
    pub(super) fn on_close(&self, action: impl FnOnce(&ClientIo) + Send + 'static) {
        *self.on_close.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(action));
    }
}

/// A client stream holding its connection's [`Live`].
pub(super) struct Held<T> {
    inner: T,
    io: Arc<ClientIo>,
    _live: Arc<Live>,
}

// === impl Held ===

impl<T> Held<T> {
    pub(super) fn new(inner: T, io: Arc<ClientIo>, live: Arc<Live>) -> Self {
        Self {
            inner,
            io,
            _live: live,
        }
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        let action = self
            .io
            .on_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(action) = action {
            action(&self.io);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let n = (buf.filled().len() - before) as u64;
            this.io.read.fetch_add(n, Ordering::AcqRel);
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.io.written.fetch_add(n as u64, Ordering::AcqRel);
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            this.io.written.fetch_add(n as u64, Ordering::AcqRel);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
