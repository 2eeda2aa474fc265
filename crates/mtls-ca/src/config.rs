//! [`CaConfig`]: what a new CA looks like, and [`Overwrite`].

use std::time::Duration;

use crate::{CaError, KeyAlgorithm};

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What a new CA looks like. See [`CertificateAuthority::generate`](crate::CertificateAuthority::generate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaConfig {
    /// The root's subject common name, e.g. `multi-mtls-proxy root CA (example.test)`.
    /// 1 to 64 characters. The intermediate's name is derived from it (`root CA` becomes
    /// `issuing CA`, or ` issuing CA` is appended).
    pub common_name: String,
    /// The subject organisation (O) of the CA certificates, if any.
    pub organization: Option<String>,
    /// Key algorithm of the CA keys.
    pub algorithm: KeyAlgorithm,
    /// Validity of the root certificate. Default: 10 years.
    pub root_validity: Duration,
    /// Whether to create an issuing intermediate CA. With one, the root key only signs the
    /// intermediate and can be kept offline; leaves and CRLs are signed by the intermediate.
    pub intermediate: bool,
    /// Validity of the intermediate certificate. Default: 5 years. Must not exceed
    /// `root_validity`.
    pub intermediate_validity: Duration,
}

// === impl CaConfig ===

impl Default for CaConfig {
    fn default() -> Self {
        Self {
            common_name: "multi-mtls-proxy root CA".to_owned(),
            organization: None,
            algorithm: KeyAlgorithm::default(),
            root_validity: 10 * YEAR,
            intermediate: false,
            intermediate_validity: 5 * YEAR,
        }
    }
}

impl CaConfig {
    /// The intermediate's common name derived from [`CaConfig::common_name`].
    pub fn intermediate_common_name(&self) -> String {
        if self.common_name.contains("root CA") {
            self.common_name.replacen("root CA", "issuing CA", 1)
        } else {
            format!("{} issuing CA", self.common_name)
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CaError> {
        let check_name = |field: &'static str, value: &str| -> Result<(), CaError> {
            let reason = if value.trim().is_empty() {
                "must not be empty"
            } else if value.chars().count() > 64 {
                "must be at most 64 characters (X.520 upper bound)"
            } else if value.chars().any(char::is_control) {
                "must not contain control characters"
            } else {
                return Ok(());
            };
            Err(CaError::InvalidConfig {
                field,
                reason: format!("{value:?} {reason}"),
            })
        };
        check_name("common_name", &self.common_name)?;
        if let Some(org) = &self.organization {
            check_name("organization", org)?;
        }
        if self.root_validity.is_zero() {
            return Err(CaError::InvalidValidity {
                field: "root_validity",
                validity: self.root_validity,
                reason: "must be positive",
            });
        }
        if self.intermediate {
            check_name("common_name", &self.intermediate_common_name())?;
            if self.intermediate_validity.is_zero() {
                return Err(CaError::InvalidValidity {
                    field: "intermediate_validity",
                    validity: self.intermediate_validity,
                    reason: "must be positive",
                });
            }
            if self.intermediate_validity > self.root_validity {
                return Err(CaError::InvalidValidity {
                    field: "intermediate_validity",
                    validity: self.intermediate_validity,
                    reason: "must not exceed root_validity",
                });
            }
        }
        Ok(())
    }
}

/// Whether writing may replace existing files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Overwrite {
    /// Fail with [`CaError::AlreadyExists`] if any target file exists; write nothing.
    #[default]
    Never,
    /// Replace existing files (each one atomically).
    Force,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intermediate_names_and_defaults() {
        let mut config = CaConfig {
            common_name: "multi-mtls-proxy root CA (example.test)".into(),
            ..CaConfig::default()
        };
        assert_eq!(
            config.intermediate_common_name(),
            "multi-mtls-proxy issuing CA (example.test)"
        );
        config.common_name = "Example".into();
        assert_eq!(config.intermediate_common_name(), "Example issuing CA");
        assert_eq!(CaConfig::default().root_validity, 10 * YEAR);
        assert_eq!(CaConfig::default().intermediate_validity, 5 * YEAR);
        assert_eq!(Overwrite::default(), Overwrite::Never);
    }

    #[test]
    fn derived_intermediate_name_must_fit() {
        let config = CaConfig {
            common_name: "x".repeat(60),
            intermediate: true,
            ..CaConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert!(
            matches!(
                err,
                CaError::InvalidConfig {
                    field: "common_name",
                    ..
                }
            ),
            "{err}"
        );
        CaConfig {
            intermediate: false,
            ..config
        }
        .validate()
        .unwrap();
    }
}
