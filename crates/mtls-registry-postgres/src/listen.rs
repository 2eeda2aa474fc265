//! Change notifications: every committed change that moves the registry's version sends
//! `NOTIFY mtls_registry, '<version>'` inside its transaction (so PostgreSQL delivers it at
//! commit, and never for a transaction rolled back). A [`ChangeListener`] holds one
//! connection that `LISTEN`s on that channel and tells its callback, so that a gateway
//! rebuilds its view milliseconds after another replica, `tenantctl` or the control API
//! committed, instead of at its next poll.
//!
//! Notifications are hints, like the SQLite backend's file events: the gateway still polls
//! the version and reads the changes itself, so a notification lost while the connection
//! was down costs at most one poll interval. After every (re)connection the listener
//! reports [`ListenEvent::Connected`], which the gateway treats as "look now" (changes
//! committed while it was not listening are caught up at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mtls_registry::RegistryError;
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use crate::error::describe;
use crate::store::redacted;
use crate::tls::Connection;

/// The channel changes are announced on; the payload is the new registry version.
pub const CHANNEL: &str = "mtls_registry";

/// How long the listener waits for a notification before it checks whether it should stop.
const WAKE_INTERVAL: Duration = Duration::from_millis(200);
/// How often an idle connection is checked (`SELECT 1`): a server that vanished without
/// closing the socket is noticed within this, plus the check's own timeout.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection backoff: doubles from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// What a [`ChangeListener`] reports to its callback (from its own thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenEvent {
    /// The registry moved to this version (a committed change).
    Changed(u64),
    /// Listening (again): changes committed meanwhile were not announced, so look now.
    Connected,
    /// The connection failed or could not be made; the listener retries with backoff.
    /// The text is the client's error, with no password in it.
    Lost(String),
}

/// A thread that `LISTEN`s for registry changes and reports them, reconnecting on its own
/// until dropped.
///
/// ```no_run
/// use mtls_registry_postgres::{ChangeListener, ListenEvent};
///
/// let listener = ChangeListener::start("postgres://mtls@db.internal/registry", |event| {
///     if let ListenEvent::Changed(version) = event {
///         println!("registry now at version {version}");
///     }
/// })?;
/// // ... dropping `listener` stops the thread.
/// # drop(listener);
/// # Ok::<(), mtls_registry::RegistryError>(())
/// ```
pub struct ChangeListener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    location: String,
}

// === impl ChangeListener ===

impl ChangeListener {
    /// Starts listening on the database at `url`. Fails only when `url` does not parse (or
    /// the thread cannot be spawned); an unreachable server is reported as
    /// [`ListenEvent::Lost`] and retried.
    pub fn start(
        url: &str,
        on_event: impl Fn(ListenEvent) + Send + 'static,
    ) -> Result<Self, RegistryError> {
        let connection = crate::tls::prepare(url)?;
        let location = redacted(&connection.config);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("registry-listen".into())
            .spawn({
                let stop = stop.clone();
                move || run(&connection, &stop, &on_event)
            })
            .map_err(|e| RegistryError::Database {
                operation: "start the change listener",
                source: Box::new(e),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            location,
        })
    }

    /// The database listened to, without the password.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl Drop for ChangeListener {
    /// Stops the thread (within 200 ms, or the timeout of a connection attempt under way).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The listener thread: connect, listen, report; on failure wait and start over.
fn run(connection: &Connection, stop: &AtomicBool, on_event: &dyn Fn(ListenEvent)) {
    let mut backoff = BACKOFF.0;
    while !stop.load(Ordering::Relaxed) {
        let error = match connect(connection) {
            Ok(mut client) => {
                backoff = BACKOFF.0;
                on_event(ListenEvent::Connected);
                match listen(&mut client, stop, on_event) {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        on_event(ListenEvent::Lost(error));
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

fn connect(connection: &Connection) -> Result<Client, String> {
    let mut client = connection
        .config
        .connect(connection.tls.clone())
        .map_err(|e| describe(&e))?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| describe(&e))?;
    Ok(client)
}

/// Reports notifications until `stop` (`Ok`) or the connection fails (`Err`).
fn listen(
    client: &mut Client,
    stop: &AtomicBool,
    on_event: &dyn Fn(ListenEvent),
) -> Result<(), String> {
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut latest = None;
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(WAKE_INTERVAL);
            while let Some(n) = iter.next().map_err(|e| describe(&e))? {
                if n.channel() == CHANNEL
                    && let Ok(version) = n.payload().parse::<u64>()
                {
                    latest = latest.max(Some(version));
                }
                // A burst is reported once, with its newest version.
                if iter.size_hint().0 == 0 {
                    break;
                }
            }
        }
        if let Some(version) = latest {
            on_event(ListenEvent::Changed(version));
        }
        // `None` from the iterator also means "disconnected".
        if client.is_closed() {
            return Err("the connection was closed".to_owned());
        }
        if checked.elapsed() >= CHECK_INTERVAL {
            client.is_valid(CHECK_TIMEOUT).map_err(|e| describe(&e))?;
            checked = Instant::now();
        }
    }
    Ok(())
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(WAKE_INTERVAL));
    }
}
