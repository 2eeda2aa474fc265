//! One direction of a splice: read, write it out, propagate end-of-stream.
//!
//! A direction owns no buffer while it waits. A read goes into the worker thread's scratch
//! buffer ([`crate::scratch`], one per thread, shared by every splice polled on it) and is
//! written out from there at once; only the bytes the writer does not take right away are
//! copied into a buffer of the direction's own, the *spill*. While a spill exists (the
//! writer is pushing back) reads go straight into it, so a busy direction copies nothing
//! twice; once the reader has nothing more and the spill is empty, the spill is freed. An
//! idle spliced connection therefore holds no splice buffer at all.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Operation;
use crate::scratch;

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

/// Bytes read but not yet taken by the writer, in a buffer of the direction's own.
struct Spill {
    buf: Box<[u8]>,
    /// Start of the unwritten bytes in `buf`.
    pos: usize,
    /// End of the unwritten bytes in `buf`.
    filled: usize,
}

/// What one read did.
enum Read {
    /// `n > 0` bytes arrived.
    Bytes(usize),
    /// End-of-stream.
    Eof,
    /// Nothing to read now; the reader's waker is registered.
    Pending,
}

/// The state of one direction.
///
/// Lifecycle: reading (each chunk written out as it arrives) → reader EOF → flushing and
/// shutting down the writer → done. See the [module docs](self) for where bytes wait.
pub(crate) struct Pump {
    /// The largest read, and the size of a spill.
    size: usize,
    spill: Option<Spill>,
    read_eof: bool,
    need_flush: bool,
    done: bool,
    bytes: u64,
}

// === impl Spill ===

impl Spill {
    /// A spill of `size` bytes holding a copy of `pending`.
    fn holding(size: usize, pending: &[u8]) -> Self {
        let mut buf = vec![0; size.max(pending.len())].into_boxed_slice();
        buf[..pending.len()].copy_from_slice(pending);
        Self {
            buf,
            pos: 0,
            filled: pending.len(),
        }
    }
}

// === impl Pump ===

impl Pump {
    /// A direction whose reads are at most `size` bytes. Nothing is allocated.
    pub(crate) fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            spill: None,
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

    /// Whether this direction holds a buffer of its own right now (bytes the writer has
    /// not taken yet, or a reader still delivering while the writer pushes back).
    #[cfg(test)]
    pub(crate) fn holds_buffer(&self) -> bool {
        self.spill.is_some()
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
            if let Some(spill) = &mut self.spill {
                let written = write_all(cx, writer, &spill.buf[spill.pos..spill.filled]);
                spill.pos += written.bytes;
                if note_written(&mut self.bytes, &mut self.need_flush, written.bytes) {
                    progress = Progress::Moved;
                }
                match written.stop {
                    Stop::Done => {
                        spill.pos = 0;
                        spill.filled = 0;
                    }
                    Stop::Pending => return Ok(progress),
                    Stop::Failed(e) => return Err((End::Writer, Operation::Write, e)),
                }
            }

            if self.read_eof {
                // Flush, then shut the writer down so the peer sees end-of-stream too.
                self.spill = None;
                return match Pin::new(&mut *writer).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => {
                        self.done = true;
                        Ok(Progress::Moved)
                    }
                    Poll::Ready(Err(e)) => Err((End::Writer, Operation::Shutdown, e)),
                    Poll::Pending => Ok(progress),
                };
            }

            let read = match &mut self.spill {
                // The writer pushed back lately: read straight into the spill, which the
                // next turn of the loop drains.
                Some(spill) => read_into(cx, reader, &mut spill.buf).map(|read| {
                    if let Read::Bytes(n) = read {
                        spill.filled = n;
                    }
                    read
                }),
                None => self.read_through_scratch(cx, reader, writer)?,
            };
            match read {
                Ok(Read::Bytes(_)) => progress = Progress::Moved,
                Ok(Read::Eof) => {
                    self.read_eof = true;
                    progress = Progress::Moved;
                }
                Ok(Read::Pending) => {
                    // The reader is dry and we hold nothing: give the spill back.
                    self.spill = None;
                    // Make sure what we wrote leaves buffered writers (TLS records) instead
                    // of waiting for the next chunk.
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
                Err(e) => return Err((End::Reader, Operation::Read, e)),
            }
        }
    }

    /// Reads into the thread's scratch buffer and writes what arrived out at once; what
    /// the writer does not take goes into a new spill. The outer `Err` is a write error.
    fn read_through_scratch<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Result<io::Result<Read>, PumpError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let size = self.size;
        scratch::with(size, |buf| {
            let n = match read_into(cx, reader, buf) {
                Ok(Read::Bytes(n)) => n,
                other => return Ok(other),
            };
            let written = write_all(cx, writer, &buf[..n]);
            // Reading counts as progress already.
            note_written(&mut self.bytes, &mut self.need_flush, written.bytes);
            match written.stop {
                Stop::Done => {}
                Stop::Pending => {
                    self.spill = Some(Spill::holding(size, &buf[written.bytes..n]));
                }
                Stop::Failed(e) => return Err((End::Writer, Operation::Write, e)),
            }
            Ok(Ok(Read::Bytes(n)))
        })
    }
}

/// Counts `n` written bytes (which then need a flush); true if there were any.
fn note_written(bytes: &mut u64, need_flush: &mut bool, n: usize) -> bool {
    if n > 0 {
        *bytes += n as u64;
        *need_flush = true;
    }
    n > 0
}

/// One read into `buf`.
fn read_into<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    reader: &mut R,
    buf: &mut [u8],
) -> io::Result<Read> {
    let mut rb = ReadBuf::new(buf);
    match Pin::new(reader).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Ok(match rb.filled().len() {
            0 => Read::Eof,
            n => Read::Bytes(n),
        }),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Ok(Read::Pending),
    }
}

/// How far a [`write_all`] got.
struct Written {
    /// Bytes the writer took.
    bytes: usize,
    /// Why it stopped.
    stop: Stop,
}

/// Why a [`write_all`] stopped.
enum Stop {
    /// Every byte was taken.
    Done,
    /// The writer is not ready for more (its waker is registered).
    Pending,
    /// The writer failed (after taking [`Written::bytes`]).
    Failed(io::Error),
}

/// Writes `bytes` until they are all taken, the writer is not ready, or it fails.
fn write_all<W: AsyncWrite + Unpin>(cx: &mut Context<'_>, writer: &mut W, bytes: &[u8]) -> Written {
    let mut done = 0;
    let stop = loop {
        if done == bytes.len() {
            break Stop::Done;
        }
        match Pin::new(&mut *writer).poll_write(cx, &bytes[done..]) {
            Poll::Ready(Ok(0)) => {
                break Stop::Failed(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "write returned zero bytes",
                ));
            }
            Poll::Ready(Ok(n)) => done += n,
            Poll::Ready(Err(e)) => break Stop::Failed(e),
            Poll::Pending => break Stop::Pending,
        }
    };
    Written { bytes: done, stop }
}
