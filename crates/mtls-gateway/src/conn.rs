//! One proxied connection: handshake(s), ACL, dial, splice, metrics and the final log line.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mtls_identity::{AclDecision, PeerIdentity, ValidityError};
use mtls_metrics::ReasonLabel;
use mtls_splice::{SpliceConfig, SpliceEnd, splice};
use rustls::{CertificateError, Error as TlsErr, HandshakeKind};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, info, warn};

use crate::admission::{ConnectionHold, Handshaking};
use crate::error::ErrorChain;
use crate::state::ListenerState;
use mtls_config::ListenerMode;

/// Names a failed handshake for `mtlsd_tls_handshake_failures_total{reason}`.
pub(crate) fn classify(err: &io::Error) -> &'static str {
    let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<TlsErr>()) else {
        return match err.kind() {
            io::ErrorKind::UnexpectedEof => "eof",
            _ => "io",
        };
    };
    match tls {
        TlsErr::NoCertificatesPresented => "no_client_cert",
        TlsErr::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "cert_expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "cert_not_yet_valid"
            }
            CertificateError::UnknownIssuer => "unknown_ca",
            CertificateError::Revoked => "cert_revoked",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "name_mismatch"
            }
            _ => "bad_certificate",
        },
        TlsErr::PeerIncompatible(p) => {
            use rustls::PeerIncompatible as P;
            match p {
                // Every TLS 1.2+ ClientHello carries signature_algorithms: a hello without it
                // comes from a TLS 1.0/1.1 client, which is what rustls trips on first.
                P::SignatureAlgorithmsExtensionRequired
                | P::Tls12NotOffered
                | P::Tls12NotOfferedOrEnabled
                | P::SupportedVersionsExtensionRequired
                | P::ServerDoesNotSupportTls12Or13
                | P::ServerTlsVersionIsDisabledByOurConfig => "protocol_version",
                _ => "incompatible",
            }
        }
        TlsErr::InvalidMessage(_) | TlsErr::InappropriateMessage { .. } => "not_tls",
        TlsErr::AlertReceived(_) => "alert_received",
        _ => "other",
    }
}

fn count_failure(state: &ListenerState, reason: &'static str) {
    state
        .metrics
        .handshake_failures
        .get_or_create(&ReasonLabel {
            listener: state.handles.name.clone(),
            reason,
        })
        .inc();
}

/// Entry point for an accepted TCP connection, in its handshake phase (`handshaking`);
/// `hold` is its hold on the listener (drain guard, active-connections gauge), which gets
/// the `max_connections` slot once the inbound handshake is done. In gateway mode the hold
/// goes to the tenant connection, and lives as long as its upgraded streams and tunnels.
pub(crate) async fn handle(
    state: Arc<ListenerState>,
    tcp: TcpStream,
    peer: SocketAddr,
    handshaking: Handshaking,
    hold: ConnectionHold,
) {
    let _ = tcp.set_nodelay(true);
    let started = hold.started();
    // Each mode's connected phase is boxed: the task spawned per connection is then sized
    // for the handshake phase, and a connection carries only its own mode's state on the
    // heap, not the largest mode's (the gateway's HTTP state is far bigger than a splice).
    match &state.config.mode {
        ListenerMode::Server { .. } => {
            if let Some((tls, id)) = accept_tls(&state, tcp, peer).await
                && let Some(_hold) = handshaking.established(hold, peer).await
                && let Some(up) = dial(&state, peer).await
            {
                Box::pin(pump(&state, tls, up, peer, id.as_ref(), started)).await;
            }
        }
        ListenerMode::Client { .. } => {
            // No inbound handshake: the connection is established as accepted.
            if let Some(_hold) = handshaking.established(hold, peer).await
                && let Some(up) = dial(&state, peer).await
                && let Some(up) = connect_tls(&state, up, peer).await
            {
                Box::pin(pump(&state, tcp, up, peer, None, started)).await;
            }
        }
        ListenerMode::Bridge { .. } => {
            if let Some((tls, id)) = accept_tls(&state, tcp, peer).await
                && let Some(_hold) = handshaking.established(hold, peer).await
                && let Some(up) = dial(&state, peer).await
                && let Some(up) = connect_tls(&state, up, peer).await
            {
                Box::pin(pump(&state, tls, up, peer, id.as_ref(), started)).await;
            }
        }
        ListenerMode::Gateway { .. } => {
            if let Some((tls, id)) = accept_tls(&state, tcp, peer).await
                && let Some(hold) = handshaking.established(hold, peer).await
                && let Some(tenancy) = state.tenancy.clone()
            {
                // The certificate was parsed once, for the ACL: admission reuses it.
                let limits = &state.config.limits;
                let serve = mtls_tenancy::handle(tenancy, limits, tls, peer, id, Box::new(hold));
                Box::pin(serve).await;
            }
        }
    }
}

