//! The HTTP/2 connection preface on a connection that negotiated `h2` by ALPN.
//!
//! hyper-util's automatic server sniffs the first bytes to choose HTTP/1 or HTTP/2, so a
//! client that negotiated `h2` and then wrote `GET / HTTP/1.1` was answered in HTTP/1
//! (`400 Bad Request`), and hyper's HTTP/2 server, given a wrong preface, closes after its
//! SETTINGS without a GOAWAY. RFC 9113 section 3.4 says an invalid preface is a connection
//! error of type PROTOCOL_ERROR, and ALPN fixed the protocol before the first byte: so
//! [`expect_h2_preface`] reads the 24-byte preface itself and, on the first byte that
//! differs, answers with the server preface (an empty SETTINGS frame) and a GOAWAY
//! (`PROTOCOL_ERROR`, last stream 0) and closes. A good preface is handed back, replayed,
//! in a [`PrefacedIo`], so the HTTP server reads the connection exactly as it arrived.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The client connection preface of RFC 9113 section 3.4.
pub const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The debug data of the GOAWAY sent for a bad preface.
const BAD_PREFACE_DEBUG: &[u8] = b"invalid HTTP/2 connection preface";

/// HTTP/2 frame types and the error code used here (RFC 9113 sections 6 and 7).
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_GOAWAY: u8 = 0x7;
const PROTOCOL_ERROR: u32 = 0x1;

/// Why a connection that negotiated `h2` was not served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrefaceError {
    /// The client sent something else than the preface (answered with GOAWAY).
    #[error("client negotiated h2 but sent {got:?} instead of the HTTP/2 connection preface")]
    Invalid {
        /// What it sent up to and including the first wrong byte, lossily decoded.
        got: String,
    },
    /// The client closed the connection before completing the preface.
    #[error("client closed the connection before completing the HTTP/2 connection preface")]
    Closed,
    /// The preface did not arrive in time.
    #[error("no HTTP/2 connection preface within {0:?}")]
    Timeout(Duration),
    /// Reading the preface failed.
    #[error("reading the HTTP/2 connection preface failed")]
    Io(#[source] io::Error),
}

/// The bytes sent to a client whose preface is wrong: an empty SETTINGS frame (the server
/// preface, which must come first) and a GOAWAY with last stream id 0, `PROTOCOL_ERROR`
/// and a short debug text.
pub fn bad_preface_reply() -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 9 + 8 + BAD_PREFACE_DEBUG.len());
    push_frame_header(&mut out, 0, FRAME_SETTINGS);
    let payload_len = 8 + BAD_PREFACE_DEBUG.len();
    push_frame_header(&mut out, payload_len, FRAME_GOAWAY);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&PROTOCOL_ERROR.to_be_bytes());
    out.extend_from_slice(BAD_PREFACE_DEBUG);
    out
}

/// A 9-byte frame header: 24-bit length, type, no flags, stream 0.
fn push_frame_header(out: &mut Vec<u8>, len: usize, kind: u8) {
    let len = u32::try_from(len).unwrap_or(0).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(0);
    out.extend_from_slice(&0u32.to_be_bytes());
}

/// Reads the HTTP/2 connection preface from `io` within `timeout`.
///
/// On success the returned [`PrefacedIo`] replays the preface before the rest of the
/// stream. At the first byte that differs from the preface it writes
/// [`bad_preface_reply`], shuts the stream down and returns [`PrefaceError::Invalid`]
/// (without waiting for all 24 bytes: `GET / HTTP/1.1\r\n\r\n` is refused at the `G`).
pub async fn expect_h2_preface<T>(
    mut io: T,
    timeout: Duration,
) -> Result<PrefacedIo<T>, PrefaceError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let read = tokio::time::timeout(timeout, read_preface(&mut io)).await;
    match read {
        Err(_elapsed) => Err(PrefaceError::Timeout(timeout)),
        Ok(Err(error)) => Err(error),
        Ok(Ok(None)) => Ok(PrefacedIo {
            inner: io,
            replayed: 0,
        }),
        Ok(Ok(Some(got))) => {
            // The client may be gone already; the refusal stands either way.
            let _ = tokio::time::timeout(timeout, async {
                io.write_all(&bad_preface_reply()).await?;
                io.flush().await?;
                io.shutdown().await
            })
            .await;
            Err(PrefaceError::Invalid {
                got: String::from_utf8_lossy(&got).into_owned(),
            })
        }
    }
}

