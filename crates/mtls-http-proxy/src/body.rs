//! Body types: the boxed body the proxy speaks, and a body that enforces a size limit while
//! streaming.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::headers::sanitize_request_trailers;

/// The error type of [`ProxyBody`]: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request the proxy sends upstream and every response it returns.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of the given bytes (an empty body for `Bytes::new()`).
pub fn full_body(bytes: impl Into<Bytes>) -> ProxyBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> ProxyBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// `body` with its trailers (HTTP/1.1 chunked trailer section, HTTP/2 trailing HEADERS)
/// passed through [`sanitize_request_trailers`]: no identity header, or look-alike of one,
/// reaches the upstream as a trailer. Data frames pass untouched.
pub(crate) fn sanitized_trailers<B>(body: B) -> impl Body<Data = Bytes, Error = B::Error> + Unpin
where
    B: Body<Data = Bytes> + Unpin,
{
    body.map_frame(|frame| match frame.into_trailers() {
        Ok(mut trailers) => {
            sanitize_request_trailers(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    })
}

/// A request body grew past the route's limit while streaming.
#[derive(Debug, thiserror::Error)]
#[error("request body is larger than the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: u64,
}

/// Passes frames through until more than `limit` data bytes went by; then fails with
/// [`BodyTooLarge`] and fires `tripped`, so the caller can answer 413 instead of waiting for
/// the upstream to notice the aborted request.
pub(crate) struct LimitedBody<B> {
    inner: B,
    limit: u64,
    seen: u64,
    tripped: Option<oneshot::Sender<()>>,
}

// === impl LimitedBody ===

impl<B> LimitedBody<B> {
    pub(crate) fn new(inner: B, limit: u64, tripped: oneshot::Sender<()>) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            tripped: Some(tripped),
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.seen > this.limit {
            return Poll::Ready(Some(Err(BodyTooLarge { limit: this.limit }.into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        if let Some(tripped) = this.tripped.take() {
                            // The receiver may be gone (response already chosen): fine.
                            let _ = tripped.send(());
                        }
                        return Poll::Ready(Some(Err(BodyTooLarge { limit: this.limit }.into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
