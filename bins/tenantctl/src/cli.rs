//! Command-line grammar (clap derive). Precedence: flag > environment variable > default.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// Admin CLI for multi-mtls-proxy: certificate authority, tenants, certificates, routes,
/// enrollment tokens and the audit log, all kept in one data directory.
#[derive(Debug, Parser)]
#[command(name = "tenantctl", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Data directory holding registry.db, the CA and the server certificate.
    #[arg(
        long,
        global = true,
        env = env::DATA_DIR,
        default_value = "./mtlsd-data"
    )]
    pub(crate) data_dir: PathBuf,

    /// The registry in PostgreSQL (`postgres://USER:PASSWORD@HOST:PORT/DBNAME`; password
    /// and port optional) instead of the data directory's registry.db; the CA stays in the
    /// data directory. Prefer the environment variable for a URL with a password (a flag
    /// shows in `ps`).
    #[arg(long, global = true, env = env::REGISTRY, value_name = "URL", hide_env_values = true)]
    pub(crate) registry: Option<String>,

    /// Print machine-readable JSON instead of human text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Who is making the change, as recorded in the audit log (default: cli:$USER).
    #[arg(long, global = true, env = env::ACTOR)]
    pub(crate) actor: Option<String>,

    #[command(flatten)]
    pub(crate) remote: RemoteArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the control-plane API is and how to authenticate to it. Precedence: flag >
