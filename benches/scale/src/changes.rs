//! The timed changes: each made through the registry crate (the write path `tenantctl`
//! takes), then probed until its effect is seen through every gateway (replica).
//!
//! Before a change its probe must see the state before it on every replica (so that what
//! it sees afterwards is the change's doing); after the commit returns, one task per
//! replica looks every `check_every` until that replica shows the effect, at most `timeout`
//! (then it is a miss). A change is live when it is live on every replica: its time is the
//! slowest replica's.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The kind.
    pub kind: Kind,
    /// Commit returned to effect seen on every replica (the slowest one); `None`: some
    /// replica did not show it within the timeout (a miss).
    pub live_after: Option<Duration>,
    /// Commit returned to effect seen, per replica (in replica order).
    pub per_replica: Vec<Option<Duration>>,
}

// === impl Outcome ===

impl Outcome {
    /// The outcome of a change whose replicas saw it after `per_replica`.
    pub fn of(kind: Kind, per_replica: Vec<Option<Duration>>) -> Self {
        let live_after = per_replica
            .iter()
            .try_fold(Duration::ZERO, |slowest, r| r.map(|d| slowest.max(d)));
        Self {
            kind,
            live_after: live_after.filter(|_| !per_replica.is_empty()),
            per_replica,
        }
    }
}

/// The probes' clients for one replica.
struct Replica {
    routes_client: Client,
    routes_conn: Option<KeepAlive>,
    suspend_clients: Vec<Client>,
    revoke_clients: Vec<Client>,
    check_every: Duration,
}

/// Makes and times changes against every replica.
pub struct Changer {
    store: Arc<dyn Store>,
    probes: Probes,
    backend: SocketAddr,
    replicas: Vec<Replica>,
    check_every: Duration,
    timeout: Duration,
}

// === impl Changer ===

impl Changer {
    /// The probes' clients for every gateway of `gateways`.
    pub fn new(
        store: Arc<dyn Store>,
        probes: Probes,
        backend: SocketAddr,
        ca: &std::path::Path,
        gateways: &[SocketAddr],
        check_every: Duration,
        timeout: Duration,
    ) -> Result<Self, ScaleError> {
        let replicas = gateways
            .iter()
            .map(|&gateway| {
                let client = |b: &setup::Bundle| Client::new(&b.dir, ca, gateway);
                Ok(Replica {
                    routes_client: client(&probes.routes)?,
                    routes_conn: None,
                    suspend_clients: probes
                        .suspend
                        .iter()
                        .map(client)
                        .collect::<Result<_, _>>()?,
                    revoke_clients: probes.revoke.iter().map(client).collect::<Result<_, _>>()?,
                    check_every,
                })
            })
            .collect::<Result<_, ScaleError>>()?;
        Ok(Self {
            store,
            probes,
            backend,
            replicas,
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
        // One task per replica, each bounded by the deadline (every probe request is
        // bounded too); the replicas' clients go with them and come back.
        let tasks: Vec<_> = std::mem::take(&mut self.replicas)
            .into_iter()
            .map(|mut replica| {
                let check = check.clone();
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let answer = replica.probe(&check).await;
                        let live = if want_success {
                            answer.is_success()
                        } else {
                            answer.is_refused()
                        };
                        if live {
                            return (replica, Some(committed.elapsed()));
                        }
                        tokio::time::sleep(replica.check_every).await;
                    }
                    (replica, None)
                })
            })
            .collect();
        let mut per_replica = Vec::with_capacity(tasks.len());
        for task in tasks {
            let (replica, live) = task
                .await
                .map_err(|e| ScaleError::Run(format!("{what}: a probe task failed: {e}")))?;
            self.replicas.push(replica);
            per_replica.push(live);
        }
        Ok(Outcome::of(kind, per_replica))
    }

    /// Waits (at most [`BEFORE_TIMEOUT`]) until `check` answers 2xx (`success`) or refuses
    /// on every replica.
    async fn before(&mut self, what: &str, check: Check, success: bool) -> Result<(), ScaleError> {
        let deadline = Instant::now() + BEFORE_TIMEOUT;
        for (i, replica) in self.replicas.iter_mut().enumerate() {
            let mut last = Answer::TimedOut;
            loop {
                if Instant::now() >= deadline {
                    return Err(ScaleError::Run(format!(
                        "{what}: the probe never saw the state before the change on replica {} \
                         (last answer: {last:?})",
                        i + 1
                    )));
                }
                last = replica.probe(&check).await;
                if (success && last.is_success()) || (!success && last.is_refused()) {
                    break;
                }
                tokio::time::sleep(self.check_every).await;
            }
        }
        Ok(())
    }
}

// === impl Replica ===

impl Replica {
    /// One look.
    async fn probe(&mut self, check: &Check) -> Answer {
        match check {
            Check::Route(host) => {
                if self.routes_conn.as_ref().is_none_or(KeepAlive::is_closed) {
                    match self.routes_client.keep_alive().await {
                        Ok(conn) => self.routes_conn = Some(conn),
                        // Not an answer about the route: look again.
                        Err(_) => return Answer::TimedOut,
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
        }
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

    #[test]
    fn a_change_is_live_when_the_slowest_replica_shows_it() {
        let ms = Duration::from_millis;
        let o = Outcome::of(
            Kind::RouteAdd,
            vec![Some(ms(20)), Some(ms(90)), Some(ms(40))],
        );
        assert_eq!(o.live_after, Some(ms(90)));
        let o = Outcome::of(Kind::CertRevoke, vec![Some(ms(20)), None]);
        assert_eq!(o.live_after, None);
        assert_eq!(o.per_replica, [Some(ms(20)), None]);
        assert_eq!(Outcome::of(Kind::RouteAdd, Vec::new()).live_after, None);
    }
}
