//! Who is calling: decided per request from the verified leaf certificate and the registry,
//! and the extractors handlers use to require a kind of caller.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mtls_identity::{AdminName, PeerIdentity, Serial, TenantId, admin_from_uri};
use mtls_registry::{Actor, RegistryError, TenantStatus};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::peer::TlsPeer;
use crate::state::{AppState, Shared};

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

fn timestamp(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
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
