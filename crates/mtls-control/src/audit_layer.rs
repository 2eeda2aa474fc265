//! The middleware around every request: authenticates the caller (inserting
//! [`Authenticated`](crate::caller::Authenticated)), runs the handler, then audits reads
//! (`api.read`) and refusals (`api.refused`). Successful mutations are audited by the
//! store in the change's own transaction; rate-limited requests (429) are not audited, and
//! unauthenticated calls only within their source's audit budget
//! ([`ControlSettings::anonymous_audit_per_ip`](crate::ControlSettings::anonymous_audit_per_ip)).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use mtls_control_api::ErrorCode;
use serde_json::json;

use crate::authenticate::authenticate;
use crate::caller::{Authenticated, Outcome};
use crate::error::ResponseCode;
use crate::peer::TlsPeer;
use crate::state::AppState;

/// The longest request path recorded in an audit event, in characters.
const MAX_AUDITED_PATH: usize = 256;

/// The middleware function.
pub(crate) async fn authenticate_and_audit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<TlsPeer>()
        .cloned()
        .unwrap_or_else(|| TlsPeer::anonymous(([0, 0, 0, 0], 0).into()));
    let auth = Arc::new(authenticate(&state, &peer).await);
    request.extensions_mut().insert(auth.clone());
    let method = request.method().clone();
    let path: String = request
        .uri()
        .path()
        .chars()
        .take(MAX_AUDITED_PATH)
        .collect();
    let response = next.run(request).await;
    let changed = response.status().is_success() && method != Method::GET && method != Method::HEAD;
    if changed && let Some(hook) = state.on_change.get() {
        hook();
    }
    let code = response.extensions().get::<ResponseCode>().map(|c| c.0);
    record(&state, &auth, &method, &path, response.status(), code).await;
    response
}

async fn record(
    state: &AppState,
    auth: &Authenticated,
    method: &Method,
    path: &str,
    status: StatusCode,
    code: Option<ErrorCode>,
) {
    let action = if status.as_u16() == 429 {
        return;
    } else if status.is_success() || status.is_redirection() {
        if method != Method::GET && method != Method::HEAD {
            return; // the store audited the change
        }
        "api.read"
    } else {
        "api.refused"
    };
    let unauthenticated = matches!(auth.outcome, Outcome::Anonymous | Outcome::Refused { .. });
    if unauthenticated && !state.limits.may_audit_anonymous(auth.remote.ip()) {
        return;
    }
    let code = code.map(ErrorCode::as_str);
    let details = json!({
        "method": method.as_str(),
        "path": path,
        "status": status.as_u16(),
        "code": code,
    });
    let actor = auth.actor();
    let tenant = auth.tenant().cloned();
    if let Err(e) = state
        .store("auditing a call", move |s| {
            s.append_audit_event(&actor, action, tenant.as_ref(), details)
        })
        .await
    {
        tracing::warn!(error = %e, %method, path, "control API: cannot audit a call");
    }
}