/// Reads until the preface is complete (`None`) or a byte differs (`Some(bytes so far)`).
async fn read_preface<T: AsyncRead + Unpin>(io: &mut T) -> Result<Option<Vec<u8>>, PrefaceError> {
    let mut got = [0u8; H2_PREFACE.len()];
    let mut pos = 0;
    while pos < got.len() {
        let n = io.read(&mut got[pos..]).await.map_err(PrefaceError::Io)?;
        if n == 0 {
            return Err(PrefaceError::Closed);
        }
        if let Some(wrong) = (pos..pos + n).find(|&i| got[i] != H2_PREFACE[i]) {
            return Ok(Some(got[..=wrong].to_vec()));
        }
        pos += n;
    }
    Ok(None)
}

/// A stream whose first bytes are the HTTP/2 preface [`expect_h2_preface`] already read
/// (replayed from the constant), or a plain pass-through ([`PrefacedIo::passthrough`]).
#[derive(Debug)]
pub struct PrefacedIo<T> {
    inner: T,
    /// How much of [`H2_PREFACE`] has been handed out again.
    replayed: usize,
}

// === impl PrefacedIo ===

impl<T> PrefacedIo<T> {
    /// Wraps a stream that nothing was read from (an HTTP/1 connection).
    pub fn passthrough(inner: T) -> Self {
        Self {
            inner,
            replayed: H2_PREFACE.len(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefacedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < H2_PREFACE.len() {
            let rest = &H2_PREFACE[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefacedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn reply_is_settings_then_goaway_protocol_error() {
        let reply = bad_preface_reply();
        assert_eq!(&reply[..9], &[0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);
        let goaway = &reply[9..];
        let len = usize::from(goaway[1]) << 8 | usize::from(goaway[2]);
        assert_eq!((goaway[0], goaway[3], goaway[4]), (0, FRAME_GOAWAY, 0));
        assert_eq!(&goaway[5..9], &[0, 0, 0, 0]);
        assert_eq!(goaway.len(), 9 + len);
        assert_eq!(&goaway[9..13], &[0, 0, 0, 0], "last stream id");
        assert_eq!(&goaway[13..17], &PROTOCOL_ERROR.to_be_bytes());
        assert_eq!(&goaway[17..], BAD_PREFACE_DEBUG);
    }

    #[tokio::test]
    async fn a_good_preface_is_replayed_in_pieces() {
        let (mut client, server) = duplex(64);
        client.write_all(&H2_PREFACE[..5]).await.unwrap();
        let task = tokio::spawn(expect_h2_preface(server, WAIT));
        client.write_all(&H2_PREFACE[5..]).await.unwrap();
        client.write_all(b"rest").await.unwrap();
        drop(client);
        let mut io = task.await.unwrap().unwrap();
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(&all[..24], H2_PREFACE);
        assert_eq!(&all[24..], b"rest");
    }

    #[tokio::test]
    async fn an_http1_request_line_gets_goaway_at_once() {
        let (mut client, server) = duplex(256);
        // Only 18 bytes: the refusal must not wait for 24.
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let refused = expect_h2_preface(server, WAIT).await.unwrap_err();
        assert!(
            matches!(&refused, PrefaceError::Invalid { got } if got == "G"),
            "{refused}"
        );
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, bad_preface_reply());
    }

    #[tokio::test]
    async fn silence_and_hang_ups_are_errors() {
        let (_client, server) = duplex(64);
        let short = Duration::from_millis(50);
        assert!(matches!(
            expect_h2_preface(server, short).await,
            Err(PrefaceError::Timeout(_))
        ));
        let (mut client, server) = duplex(64);
        client.write_all(&H2_PREFACE[..3]).await.unwrap();
        drop(client);
        assert!(matches!(
            expect_h2_preface(server, WAIT).await,
            Err(PrefaceError::Closed)
        ));
    }

    #[tokio::test]
    async fn passthrough_reads_the_stream_as_is() {
        let (mut client, server) = duplex(64);
        client.write_all(b"GET /").await.unwrap();
        drop(client);
        let mut io = PrefacedIo::passthrough(server);
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET /");
    }
}
