//! The backend's response bodies, one type for all routes (no boxing per response).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Bytes per frame of a `GET /bytes/N` body.
pub(super) const CHUNK_BYTES: usize = 64 * 1024;

/// The one buffer every `GET /bytes/N` body is cut from.
static CHUNK: [u8; CHUNK_BYTES] = [b'x'; CHUNK_BYTES];

/// A response body of the backend.
#[derive(Debug)]
pub(super) enum Reply {
    /// `remaining` bytes from the static buffer.
    Repeat {
        /// Bytes still to send.
        remaining: u64,
    },
    /// One fixed piece (taken when sent).
    Once(Option<Bytes>),
    /// The request's own body (`POST /echo`).
    Echo(Incoming),
}

// === impl Reply ===

impl Reply {
    /// A small fixed body.
    pub(super) fn text(text: &'static str) -> Self {
        Self::Once(Some(Bytes::from_static(text.as_bytes())))
    }
}

impl Body for Reply {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Repeat { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = usize::try_from(*remaining).map_or(CHUNK_BYTES, |r| r.min(CHUNK_BYTES));
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
            }
            Self::Once(piece) => Poll::Ready(piece.take().map(|b| Ok(Frame::data(b)))),
            Self::Echo(incoming) => Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Repeat { remaining } => *remaining == 0,
            Self::Once(piece) => piece.is_none(),
            Self::Echo(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Repeat { remaining } => SizeHint::with_exact(*remaining),
            Self::Once(piece) => SizeHint::with_exact(piece.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Echo(incoming) => incoming.size_hint(),
        }
    }
}
