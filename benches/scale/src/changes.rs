//! The timed changes: each made through the registry crate (the write path `tenantctl`
//! takes), then probed until its effect is seen through the gateway.
//!
//! Before a change its probe must see the state before it (so that what it sees afterwards
//! is the change's doing); after the commit returns, the probe looks every
//! `check_every` until it sees the effect, at most `timeout` (then it is a miss):
//!
//! | kind | probe | before | live when |
//! |---|---|---|---|
//! | route add | `GET` on a kept-alive connection of the routes tenant, new host | not 2xx (404) | 2xx |
//! | route remove | same, a host it had | 2xx | a non-2xx status |
//! | tenant suspend | a new handshake as that tenant and one `GET` | 2xx | refused (failed handshake or connection, or non-2xx) |
//! | certificate revoke | a new handshake with that certificate and one `GET` | 2xx | refused |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_identity::RevocationReason;
use mtls_registry::{Store, TenantStatus};
use mtls_registry_sqlite::SqliteStore;

use crate::ScaleError;
use crate::probe::{Answer, Client, KeepAlive};
use crate::setup::{self, Probes, REVOKE_HOST, actor, suspend_host};

/// The kinds of change, in the order they take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An HTTP route added to a tenant.
    RouteAdd,
    /// An HTTP route removed.
    RouteRemove,
    /// A tenant suspended.
    TenantSuspend,
    /// A certificate revoked.
    CertRevoke,
}

/// Every kind, in turn order.
pub const KINDS: [Kind; 4] = [
    Kind::RouteAdd,
    Kind::RouteRemove,
    Kind::TenantSuspend,
    Kind::CertRevoke,
];

/// How long the before-state may take to show (a probe's first connection, a previous
/// change still settling).
const BEFORE_TIMEOUT: Duration = Duration::from_secs(10);

// === impl Kind ===

impl Kind {
    /// The report's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RouteAdd => "route_add",
            Self::RouteRemove => "route_remove",
            Self::TenantSuspend => "tenant_suspend",
            Self::CertRevoke => "cert_revoke",
        }
    }
}

/// The `n` changes: the kinds in turn, each with its index among its kind.
pub fn plan(n: usize) -> Vec<(Kind, usize)> {
    (0..n)
        .map(|i| (KINDS[i % KINDS.len()], i / KINDS.len()))
        .collect()
}

/// One change's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The kind.
    pub kind: Kind,
    /// Commit returned to effect seen; `None`: not seen within the timeout (a miss).
    pub live_after: Option<Duration>,
}

/// Makes and times changes against one gateway.
pub struct Changer {
    store: Arc<SqliteStore>,
    probes: Probes,
    backend: SocketAddr,
    routes_client: Client,
    routes_conn: Option<KeepAlive>,
    suspend_clients: Vec<Client>,
    revoke_clients: Vec<Client>,
    check_every: Duration,
    timeout: Duration,
}

// === impl Changer ===

impl Changer {
    /// The probes' clients for `gateway`.
    pub fn new(
        store: Arc<SqliteStore>,
        probes: Probes,
        backend: SocketAddr,
        ca: &std::path::Path,
        gateway: SocketAddr,
        check_every: Duration,
        timeout: Duration,
    ) -> Result<Self, ScaleError> {
        let client = |b: &setup::Bundle| Client::new(&b.dir, ca, gateway);
        Ok(Self {
            routes_client: client(&probes.routes)?,
            routes_conn: None,
            suspend_clients: probes
                .suspend
                .iter()
                .map(client)
                .collect::<Result<_, _>>()?,
            revoke_clients: probes.revoke.iter().map(client).collect::<Result<_, _>>()?,
            store,
            probes,
            backend,
            check_every,
            timeout,
        })
    }

