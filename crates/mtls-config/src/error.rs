//! Config errors: every problem names the file, the listener and the field.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("config file {} is not valid: {}", path.display(), source.message().trim_end())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML error (it carries the line and column).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The file parsed but some values are wrong; all of them are listed.
    #[error("config file {} has {} problem(s):{}", path.display(), problems.len(), ProblemList(problems))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

// === impl ConfigError ===

impl ConfigError {
    /// The problems of an [`ConfigError::Invalid`] error (empty for the other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }

    /// Whether this is a TOML syntax, type or unknown-key error.
    pub fn is_parse(&self) -> bool {
        matches!(self, Self::Parse { .. })
    }
}

/// One bad value in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The listener's name (or `#<index>` when it has none), `None` for top-level sections.
    pub listener: Option<String>,
    /// The dotted key, e.g. `proxy.idle_timeout` or `health.listen`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

// === impl Problem ===

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.listener {
            Some(l) => write!(f, "listener {l}: `{}`: {}", self.field, self.message),
            None => write!(f, "`{}`: {}", self.field, self.message),
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

// === impl ProblemList ===

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}
