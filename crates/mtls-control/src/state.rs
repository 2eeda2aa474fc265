//! The state every handler shares, and running the sync [`Store`] off the async workers.

use std::sync::Arc;

use mtls_ca::CertificateAuthority;
use mtls_identity::TrustDomain;
use mtls_registry::{RegistryError, Store};

use crate::error::ApiError;
use crate::rate_limit::RateLimiters;
use crate::settings::ControlSettings;

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ca: Arc<CertificateAuthority>,
    pub(crate) settings: ControlSettings,
    pub(crate) trust_domain: TrustDomain,
    pub(crate) limits: RateLimiters,
    /// Called after every successful change (see [`ControlPlane::on_change`](crate::ControlPlane::on_change)).
    pub(crate) on_change: std::sync::OnceLock<ChangeHook>,
}

/// A callback run after each committed change.
pub(crate) type ChangeHook = Arc<dyn Fn() + Send + Sync>;

/// The axum state.
pub(crate) type AppState = Arc<Shared>;

// === impl Shared ===

impl Shared {
    /// Runs `f` against the store on the blocking pool (the store is sync and may wait on
    /// its database lock); a registry error becomes an [`ApiError`] saying what was being
    /// done.
    pub(crate) async fn store<T, F>(&self, doing: &'static str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, RegistryError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
            Ok(result) => result.map_err(|e| ApiError::from_registry(e, doing)),
            Err(join) => {
                tracing::error!(error = %join, "control API: a registry call panicked while {doing}");
                Err(ApiError::internal(doing))
            }
        }
    }
}
