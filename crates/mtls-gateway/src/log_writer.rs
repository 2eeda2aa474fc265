//! [`LogBuffer`]: the process's log lines gathered in one memory buffer and written out by
//! one thread, a few times a second, in one `write(2)` each time.
//!
//! Why not a queue with a thread woken per line (`tracing-appender`'s non-blocking writer,
//! used before): under a steady trickle of lines, every line woke the writer thread, which
//! spun, yielded and parked again; on a proxy pinned to one core that is two context
//! switches and a futex call per access line, about a tenth of the CPU of a full mTLS
//! handshake. Here a line is one `memcpy` into the buffer under a lock held for that copy
//! only, and the writer thread sleeps [`LogBufferSettings::flush_interval`] between
//! writes, like nginx's `access_log ... buffer= flush=`. It is woken early when
//! [`LogBufferSettings::flush_bytes`] have gathered, and at once for a WARN or ERROR line,
//! so problems reach the log without the wait.
//!
//! Bounded and lossy: when [`LogBufferSettings::max_bytes`] are waiting (the log's reader
//! is slower than the proxy), new lines are dropped whole, never cut, and counted
//! ([`LogBuffer::dropped_lines`]); a proxy never stalls on its log. Dropping the
//! [`LogBufferGuard`] writes out what is waiting and stops the thread.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How [`LogBuffer`] holds and writes lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBufferSettings {
    /// The longest a line waits in memory before it is written (unless the process is
    /// killed: then up to this much of the log is lost).
    pub flush_interval: Duration,
    /// Waiting bytes that wake the writer before the interval is over.
    pub flush_bytes: usize,
    /// Waiting bytes beyond which new lines are dropped and counted.
    pub max_bytes: usize,
}

impl Default for LogBufferSettings {
    /// 100 ms, 64 KiB, 4 MiB (about 20,000 access lines).
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(100),
            flush_bytes: 64 * 1024,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What the logging threads and the writer thread share.
struct Shared {
    settings: LogBufferSettings,
    waiting: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
    /// The writer thread, to wake it early; set once it is spawned.
    writer: std::sync::OnceLock<thread::Thread>,
}

impl Shared {
    fn waiting(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock can only have happened in a `memcpy` or a swap:
        // the buffer is whole lines either way.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }

    /// Appends one line (or drops it when the buffer is full); returns whether the writer
    /// should be woken now.
    fn push(&self, line: &[u8]) -> bool {
        let mut waiting = self.waiting();
        let before = waiting.len();
        if before.saturating_add(line.len()) > self.settings.max_bytes {
            drop(waiting);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        waiting.extend_from_slice(line);
        // Wake once, when the threshold is crossed, not on every line after it.
        before < self.settings.flush_bytes && waiting.len() >= self.settings.flush_bytes
    }
}

/// The process's log buffer: a [`MakeWriter`] for `tracing-subscriber`'s fmt layer. Cheap to
/// clone (one `Arc`).
#[derive(Clone)]
pub struct LogBuffer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBuffer")
            .field("settings", &self.shared.settings)
            .field("dropped", &self.dropped_lines())
            .finish_non_exhaustive()
    }
}

/// How long dropping the [`LogBufferGuard`] waits for the last lines to be written: a log
/// reader that stopped reading (a stuck pipe) must not keep the process from exiting.
pub const LOG_SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Keeps the writer thread running; dropping it writes out every waiting line and joins the
/// thread, waiting at most [`LOG_SHUTDOWN_WAIT`] for a sink that does not take them.
#[must_use = "dropping the guard stops the log writer: keep it for the life of the process"]
pub struct LogBufferGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the writer thread returns.
    finished: mpsc::Receiver<()>,
}

impl std::fmt::Debug for LogBufferGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBufferGuard").finish_non_exhaustive()
    }
}

impl LogBuffer {
    /// Starts the writer thread (`mtlsd-log`), which writes to `sink`.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start<W: Write + Send + 'static>(
        sink: W,
        settings: LogBufferSettings,
    ) -> io::Result<(Self, LogBufferGuard)> {
        let shared = Arc::new(Shared {
            settings,
            waiting: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            writer: std::sync::OnceLock::new(),
        });
        let (running, finished) = mpsc::channel::<()>();
        let thread = thread::Builder::new().name("mtlsd-log".into()).spawn({
            let shared = shared.clone();
            move || {
                // Dropped when the thread returns: the guard's wait ends then.
                let _running = running;
                write_out(&shared, sink);
            }
        })?;
        let _ = shared.writer.set(thread.thread().clone());
        Ok((
            Self {
                shared: shared.clone(),
            },
            LogBufferGuard {
                shared,
                thread: Some(thread),
                finished,
            },
        ))
    }

    /// Lines dropped so far because [`LogBufferSettings::max_bytes`] were waiting, or
    /// because the sink failed.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: sleeps, swaps the waiting lines out under the lock, writes them