type ServerTls = tokio_rustls::server::TlsStream<TcpStream>;

/// The inbound handshake and the ACL. `None` means the connection was refused (and logged).
pub(crate) async fn accept_tls(
    state: &ListenerState,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(ServerTls, Option<PeerIdentity>)> {
    let name = state.name();
    // Load the current config per handshake: a reload affects only new connections.
    let config = state.inbound.as_ref()?.load().config.clone();
    let started = Instant::now();
    let limit = state.config.limits.handshake_timeout;
    let tls = match timeout(limit, TlsAcceptor::from(config).accept(tcp)).await {
        Err(_) => {
            count_failure(state, "timeout");
            info!(listener = name, %peer, timeout = ?limit, "TLS handshake timed out");
            return None;
        }
        Ok(Err(e)) => {
            let reason = classify(&e);
            count_failure(state, reason);
            info!(listener = name, %peer, reason, error = %ErrorChain(&e), "TLS handshake failed");
            return None;
        }
        Ok(Ok(tls)) => tls,
    };
    state
        .handles
        .handshake_inbound
        .observe(started.elapsed().as_secs_f64());

    let identity = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        None => None,
        Some(der) => match PeerIdentity::from_der(der, None) {
            Ok(id) => Some(id),
            Err(e) => {
                acl_count(state, false);
                warn!(listener = name, %peer, reason = "unparseable certificate", error = %ErrorChain(&e), "connection denied");
                return None;
            }
        },
    };
    let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
    // rustls does not verify a resumed session's certificate again: check its validity
    // period now, after every handshake. (Gateway admission makes the same check and counts
    // it per tenant.)
    if !matches!(state.config.mode, ListenerMode::Gateway { .. })
        && let Some(id) = &identity
        && let Err(invalid) = id.check_validity(OffsetDateTime::now_utc())
    {
        count_failure(state, validity_label(invalid));
        let (cn, uri) = names(identity.as_ref());
        warn!(
            listener = name, %peer, peer_cn = cn, peer_uri = uri, serial = %id.serial, resumed,
            reason = invalid.as_str(), error = %invalid,
            "connection refused: the client certificate is not valid now"
        );
        return None;
    }
    let decision = match &identity {
        Some(id) => state.config.acl.evaluate(id),
        None if state.config.acl.is_empty() => AclDecision::AllowedNoRules,
        None => AclDecision::Denied,
    };
    let (cn, uri) = names(identity.as_ref());
    if decision.is_allowed() {
        acl_count(state, true);
        debug!(listener = name, %peer, peer_cn = cn, peer_uri = uri, resumed, ?decision, "connection allowed");
        Some((tls, identity))
    } else {
        acl_count(state, false);
        let reason = if identity.is_some() {
            "no ACL rule matches the certificate"
        } else {
            "no client certificate and the ACL has rules"
        };
        warn!(
            listener = name,
            %peer,
            peer_cn = cn,
            peer_uri = uri,
            peer_subject = identity.as_ref().map(|i| i.subject.as_str()).unwrap_or(""),
            reason,
            "connection denied"
        );
        None
    }
}

/// The `mtlsd_tls_handshake_failures_total` reason of a certificate outside its validity
/// period after a (resumed) handshake: the label a full handshake's verifier failure gets.
fn validity_label(invalid: ValidityError) -> &'static str {
    match invalid {
        ValidityError::NotYetValid { .. } => "cert_not_yet_valid",
        _ => "cert_expired",
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

fn acl_count(state: &ListenerState, allowed: bool) {
    let handles = &state.handles;
    if allowed {
        handles.acl_allow.inc();
    } else {
        handles.acl_deny.inc();
    }
}

fn names(id: Option<&PeerIdentity>) -> (&str, &str) {
    match id {
        Some(id) => (
            id.common_name.as_deref().unwrap_or(""),
            id.uris.first().map(String::as_str).unwrap_or(""),
        ),
        None => ("", ""),
    }
}

async fn dial(state: &ListenerState, peer: SocketAddr) -> Option<TcpStream> {
    let target = state.config.target.as_ref()?;
    let limit = state.config.limits.dial_timeout;
    let error = match timeout(
        limit,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            return Some(s);
        }
        Ok(Err(e)) => ErrorChain(&e).to_string(),
        Err(_) => format!("timed out after {limit:?}"),
    };
    state.handles.dial_errors.inc();
    warn!(listener = state.name(), %peer, %target, error, "cannot connect to target");
    None
}

