//! One direction of a splice: read into a buffer, write it out, propagate end-of-stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Operation;

/// Which end of this direction failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// The stream we read from.
    Reader,
    /// The stream we write to.
    Writer,
}

/// Whether a poll moved anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Bytes were read or written, or a state change happened.
    Moved,
    /// Nothing could move; wakers are registered.
    Idle,
}

type PumpError = (End, Operation, io::Error);

/// The state of one direction.
///
/// Lifecycle: `Reading` (buffer refills and drains) → reader EOF → `Flushing`/`ShuttingDown`
/// the writer → `Done`. The buffer is allocated once in [`Pump::new`].
pub(crate) struct Pump {
    buf: Box<[u8]>,
    /// Start of the unwritten bytes in `buf`.
    pos: usize,
    /// End of the unwritten bytes in `buf`.
    filled: usize,
    read_eof: bool,
    need_flush: bool,
    done: bool,
    bytes: u64,
}

// === impl Pump ===

impl Pump {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            read_eof: false,
            need_flush: false,
            done: false,
            bytes: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes written to the writer so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Moves as much as it can without blocking. Returns `Moved` if anything happened, so the
    /// caller polls again; `Idle` means every pending operation has registered a waker.
    pub(crate) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Result<Progress, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut progress = Progress::Idle;
        loop {
            // Drain what we hold first.
            while self.pos < self.filled {
                match Pin::new(&mut *writer).poll_write(cx, &self.buf[self.pos..self.filled]) {
                    Poll::Ready(Ok(0)) => {
                        return Err((
                            End::Writer,
                            Operation::Write,
                            io::Error::new(io::ErrorKind::WriteZero, "write returned zero bytes"),
                        ));
                    }
                    Poll::Ready(Ok(n)) => {
                        self.pos += n;
                        self.bytes += n as u64;
                        self.need_flush = true;
                        progress = Progress::Moved;
                    }
                    Poll::Ready(Err(e)) => return Err((End::Writer, Operation::Write, e)),
                    Poll::Pending => return Ok(progress),
                }
            }
            self.pos = 0;
            self.filled = 0;

            if self.read_eof {
                // Flush, then shut the writer down so the peer sees end-of-stream too.
                return match Pin::new(&mut *writer).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => {
                        self.done = true;
                        Ok(Progress::Moved)
                    }
                    Poll::Ready(Err(e)) => Err((End::Writer, Operation::Shutdown, e)),
                    Poll::Pending => Ok(progress),
                };
            }

            let mut rb = ReadBuf::new(&mut self.buf);
            match Pin::new(&mut *reader).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.read_eof = true;
                    } else {
                        self.filled = n;
                    }
                    progress = Progress::Moved;
                }
                Poll::Ready(Err(e)) => return Err((End::Reader, Operation::Read, e)),
                Poll::Pending => {
                    // Nothing more to read right now: make sure what we wrote leaves buffered
                    // writers (TLS records) instead of waiting for the next chunk.
                    if self.need_flush {
                        match Pin::new(&mut *writer).poll_flush(cx) {
                            Poll::Ready(Ok(())) => self.need_flush = false,
                            Poll::Ready(Err(e)) => {
                                return Err((End::Writer, Operation::Write, e));
                            }
                            Poll::Pending => {}
                        }
                    }
                    return Ok(progress);
                }
            }
        }
    }
}
