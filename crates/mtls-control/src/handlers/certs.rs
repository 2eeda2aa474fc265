//! Certificates: a tenant's list, and revocation (tenant certificates; admin certificates
//! by admins).

use axum::Json;
use axum::extract::State;
use mtls_control_api::{Certificate, CertificatePage, ErrorBody, RevokeRequest};
use mtls_identity::{RevocationReason, Serial, TenantId};
use mtls_registry::{AdminCertificateRecord, RegistryError};

use crate::caller::{Caller, Role};
use crate::convert;
use crate::error::ApiError;
use crate::handlers::page::PageQuery;
use crate::json::{ApiPath, ApiQuery, OptionalJson, path_param};
use crate::state::AppState;

/// A tenant's certificates by issue time, a page at a time (admin, or the tenant itself).
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}/certs",
    tag = "certificates",
    params(("id" = String, Path, description = "Tenant id"), PageQuery),
    responses(
        (status = 200, description = "A page of the tenant's certificates, by issue time; `next` is the cursor of the next page", body = CertificatePage),
        (status = 400, description = "invalid_request: bad limit or after (also another tenant's cursor)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden: another tenant", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<CertificatePage>, ApiError> {
    let id: TenantId = path_param("id", &id)?;
    caller.may_act_on(&id)?;
    let (after, limit) = query.parse()?;
    let page = state
        .store("listing certificates", move |s| {
            s.tenant(&id)?;
            s.certificates_page(Some(&id), after.as_ref(), limit)
        })
        .await?;
    Ok(Json(CertificatePage {
        items: page.items.iter().map(convert::certificate).collect(),
        next: page.next.map(|c| c.to_string()),
    }))
}

/// Revokes a certificate. A tenant may revoke only its own; an admin any tenant certificate
/// and admin certificates (shown with `tenant` = `admin/<name>`).
#[utoipa::path(
    post,
    path = "/v1/certs/{serial}/revoke",
    tag = "certificates",
    params(("serial" = String, Path, description = "Serial, hex")),
    request_body(content = Option<RevokeRequest>, description = "Optional: the reason"),
    responses(
        (status = 200, description = "The revoked certificate", body = Certificate),
        (status = 400, description = "invalid_request: bad serial or reason", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 404, description = "not_found (for a tenant: also another tenant's certificate)", body = ErrorBody),
        (status = 409, description = "conflict: already revoked", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(serial): ApiPath<String>,
    OptionalJson(body): OptionalJson<RevokeRequest>,
) -> Result<Json<Certificate>, ApiError> {
    let serial: Serial = path_param("serial", &serial)?;
    let reason: RevocationReason = match &body.reason {
        None => RevocationReason::default(),
        Some(r) => r
            .parse()
            .map_err(|e| ApiError::invalid_request(format!("reason: {e}")))?,
    };
    let actor = caller.actor();
    let own_tenant = caller.tenant().cloned();
    let is_admin = matches!(caller.role, Role::Admin(_));
    let revoked = state
        .store("revoking a certificate", move |s| {
            match s.certificate(&serial) {
                Ok(cert) => {
                    if let Some(own) = &own_tenant
                        && cert.tenant != *own
                    {
                        return Err(RegistryError::UnknownSerial { serial });
                    }
                    s.revoke_certificate(&actor, &serial, reason)
                        .map(|c| convert::certificate(&c))
                }
                Err(RegistryError::UnknownSerial { .. }) if is_admin => s
                    .revoke_admin_certificate(&actor, &serial, reason)
                    .map(|a| admin_certificate(&a)),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(Json(revoked))
}

fn admin_certificate(a: &AdminCertificateRecord) -> Certificate {
    Certificate {
        serial: a.serial.to_string(),
        tenant: format!("admin/{}", a.admin),
        fingerprint: a.fingerprint.to_string(),
        not_before: a.not_before,
        not_after: a.not_after,
        issued_at: a.issued_at,
        revoked_at: a.revoked_at,
        revocation_reason: a.revocation_reason.map(|r| r.as_str().to_owned()),
        lineage: a.serial.to_string(),
        renewed_from: None,
        recovered: false,
    }
}