    /// Makes change `index` of `kind` and waits for it to go live.
    pub async fn run(&mut self, kind: Kind, index: usize) -> Result<Outcome, ScaleError> {
        let what = format!("{} #{index}", kind.as_str());
        let missing = || ScaleError::Run(format!("{what}: no probe prepared for it"));
        // The before-state, then the commit (timed from its return, on the blocking pool).
        let committed = match kind {
            Kind::RouteAdd => {
                let host = self
                    .probes
                    .add_hosts
                    .get(index)
                    .ok_or_else(missing)?
                    .clone();
                self.before(&what, Check::Route(host.clone()), false)
                    .await?;
                let (store, tenant) = (self.store.clone(), self.probes.routes.tenant.clone());
                let spec = setup::probe_route(&host, self.backend)?;
                commit(&what, move || {
                    store.add_route(&actor(), &tenant, spec).map(drop)
                })
                .await?
            }
            Kind::RouteRemove => {
                let (id, host) = self.probes.remove.get(index).ok_or_else(missing)?.clone();
                self.before(&what, Check::Route(host), true).await?;
                let store = self.store.clone();
                commit(&what, move || store.remove_route(&actor(), &id).map(drop)).await?
            }
            Kind::TenantSuspend => {
                let tenant = self
                    .probes
                    .suspend
                    .get(index)
                    .ok_or_else(missing)?
                    .tenant
                    .clone();
                self.before(&what, Check::Suspend(index), true).await?;
                let store = self.store.clone();
                commit(&what, move || {
                    store
                        .set_tenant_status(&actor(), &tenant, TenantStatus::Suspended)
                        .map(drop)
                })
                .await?
            }
            Kind::CertRevoke => {
                let serial = self
                    .probes
                    .revoke
                    .get(index)
                    .ok_or_else(missing)?
                    .serial
                    .clone();
                self.before(&what, Check::Revoke(index), true).await?;
                let store = self.store.clone();
                commit(&what, move || {
                    store
                        .revoke_certificate(&actor(), &serial, RevocationReason::KeyCompromise)
                        .map(drop)
                })
                .await?
            }
        };
        let check = match kind {
            Kind::RouteAdd => Check::Route(self.probes.add_hosts[index].clone()),
            Kind::RouteRemove => Check::Route(self.probes.remove[index].1.clone()),
            Kind::TenantSuspend => Check::Suspend(index),
            Kind::CertRevoke => Check::Revoke(index),
        };
        let want_success = kind == Kind::RouteAdd;
        let deadline = committed + self.timeout;
        // Bounded by the deadline (every probe request is bounded too).
        while Instant::now() < deadline {
            let answer = self.probe(&check).await?;
            let live = if want_success {
                answer.is_success()
            } else {
                answer.is_refused()
            };
            if live {
                return Ok(Outcome {
                    kind,
                    live_after: Some(committed.elapsed()),
                });
            }
            tokio::time::sleep(self.check_every).await;
        }
        Ok(Outcome {
            kind,
            live_after: None,
        })
    }

    /// Waits (at most [`BEFORE_TIMEOUT`]) until `check` answers 2xx (`success`) or refuses.
    async fn before(&mut self, what: &str, check: Check, success: bool) -> Result<(), ScaleError> {
        let deadline = Instant::now() + BEFORE_TIMEOUT;
        let mut last = Answer::TimedOut;
        while Instant::now() < deadline {
            last = self.probe(&check).await?;
            if (success && last.is_success()) || (!success && last.is_refused()) {
                return Ok(());
            }
            tokio::time::sleep(self.check_every).await;
        }
        Err(ScaleError::Run(format!(
            "{what}: the probe never saw the state before the change (last answer: {last:?})"
        )))
    }

    /// One look.
    async fn probe(&mut self, check: &Check) -> Result<Answer, ScaleError> {
        Ok(match check {
            Check::Route(host) => {
                if self.routes_conn.as_ref().is_none_or(KeepAlive::is_closed) {
                    match self.routes_client.keep_alive().await {
                        Ok(conn) => self.routes_conn = Some(conn),
                        // Not an answer about the route: look again.
                        Err(_) => return Ok(Answer::TimedOut),
                    }
                }
                let conn = self.routes_conn.as_mut().expect("opened above");
                match conn.get(host).await {
                    // A dropped connection says nothing about the route either.
                    Answer::Failed(_) => {
                        self.routes_conn = None;
                        Answer::TimedOut
                    }
                    answer => answer,
                }
            }
            Check::Suspend(i) => self.suspend_clients[*i].fresh_get(&suspend_host(*i)).await,
            Check::Revoke(i) => self.revoke_clients[*i].fresh_get(REVOKE_HOST).await,
        })
    }
}

/// What a probe looks at.
#[derive(Debug, Clone)]
enum Check {
    /// `GET` for this host as the routes tenant.
    Route(String),
    /// A new handshake as suspend tenant `i`.
    Suspend(usize),
    /// A new handshake with revoke certificate `i`.
    Revoke(usize),
}

/// Runs the write on the blocking pool; the instant it returned.
async fn commit(
    what: &str,
    write: impl FnOnce() -> Result<(), mtls_registry::RegistryError> + Send + 'static,
) -> Result<Instant, ScaleError> {
    tokio::task::spawn_blocking(move || write().map(|()| Instant::now()))
        .await
        .map_err(|e| ScaleError::Run(format!("{what}: the write task failed: {e}")))?
        .map_err(ScaleError::registry(what.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_take_turns() {
        let p = plan(100);
        assert_eq!(p.len(), 100);
        assert_eq!(
            &p[..5],
            &[
                (Kind::RouteAdd, 0),
                (Kind::RouteRemove, 0),
                (Kind::TenantSuspend, 0),
                (Kind::CertRevoke, 0),
                (Kind::RouteAdd, 1),
            ]
        );
        for kind in KINDS {
            let of_kind: Vec<usize> = p.iter().filter(|c| c.0 == kind).map(|c| c.1).collect();
            assert_eq!(of_kind, (0..25).collect::<Vec<_>>());
        }
        assert_eq!(plan(6).last(), Some(&(Kind::RouteRemove, 1)));
    }
}
