//! `POST /v1/renew`: a new certificate for the caller's tenant and lineage, including the
//! recovery of a certificate that expired within the recovery window.

use axum::Json;
use axum::extract::State;
use mtls_ca::ClientCertRequest;
use mtls_control_api::{CertificateIssued, ErrorBody, RenewRequest};
use mtls_registry::{Recovery, RenewalRequest};

use crate::caller::RenewCaller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// Renews the caller's certificate: the CA signs the CSR's public key for the caller's
/// tenant. An expired certificate (within the recovery window) may call this and nothing
/// else; its renewal always revokes it, and each lineage recovers at most `max_recoveries`
/// times.
#[utoipa::path(
    post,
    path = "/v1/renew",
    tag = "certificates",
    request_body = RenewRequest,
    responses(
        (status = 200, description = "The new certificate", body = CertificateIssued),
        (status = 400, description = "invalid_request or invalid_csr", body = ErrorBody),
        (status = 401, description = "unauthenticated: no, unknown, revoked or too long expired certificate", body = ErrorBody),
        (status = 403, description = "forbidden (an admin certificate), tenant_suspended or recovery_limit_reached", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
        (status = 429, description = "rate_limited (per source IP and per tenant)", body = ErrorBody),
    )
)]
pub(crate) async fn renew(
    State(state): State<AppState>,
    caller: RenewCaller,
    ApiJson(body): ApiJson<RenewRequest>,
) -> Result<Json<CertificateIssued>, ApiError> {
    state.limits.check_renew_ip(caller.auth.remote.ip())?;
    state
        .limits
        .check_renew_tenant(caller.identity.name.as_str())?;
    let actor = caller.auth.actor();
    let ca = state.ca.clone();
    let domain = state.trust_domain.clone();
    let validity = state.settings.cert_validity;
    let request = RenewalRequest {
        presented: caller.identity.serial.clone(),
        recovery: caller.expired.then_some(Recovery {
            max_recoveries: state.settings.max_recoveries,
        }),
        revoke_presented: body.revoke_previous,
    };
    let csr = body.csr;
    let (record, chain) = state
        .store("renewing a certificate", move |s| {
            let mut chain = None;
            let record = s.renew_certificate(&actor, &request, &mut |tenant| {
                let mut req = ClientCertRequest::new(
                    domain.clone(),
                    tenant.id.clone(),
                    tenant.display_name.clone(),
                );
                req.validity = validity;
                let issued = ca.sign_csr(csr.as_bytes(), &req)?;
                chain = Some(issued.chain_pem.clone());
                Ok(super::new_certificate(&issued))
            })?;
            Ok((record, chain))
        })
        .await?;
    Ok(Json(super::enroll::issued(&state, &record, chain)?))
}
