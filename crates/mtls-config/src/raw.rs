//! The serde mirror of the config file: every key optional, unknown keys rejected.
//!
//! Values stay strings here so that validation (in the parent module) can report every bad
//! value with its listener and field, instead of serde stopping at the first one.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) data_dir: Option<PathBuf>,
    /// `registry = "postgres://…"`: a PostgreSQL registry instead of `<data_dir>/registry.db`.
    pub(super) registry: Option<String>,
    #[serde(default)]
    pub(super) listener: Vec<RawListener>,
    pub(super) health: Option<RawEndpoint>,
    pub(super) metrics: Option<RawEndpoint>,
    pub(super) logging: Option<RawLogging>,
    pub(super) shutdown: Option<RawShutdown>,
    pub(super) reload: Option<RawReload>,
    pub(super) control: Option<RawControl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    pub(super) name: Option<String>,
    pub(super) mode: Option<String>,
    pub(super) listen: Option<String>,
    pub(super) target: Option<String>,
    pub(super) tls: Option<RawTls>,
    pub(super) upstream_tls: Option<RawTls>,
    pub(super) acl: Option<RawAcl>,
    pub(super) proxy: Option<RawProxy>,
    pub(super) gateway: Option<RawGateway>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub(super) poll_interval: Option<String>,
    pub(super) max_header_bytes: Option<i64>,
    pub(super) request_timeout: Option<String>,
    pub(super) registry_staleness: Option<String>,
    pub(super) protocol: Option<String>,
    pub(super) tenant_max_connections: Option<i64>,
    /// Client identities HTTP routes may present upstream (`[[listener.gateway.identities]]`).
    pub(super) identities: Option<Vec<RawIdentity>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
    pub(super) ca: Option<PathBuf>,
    pub(super) client_auth: Option<String>,
    pub(super) server_name: Option<String>,
    pub(super) min_version: Option<String>,
    /// Inbound only: how long a TLS session may be resumed (`"0s"` turns resumption off).
    pub(super) session_lifetime: Option<String>,
    /// Inbound only: how many verified client chains to remember (`0` turns it off).
    pub(super) verified_chain_cache: Option<i64>,
    /// Outbound only: several client identities (`[[listener.tls.identities]]`).
    pub(super) identities: Option<Vec<RawIdentity>>,
    /// Outbound only: `first`, `none` or an identity name.
    pub(super) fallback: Option<String>,
    /// Outbound only: per-server-name preferences (`[[listener.tls.prefer]]`).
    pub(super) prefer: Option<Vec<RawPrefer>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub(super) name: Option<String>,
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrefer {
    pub(super) server_name: Option<String>,
    pub(super) identity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcl {
    #[serde(default)]
    pub(super) allow_cn: Vec<String>,
    #[serde(default)]
    pub(super) allow_org: Vec<String>,
    #[serde(default)]
    pub(super) allow_ou: Vec<String>,
    #[serde(default)]
    pub(super) allow_dns: Vec<String>,
    #[serde(default)]
    pub(super) allow_uri: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProxy {
    pub(super) dial_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) handshake_timeout: Option<String>,
    pub(super) max_connections: Option<i64>,
    pub(super) on_limit: Option<String>,
    pub(super) max_handshakes: Option<i64>,
    pub(super) max_handshakes_per_source: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) enabled: Option<bool>,
    pub(super) listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    pub(super) level: Option<String>,
    pub(super) format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShutdown {
    pub(super) drain_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReload {
    pub(super) watch: Option<bool>,
    pub(super) debounce: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) listen: Option<String>,
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
    pub(super) ca: Option<PathBuf>,
    pub(super) cert_validity: Option<String>,
    pub(super) recovery_window: Option<String>,
    pub(super) max_recoveries: Option<i64>,
    pub(super) max_body_bytes: Option<i64>,
    pub(super) max_connections: Option<i64>,
    pub(super) handshake_timeout: Option<String>,
    pub(super) rate_limits: Option<RawControlRateLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControlRateLimits {
    pub(super) enroll_per_ip_per_minute: Option<i64>,
    pub(super) enroll_per_ip_burst: Option<i64>,
    pub(super) renew_per_ip_per_minute: Option<i64>,
    pub(super) renew_per_ip_burst: Option<i64>,
    pub(super) renew_per_tenant_per_hour: Option<i64>,
    pub(super) renew_per_tenant_burst: Option<i64>,
    pub(super) anonymous_audit_per_ip_per_minute: Option<i64>,
    pub(super) anonymous_audit_per_ip_burst: Option<i64>,
}
