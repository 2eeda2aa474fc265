//! The validated config: these types cannot hold a bad state.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use mtls_identity::AclRules;
use mtls_resolver::SelectionPolicy;
use mtls_tls::{ClientAuth, TlsVersion};
use rustls_pki_types::ServerName;

/// The whole, validated `mtlsd` configuration. Build it with [`Config::load`] or
/// [`Config::from_toml`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) source: PathBuf,
    pub(crate) listeners: Vec<ListenerConfig>,
    pub(crate) health: Option<SocketAddr>,
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) logging: LoggingConfig,
    pub(crate) drain_timeout: Duration,
    pub(crate) reload: ReloadConfig,
    pub(crate) data_dir: PathBuf,
    pub(crate) registry: Registry,
    pub(crate) control: Option<ControlConfig>,
}

// === impl Config ===

impl Config {
    /// The file this config was read from (for relative paths and messages).
    pub fn source(&self) -> &std::path::Path {
        &self.source
    }

    /// The listeners, in file order.
    pub fn listeners(&self) -> &[ListenerConfig] {
        &self.listeners
    }

    /// Where `/healthz`, `/readyz` and `/certz` are served, if enabled.
    pub fn health_listen(&self) -> Option<SocketAddr> {
        self.health
    }

    /// Where `/metrics` is served, if enabled.
    pub fn metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// Logging settings.
    pub fn logging(&self) -> &LoggingConfig {
        &self.logging
    }

    /// How long open connections may keep running after SIGTERM/SIGINT.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// Certificate reload settings.
    pub fn reload(&self) -> &ReloadConfig {
        &self.reload
    }

    /// The data directory managed by `tenantctl` (`data_dir`, else [`Defaults::data_dir`](crate::Defaults), else
    /// `./mtlsd-data`, relative paths resolved against the config file's folder). Gateway
    /// listeners read `registry.db`, `ca.pem` and `server/` from it.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The registry database of the data dir: `<data_dir>/registry.db` (the registry unless
    /// [`Config::registry`] names a PostgreSQL database).
    pub fn registry_path(&self) -> PathBuf {
        self.data_dir.join("registry.db")
    }

    /// Where the tenant registry is: `registry` of the file, else [`Defaults::registry`](crate::Defaults),
    /// else the SQLite file [`Config::registry_path`].
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The control-plane API (`[control]`), if configured.
    pub fn control(&self) -> Option<&ControlConfig> {
        self.control.as_ref()
    }

    /// Whether any listener runs in gateway mode (and so needs the registry).
    pub fn has_gateway(&self) -> bool {
        self.listeners
            .iter()
            .any(|l| matches!(l.mode, ListenerMode::Gateway { .. }))
    }
}

/// Where the tenant registry lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// The embedded default: a SQLite file (`<data_dir>/registry.db`).
    File(PathBuf),
    /// A PostgreSQL database, shared by every gateway that names it.
    Postgres(RegistryUrl),
}

// === impl Registry ===

impl Registry {
    /// The SQLite file, if the registry is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

/// The file's path, or the URL without its password.
impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => url.fmt(f),
        }
    }
}

/// A `postgres://` or `postgresql://` connection URL. It may hold a password: `Debug` and
/// `Display` show it without one (`postgres://USER@HOST/DBNAME`); [`RegistryUrl::expose`]
/// gives the whole URL to the database client.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryUrl(String);

// === impl RegistryUrl ===

impl RegistryUrl {
    /// `Some` when `url` starts with `postgres://` or `postgresql://`.
    pub fn new(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        (!rest.is_empty()).then(|| Self(url.to_owned()))
    }

    /// The whole URL, password included: for the database client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Scheme, user, host, port and database; never the password or the query (which can hold
/// one too).
impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("postgres", &self.0));
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (userinfo.split(':').next().unwrap_or_default(), host),
            None => ("", authority),
        };
        let at = if user.is_empty() { "" } else { "@" };
        write!(f, "{scheme}://{user}{at}{host}{path}")
    }
}

impl fmt::Debug for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryUrl({self})")
    }
}

/// One `[[listener]]`.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Unique name, used in logs and as the `listener` metric label.
    pub name: String,
    /// The local address to accept on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where accepted connections are forwarded; `None` in gateway mode, where the tenant's
    /// routes decide.
    pub target: Option<Target>,
    /// The mode and its TLS settings.
    pub mode: ListenerMode,
    /// Who may connect (checked after the inbound handshake; empty = any verified peer).
    pub acl: AclRules,
    /// Timeouts and connection limits.
    pub limits: ProxyLimits,
}

