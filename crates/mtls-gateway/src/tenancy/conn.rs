//! One gateway connection after its TLS handshake: admission, limits, protocol choice, and
//! closing it when the registry stops admitting it.

use std::future::pending;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtls_http_proxy::{ForwardContext, ForwardedClientCert};
use mtls_identity::{PeerIdentity, Serial, TenantId};
use mtls_registry::Refusal;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::limiter::{ConnectionSlot, TenantLimiter};
use super::{Tenancy, View, http, tcp};
use crate::handles::Limit;
use crate::metrics::ReasonLabel;
use crate::state::ListenerState;
use mtls_config::GatewayProtocol;

pub(crate) type ServerTls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// An admitted connection: who it is and what it may use.
pub(super) struct Session {
    pub(super) tenancy: Arc<Tenancy>,
    pub(super) tenant: TenantId,
    /// The tenant's limiter when the connection was admitted (metric handles; the request
    /// rate is checked against the current view's limiter, see [`Session::limiter`]).
    pub(super) admitted: Arc<TenantLimiter>,
    pub(super) serial: Serial,
    pub(super) peer: SocketAddr,
    pub(super) idle_timeout: Duration,
    pub(super) dial_timeout: Duration,
    pub(super) forward: ForwardContext,
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

    /// Resolves when a newer registry snapshot refuses this connection's tenant or serial.
    pub(super) fn until_refused(&self) -> impl Future<Output = Refusal> + Send + 'static {
        until_refused(
            self.tenancy.view.subscribe(),
            self.tenant.clone(),
            self.serial.clone(),
        )
    }
}

async fn until_refused(
    mut rx: watch::Receiver<Arc<View>>,
    tenant: TenantId,
    serial: Serial,
) -> Refusal {
    loop {
        // Check the current view before waiting: a snapshot published between the admission
        // and this subscription is already "seen" by the new receiver, and would otherwise
        // not be checked until the next registry change.
        let view = rx.borrow_and_update().clone();
        if let Err(refusal) = view.snapshot.admit(&tenant, &serial) {
            return refusal;
        }
        if rx.changed().await.is_err() {
            // The gateway is going away; the connection ends with the process.
            return pending().await;
        }
    }
}