/// without it.
fn write_out<W: Write>(shared: &Shared, mut sink: W) {
    let mut out = Vec::new();
    loop {
        // Sleep first: lines written while the thread was starting wait for the interval
        // (or a wake) like any others. A stop unparks, and an unpark given before the
        // thread parks is kept, so no stop is missed.
        if !shared.stop.load(Ordering::Acquire) {
            thread::park_timeout(shared.settings.flush_interval);
        }
        let stopping = shared.stop.load(Ordering::Acquire);
        {
            let mut waiting = shared.waiting();
            std::mem::swap(&mut *waiting, &mut out);
            // Keep a moderate allocation for the next round, not the largest burst's.
            if waiting.capacity() > shared.settings.flush_bytes.saturating_mul(4) {
                waiting.shrink_to(shared.settings.flush_bytes);
            }
        }
        if !out.is_empty() {
            if sink.write_all(&out).and_then(|()| sink.flush()).is_err() {
                let lines = out.iter().filter(|b| **b == b'\n').count().max(1);
                shared
                    .dropped
                    .fetch_add(u64::try_from(lines).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
            out.clear();
            // Nor keep the largest burst's allocation.
            if out.capacity() > shared.settings.flush_bytes.saturating_mul(4) {
                out.shrink_to(shared.settings.flush_bytes);
            }
        }
        if stopping {
            return;
        }
    }
}

impl Drop for LogBufferGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
        // Join only a thread that has returned; one stuck in a write is left behind.
        let returned = matches!(
            self.finished.recv_timeout(LOG_SHUTDOWN_WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        if let Some(thread) = self.thread.take()
            && returned
        {
            let _ = thread.join();
        }
    }
}

/// One log line's writer: the fmt layer formats a whole event, then writes it with one
/// `write_all`, which is one [`Write::write`] here.
#[derive(Debug)]
pub struct LineWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if self.shared.push(line) || self.urgent {
            self.shared.wake();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            // WARN and ERROR (the less verbose levels compare lower).
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A sink the test can read while the writer thread writes to it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
        /// Waits up to 5 s for `text` to be written; returns how long it took.
        fn wait_for(&self, text: &str) -> Duration {
            let start = Instant::now();
            while !self.text().contains(text) {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{text:?} not written within 5 s; sink has {:?}",
                    self.text()
                );
                thread::sleep(Duration::from_millis(2));
            }
            start.elapsed()
        }
    }

    fn settings(interval: Duration) -> LogBufferSettings {
        LogBufferSettings {
            flush_interval: interval,
            flush_bytes: 1024,
            max_bytes: 4096,
        }
    }

    fn line(buffer: &LogBuffer, text: &str) {
        buffer.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn lines_are_written_after_the_flush_interval() {
        let sink = Sink::default();
        let (buffer, _guard) =
            LogBuffer::start(sink.clone(), settings(Duration::from_millis(20))).unwrap();
        line(&buffer, "one\n");
        line(&buffer, "two\n");
        sink.wait_for("two\n");
        assert_eq!(sink.text(), "one\ntwo\n");
        assert_eq!(buffer.dropped_lines(), 0);
    }

    #[test]
    fn dropping_the_guard_writes_what_waits() {
        let sink = Sink::default();
        let (buffer, guard) =
            LogBuffer::start(sink.clone(), settings(Duration::from_secs(3600))).unwrap();
        line(&buffer, "last words\n");
        drop(guard);
        assert_eq!(sink.text(), "last words\n");
    }

    #[test]
    fn a_full_buffer_drops_whole_lines_and_counts_them() {
        let sink = Sink::default();
        // No early wake: only the guard's drop writes, so what fits is exact.
        let settings = LogBufferSettings {
            flush_interval: Duration::from_secs(3600),
            flush_bytes: usize::MAX,
            max_bytes: 4096,
        };
        let (buffer, guard) = LogBuffer::start(sink.clone(), settings).unwrap();
        // 100-byte lines into 4096 bytes: 40 fit, the 41st would need 4100.
        let text = format!("{}\n", "x".repeat(99));
        for _ in 0..200 {
            line(&buffer, &text);
        }
        assert_eq!(buffer.dropped_lines(), 160);
        drop(guard);
        let written = sink.text();
        assert!(written.lines().all(|l| l.len() == 99), "a line was cut");
        assert_eq!(written.lines().count(), 40);
    }

    #[test]
    fn gathered_bytes_wake_the_writer_before_the_interval() {
        let sink = Sink::default();
        let (buffer, _guard) =
            LogBuffer::start(sink.clone(), settings(Duration::from_secs(3600))).unwrap();
        // 30 lines of 100 bytes (under `max_bytes`, so none is dropped). The writer may
        // take lines at any moment (it may wake spuriously), but whenever 1024 bytes wait it
        // is woken: at rest at most 10 lines wait, so lines 0..=19 are written long before
        // the hour-long interval.
        for i in 0..30 {
            line(&buffer, &format!("{i:>99}\n"));
        }
        sink.wait_for(&format!("{:>99}\n", 19));
    }

    /// A sink whose reader stopped reading: every write blocks.
    struct StuckSink(Mutex<mpsc::Receiver<()>>);

    impl Write for StuckSink {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            let _ = self.0.lock().unwrap().recv();
            Err(io::Error::other("unblocked"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_sink_does_not_hold_up_shutdown() {
        let (_never, blocked) = mpsc::channel();
        let (buffer, guard) = LogBuffer::start(
            StuckSink(Mutex::new(blocked)),
            settings(Duration::from_millis(10)),
        )
        .unwrap();
        line(&buffer, "this line is never written\n");
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(guard);
        let waited = started.elapsed();
        assert!(
            waited >= LOG_SHUTDOWN_WAIT && waited < LOG_SHUTDOWN_WAIT * 3,
            "waited {waited:?}"
        );
    }

    #[test]
    fn a_warning_is_written_at_once() {
        use tracing_subscriber::layer::SubscriberExt;

        let sink = Sink::default();
        let (buffer, _guard) =
            LogBuffer::start(sink.clone(), settings(Duration::from_secs(3600))).unwrap();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(buffer.clone())
                .with_ansi(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("routine");
            tracing::warn!("trouble");
        });
        // Both are written (the INFO line waits in the buffer and leaves with the WARN
        // one), long before the hour-long interval.
        sink.wait_for("trouble");
        assert!(sink.text().contains("routine"));
    }
}
