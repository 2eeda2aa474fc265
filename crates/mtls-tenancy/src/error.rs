//! Why a gateway listener could not reach its registry at start.

use std::path::PathBuf;

use mtls_registry::RegistryError;

/// Why a gateway listener could not reach its registry at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryStartError {
    /// The gateway was started without a registry source, which gateway listeners need.
    #[error(
        "gateway mode needs a tenant registry, and none was given (the `registry` argument of Gateway::bind and check)"
    )]
    Missing,
    /// The registry database could not be opened (missing: run `tenantctl init`); the
    /// source's first [`version`](mtls_registry::SnapshotSource::version) failed.
    #[error("cannot open the registry {}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
    /// The first snapshot could not be read.
    #[error("cannot read a snapshot of the registry {}", path.display())]
    Snapshot {
        /// The database file.
        path: PathBuf,
        /// The registry error.
        #[source]
        source: Box<RegistryError>,
    },
}