/// What a listener does, with the TLS settings that mode needs.
#[derive(Debug, Clone)]
// Exhaustive on purpose: the runtime must handle every mode, so a new one has to break its build.
pub enum ListenerMode {
    /// mTLS in, plain TCP to the target.
    Server {
        /// The inbound TLS side.
        tls: ServerTlsConfig,
    },
    /// Plain TCP in, mTLS to the target.
    Client {
        /// The outbound TLS side.
        tls: ClientTlsConfig,
    },
    /// mTLS in, mTLS out.
    Bridge {
        /// The inbound TLS side (`[listener.tls]`).
        tls: ServerTlsConfig,
        /// The outbound TLS side (`[listener.upstream_tls]`).
        upstream_tls: ClientTlsConfig,
    },
    /// mTLS in from tenants of the registry; each request or connection goes where the
    /// tenant's routes say.
    Gateway {
        /// The inbound TLS side (defaults from the data dir; client auth always required).
        tls: ServerTlsConfig,
        /// `[listener.gateway]`.
        gateway: GatewaySettings,
        /// `[[listener.gateway.identities]]`: the client identities an HTTP route can name
        /// in `upstream_tls.identity` (configuration order; empty by default).
        identities: Vec<IdentityConfig>,
    },
}

/// `[listener.gateway]`: how a gateway listener treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewaySettings {
    /// How often the registry version is polled (default 250 ms).
    pub poll_interval: Duration,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list) accepted (default 64 KiB).
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head, and the default upstream timeout
    /// of routes without their own (default 30 s).
    pub request_timeout: Duration,
    /// How a connection's protocol is chosen.
    pub protocol: GatewayProtocol,
    /// The connection cap of tenants whose registry limits set no `max_connections`
    /// (default 1024); a tenant's own value overrides it.
    pub tenant_max_connections: NonZeroU32,
    /// How long the registry may stay unreadable (every poll failing) before `/readyz`
    /// answers 503 naming it (default 30 s; at least twice `poll_interval`). Traffic keeps
    /// flowing on the last snapshot read meanwhile.
    pub registry_staleness: Duration,
}

/// `protocol` of `[listener.gateway]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GatewayProtocol {
    /// ALPN `h2` or `http/1.1` → HTTP; otherwise TCP if the tenant has a TCP route for the
    /// SNI, else HTTP (the default).
    #[default]
    Auto,
    /// Always HTTP (HTTP/1.1 or h2 reverse proxy and CONNECT).
    Http,
    /// Always TCP: route by SNI and splice.
    Tcp,
}

// === impl GatewayProtocol ===

impl GatewayProtocol {
    /// `auto`, `http` or `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Http => "http",
            Self::Tcp => "tcp",
        }
    }
}

// === impl ListenerMode ===

impl ListenerMode {
    /// The TLS side that dials out: client mode's `[listener.tls]`, bridge mode's
    /// `[listener.upstream_tls]`; `None` for server and gateway listeners.
    pub fn upstream_tls(&self) -> Option<&ClientTlsConfig> {
        match self {
            Self::Client { tls } => Some(tls),
            Self::Bridge { upstream_tls, .. } => Some(upstream_tls),
            _ => None,
        }
    }

    /// `server`, `client`, `bridge` or `gateway`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Server { .. } => "server",
            Self::Client { .. } => "client",
            Self::Bridge { .. } => "bridge",
            Self::Gateway { .. } => "gateway",
        }
    }
}

/// A `host:port` to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
}

// === impl Target ===

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The TLS side that accepts connections.
#[derive(Debug, Clone)]
pub struct ServerTlsConfig {
    /// PEM certificate chain presented to clients.
    pub cert: PathBuf,
    /// PEM private key for `cert`.
    pub key: PathBuf,
    /// Whether and how client certificates are checked.
    pub client_auth: ClientAuth,
    /// The lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// How long a TLS session may be resumed after it was stored (`session_lifetime`;
    /// default [`mtls_tls::DEFAULT_SESSION_LIFETIME`], zero = no resumption). Never past the
    /// client certificate's notAfter, whatever this says.
    pub session_lifetime: Duration,
    /// How many verified client certificate chains the listener remembers so that a
    /// returning client's full handshake skips the CA signature check
    /// (`verified_chain_cache`; default [`mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE`], zero =
    /// off; see `docs/verified-chain-cache.md`).
    pub verified_chain_cache: usize,
}

/// The TLS side that dials out.
#[derive(Debug, Clone)]
pub struct ClientTlsConfig {
    /// The client identities offered to the upstream, in priority order: the one whose
    /// issuer the upstream asks for is sent (see [`mtls_resolver`]). The single
    /// `cert`/`key` form gives one identity named [`SINGLE_IDENTITY_NAME`]. Empty only when
    /// the file says `identities = []`: no client certificate is ever sent.
    pub identities: Vec<IdentityConfig>,
    /// `fallback` and `[[prefer]]`, already checked against `identities`.
    pub policy: SelectionPolicy,
    /// PEM bundle of CAs trusted to sign the upstream's certificate.
    pub ca: PathBuf,
    /// The name the upstream certificate must carry (defaults to the target host).
    pub server_name: ServerName<'static>,
    /// The lowest TLS version offered.
    pub min_version: TlsVersion,
}

