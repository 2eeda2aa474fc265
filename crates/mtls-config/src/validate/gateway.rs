//! Validation of a gateway listener: TLS defaults from the data dir and `[listener.gateway]`.

use std::num::NonZeroU32;
use std::time::Duration;

use super::super::raw::{RawGateway, RawIdentity, RawTls};
use super::super::types::{GatewayProtocol, GatewaySettings, IdentityConfig, ServerTlsConfig};
use super::Checker;
use super::identities::identity_list;
use super::tls::server_tls;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_REGISTRY_STALENESS: Duration = Duration::from_secs(30);
const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The connection cap of a tenant whose registry limits name none.
const DEFAULT_TENANT_MAX_CONNECTIONS: NonZeroU32 = NonZeroU32::new(1024).unwrap();
/// Below this, ordinary requests (a few cookies) no longer fit; hyper needs 8 KiB anyway.
const MIN_MAX_HEADER_BYTES: i64 = 8 * 1024;
const MAX_MAX_HEADER_BYTES: i64 = 16 * 1024 * 1024;
/// A poll interval above this would break the "changes apply within 1 s" promise.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// `[listener.tls]` of a gateway: `cert`, `key` and `ca` default to the data dir's
/// `server/cert.pem`, `server/key.pem` and `ca.pem`; client certificates are required.
pub(super) fn gateway_tls(c: &mut Checker, tls: Option<RawTls>) -> Option<ServerTlsConfig> {
    let mut tls = tls.unwrap_or_default();
    if let Some(policy) = tls.client_auth.as_deref().filter(|p| *p != "required") {
        c.problem(
            "tls.client_auth",
            format!(
                "{policy:?} is not allowed: it must be \"required\" in gateway mode, where the \
                 tenant is read from the client certificate"
            ),
        );
        return None;
    }
    let dir = c.data_dir.clone();
    tls.cert
        .get_or_insert_with(|| dir.join("server").join("cert.pem"));
    tls.key
        .get_or_insert_with(|| dir.join("server").join("key.pem"));
    tls.ca.get_or_insert_with(|| dir.join("ca.pem"));
    server_tls(c, "tls", Some(tls))
}

/// `[[listener.gateway.identities]]`: the client identities HTTP routes may name in
/// `upstream_tls.identity` (none by default). Checked like the identities of the tunnel
/// modes: unique names usable as metric labels, `cert` and `key` both set.
pub(super) fn identities(c: &mut Checker, raw: Option<Vec<RawIdentity>>) -> Vec<IdentityConfig> {
    raw.and_then(|list| identity_list(c, "gateway", list))
        .unwrap_or_default()
}

/// `[listener.gateway]` with its defaults.
pub(super) fn settings(c: &mut Checker, g: RawGateway) -> GatewaySettings {
    let mut poll_interval = c.duration(
        "gateway.poll_interval",
        g.poll_interval.as_deref(),
        DEFAULT_POLL_INTERVAL,
    );
    if poll_interval > MAX_POLL_INTERVAL {
        c.problem(
            "gateway.poll_interval",
            format!("{poll_interval:?} is above 1s; registry changes must apply within a second"),
        );
        poll_interval = DEFAULT_POLL_INTERVAL;
    }
    let max_header_bytes = match g.max_header_bytes {
        None => DEFAULT_MAX_HEADER_BYTES,
        Some(n) if (MIN_MAX_HEADER_BYTES..=MAX_MAX_HEADER_BYTES).contains(&n) => {
            usize::try_from(n).unwrap_or(DEFAULT_MAX_HEADER_BYTES)
        }
        Some(n) => {
            c.problem(
                "gateway.max_header_bytes",
                format!("{n} is outside {MIN_MAX_HEADER_BYTES}..={MAX_MAX_HEADER_BYTES}"),
            );
            DEFAULT_MAX_HEADER_BYTES
        }
    };
    let request_timeout = c.duration(
        "gateway.request_timeout",
        g.request_timeout.as_deref(),
        DEFAULT_REQUEST_TIMEOUT,
    );
    let mut registry_staleness = c.duration(
        "gateway.registry_staleness",
        g.registry_staleness.as_deref(),
        DEFAULT_REGISTRY_STALENESS,
    );
    if registry_staleness < poll_interval * 2 {
        c.problem(
            "gateway.registry_staleness",
            format!(
                "{registry_staleness:?} is below twice the poll interval ({poll_interval:?}): \
                 one slow poll would turn /readyz to 503"
            ),
        );
        registry_staleness = DEFAULT_REGISTRY_STALENESS.max(poll_interval * 2);
    }
    let protocol = match g.protocol.as_deref() {
        None | Some("auto") => GatewayProtocol::Auto,
        Some("http") => GatewayProtocol::Http,
        Some("tcp") => GatewayProtocol::Tcp,
        Some(other) => {
            c.problem(
                "gateway.protocol",
                format!("{other:?} is not a protocol; use \"auto\", \"http\" or \"tcp\""),
            );
            GatewayProtocol::Auto
        }
    };
    let tenant_max_connections = match g.tenant_max_connections {
        None => DEFAULT_TENANT_MAX_CONNECTIONS,
        Some(n) => match u32::try_from(n).ok().and_then(NonZeroU32::new) {
            Some(n) => n,
            None => {
                c.problem(
                    "gateway.tenant_max_connections",
                    format!("{n} is not a positive number (at most {})", u32::MAX),
                );
                DEFAULT_TENANT_MAX_CONNECTIONS
            }
        },
    };
    GatewaySettings {
        poll_interval,
        tenant_max_connections,
        max_header_bytes,
        request_timeout,
        protocol,
        registry_staleness,
    }
}
