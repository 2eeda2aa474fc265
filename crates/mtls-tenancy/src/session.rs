//! An admitted gateway connection ([`Session`]): who it is, its hold on the tenant's
//! connection slot ([`Live`]), and the future that resolves when the registry stops admitting
//! it. Shared by the connection task and the HTTP and TCP paths.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use mtls_http_proxy::ForwardContext;
use mtls_identity::{PeerIdentity, TenantId};
use mtls_metrics::ReasonLabel;
use mtls_policy::{AdmissionRefusal, readmit};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use crate::held::ClientIo;
use crate::limiter::{ConnectionSlot, TenantLimiter};
use crate::tenancy::Tenancy;
use crate::view::View;

/// A gateway connection after its server-side TLS handshake.
pub type ServerTls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// An admitted connection: who it is and what it may use.
pub(super) struct Session {
    pub(super) tenancy: Arc<Tenancy>,
    pub(super) tenant: TenantId,
    /// The tenant's limiter when the connection was admitted (metric handles; the request
    /// rate is checked against the current view's limiter, see [`Session::limiter`]).
    pub(super) admitted: Arc<TenantLimiter>,
    /// The client certificate (its serial and validity are re-checked on registry changes).
    pub(super) identity: Arc<PeerIdentity>,
    pub(super) peer: SocketAddr,
    pub(super) idle_timeout: Duration,
    pub(super) dial_timeout: Duration,
    pub(super) forward: ForwardContext,
    /// Byte counts of the client stream (HTTP connections), read by the access line of an
    /// upgraded (WebSocket) request.
    pub(super) client_io: Arc<ClientIo>,
    /// CONNECT tunnels open on this connection (HTTP/2 multiplexes them).
    pub(super) tunnels: AtomicUsize,
}

// === impl Session ===

impl Session {
    pub(super) fn listener(&self) -> &str {
        &self.tenancy.listener
    }

    /// The tenant's limiter in `view` (the one of admission if the tenant has left it: the
    /// connection is about to be closed then).
    pub(super) fn limiter<'a>(&'a self, view: &'a View) -> &'a TenantLimiter {
        view.limiters.get(&self.tenant).unwrap_or(&self.admitted)
    }

    /// Resolves when a newer registry snapshot refuses this connection's tenant or
    /// certificate ([`readmit`]), or when the certificate expires (at its notAfter, whatever
    /// the registry does meanwhile).
    pub(super) fn until_refused(&self) -> impl Future<Output = AdmissionRefusal> + Send + 'static {
        until_refused(
            self.tenancy.view.subscribe(),
            self.tenant.clone(),
            self.identity.clone(),
        )
    }
}

async fn until_refused(
    mut rx: watch::Receiver<Arc<View>>,
    tenant: TenantId,
    identity: Arc<PeerIdentity>,
) -> AdmissionRefusal {
    loop {
        // Check the current view before waiting: a snapshot published between the admission
        // and this subscription is already "seen" by the new receiver, and would otherwise
        // not be checked until the next registry change.
        let view = rx.borrow_and_update().clone();
        if let Err(refusal) = readmit(
            view.snapshot(),
            &tenant,
            &identity,
            OffsetDateTime::now_utc(),
        ) {
            return refusal;
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    // The gateway is going away; the connection ends with the process (or
                    // when its certificate expires, if that comes first).
                    past(identity.not_after).await;
                    return AdmissionRefusal::CertificateExpired;
                }
            }
            // Loop: readmit refuses it now (certificate_expired).
            () = past(identity.not_after) => {}
        }
    }
}

/// Resolves once the wall clock is past `not_after` (certificate validity is wall time),
/// re-checking on every wake-up so that a clock step cannot end it early.
async fn past(not_after: OffsetDateTime) {
    loop {
        let left = not_after - OffsetDateTime::now_utc();
        if left.is_negative() {
            return;
        }
        tokio::time::sleep(left.unsigned_abs() + Duration::from_millis(1)).await;
    }
}

/// What the runtime holds for one accepted connection (its listener's `max_connections`
/// slot, the drain guard, `mtlsd_active_connections`), opaque here. [`handle`](crate::handle)
/// keeps it until the connection and everything that outlives its task (an upgraded HTTP/1
/// stream, a CONNECT tunnel) are gone, then drops it.
pub type ListenerHold = Box<dyn Send + Sync + 'static>;

/// An admitted connection's hold on everything it counts against: the tenant's slot and
/// active-connections gauge, and the listener's [`ListenerHold`]. Shared by the connection
/// task and, for HTTP, the client stream ([`crate::held::Held`]), which an upgraded
/// connection (WebSocket, HTTP/1.1 CONNECT tunnel) takes into a task of its own: all of it
/// is released when the last holder goes, so a tunnel stays bounded and drained.
pub(super) struct Live {
    session: Arc<Session>,
    _slot: ConnectionSlot,
    _listener: ListenerHold,
    started: Instant,
    reported: AtomicBool,
}

// === impl Live ===

impl Live {
    pub(super) fn new(session: Arc<Session>, slot: ConnectionSlot, listener: ListenerHold) -> Self {
        session.admitted.metrics.active().inc();
        Self {
            session,
            _slot: slot,
            _listener: listener,
            started: Instant::now(),
            reported: AtomicBool::new(false),
        }
    }

    /// Counts and logs the closing of the connection because it is no longer admitted: the
    /// registry refuses it now, or its certificate expired (once, whoever notices first).
    pub(super) fn closed(&self, refusal: AdmissionRefusal) {
        if self.reported.swap(true, Ordering::AcqRel) {
            return;
        }
        let session = &self.session;
        let tenancy = &session.tenancy;
        tenancy
            .metrics
            .tenant_connections_closed
            .get_or_create(&ReasonLabel {
                listener: tenancy.listener.clone(),
                reason: refusal.as_str(),
            })
            .inc();
        let duration_ms = self.started.elapsed().as_millis() as u64;
        if matches!(refusal, AdmissionRefusal::CertificateExpired) {
            warn!(
                listener = %tenancy.listener, peer = %session.peer, tenant = %session.tenant,
                serial = %session.identity.serial, reason = refusal.as_str(), duration_ms,
                "closing live connection: the client certificate expired"
            );
        } else {
            warn!(
                listener = %tenancy.listener, peer = %session.peer, tenant = %session.tenant,
                serial = %session.identity.serial, reason = refusal.as_str(), duration_ms,
                "closing live connection: the registry no longer admits it"
            );
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.session.admitted.metrics.active().dec();
    }
}
