//! Errors of the CLI: each names the file, tenant, serial or flag involved.

use std::path::PathBuf;

/// Everything that can make a `tenantctl` command fail.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(
        "data directory {path} does not exist; run `tenantctl init --trust-domain <domain>` first (or pass --data-dir)"
    )]
    DataDirMissing { path: PathBuf },
    #[error("{path} is not a directory")]
    DataDirNotADirectory { path: PathBuf },
    #[error(
        "data directory {path} has mode {mode:04o}; it holds private keys, so group and others must have no access (chmod 700 {path})"
    )]
    DataDirUnsafe { path: PathBuf, mode: u32 },
    #[error(
        "data directory {path} is already initialised ({found} exists); pass --force to replace the CA and server certificate"
    )]
    AlreadyInitialised { path: PathBuf, found: PathBuf },
    #[error(
        "registry {path} has trust domain {existing}, not {requested}; --force never changes a registry's trust domain"
    )]
    TrustDomainMismatch {
        path: PathBuf,
        existing: String,
        requested: String,
    },
    #[error("could not {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the certificate was recorded, but its files could not be moved from {staging} to {target}; move them by hand"
    )]
    PublishFailed {
        staging: PathBuf,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output {path} already exists and is not empty; choose a new path")]
    OutputExists { path: PathBuf },
    #[error("{what} {path} is empty")]
    EmptySecretFile { what: &'static str, path: PathBuf },
    #[error("no enrollment token: pass --token, --token-file or set MTLS_ENROLL_TOKEN")]
    NoToken,
    #[error("invalid {field} {value:?}")]
    InvalidArgument {
        field: &'static str,
        value: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("--days must be between 1 and {max}, got {days}")]
    BadDays { days: u32, max: u32 },
    #[error(
        "invalid --since {value:?}: expected RFC 3339 (2026-11-25T10:00:00Z) or an age such as 2h or 7d"
    )]
    BadSince { value: String },
    #[error("could not sign the CSR in {csr}")]
    SignCsr {
        csr: PathBuf,
        #[source]
        source: Box<mtls_registry::RegistryError>,
    },
    #[error("cannot check certificates against the trust bundle {path}")]
    TrustBundle {
        path: PathBuf,
        #[source]
        source: Box<mtls_tls::ClientChainError>,
    },
    #[error(
        "`tenantctl {command}` works on the local data directory only; run it on the proxy host without --server (unset TENANTCTL_SERVER, or `server` in the config file)"
    )]
    LocalOnly { command: &'static str },
    #[error(
        "`tenantctl {command}` talks to the control-plane API: pass --server https://HOST:PORT (or set TENANTCTL_SERVER)"
    )]
    NeedsServer { command: &'static str },
    #[error("{command} needs {flag}: {why}")]
    MissingArgument {
        command: &'static str,
        flag: &'static str,
        why: &'static str,
    },
    #[error("remote mode: {reason}")]
    RemoteSettings { reason: String },
    #[error("cannot read the config file {path}")]
    ConfigFile {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{address} cannot be tenant {tenant}'s egress address")]
    EgressAddress {
        tenant: String,
        address: std::net::IpAddr,
        #[source]
        source: mtls_egress::LocalAddressError,
    },
    #[error("the server sent {what} that tenantctl cannot read: {reason}")]
    RemoteData { what: &'static str, reason: String },
    #[error(transparent)]
    Remote(Box<mtls_control_client::ClientError>),
    #[error(transparent)]
    Ca(Box<mtls_ca::CaError>),
    #[error(transparent)]
    Registry(Box<mtls_registry::RegistryError>),
}

// === impl CliError ===

impl From<mtls_ca::CaError> for CliError {
    fn from(e: mtls_ca::CaError) -> Self {
        Self::Ca(Box::new(e))
    }
}

impl From<mtls_registry::RegistryError> for CliError {
    fn from(e: mtls_registry::RegistryError) -> Self {
        Self::Registry(Box::new(e))
    }
}

impl From<mtls_control_client::ClientError> for CliError {
    fn from(e: mtls_control_client::ClientError) -> Self {
        Self::Remote(Box::new(e))
    }
}

impl CliError {
    /// The server's error code, for remote failures the server answered.
    pub(crate) fn remote_code(&self) -> Option<&'static str> {
        match self {
            Self::Remote(e) => e.code().map(|c| c.as_str()),
            _ => None,
        }
    }

    /// A stable, machine-readable kind for `--json` output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::DataDirMissing { .. } => "data_dir_missing",
            Self::DataDirNotADirectory { .. } => "data_dir_not_a_directory",
            Self::DataDirUnsafe { .. } => "data_dir_unsafe",
            Self::AlreadyInitialised { .. } => "already_initialised",
            Self::TrustDomainMismatch { .. } => "trust_domain_mismatch",
            Self::Io { .. } => "io",
            Self::OutputExists { .. } => "output_exists",
            Self::PublishFailed { .. } => "publish_failed",
            Self::EmptySecretFile { .. } => "empty_secret_file",
            Self::NoToken => "no_token",
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::BadDays { .. } => "bad_days",
            Self::BadSince { .. } => "bad_since",
            Self::SignCsr { .. } => "sign_csr",
            Self::TrustBundle { .. } => "trust_bundle",
            Self::LocalOnly { .. } => "local_only",
            Self::NeedsServer { .. } => "needs_server",
            Self::RemoteSettings { .. } => "remote_settings",
            Self::MissingArgument { .. } => "missing_argument",
            Self::ConfigFile { .. } => "config_file",
            Self::EgressAddress { .. } => "egress_address",
            Self::RemoteData { .. } => "remote_data",
            Self::Remote(_) => "remote",
            Self::Ca(_) => "ca",
            Self::Registry(_) => "registry",
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn invalid<E>(field: &'static str, value: &str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let value = value.to_owned();
        move |source| Self::InvalidArgument {
            field,
            value,
            source: Box::new(source),
        }
    }
}
