//! The data directory: where the registry, the CA and the proxy's server certificate live.
//!
//! ```text
//! <data-dir>/            mode 0700
//!   registry.db          SQLite registry (0600)
//!   ca/                  root.pem, root-key.pem (0600) [, intermediate.pem, intermediate-key.pem]
//!   ca.pem               trust anchor to hand to clients and upstreams
//!   server/              cert.pem (leaf + chain), key.pem (0600), ca.pem: the proxy's listener identity
//! ```
//!
//! With `--registry URL` (`MTLS_REGISTRY`) the registry is in that PostgreSQL database
//! instead of `registry.db`; everything else stays in the directory.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mtls_ca::CertificateAuthority;
use mtls_identity::TrustDomain;
use mtls_registry::{Actor, RegistryError, Store};
use mtls_registry_postgres::PostgresStore;
use mtls_registry_sqlite::SqliteStore;

use crate::error::CliError;

/// Paths inside one data directory.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    root: PathBuf,
    /// `--registry`: a PostgreSQL registry instead of `registry.db`.
    registry_url: Option<String>,
}

// === impl DataDir ===

impl DataDir {
    pub(crate) fn new(root: PathBuf, registry_url: Option<String>) -> Self {
        Self { root, registry_url }
    }

    /// Where the registry is, for messages: `registry.db`'s path, or the `--registry` URL
    /// without its password.
    pub(crate) fn registry_location(&self) -> PathBuf {
        match &self.registry_url {
            Some(url) => PathBuf::from(mtls_registry_postgres::redact_url(url)),
            None => self.registry(),
        }
    }

    /// Whether the registry is a PostgreSQL database (`--registry`).
    pub(crate) fn registry_is_remote(&self) -> bool {
        self.registry_url.is_some()
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn registry(&self) -> PathBuf {
        self.root.join("registry.db")
    }

    pub(crate) fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }

    pub(crate) fn trust_bundle(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    pub(crate) fn server_dir(&self) -> PathBuf {
        self.root.join("server")
    }

    /// Creates the directory with mode 0700 if it is missing, then checks it is safe.
    pub(crate) fn create_or_check(&self) -> Result<(), CliError> {
        if !self.root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .map_err(CliError::io("create data directory", &self.root))?;
        }
        self.check()
    }

    /// The directory must exist, be a directory and give group and others no access at all:
    /// it holds the CA's private key.
    pub(crate) fn check(&self) -> Result<(), CliError> {
        let meta = match std::fs::metadata(&self.root) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::DataDirMissing {
                    path: self.root.clone(),
                });
            }
            Err(e) => return Err(CliError::io("read data directory", &self.root)(e)),
        };
        if !meta.is_dir() {
            return Err(CliError::DataDirNotADirectory {
                path: self.root.clone(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CliError::DataDirUnsafe {
                path: self.root.clone(),
                mode,
            });
        }
        Ok(())
    }

    /// Opens the registry of an initialised data directory, checking the whole file first
    /// (for commands that write).
    pub(crate) fn open_registry(&self) -> Result<Box<dyn Store>, CliError> {
        self.check()?;
        Ok(match &self.registry_url {
            Some(url) => Box::new(PostgresStore::open(url)?),
            None => Box::new(SqliteStore::open(self.registry())?),
        })
    }

    /// Opens the registry for a command that only reads: without the whole-file check,
    /// which costs most of a command's time on a large registry
    /// ([`SqliteStore::open_for_reads`]).
    pub(crate) fn open_registry_for_reads(&self) -> Result<Box<dyn Store>, CliError> {
        self.check()?;
        Ok(match &self.registry_url {
            Some(url) => Box::new(PostgresStore::open(url)?),
            None => Box::new(SqliteStore::open_for_reads(self.registry())?),
        })
    }

    /// The trust domain of the registry if there is one already (`None`: nothing to open).
    pub(crate) fn existing_registry(&self) -> Result<Option<TrustDomain>, CliError> {
        let opened: Result<Box<dyn Store>, RegistryError> = match &self.registry_url {
            Some(url) => PostgresStore::open(url).map(|s| Box::new(s) as Box<dyn Store>),
            None if !self.registry().exists() => return Ok(None),
            None => SqliteStore::open(self.registry()).map(|s| Box::new(s) as Box<dyn Store>),
        };
        match opened {
            Ok(store) => Ok(Some(store.trust_domain()?)),
            Err(RegistryError::NotInitialised { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the registry (`registry.db`, or in the `--registry` database).
    pub(crate) fn create_registry(
        &self,
        domain: &TrustDomain,
        actor: &Actor,
    ) -> Result<(), CliError> {
        match &self.registry_url {
            Some(url) => drop(PostgresStore::create(url, domain, actor)?),
            None => drop(SqliteStore::create(self.registry(), domain, actor)?),
        }
        Ok(())
    }

    /// Loads the CA of an initialised data directory.
    pub(crate) fn load_ca(&self) -> Result<CertificateAuthority, CliError> {
        self.check()?;
        Ok(CertificateAuthority::load(&self.ca_dir())?)
    }
}
