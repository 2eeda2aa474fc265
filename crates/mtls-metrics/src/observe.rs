//! The [`SelectionObserver`] of a listener's outbound side: one counter increment and one
//! debug log line per client-identity decision.

use std::sync::Arc;

use mtls_resolver::{Selection, SelectionObserver};
use tracing::debug;

use crate::families::{Metrics, Name, SelectionLabel};

/// The `identity` label when no certificate is sent (identity names cannot be `none`).
const NO_IDENTITY: &str = "none";

/// Counts `mtlsd_client_identity_selections_total{listener, identity, reason}` and logs each
/// decision at debug level.
pub struct SelectionMetrics {
    listener: Name,
    metrics: Arc<Metrics>,
}

// === impl SelectionMetrics ===

impl SelectionMetrics {
    /// Counts the selections of `listener`'s outbound side in `metrics`.
    pub fn new(listener: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            listener: listener.into(),
            metrics,
        }
    }
}

impl SelectionObserver for SelectionMetrics {
    fn on_selection(&self, selection: &Selection<'_>) {
        let identity = selection.identity.unwrap_or(NO_IDENTITY);
        let reason = selection.reason.as_str();
        debug!(
            listener = %self.listener,
            identity,
            reason,
            server_name = selection.server_name.unwrap_or(""),
            ca_names_offered = selection.ca_names_offered,
            "client identity selected"
        );
        self.metrics
            .identity_selections
            .get_or_create(&SelectionLabel {
                listener: self.listener.clone(),
                identity: identity.to_owned(),
                reason,
            })
            .inc();
    }
}
