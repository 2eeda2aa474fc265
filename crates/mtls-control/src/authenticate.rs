//! Authentication: who the verified leaf certificate says the caller is, checked against
//! the registry (recorded, unrevoked, same fingerprint, tenant active; admin certificates
//! valid now, tenant certificates possibly expired within the recovery window).

use mtls_identity::{PeerIdentity, Serial, TenantId, admin_from_uri};
use mtls_registry::{RegistryError, TenantStatus};
use time::OffsetDateTime;

use crate::caller::{Authenticated, Identity, Outcome, timestamp};
use crate::error::ApiError;
use crate::peer::TlsPeer;
use crate::state::Shared;

/// Decides who the caller is.
pub(crate) async fn authenticate(state: &Shared, peer: &TlsPeer) -> Authenticated {
    let outcome = match peer.leaf() {
        None => Outcome::Anonymous,
        Some(leaf) => identify(state, leaf.as_ref()).await,
    };
    Authenticated {
        remote: peer.remote_addr,
        outcome,
    }
}

async fn identify(state: &Shared, der: &[u8]) -> Outcome {
    let domain = &state.trust_domain;
    let peer = match PeerIdentity::from_der(der, Some(domain)) {
        Ok(peer) => peer,
        Err(e) => {
            return Outcome::Refused {
                label: "anonymous".to_owned(),
                error: ApiError::unauthenticated(format!(
                    "the client certificate does not parse: {e}"
                )),
            };
        }
    };
    let now = OffsetDateTime::now_utc();
    if let Some(admin) = peer.uris.iter().find_map(|u| admin_from_uri(domain, u)) {
        let label = format!("admin/{admin}");
        return match check_admin(state, &peer, now).await {
            Ok(()) => Outcome::Admin(Identity {
                name: admin,
                serial: peer.serial,
                not_after: peer.not_after,
            }),
            Err(error) => Outcome::Refused { label, error },
        };
    }
    if let Some(tenant) = peer.tenant.clone() {
        let label = format!("tenant/{tenant}");
        return match check_tenant(state, &peer, &tenant, now).await {
            Ok(expired) => Outcome::Tenant {
                identity: Identity {
                    name: tenant,
                    serial: peer.serial,
                    not_after: peer.not_after,
                },
                expired,
            },
            Err(error) => Outcome::Refused { label, error },
        };
    }
    Outcome::Refused {
        label: "anonymous".to_owned(),
        error: ApiError::unauthenticated(format!(
            "certificate {} names no admin or tenant of trust domain {domain}",
            peer.serial
        )),
    }
}

async fn check_admin(
    state: &Shared,
    peer: &PeerIdentity,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if peer.not_after < now || peer.not_before > now {
        return Err(ApiError::unauthenticated(format!(
            "admin certificate {} is not valid now (valid {} to {})",
            peer.serial,
            timestamp(peer.not_before),
            timestamp(peer.not_after)
        )));
    }
    let serial = peer.serial.clone();
    let record = state
        .store("checking the caller's admin certificate", move |s| {
            s.admin_certificate(&serial)
        })
        .await
        .map_err(|e| unrecorded(e, &peer.serial, "admin"))?;
    if let Some(at) = record.revoked_at {
        return Err(ApiError::unauthenticated(format!(
            "admin certificate {} was revoked at {}",
            peer.serial,
            timestamp(at)
        )));
    }
    if record.fingerprint != peer.fingerprint {
        return Err(ApiError::unauthenticated(format!(
            "admin certificate {} does not match the recorded certificate with that serial",
            peer.serial
        )));
    }
    Ok(())
}

/// `Ok(expired)`: whether the certificate is past its notAfter (within the recovery
/// window, or the handshake would have failed).
async fn check_tenant(
    state: &Shared,
    peer: &PeerIdentity,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    if peer.not_before > now {
        return Err(ApiError::unauthenticated(format!(
            "certificate {} is not valid before {}",
            peer.serial,
            timestamp(peer.not_before)
        )));
    }
    let expired = peer.not_after < now;
    if expired {
        let window = time::Duration::try_from(state.settings.recovery_window)
            .unwrap_or(time::Duration::ZERO);
        if now - peer.not_after >= window {
            return Err(ApiError::unauthenticated(format!(
                "certificate {} expired at {}, outside the recovery window",
                peer.serial,
                timestamp(peer.not_after)
            )));
        }
    }
    let serial = peer.serial.clone();
    let id = tenant.clone();
    let (record, tenant_record) = state
        .store("checking the caller's certificate", move |s| {
            let cert = s.certificate(&serial)?;
            let tenant = s.tenant(&id).map(Some).or_else(|e| match e {
                RegistryError::UnknownTenant { .. } => Ok(None),
                other => Err(other),
            })?;
            Ok((cert, tenant))
        })
        .await
        .map_err(|e| unrecorded(e, &peer.serial, "tenant"))?;
    if record.tenant != *tenant || record.fingerprint != peer.fingerprint {
        return Err(ApiError::unauthenticated(format!(
            "certificate {} does not match the recorded certificate with that serial",
            peer.serial
        )));
    }
    if let Some(at) = record.revoked_at {
        return Err(ApiError::unauthenticated(format!(
            "certificate {} was revoked at {}",
            peer.serial,
            timestamp(at)
        )));
    }
    match tenant_record {
        None => Err(ApiError::unauthenticated(format!(
            "tenant {tenant} of certificate {} no longer exists",
            peer.serial
        ))),
        Some(t) if t.status == TenantStatus::Suspended => Err(ApiError::new(
            mtls_control_api::ErrorCode::TenantSuspended,
            format!("tenant {tenant} is suspended"),
        )),
        Some(_) => Ok(expired),
    }
}

/// An unknown serial is 401 (the certificate is not one the registry issued); other
/// registry errors keep their mapping.
fn unrecorded(e: ApiError, serial: &Serial, kind: &str) -> ApiError {
    if e.code == mtls_control_api::ErrorCode::NotFound {
        ApiError::unauthenticated(format!(
            "{kind} certificate {serial} is not recorded in the registry"
        ))
    } else {
        e
    }
}
