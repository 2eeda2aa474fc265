//! What can stop a scale run. Missed targets are not errors: they are in the report.

use std::path::PathBuf;

use mtls_load::LoadError;
use mtls_registry::RegistryError;

/// A scale run that could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaleError {
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done (and to which path or program).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The registry refused or failed.
    #[error("registry: {what}")]
    Registry {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// A helper program (`tenantctl`, `mtlsd`) did not do what was asked.
    #[error("{program}: {problem}")]
    Program {
        /// The program's path.
        program: PathBuf,
        /// What went wrong (its stderr, or what it printed instead).
        problem: String,
    },
    /// The client side (TLS config, connections) failed where it must not.
    #[error("client: {what}")]
    Client {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: LoadError,
    },
    /// mtlsd went over `--max-rss-mib` and was killed.
    #[error(
        "mtlsd went over the RSS limit of {} MiB during {during} ({} MiB, {:.1} s after it was started) and was killed",
        limit_kib / 1024,
        rss_kib / 1024,
        after.as_secs_f64()
    )]
    OverMemory {
        /// `start-up` or `the changes`.
        during: &'static str,
        /// Its RSS then, KiB.
        rss_kib: u64,
        /// The limit, KiB.
        limit_kib: u64,
        /// How long after spawn.
        after: std::time::Duration,
    },
    /// The run could not go on (the gateway never admitted the probes, bad flags, ...).
    #[error("{0}")]
    Run(String),
}

// === impl ScaleError ===

impl ScaleError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A registry error with what was being done.
    pub fn registry(what: impl Into<String>) -> impl FnOnce(RegistryError) -> Self {
        let what = what.into();
        move |source| Self::Registry { what, source }
    }

    /// A client-side error with what was being done.
    pub fn client(what: impl Into<String>) -> impl FnOnce(LoadError) -> Self {
        let what = what.into();
        move |source| Self::Client { what, source }
    }
}
