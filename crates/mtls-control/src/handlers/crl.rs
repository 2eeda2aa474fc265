//! `GET /v1/crl`: the revocation list, tenant and admin certificates (no authentication).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mtls_ca::{CrlRequest, RevokedCertificate};
use mtls_control_api::ErrorBody;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::json::ApiQuery;
use crate::state::AppState;

/// How long a served CRL says it is good for.
const CRL_NEXT_UPDATE: time::Duration = time::Duration::days(1);
/// The DER media type.
const PKIX_CRL: &str = "application/pkix-crl";

/// `?format=pem|der`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CrlQuery {
    /// `pem` (default) or `der`.
    format: Option<String>,
}

/// The CRL, freshly signed: PEM by default, DER with `?format=der` or
/// `Accept: application/pkix-crl`.
#[utoipa::path(
    get,
    path = "/v1/crl",
    tag = "certificates",
    params(CrlQuery),
    responses(
        (status = 200, description = "The CRL (PEM as application/x-pem-file, or DER as application/pkix-crl)", content_type = "application/x-pem-file", body = String),
        (status = 400, description = "invalid_request: unknown format", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CrlQuery>,
) -> Result<Response, ApiError> {
    let der = match query.format.as_deref() {
        Some("der") => true,
        Some("pem") => false,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "format {other:?}: expected \"pem\" or \"der\""
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with(PKIX_CRL))),
    };
    let (tenants, admins) = state
        .store("listing revoked certificates", |s| {
            Ok((s.revoked_certificates()?, s.admin_certificates()?))
        })
        .await?;
    let mut revoked: Vec<RevokedCertificate> = tenants
        .into_iter()
        .filter_map(|c| {
            Some(RevokedCertificate {
                serial: c.serial,
                revoked_at: c.revoked_at?,
                reason: c.revocation_reason.unwrap_or_default(),
            })
        })
        .collect();
    revoked.extend(admins.into_iter().filter_map(|a| {
        Some(RevokedCertificate {
            serial: a.serial,
            revoked_at: a.revoked_at?,
            reason: a.revocation_reason.unwrap_or_default(),
        })
    }));
    let now = OffsetDateTime::now_utc();
    let crl = state
        .ca
        .crl(&CrlRequest {
            // Seconds since the epoch: grows with every CRL, as tenantctl crl numbers them.
            number: u64::try_from(now.unix_timestamp()).unwrap_or(0),
            this_update: now,
            next_update: now + CRL_NEXT_UPDATE,
            revoked,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "control API: cannot sign the CRL");
            ApiError::internal("signing the CRL")
        })?;
    let response = if der {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CRL))],
            crl.der,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            crl.pem,
        )
            .into_response()
    };
    Ok(response)
}