async fn connect_tls(
    state: &ListenerState,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = state.name();
    let loaded = state.upstream.as_ref()?.load();
    let config = loaded.config.clone();
    let server_name = match &state.config.mode {
        ListenerMode::Client { tls } => tls.server_name.clone(),
        ListenerMode::Bridge { upstream_tls, .. } => upstream_tls.server_name.clone(),
        ListenerMode::Server { .. } | ListenerMode::Gateway { .. } => return None,
    };
    let started = Instant::now();
    let limit = state.config.limits.handshake_timeout;
    let connect = TlsConnector::from(config).connect(server_name, tcp);
    match timeout(limit, connect).await {
        Ok(Ok(s)) => {
            state
                .handles
                .handshake_upstream
                .observe(started.elapsed().as_secs_f64());
            debug!(listener = name, %peer, target = %Shown(state.config.target.as_ref()), "upstream TLS established");
            Some(s)
        }
        Ok(Err(e)) => {
            let reason = classify(&e);
            count_failure(state, reason);
            warn!(listener = name, %peer, target = %Shown(state.config.target.as_ref()), reason, error = %ErrorChain(&e), "upstream TLS handshake failed");
            None
        }
        Err(_) => {
            count_failure(state, "timeout");
            warn!(listener = name, %peer, target = %Shown(state.config.target.as_ref()), "upstream TLS handshake timed out");
            None
        }
    }
}

async fn pump<C, U>(
    state: &ListenerState,
    client: C,
    upstream: U,
    peer: SocketAddr,
    id: Option<&PeerIdentity>,
    started: Instant,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let name = state.name();
    let (cn, uri) = names(id);
    info!(listener = name, %peer, peer_cn = cn, peer_uri = uri, target = %Shown(state.config.target.as_ref()), "connection established");
    let spliced = splice(
        client,
        upstream,
        SpliceConfig::new(state.config.limits.idle_timeout),
    );
    // The connection may not outlive the client certificate: cut it at notAfter.
    let summary = match id {
        None => spliced.await,
        Some(id) => tokio::select! {
            summary = spliced => summary,
            () = past(id.not_after) => {
                expired(state, peer, id, started);
                return;
            }
        },
    };
    let handles = &state.handles;
    handles
        .bytes_client_to_upstream
        .inc_by(summary.client_to_upstream);
    handles
        .bytes_upstream_to_client
        .inc_by(summary.upstream_to_client);
    let duration_ms = started.elapsed().as_millis() as u64;
    let end = summary.end.label();
    match &summary.end {
        SpliceEnd::Error {
            side,
            operation,
            source,
        } => info!(
            listener = name, %peer, peer_cn = cn, peer_uri = uri,
            bytes_in = summary.client_to_upstream, bytes_out = summary.upstream_to_client,
            duration_ms, end, side = %side, operation = %operation, error = %ErrorChain(source),
            "connection closed"
        ),
        _ => info!(
            listener = name, %peer, peer_cn = cn, peer_uri = uri,
            bytes_in = summary.client_to_upstream, bytes_out = summary.upstream_to_client,
            duration_ms, end, "connection closed"
        ),
    }
}

/// Counts and logs a connection cut because its client certificate expired (the streams
/// were dropped with the splice).
fn expired(state: &ListenerState, peer: SocketAddr, id: &PeerIdentity, started: Instant) {
    let reason = "certificate_expired";
    state
        .metrics
        .connections_closed
        .get_or_create(&ReasonLabel {
            listener: state.handles.name.clone(),
            reason,
        })
        .inc();
    let (cn, uri) = names(Some(id));
    warn!(
        listener = state.name(), %peer, peer_cn = cn, peer_uri = uri, serial = %id.serial,
        not_after = %id.not_after, reason, duration_ms = started.elapsed().as_millis() as u64,
        "closing live connection: the client certificate expired"
    );
}

/// Displays an optional target (gateway listeners have none: routes decide).
pub(crate) struct Shown<'a, T>(pub(crate) Option<&'a T>);

// === impl Shown ===

impl<T: std::fmt::Display> std::fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(t) => t.fmt(f),
            None => f.write_str("-"),
        }
    }
}
