//! How the store and the change listener reach the server: the connection string, parsed
//! once, and a rustls connector that verifies the server.
//!
//! On top of what the client library parses, the connection string may hold:
//! - `sslmode=disable|prefer|require`, and `verify-ca` / `verify-full`, which mean
//!   `require` here: every TLS connection verifies the server's certificate chain *and*
//!   its name (rustls always does), so `require` is already libpq's `verify-full`;
//! - `sslrootcert=FILE`: the PEM CA certificates the server's chain must end at (default:
//!   the system's trust roots).
//!
//! Without `connect_timeout`, a connection attempt gives up after 10 s.
//!
//! Without `sslmode`, a registry on a loopback address or a Unix socket is reached as the
//! client library does by default (`prefer`: TLS when the server offers it), and one on any
//! other host **requires** TLS: a password and the tenant registry never cross a network
//! in the clear unless the URL says `sslmode=disable`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use mtls_registry::RegistryError;
use postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{PostgresError, registry};

/// The connection timeout when the connection string sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A parsed connection string and the connector for it.
pub(crate) struct Connection {
    pub(crate) config: postgres::Config,
    pub(crate) tls: MakeRustlsConnect,
}

/// Parses `url` (taking out what only this crate reads) and builds its TLS connector.
pub(crate) fn prepare(url: &str) -> Result<Connection, RegistryError> {
    let (config, root_cert) = parse(url)?;
    let roots = match (&root_cert, config.get_ssl_mode()) {
        (_, SslMode::Disable) => Arc::new(rustls::RootCertStore::empty()),
        (Some(path), _) => mtls_tls::load_root_store(path).map_err(|source| {
            registry(
                "load the server's CA certificates (sslrootcert)",
                PostgresError::Tls {
                    reason: source.to_string(),
                },
            )
        })?,
        (None, mode) => match mtls_tls::system_roots() {
            Ok(roots) => roots,
            // Nothing to verify a server with: only a server that offers no TLS can be used.
            Err(_) if mode == SslMode::Prefer => Arc::new(rustls::RootCertStore::empty()),
            Err(e) => {
                return Err(registry(
                    "load the system's CA certificates",
                    PostgresError::Tls {
                        reason: format!(
                            "{e}: TLS is required, so name the server's CA with sslrootcert=FILE"
                        ),
                    },
                ));
            }
        },
    };
    let client = rustls::ClientConfig::builder_with_provider(mtls_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            registry(
                "set up TLS",
                PostgresError::Tls {
                    reason: e.to_string(),
                },
            )
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connection {
        config,
        tls: MakeRustlsConnect::new(client),
    })
}

/// The connection string as the client library takes it, with the `sslmode` default and
/// the `verify-*` modes of this crate applied, and `sslrootcert`. The error does not
/// repeat the string (it may hold a password).
pub(crate) fn parse(url: &str) -> Result<(postgres::Config, Option<PathBuf>), RegistryError> {
    let (rest, ours) = split_options(url);
    let mut config = postgres::Config::from_str(&rest).map_err(|source| {
        registry(
            "parse the connection string",
            PostgresError::InvalidUrl { source },
        )
    })?;
    match ours.mode.as_deref() {
        Some("verify-ca" | "verify-full") => {
            config.ssl_mode(SslMode::Require);
        }
        Some(_) => {} // disable, prefer, require: parsed by the client library.
        None if !is_local(&config) => {
            config.ssl_mode(SslMode::Require);
        }
        None => {}
    }
    // A host that never answers must not hold a start, a pooled connection or the change
    // listener (whose thread the gateway joins at shutdown) for the system's TCP timeout.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok((config, ours.root_cert))
}

/// What this crate reads from the connection string itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnOptions {
    /// `sslmode`, as written (also left in the string unless it is `verify-*`).
    mode: Option<String>,
    /// `sslrootcert`.
    root_cert: Option<PathBuf>,
}

/// Takes `sslrootcert` and the `verify-*` modes out of a URL's query or a `key=value`
/// string, which the client library would refuse.
fn split_options(url: &str) -> (String, OwnOptions) {
    let mut own = OwnOptions::default();
    let mut keep = |key: &str, value: &str| match key {
        "sslrootcert" => {
            own.root_cert = Some(PathBuf::from(value));
            false
        }
        "sslmode" => {
            own.mode = Some(value.to_owned());
            !value.starts_with("verify-")
        }
        _ => true,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), own);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                keep(key, value)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, own)
    } else {
        // `host=… sslmode=…`: whitespace-separated pairs (values with spaces are quoted,
        // which these two keys never need).
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                keep(key.trim(), value.trim())
            })
            .collect();
        (kept.join(" "), own)
    }
}

/// Whether every host of `config` is a Unix socket, `localhost` or a loopback address.
fn is_local(config: &postgres::Config) -> bool {
    let hosts = config.get_hosts();
    let named_local = hosts.iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    });
    let addrs_local = config.get_hostaddrs().iter().all(IpAddr::is_loopback);
    !hosts.is_empty() && named_local && addrs_local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_options_are_taken_out_of_urls_and_key_value_strings() {
        let (rest, own) = split_options(
            "postgres://u@db/x?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5",
        );
        assert_eq!(rest, "postgres://u@db/x?connect_timeout=5");
        assert_eq!(own.mode.as_deref(), Some("verify-full"));
        assert_eq!(own.root_cert, Some(PathBuf::from("/etc/ca.pem")));

        let (rest, own) = split_options("postgres://u@db/x?sslmode=require");
        assert_eq!(rest, "postgres://u@db/x?sslmode=require");
        assert_eq!(own.mode.as_deref(), Some("require"));

        let (rest, own) = split_options("host=db user=u sslrootcert=/ca.pem sslmode=verify-ca");
        assert_eq!(rest, "host=db user=u");
        assert_eq!(own.mode.as_deref(), Some("verify-ca"));
        assert_eq!(own.root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(split_options("postgres://u@db/x").0, "postgres://u@db/x");
    }

    fn mode(url: &str) -> SslMode {
        prepare(url).map(|c| c.config.get_ssl_mode()).unwrap()
    }

    #[test]
    fn tls_is_required_off_the_machine_unless_the_url_says_otherwise() {
        // Remote: required by default; the URL may still choose.
        assert_eq!(mode("postgres://u@db.internal/x"), SslMode::Require);
        assert_eq!(mode("postgres://u@10.1.2.3:5432/x"), SslMode::Require);
        assert_eq!(
            mode("postgres://u@db.internal/x?sslmode=disable"),
            SslMode::Disable
        );
        assert_eq!(
            mode("postgres://u@db.internal/x?sslmode=verify-full"),
            SslMode::Require
        );
        // Local: the client library's default (prefer).
        assert_eq!(mode("postgres://u@127.0.0.1/x"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@localhost/x"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@[::1]:5432/x"), SslMode::Prefer);
        assert_eq!(mode("host=/run/postgresql user=u"), SslMode::Prefer);
        // One remote host of several is enough.
        assert_eq!(mode("host=127.0.0.1,db.internal user=u"), SslMode::Require);
    }

    #[test]
    fn a_connection_attempt_is_bounded_unless_the_url_bounds_it() {
        let timeout = |url: &str| parse(url).unwrap().0.get_connect_timeout().copied();
        assert_eq!(timeout("postgres://u@db/x"), Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(
            timeout("postgres://u@db/x?connect_timeout=3"),
            Some(std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn an_unreadable_root_file_is_named() {
        let err = prepare("postgres://u@db/x?sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
        assert!(text.contains("sslrootcert"), "{text}");
    }
}
