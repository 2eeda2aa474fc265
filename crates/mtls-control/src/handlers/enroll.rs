//! `POST /v1/enroll`: a one-time token and a CSR for a certificate (no client certificate).

use axum::Json;
use axum::extract::State;
use mtls_ca::ClientCertRequest;
use mtls_control_api::{CertificateIssued, EnrollRequest, ErrorBody};
use mtls_registry::CertificateRecord;

use crate::caller::AnyCaller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// Redeems a one-time enrollment token: the CA signs the CSR's public key for the tenant
/// the token was made for (the CSR's subject and SANs are ignored).
#[utoipa::path(
    post,
    path = "/v1/enroll",
    tag = "enrollment",
    request_body = EnrollRequest,
    responses(
        (status = 200, description = "The certificate was issued", body = CertificateIssued),
        (status = 400, description = "invalid_request or invalid_csr", body = ErrorBody),
        (status = 401, description = "unauthenticated: unknown token", body = ErrorBody),
        (status = 403, description = "tenant_suspended", body = ErrorBody),
        (status = 410, description = "token_gone: used or expired token", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
        (status = 429, description = "rate_limited (per source IP)", body = ErrorBody),
    )
)]
pub(crate) async fn enroll(
    State(state): State<AppState>,
    AnyCaller(auth): AnyCaller,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> Result<Json<CertificateIssued>, ApiError> {
    state.limits.check_enroll(auth.remote.ip())?;
    let actor = auth.actor();
    let ca = state.ca.clone();
    let domain = state.trust_domain.clone();
    let validity = state.settings.cert_validity;
    let EnrollRequest { token, csr } = body;
    let (record, chain): (CertificateRecord, Option<String>) = state
        .store("redeeming an enrollment token", move |s| {
            let mut chain = None;
            let record = s.redeem_enrollment_token(&actor, token.trim(), &mut |tenant| {
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
    Ok(Json(issued(&state, &record, chain)?))
}

/// The response for a certificate just issued.
pub(crate) fn issued(
    state: &AppState,
    record: &CertificateRecord,
    chain: Option<String>,
) -> Result<CertificateIssued, ApiError> {
    let cert = chain.ok_or_else(|| ApiError::internal("returning the issued certificate"))?;
    Ok(CertificateIssued {
        cert,
        ca: state.ca.root_pem().to_owned(),
        serial: record.serial.to_string(),
        tenant: record.tenant.to_string(),
        not_after: record.not_after,
        lineage: record.lineage.to_string(),
    })
}
