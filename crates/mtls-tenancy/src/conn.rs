//! One gateway connection after its TLS handshake: admission, limits, protocol choice, and
//! closing it when the registry stops admitting it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use mtls_config::{GatewayProtocol, ProxyLimits};
use mtls_http_proxy::{ForwardContext, ForwardedClientCert};
use mtls_identity::{PeerIdentity, TenantId};
use mtls_metrics::{Limit, ReasonLabel};
use mtls_policy::{AdmissionRefusal, admit, readmit};
use mtls_registry::Snapshot;
use time::OffsetDateTime;
use tracing::info;
use tracing::warn;

use crate::limiter::ConnectionSlot;
use crate::session::{ListenerHold, Live, ServerTls, Session};
use crate::tenancy::Tenancy;
use crate::{http, tcp};

/// Serves one connection of a gateway listener whose handshake (fresh or resumed) just
/// completed: admits it against `tenancy`'s current view (refusals are logged, counted and
/// close the connection), applies the tenant's limits, serves its HTTP requests, CONNECT
/// tunnels or TCP route, and closes it as soon as a new registry view refuses it. `limits`
/// are the listener's (`idle_timeout`, `dial_timeout`). `hold` is the runtime's hold on the
/// listener for this connection: it is kept until the connection and everything that
/// outlives its task (an upgraded HTTP/1 stream, a CONNECT tunnel) are gone. Returns when
/// the connection task is done.
///
/// `identity` is the client certificate as the runtime already parsed it after the handshake
/// (without a trust domain), if it did: admission then reads the tenant from it instead of
/// parsing the certificate again. It must be the parse of the connection's leaf certificate.
pub async fn handle(
    tenancy: Arc<Tenancy>,
    limits: &ProxyLimits,
    tls: ServerTls,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    hold: ListenerHold,
) {
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
        warn!(listener = %tenancy.listener, %peer, tenant, serial, reason, detail, registry_version = view.snapshot().version(), "connection refused");
    };

    let der: Option<&[u8]> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref());
    let now = OffsetDateTime::now_utc();
    // The decision `tenantctl explain` prints: certificate, validity now (a resumed session
    // skips the handshake's check), tenant, registry admission. An identity parsed already
    // is admitted without parsing again; anything short of admission takes `admit`'s path,
    // which words the refusal.
    let admitted = identity
        .and_then(|id| readmit_parsed(view.snapshot(), id, now))
        .map(Ok)
        .unwrap_or_else(|| {
            admit(view.snapshot(), der, now).map(|admitted| (admitted.tenant, admitted.identity))
        });
    let (tenant, identity) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => {
            let serial = refused
                .identity
                .as_ref()
                .map(|i| i.serial.to_string())
                .unwrap_or_default();
            let tenant = refused.tenant().map(TenantId::as_str).unwrap_or_default();
            refuse(refused.reason.as_str(), tenant, &serial, &refused.detail);
            return;
        }
    };
    let serial = identity.serial.to_string();
    // Every tenant of the snapshot has a limiter in the view.
    let Some(limiter) = view.limiters.get(&tenant).cloned() else {
        let refusal = AdmissionRefusal::Registry(mtls_registry::Refusal::UnknownTenant);
        refuse(
            refusal.as_str(),
            tenant.as_str(),
            &serial,
            "the tenant has no limiter",
        );
        return;
    };
    // Admitted, so there is a certificate.
    let der: &[u8] = der.unwrap_or_default();
    let uri = identity.uris.first().map(String::as_str);
    let client_cert = match ForwardedClientCert::from_der(der, uri) {
        Ok(c) => c,
        Err(e) => {
            refuse("no_tenant", tenant.as_str(), &serial, &e.to_string());
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
        identity: Arc::new(identity),
        peer,
        idle_timeout: limits.idle_timeout,
        dial_timeout: limits.dial_timeout,
        client_io: Arc::default(),
        tunnels: AtomicUsize::new(0),
    });
    // Tenants without a cap of their own get the listener's default one.
    let default_cap = tenancy.settings.tenant_max_connections;
    let slot: ConnectionSlot = match session.admitted.connect(default_cap) {
        Ok(slot) => slot,
        Err(open) => {
            session.admitted.metrics.limited(Limit::MaxConnections);
            refuse(
                "max_connections",
                session.tenant.as_str(),
                &serial,
                &format!(
                    "the tenant already has {open} of at most {} connections open",
                    session.admitted.max_connections(default_cap)
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
                    .is_some_and(|s| view.policy.route_tcp(&session.tenant, s).is_ok())
        }
    };
    info!(
        listener = %tenancy.listener, %peer, tenant = %session.tenant, serial = %session.identity.serial,
        sni = sni.as_deref().unwrap_or(""), protocol = if use_tcp { "tcp" } else { "http" },
        "tenant connection admitted"
    );
    let live = Arc::new(Live::new(session.clone(), slot, hold));
    let closed = session.until_refused();
    tokio::select! {
        _ = async {
            if use_tcp {
                Box::pin(tcp::serve(&session, tls, view, sni.as_deref())).await;
            } else {
                Box::pin(http::serve(session.clone(), tls, live.clone())).await;
            }
        } => {}
        refusal = closed => live.closed(refusal),
    }
}

/// The tenant and identity of an admitted connection whose certificate was parsed already
/// (without a trust domain): the same checks as [`admit`] makes after its parse (validity
/// now, one tenant named under the snapshot's trust domain, the registry admits tenant and
/// serial), through [`readmit`]. `None` when any of them fails: the caller then runs
/// [`admit`], which refuses it with the full reason and detail.
fn readmit_parsed(
    snapshot: &Snapshot,
    mut identity: PeerIdentity,
    now: OffsetDateTime,
) -> Option<(TenantId, PeerIdentity)> {
    let tenant = identity.tenant_in(snapshot.trust_domain()).ok()??;
    readmit(snapshot, &tenant, &identity, now).ok()?;
    identity.tenant = Some(tenant.clone());
    Some((tenant, identity))
}
