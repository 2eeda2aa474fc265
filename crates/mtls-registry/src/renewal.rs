//! Certificate renewal: a new certificate for the same tenant and key lineage.

use mtls_identity::Serial;

/// What [`Store::renew_certificate`](crate::Store::renew_certificate) is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalRequest {
    /// The certificate the caller authenticated with (proved possession of its key).
    pub presented: Serial,
    /// `Some` when the presented certificate has expired and is being recovered within the
    /// recovery window: the renewal is refused with
    /// [`RecoveryLimitReached`](crate::RegistryError::RecoveryLimitReached) once the lineage
    /// already holds `max_recoveries` recovered certificates. A recovery always revokes the
    /// presented certificate (reason `superseded`), so one expired certificate recovers once.
    pub recovery: Option<Recovery>,
    /// Revoke the presented certificate (reason `superseded`) in the same transaction. A
    /// plain renewal keeps it valid until it expires, so a client can swap files safely.
    pub revoke_presented: bool,
}

/// The bound on expired-certificate recoveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// How many recovered certificates one lineage may hold.
    pub max_recoveries: u32,
}
