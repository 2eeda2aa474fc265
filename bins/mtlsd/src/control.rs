//! The control-plane API (`[control]`): the registry opened read-write (the SQLite file, or
//! the PostgreSQL store the gateway shares), the CA of the data dir, and the TLS config,
//! bound next to the gateway's listeners.
//!
//! With a PostgreSQL registry every replica's control API may sign certificates: each
//! replica holds the same CA files (`<data_dir>/ca/`, never in the database), and a
//! signature is made inside the write transaction that records it, under the registry's
//! one write lock, so the replicas sign one at a time and every serial (16 random octets)
//! is checked unique by the database before the certificate is returned.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mtls_ca::CertificateAuthority;
use mtls_config::{Config, ControlConfig, ControlRateLimit};
use mtls_control::{ControlError, ControlPlane, ControlSettings, RateLimit, control_server_config};
use mtls_registry::SnapshotSource;
use mtls_registry::{RegistryError, Store};
use mtls_registry_sqlite::{SqliteSnapshotSource, SqliteStore};
use rustls::ServerConfig;
use tokio::net::TcpListener;

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlStartError {
    /// The registry could not be opened read-write.
    #[error("control API: cannot open the registry {path}")]
    Registry {
        /// The file, or the database URL without its password.
        path: String,
        #[source]
        source: RegistryError,
    },
    /// The CA could not be loaded.
    #[error("control API: cannot load the CA from {path}")]
    Ca {
        path: PathBuf,
        #[source]
        source: Box<mtls_ca::CaError>,
    },
    /// The blocking set-up task failed.
    #[error("control API: set-up task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The TLS files or the control plane's setup failed.
    #[error("control API: setup failed")]
    Setup(#[from] ControlError),
    /// The socket could not be bound.
    #[error("control API: cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound control plane, ready to serve.
pub(crate) struct BoundControl {
    pub(crate) plane: ControlPlane,
    pub(crate) listener: TcpListener,
    pub(crate) tls: Arc<ServerConfig>,
}

fn settings(c: &ControlConfig) -> ControlSettings {
    let limit = |l: ControlRateLimit| RateLimit {
        count: l.count,
        period: l.period,
        burst: l.burst,
    };
    ControlSettings {
        cert_validity: c.cert_validity,
        recovery_window: c.recovery_window,
        max_recoveries: c.max_recoveries,
        max_body_bytes: c.max_body_bytes,
        max_connections: c.max_connections,
        handshake_timeout: c.handshake_timeout,
        enroll_per_ip: limit(c.enroll_per_ip),
        renew_per_ip: limit(c.renew_per_ip),
        renew_per_tenant: limit(c.renew_per_tenant),
        anonymous_audit_per_ip: limit(c.anonymous_audit_per_ip),
    }
}

/// Opens the registry (or takes the `shared` PostgreSQL store) and the CA and builds the
/// TLS config. Blocking.
fn prepare(
    config: &Config,
    control: &ControlConfig,
    shared: Option<Arc<dyn Store>>,
) -> Result<(ControlPlane, Arc<ServerConfig>), ControlStartError> {
    let name = config.registry().to_string();
    let registry = |source| ControlStartError::Registry {
        path: name.clone(),
        source,
    };
    let store: Arc<dyn Store> = match shared {
        Some(store) => store,
        None => Arc::new(SqliteStore::open(config.registry_path()).map_err(registry)?),
    };
    let domain = store.trust_domain().map_err(registry)?;
    let ca = load_ca(config)?;
    let settings = settings(control);
    let tls = control_server_config(
        &control.cert,
        &control.key,
        &control.ca,
        domain,
        settings.recovery_window,
    )?;
    let plane = ControlPlane::new(store, Arc::new(ca), settings)?;
    Ok((plane, Arc::new(tls)))
}

fn load_ca(config: &Config) -> Result<CertificateAuthority, ControlStartError> {
    let ca_dir = config.data_dir().join("ca");
    CertificateAuthority::load(&ca_dir).map_err(|source| ControlStartError::Ca {
        path: ca_dir,
        source: Box::new(source),
    })
}

/// `--check`: what `prepare` loads, without writing anything: a SQLite registry is read
/// through a read-only source (a file that would need migrating is reported, not migrated,
/// and its mode is left alone), a PostgreSQL one through the store opened at start; then
/// the CA and the TLS files.
pub(crate) fn check(
    config: &Config,
    shared: Option<Arc<dyn Store>>,
) -> Result<(), ControlStartError> {
    let Some(control) = config.control() else {
        return Ok(());
    };
    let name = config.registry().to_string();
    let registry = |source| ControlStartError::Registry {
        path: name.clone(),
        source,
    };
    let domain = match shared {
        Some(store) => store.trust_domain().map_err(registry)?,
        None => SqliteSnapshotSource::open(config.registry_path())
            .and_then(|source| source.snapshot())
            .map_err(registry)?
            .trust_domain()
            .clone(),
    };
    load_ca(config)?;
    control_server_config(
        &control.cert,
        &control.key,
        &control.ca,
        domain,
        control.recovery_window,
    )?;
    Ok(())
}

/// Prepares and binds the control plane, when `[control]` is present.
pub(crate) async fn bind(
    config: &Config,
    shared: Option<Arc<dyn Store>>,
) -> Result<Option<BoundControl>, ControlStartError> {
    let Some(control) = config.control().cloned() else {
        return Ok(None);
    };
    // The registry and CA are read with blocking calls: off the runtime's threads.
    let (plane, tls) = {
        let config = config.clone();
        let control = control.clone();
        tokio::task::spawn_blocking(move || prepare(&config, &control, shared))
            .await
            .map_err(ControlStartError::Task)??
    };
    let listener =
        TcpListener::bind(control.listen)
            .await
            .map_err(|source| ControlStartError::Bind {
                addr: control.listen,
                source,
            })?;
    Ok(Some(BoundControl {
        plane,
        listener,
        tls,
    }))
}