/// Serves one gateway connection whose handshake (fresh or resumed) just completed.
pub(crate) async fn handle(state: &ListenerState, tls: ServerTls, peer: SocketAddr) {
    let Some(tenancy) = state.tenancy.clone() else {
        return;
    };
    // Subscribe before reading the view: a change after admission must not be missed.
    let mut changes = tenancy.view.subscribe();
    let view = changes.borrow_and_update().clone();
    drop(changes);
    let refuse = |reason: &'static str, tenant: &str, serial: &str, detail: &str| {
        tenancy
            .metrics
            .tenant_refusals
            .get_or_create(&ReasonLabel {
                listener: tenancy.listener.clone(),
                reason,
            })
            .inc();
        warn!(listener = %tenancy.listener, %peer, tenant, serial, reason, detail, registry_version = view.snapshot.version(), "connection refused");
    };

    let Some(der) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .cloned()
    else {
        refuse("no_tenant", "", "", "no client certificate");
        return;
    };
    let identity = match PeerIdentity::from_der(&der, Some(view.snapshot.trust_domain())) {
        Ok(id) => id,
        Err(e) => {
            refuse("no_tenant", "", "", &e.to_string());
            return;
        }
    };
    let Some(tenant) = identity.tenant.clone() else {
        let detail = format!(
            "no URI SAN spiffe://{}/tenant/<id> in the certificate (URIs: {:?})",
            view.snapshot.trust_domain(),
            identity.uris
        );
        refuse("no_tenant", "", &identity.serial.to_string(), &detail);
        return;
    };
    let serial = identity.serial.clone();
    // Every tenant of the snapshot has a limiter in the view.
    let admitted = view.snapshot.admit(&tenant, &serial).and_then(|_| {
        view.limiters
            .get(&tenant)
            .cloned()
            .ok_or(Refusal::UnknownTenant)
    });
    let limiter = match admitted {
        Ok(limiter) => limiter,
        Err(refusal) => {
            refuse(
                refusal.as_str(),
                tenant.as_str(),
                &serial.to_string(),
                &refusal.to_string(),
            );
            return;
        }
    };
    let uri = identity.uris.first().map(String::as_str);
    let client_cert = match ForwardedClientCert::from_der(&der, uri) {
        Ok(c) => c,
        Err(e) => {
            refuse(
                "no_tenant",
                tenant.as_str(),
                &serial.to_string(),
                &e.to_string(),
            );
            return;
        }
    };
    let session = Arc::new(Session {
        tenancy: tenancy.clone(),
        forward: ForwardContext {
            tenant: tenant.clone(),
            client_ip: peer.ip(),
            client_cert,
        },
        tenant,
        admitted: limiter,
        serial,
        peer,
        idle_timeout: state.config.limits.idle_timeout,
        dial_timeout: state.config.limits.dial_timeout,
    });
    let slot: ConnectionSlot = match session.admitted.connect() {
        Ok(slot) => slot,
        Err(open) => {
            session.admitted.metrics.limited(Limit::MaxConnections);
            refuse(
                "max_connections",
                session.tenant.as_str(),
                &session.serial.to_string(),
                &format!(
                    "the tenant already has {open} of at most {} connections open",
                    session
                        .admitted
                        .limits()
                        .max_connections
                        .unwrap_or_default()
                ),
            );
            return;
        }
    };

    let (alpn_http, sni) = {
        let conn = tls.get_ref().1;
        (
            matches!(conn.alpn_protocol(), Some(b"h2" | b"http/1.1")),
            conn.server_name().map(str::to_owned),
        )
    };
    let use_tcp = match tenancy.settings.protocol {
        GatewayProtocol::Tcp => true,
        GatewayProtocol::Http => false,
        _ => {
            !alpn_http
                && sni
                    .as_deref()
                    .is_some_and(|s| view.table.match_tcp(&session.tenant, s).is_ok())
        }
    };
    info!(
        listener = %tenancy.listener, %peer, tenant = %session.tenant, serial = %session.serial,
        sni = sni.as_deref().unwrap_or(""), protocol = if use_tcp { "tcp" } else { "http" },
        "tenant connection admitted"
    );
    let live = Arc::new(Live::new(session.clone(), slot));
    let closed = session.until_refused();
    tokio::select! {
        _ = async {
            if use_tcp {
                tcp::serve(&session, tls, view, sni.as_deref()).await;
            } else {
                http::serve(session.clone(), tls, live.clone()).await;
            }
        } => {}
        refusal = closed => live.closed(refusal),
    }
}

/// An admitted connection's hold on its tenant's slot and active-connections gauge, shared
/// by the connection task and, for HTTP, the client stream (which an upgraded connection
/// takes into a task of its own): both are released when the last holder goes.
pub(super) struct Live {
    session: Arc<Session>,
    _slot: ConnectionSlot,
    started: Instant,
    reported: AtomicBool,
}

// === impl Live ===

impl Live {
    fn new(session: Arc<Session>, slot: ConnectionSlot) -> Self {
        session.admitted.metrics.active().inc();
        Self {
            session,
            _slot: slot,
            started: Instant::now(),
            reported: AtomicBool::new(false),
        }
    }

    /// Counts and logs the closing of the connection because the registry refuses it now
    /// (once, whoever notices first).
    pub(super) fn closed(&self, refusal: Refusal) {
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
        warn!(
            listener = %tenancy.listener, peer = %session.peer, tenant = %session.tenant,
            serial = %session.serial, reason = refusal.as_str(),
            duration_ms = self.started.elapsed().as_millis() as u64,
            "closing live connection: the registry no longer admits it"
        );
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.session.admitted.metrics.active().dec();
    }
}
