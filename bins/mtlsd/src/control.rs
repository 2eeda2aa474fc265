//! The control-plane API (`[control]`): the registry opened read-write, the CA of the data
//! dir, and the TLS config, bound next to the gateway's listeners.

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
        path: PathBuf,
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

/// Opens the registry and the CA and builds the TLS config (what `--check` verifies).
fn prepare(
    config: &Config,
    control: &ControlConfig,
) -> Result<(ControlPlane, Arc<ServerConfig>), ControlStartError> {
    let path = config.registry_path();
    let store = SqliteStore::open(&path).map_err(|source| ControlStartError::Registry {
        path: path.clone(),
        source,
    })?;
    let domain = store
        .trust_domain()
        .map_err(|source| ControlStartError::Registry { path, source })?;
    let ca_dir = config.data_dir().join("ca");
    let ca = CertificateAuthority::load(&ca_dir).map_err(|source| ControlStartError::Ca {
        path: ca_dir,
        source: Box::new(source),
    })?;
    let settings = settings(control);
    let tls = control_server_config(
        &control.cert,
        &control.key,
        &control.ca,
        domain,
        settings.recovery_window,
    )?;
    let plane = ControlPlane::new(Arc::new(store), Arc::new(ca), settings)?;
    Ok((plane, Arc::new(tls)))
}

/// `--check`: what `prepare` loads, without writing anything: the registry is read
/// through a read-only source (a file that would need migrating is reported, not migrated,
/// and its mode is left alone), then the CA and the TLS files.
pub(crate) fn check(config: &Config) -> Result<(), ControlStartError> {
    let Some(control) = config.control() else {
        return Ok(());
    };
    let path = config.registry_path();
    let registry = |source| ControlStartError::Registry {
        path: path.clone(),
        source,
    };
    let source = SqliteSnapshotSource::open(&path).map_err(registry)?;
    let domain = source.snapshot().map_err(registry)?.trust_domain().clone();
    let ca_dir = config.data_dir().join("ca");
    CertificateAuthority::load(&ca_dir).map_err(|source| ControlStartError::Ca {
        path: ca_dir,
        source: Box::new(source),
    })?;
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
pub(crate) async fn bind(config: &Config) -> Result<Option<BoundControl>, ControlStartError> {
    let Some(control) = config.control() else {
        return Ok(None);
    };
    let (plane, tls) = prepare(config, control)?;
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
