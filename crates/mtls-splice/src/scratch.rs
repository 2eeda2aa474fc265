//! The scratch buffer of a worker thread: where a splice direction reads into while it owns
//! no buffer of its own (see [`crate::pump`]).
//!
//! One buffer per thread, grown to the largest read size asked for and kept for the
//! thread's life, so a thread running thousands of idle splices holds one buffer, not two
//! per connection. It is taken only for the length of one read-then-write inside a poll,
//! never across an `.await`.

use std::cell::Cell;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with a buffer of exactly `size` bytes: the thread's scratch buffer, taken out of
/// its slot for the call and put back after. A call nested in `f` on the same thread (a
/// stream polled inside another splice's read) finds the slot empty and works on a buffer
/// of its own, as does a call while the thread is shutting down.
pub(crate) fn with<T>(size: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    let mut buf = SCRATCH.try_with(Cell::take).unwrap_or_default();
    if buf.len() < size {
        buf.resize(size, 0);
    }
    let out = f(&mut buf[..size]);
    // Keep the larger of this buffer and whatever a nested call may have left.
    let _ = SCRATCH.try_with(|slot| {
        let other = slot.take();
        slot.set(if other.len() > buf.len() { other } else { buf });
    });
    out
}
