//! Who is calling (decided by [`authenticate`](crate::authenticate)) and the extractors
//! handlers use to require a kind of caller.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mtls_identity::{AdminName, Serial, TenantId};
use mtls_registry::Actor;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// The outcome of authentication, inserted into every request by the audit layer.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) remote: SocketAddr,
    pub(crate) outcome: Outcome,
}

/// What the certificate (or its absence) made of the caller.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// No certificate.
    Anonymous,
    /// A recorded, unrevoked admin certificate.
    Admin(Identity<AdminName>),
    /// A recorded, unrevoked certificate of an active tenant. `expired`: it is past its
    /// notAfter but within the recovery window (it may only renew).
    Tenant {
        identity: Identity<TenantId>,
        expired: bool,
    },
    /// A certificate that is not acceptable. `label` is who it claims to be (the CA signed
    /// it) for the audit actor.
    Refused { label: String, error: ApiError },
}

/// An authenticated caller's name and certificate.
#[derive(Debug, Clone)]
pub(crate) struct Identity<N> {
    pub(crate) name: N,
    pub(crate) serial: Serial,
    pub(crate) not_after: OffsetDateTime,
}

// === impl Authenticated ===

impl Authenticated {
    /// The audit actor: `api:admin/<name> from <addr>`, `api:tenant/<id> from <addr>`,
    /// `api:anonymous from <addr>`.
    pub(crate) fn actor(&self) -> Actor {
        let who = match &self.outcome {
            Outcome::Anonymous => "anonymous".to_owned(),
            Outcome::Admin(id) => format!("admin/{}", id.name),
            Outcome::Tenant { identity, .. } => format!("tenant/{}", identity.name),
            Outcome::Refused { label, .. } => label.clone(),
        };
        let text: String = format!("api:{who} from {}", self.remote)
            .chars()
            .take(Actor::MAX_CHARS)
            .collect();
        Actor::new(text).unwrap_or_else(|_| {
            Actor::new(format!("api:anonymous from {}", self.remote))
                .expect("an address is a valid actor")
        })
    }

    /// The tenant an authenticated tenant caller is (for the audit event's tenant).
    pub(crate) fn tenant(&self) -> Option<&TenantId> {
        match &self.outcome {
            Outcome::Tenant { identity, .. } => Some(&identity.name),
            _ => None,
        }
    }
}

/// RFC 3339 text of a time, for messages.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn authenticated(parts: &Parts) -> Arc<Authenticated> {
    parts
        .extensions
        .get::<Arc<Authenticated>>()
        .cloned()
        .unwrap_or_else(|| {
            Arc::new(Authenticated {
                remote: SocketAddr::from(([0, 0, 0, 0], 0)),
                outcome: Outcome::Anonymous,
            })
        })
}

/// Any caller, authenticated or not (public endpoints): for the actor and the address.
#[derive(Debug, Clone)]
pub(crate) struct AnyCaller(pub(crate) Arc<Authenticated>);

/// The kind of an authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    Admin(Identity<AdminName>),
    Tenant(Identity<TenantId>),
}

/// An authenticated caller with a certificate that is valid now (admin or tenant).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) auth: Arc<Authenticated>,
    pub(crate) role: Role,
}

/// An admin caller.
#[derive(Debug, Clone)]
pub(crate) struct AdminCaller {
    pub(crate) auth: Arc<Authenticated>,
}

/// A tenant caller for `POST /v1/renew`: its certificate may be expired (recovery).
#[derive(Debug, Clone)]
pub(crate) struct RenewCaller {
    pub(crate) auth: Arc<Authenticated>,
    pub(crate) identity: Identity<TenantId>,
    pub(crate) expired: bool,
}

fn not_authenticated(auth: &Authenticated) -> Option<ApiError> {
    match &auth.outcome {
        Outcome::Anonymous => Some(ApiError::unauthenticated(
            "this endpoint needs a client certificate issued by the proxy's CA",
        )),
        Outcome::Refused { error, .. } => Some(error.clone()),
        _ => None,
    }
}

// === impl Caller ===

impl Caller {
    /// The audit actor.
    pub(crate) fn actor(&self) -> Actor {
        self.auth.actor()
    }

    /// Refuses (403) a tenant caller acting on another tenant.
    pub(crate) fn may_act_on(&self, tenant: &TenantId) -> Result<(), ApiError> {
        match &self.role {
            Role::Admin(_) => Ok(()),
            Role::Tenant(id) if id.name == *tenant => Ok(()),
            Role::Tenant(id) => Err(ApiError::forbidden(format!(
                "tenant {} may not act on tenant {tenant}",
                id.name
            ))),
        }
    }

    /// The tenant id, for a tenant caller.
    pub(crate) fn tenant(&self) -> Option<&TenantId> {
        match &self.role {
            Role::Tenant(id) => Some(&id.name),
            Role::Admin(_) => None,
        }
    }
}

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(Self(authenticated(parts)))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let auth = authenticated(parts);
        if let Some(e) = not_authenticated(&auth) {
            return Err(e);
        }
        let role = match &auth.outcome {
            Outcome::Admin(id) => Role::Admin(id.clone()),
            Outcome::Tenant {
                identity,
                expired: false,
            } => Role::Tenant(identity.clone()),
            Outcome::Tenant { identity, .. } => {
                return Err(ApiError::unauthenticated(format!(
                    "certificate {} expired at {}; an expired certificate may only call POST {}",
                    identity.serial,
                    timestamp(identity.not_after),
                    mtls_control_api::paths::RENEW
                )));
            }
            _ => unreachable!("refused above"),
        };
        Ok(Self { auth, role })
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match &caller.role {
            Role::Admin(_) => Ok(Self { auth: caller.auth }),
            Role::Tenant(id) => Err(ApiError::forbidden(format!(
                "{} {} is for admins; tenant {} may not call it",
                parts.method,
                parts.uri.path(),
                id.name
            ))),
        }
    }
}

impl FromRequestParts<AppState> for RenewCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let auth = authenticated(parts);
        if let Some(e) = not_authenticated(&auth) {
            return Err(e);
        }
        match &auth.outcome {
            Outcome::Tenant { identity, expired } => Ok(Self {
                identity: identity.clone(),
                expired: *expired,
                auth: auth.clone(),
            }),
            _ => Err(ApiError::forbidden(
                "only tenant certificates are renewed through the API; admins get new certificates from tenantctl",
            )),
        }
    }
}