/// The name of the identity made from the single `cert`/`key` form of an outbound TLS side.
pub const SINGLE_IDENTITY_NAME: &str = "default";

/// One client identity of an outbound TLS side (`[[listener.tls.identities]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// Unique within the listener; the `identity` label of
    /// `mtlsd_client_identity_selections_total`.
    pub name: String,
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key for `cert`.
    pub key: PathBuf,
}

/// Timeouts and limits of one listener (`[listener.proxy]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyLimits {
    /// How long to wait for the TCP connection to the target.
    pub dial_timeout: Duration,
    /// Close a connection after this long without traffic either way.
    pub idle_timeout: Duration,
    /// How long a TLS handshake (either side) may take.
    pub handshake_timeout: Duration,
    /// Maximum number of concurrent connections.
    pub max_connections: NonZeroUsize,
    /// What happens to connections over the limit.
    pub on_limit: OnLimit,
    /// Maximum number of inbound TLS handshakes in progress (default 256). A connection
    /// holds no `max_connections` slot during its handshake, only one of these; over the
    /// cap, `on_limit = "wait"` stops accepting until a handshake ends, `"refuse"` closes
    /// the new connection at once.
    pub max_handshakes: NonZeroUsize,
    /// Maximum number of inbound TLS handshakes in progress from one source address (an
    /// IPv4 address, or an IPv6 /64) (default 32). Over it, the new connection is closed at
    /// once, whatever `on_limit` says.
    pub max_handshakes_per_source: NonZeroUsize,
}

/// What a listener does with a connection over `max_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnLimit {
    /// Stop accepting until a slot frees up; new connections wait in the kernel backlog.
    #[default]
    Wait,
    /// Accept and immediately close it (counted in `mtlsd_connections_refused_total`).
    Refuse,
}

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: LogLevel,
    /// Text or JSON lines.
    pub format: LogFormat,
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Verbose.
    Debug,
    /// Very verbose.
    Trace,
}

// === impl LogLevel ===

impl LogLevel {
    /// The name used in config files and `RUST_LOG` filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// A log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable `key=value` lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[reload]`: how certificate files are watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    /// Watch the certificate, key and CA files (SIGHUP always works).
    pub watch: bool,
    /// Wait this long after the last file event before reloading.
    pub debounce: Duration,
}

/// The `[control]` section: the control-plane API over mTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Where the API listens (required; any address, loopback or not, is the operator's
    /// choice).
    pub listen: SocketAddr,
    /// The server certificate chain (default `<data_dir>/server/cert.pem`).
    pub cert: PathBuf,
    /// Its key (default `<data_dir>/server/key.pem`).
    pub key: PathBuf,
    /// The CA client certificates must chain to (default `<data_dir>/ca.pem`).
    pub ca: PathBuf,
    /// Validity of certificates issued by enrollment and renewal (default 30 days).
    pub cert_validity: Duration,
    /// How long an expired tenant certificate may still renew (default 30 days; zero
    /// disables recovery).
    pub recovery_window: Duration,
    /// Recovered certificates per lineage (default 3).
    pub max_recoveries: u32,
    /// The largest request body (default 65536).
    pub max_body_bytes: usize,
    /// Concurrent connections to the control listener (default 256); more are closed at
    /// accept.
    pub max_connections: usize,
    /// TLS handshake (and HTTP/1 request head) timeout (default 10 s).
    pub handshake_timeout: Duration,
    /// `POST /v1/enroll` per source IP (default 10 per minute, bursts of 5).
    pub enroll_per_ip: ControlRateLimit,
    /// `POST /v1/renew` per source IP (default 10 per minute, bursts of 5).
    pub renew_per_ip: ControlRateLimit,
    /// `POST /v1/renew` per tenant (default 6 per hour, bursts of 3).
    pub renew_per_tenant: ControlRateLimit,
    /// Audit events written for unauthenticated calls (reads of the CRL and the OpenAPI
    /// document, refused calls) per source IP (default 60 per minute, bursts of 60); calls
    /// beyond it are counted and logged instead, so anonymous floods cannot grow the
    /// append-only log without bound.
    pub anonymous_audit_per_ip: ControlRateLimit,
}

/// One rate limit of the control plane: `count` requests per `period`, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRateLimit {
    /// Requests per period (at least 1).
    pub count: u32,
    /// The period (a minute or an hour).
    pub period: Duration,
    /// The largest burst (at least 1).
    pub burst: u32,
}