/// environment variable > config file.
#[derive(Debug, Default, Args)]
pub(crate) struct RemoteArgs {
    /// Control-plane server, https://HOST:PORT: run the command over the API instead of on
    /// the local data directory.
    #[arg(long, global = true, env = env::SERVER, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Client certificate (PEM chain). With --server: the caller's identity. For `explain`:
    /// the certificate to explain.
    #[arg(long, global = true, env = env::CERT, value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,
    /// Private key of --cert (PEM).
    #[arg(long, global = true, env = env::KEY, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// CA bundle that verifies the control-plane server (PEM).
    #[arg(long, global = true, env = env::CA, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// Certificate directory: DIR/cert.pem, DIR/key.pem and DIR/ca.pem (what `enroll`
    /// writes and `renew` replaces).
    #[arg(long, global = true, env = env::CERT_DIR, value_name = "DIR")]
    pub(crate) cert_dir: Option<PathBuf>,
    /// TOML file with server, cert, key, ca and cert_dir (paths relative to the file).
    #[arg(long, global = true, env = env::CONFIG, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the data directory: CA, registry and a server certificate for the proxy.
    Init(InitArgs),
    /// Create, inspect, suspend, resume and delete tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Issue, sign, list and revoke tenant client certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Create and list one-time enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Redeem an enrollment token: generate a key here, have it signed, write the bundle.
    Enroll(EnrollArgs),
    /// Add, list and remove a tenant's routes.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Write the certificate revocation list.
    Crl(CrlArgs),
    /// Show or verify the hash-chained audit log.
    Audit(AuditArgs),
    /// Explain what the gateway would do with a request made with a certificate (--cert):
    /// the tenant it maps to, whether it is admitted, the winning route and the candidates
    /// it beat.
    Explain(ExplainArgs),
    /// Issue, list and revoke admin certificates for the control-plane API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show how the control-plane server sees your certificate (needs --server).
    Whoami,
    /// Renew the certificate in --cert-dir in place over the API (needs --server): a new key,
    /// a new certificate, swapped in atomically.
    Renew(RenewArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Issue an admin certificate (URI SAN spiffe://<domain>/admin/<name>) and write
    /// cert.pem, key.pem (0600) and ca.pem into a new directory.
    Issue {
        /// Admin name: 1-63 of a-z, 0-9 and '-'.
        name: String,
        /// Output directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Key algorithm of the generated key.
        #[arg(long, value_enum, default_value = "p256")]
        algorithm: Algorithm,
    },
    /// List admin certificates.
    List,
    /// Revoke an admin certificate by serial.
    Revoke {
        /// Serial number (hex, colons allowed).
        serial: String,
        /// Reason (as for `cert revoke`).
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// Ask the server to revoke the current certificate once the new one is recorded.
    #[arg(long)]
    pub(crate) revoke_previous: bool,
    /// Keep running: renew at 2/3 of each certificate's lifetime, retry failures with
    /// backoff, exit on SIGTERM or SIGINT.
    #[arg(long = "loop")]
    pub(crate) keep_running: bool,
    /// Key algorithm of the new key.
    #[arg(long, value_enum, default_value = "p256")]
    pub(crate) algorithm: Algorithm,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("request").required(true).args(["host", "connect"])))]
pub(crate) struct ExplainArgs {
    /// HTTP request host (a port is ignored).
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// HTTP request path, as the client sends it (a query is kept apart); normalised as the
    /// gateway does before routing.
    #[arg(long, default_value = "/", requires = "host")]
    pub(crate) path: String,
    /// CONNECT destination HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) connect: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Algorithm {
    /// ECDSA with curve P-256 (default; what every TLS stack accepts).
    P256,
    /// ECDSA with curve P-384.
    P384,
    /// Ed25519 (not accepted by some older clients).
    Ed25519,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Trust domain of tenant identities: spiffe://<trust-domain>/tenant/<id>.
    #[arg(long)]
    pub(crate) trust_domain: String,
    /// Also create an intermediate CA that signs tenant and server certificates.
    #[arg(long)]
    pub(crate) intermediate: bool,
    /// Key algorithm of the CA and the server certificate.
    #[arg(long, value_enum, default_value = "p256")]
    pub(crate) algorithm: Algorithm,
    /// DNS names of the proxy's server certificate (default: localhost).
    #[arg(long = "server-dns", value_name = "NAME")]
    pub(crate) server_dns: Vec<String>,
    /// IP addresses of the proxy's server certificate (default: 127.0.0.1 and ::1).
    #[arg(long = "server-ip", value_name = "IP")]
    pub(crate) server_ip: Vec<IpAddr>,
    /// Replace an existing CA and server certificate (certificates it issued stop verifying).
    /// An existing registry is kept; its trust domain must match.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Onboard a tenant.
    Create {
        /// Tenant id: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// Display name (becomes O in the tenant's certificates).
        #[arg(long)]
        name: String,
        /// Maximum concurrent connections through the gateway.
        #[arg(long)]
        max_connections: Option<u32>,
        /// Maximum requests per second through the gateway.
        #[arg(long)]
        requests_per_second: Option<u32>,
    },
    /// List tenants by id, a page at a time.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one tenant with its certificates, routes and tokens.
    Show {
        /// Tenant id.
        id: String,
    },
    /// Suspend a tenant: the gateway refuses its connections until resumed.
    Suspend {
        /// Tenant id.
        id: String,
    },
    /// Resume a suspended tenant.
    Resume {
        /// Tenant id.
        id: String,
    },
    /// Set or clear a tenant's limits (omit --max-connections or --requests-per-second to
    /// clear that limit). Any route-policy flag replaces the whole route policy (flags not
    /// given take their defaults); without one the policy is kept.
    Limits(LimitsArgs),
    /// Assign the tenant its own egress (source) address, one this host holds, or clear it.
    #[command(group(clap::ArgGroup::new("egress").required(true).args(["address", "clear"])))]
    Egress {
        /// Tenant id.
        id: String,
        /// The address every route of the tenant without its own egress_bind leaves from.
        #[arg(long)]
        address: Option<IpAddr>,
        /// Remove the tenant's egress address (its routes leave from the host's default).
        #[arg(long)]
        clear: bool,
    },
    /// Delete a tenant: revokes its certificates, removes its routes and tokens.
    Delete {
        /// Tenant id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct LimitsArgs {
    /// Tenant id.
    pub(crate) id: String,
    /// Maximum concurrent connections.
    #[arg(long)]
    pub(crate) max_connections: Option<u32>,
    /// Maximum requests per second.
    #[arg(long)]
    pub(crate) requests_per_second: Option<u32>,
    /// Route policy: routes the tenant may have in all (default 100).
    #[arg(long)]
    pub(crate) max_routes: Option<u32>,
    /// Route policy: upstreams per route (default 8).
    #[arg(long)]
    pub(crate) max_upstreams_per_route: Option<u32>,
    /// Route policy: an upstream host the tenant may name (exact, IP or *.suffix);
    /// repeatable. None given: any host.
    #[arg(long = "allow-upstream-host", value_name = "PATTERN")]
    pub(crate) allow_upstream_hosts: Vec<String>,
    /// Route policy: an upstream port or range the tenant may name (443, 8000-8999);
    /// repeatable. None given: any port.
    #[arg(long = "allow-upstream-port", value_name = "PORTS")]
    pub(crate) allow_upstream_ports: Vec<String>,
    /// Route policy: let the tenant's own routes reach private, loopback and other
    /// non-public addresses.
    #[arg(long)]
    pub(crate) allow_private_routes: bool,
    /// Route policy: a proxy-held client identity the tenant's routes may present
    /// upstream; repeatable.
    #[arg(long = "allow-identity", value_name = "NAME")]
    pub(crate) allow_identities: Vec<String>,
}

// === impl LimitsArgs ===

impl LimitsArgs {
    /// Whether any route-policy flag was given.
    pub(crate) fn sets_route_policy(&self) -> bool {
        self.max_routes.is_some()
            || self.max_upstreams_per_route.is_some()
            || !self.allow_upstream_hosts.is_empty()
            || !self.allow_upstream_ports.is_empty()
            || self.allow_private_routes
            || !self.allow_identities.is_empty()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// Generate a key pair and a client certificate for a tenant and write the bundle
    /// (cert.pem, key.pem, ca.pem and optionally bundle.p12) into a new directory.
    Issue {
        /// Tenant id.
        tenant: String,
        /// Output directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Also write bundle.p12 protected by the password in this file (first line).
        #[arg(long)]
        p12_password_file: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Workload name: the URI becomes spiffe://<domain>/tenant/<id>/<workload>.
        #[arg(long)]
        workload: Option<String>,
        /// Key algorithm of the generated key.
        #[arg(long, value_enum, default_value = "p256")]
        algorithm: Algorithm,
    },
    /// Sign a CSR for a tenant. Only the CSR's public key is used: the CA decides the rest.
    Sign {
        /// Tenant id.
        tenant: String,
        /// CSR file (PEM or DER).
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate chain (PEM). Must not exist.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// List certificates by issue time, optionally of one tenant, a page at a time.
    List {
        /// Tenant id.
        tenant: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Revoke a certificate by serial (hex, colons allowed).
    Revoke {
        /// Serial number.
        serial: String,
        /// Reason: unspecified, key-compromise, ca-compromise, affiliation-changed,
        /// superseded, cessation-of-operation, privilege-withdrawn.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a one-time enrollment token. The secret is printed once and never stored.
    Create {
        /// Tenant id.
        tenant: String,
        /// Lifetime, e.g. 15m, 1h, 7d (1 minute to 30 days).
        #[arg(long, default_value = "1h")]
        ttl: humantime::Duration,
    },
    /// List tokens (never their secrets).
    List {
        /// Tenant id.
        tenant: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct EnrollArgs {
    /// The enrollment token (prefer --token-file or MTLS_ENROLL_TOKEN: arguments are visible
    /// to other users in the process list).
    #[arg(
        long,
        env = env::ENROLL_TOKEN,
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub(crate) token: Option<String>,
    /// File whose first line is the enrollment token.
    #[arg(long)]
    pub(crate) token_file: Option<PathBuf>,
    /// Output directory for cert.pem, key.pem and ca.pem (must not exist or be empty).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Validity in days (local mode; with --server the server's cert_validity applies).
    #[arg(long, default_value_t = 30)]
    pub(crate) days: u32,
    /// Key algorithm of the generated key.
    #[arg(long, value_enum, default_value = "p256")]
    pub(crate) algorithm: Algorithm,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RouteCommand {
    /// Add a route to a tenant.
    Add {
        /// Tenant id.
        tenant: String,
        #[command(subcommand)]
        spec: Box<RouteSpecArgs>,
    },
    /// List routes (by tenant, then creation), optionally of one tenant, a page at a time.
    List {
        /// Tenant id.
        tenant: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Remove a route by id.
    Remove {
        /// Route id (r-...).
        id: String,
        /// The route's tenant (remotely: saves looking it up).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RouteSpecArgs {
    /// HTTP route: (host, path prefix) to upstream URLs, round-robin.
    Http(HttpRouteArgs),
    /// TCP route: TLS SNI to upstream addresses.
    Tcp(TcpRouteArgs),
    /// CONNECT egress: destinations the tenant may tunnel to.
    Connect(ConnectRouteArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HttpRouteArgs {
    /// Host: exact (api.example.com) or wildcard (*.example.com).
    #[arg(long)]
    pub(crate) host: String,
    /// Path prefix, matched on segment boundaries.
    #[arg(long, default_value = "/")]
    pub(crate) path: String,
    /// Upstream URL (http:// or https://); repeat for round-robin.
    #[arg(long = "upstream", required = true)]
    pub(crate) upstreams: Vec<String>,
    /// Host header to send upstream.
    #[arg(long)]
    pub(crate) rewrite_host: Option<String>,
    /// Header to add upstream, "Name: value"; repeatable.
    #[arg(long = "add-header", value_name = "NAME: VALUE")]
    pub(crate) add_headers: Vec<String>,
    /// Upstream timeout, e.g. 30s.
    #[arg(long)]
    pub(crate) timeout: Option<humantime::Duration>,
    /// Largest request body accepted, in bytes.
    #[arg(long)]
    pub(crate) max_body_bytes: Option<u64>,
    /// CA bundle that verifies https upstreams (default: system roots).
    #[arg(long)]
    pub(crate) upstream_ca: Option<PathBuf>,
    /// TLS server name to send and verify for https upstreams.
    #[arg(long)]
    pub(crate) upstream_sni: Option<String>,
    /// Name of the client identity to present to https upstreams.
    #[arg(long)]
    pub(crate) upstream_identity: Option<String>,
    /// Source IP for connections to the upstream.
    #[arg(long)]
    pub(crate) egress_bind: Option<IpAddr>,
    /// Request paths with an escaped slash (%2F, %5C): "refuse" (400) or "keep" them as
    /// they are, not as separators.
    #[arg(long, value_parser = ["refuse", "keep"], default_value = "refuse")]
    pub(crate) escaped_slashes: String,
    /// Allow upstreams that are, or resolve to, loopback, private, link-local or other
    /// non-public addresses (refused by default, at add time and at every dial).
    #[arg(long)]
    pub(crate) allow_private: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TcpRouteArgs {
    /// TLS SNI: exact or wildcard.
    #[arg(long)]
    pub(crate) sni: String,
    /// Upstream HOST:PORT; repeat for round-robin.
    #[arg(long = "upstream", required = true)]
    pub(crate) upstreams: Vec<String>,
    /// Source IP for connections to the upstream.
    #[arg(long)]
    pub(crate) egress_bind: Option<IpAddr>,
    /// Allow upstreams that are, or resolve to, loopback, private, link-local or other
    /// non-public addresses (refused by default, at add time and at every dial).
    #[arg(long)]
    pub(crate) allow_private: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ConnectRouteArgs {
    /// Allowed destination HOST:PORT (host may be *.suffix, port a range a-b); repeatable.
    #[arg(long = "allow", required = true)]
    pub(crate) allow: Vec<String>,
    /// Also allow destinations that resolve to private, loopback or link-local addresses.
    #[arg(long)]
    pub(crate) allow_private: bool,
    /// Source IP for tunnelled connections.
    #[arg(long)]
    pub(crate) egress_bind: Option<IpAddr>,
}

#[derive(Debug, Args)]
pub(crate) struct CrlArgs {
    /// Where to write the CRL.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Write DER instead of PEM.
    #[arg(long)]
    pub(crate) der: bool,
    /// Days until the CRL's nextUpdate.
    #[arg(long, default_value_t = 7)]
    pub(crate) days: u32,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    pub(crate) command: Option<AuditCommand>,
    /// Only events about this tenant.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Only events at or after this time: RFC 3339 (2026-11-25T10:00:00Z) or an age (2h, 7d).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// At most this many events: without --after the newest ones, with it the next ones
    /// (1 to 10000; 1 to 1000 with --server).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_LIMIT,
          value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_LIMIT))]
    pub(crate) limit: u32,
    /// Page forward: only events after this cursor (the `next` a previous page printed,
    /// an event's SEQ; 0 starts at the first event).
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

/// The default page size of the listings.
pub(crate) const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The largest `--limit` (the control API allows up to 1000).
pub(crate) const MAX_PAGE_LIMIT: i64 = 10_000;

/// Which page of a long listing: the first `--limit` items after `--after`.
#[derive(Debug, Clone, Args)]
pub(crate) struct PageArgs {
    /// At most this many (1 to 10000; 1 to 1000 with --server).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_LIMIT,
          value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_LIMIT))]
    pub(crate) limit: u32,
    /// Start after this cursor: the `next` the previous page printed (absent: the first
    /// page).
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute the hash chain and report the first edited, inserted or deleted event.
    Verify,
}
