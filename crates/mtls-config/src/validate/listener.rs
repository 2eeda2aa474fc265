//! Validation of one `[[listener]]`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use mtls_identity::{AclField, AclPattern, AclRules};
use rustls_pki_types::ServerName;

use super::super::raw::{self, RawListener};
use super::super::types::*;
use super::tls::{client_tls, server_tls};
use super::{
    Checker, DEFAULT_DIAL_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HANDSHAKES, DEFAULT_MAX_HANDSHAKES_PER_SOURCE, gateway,
};

pub(super) fn listener(c: &mut Checker, l: RawListener) -> Option<ListenerConfig> {
    let problems_before = c.problems.len();
    let name = match l.name {
        None => {
            c.problem("name", "is required");
            String::new()
        }
        Some(n) => {
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
            if !ok {
                c.problem(
                    "name",
                    "must be 1-64 characters of letters, digits, '-', '_' or '.'",
                );
            }
            n
        }
    };
    let listen = match l.listen.as_deref() {
        None => {
            c.problem("listen", "is required");
            None
        }
        Some(a) => c.socket_addr("listen", a),
    };
    let is_gateway = l.mode.as_deref() == Some("gateway");
    let target = match (l.target.as_deref(), is_gateway) {
        (Some(_), true) => {
            c.problem(
                "target",
                "is not used in gateway mode: each tenant's routes in the registry decide where \
                 traffic goes",
            );
            None
        }
        (None, true) => None,
        (None, false) => {
            c.problem("target", "is required");
            None
        }
        (Some(t), false) => target(c, t),
    };
    if !is_gateway && l.gateway.is_some() {
        c.problem("gateway", "only applies to mode = \"gateway\"");
    }

    let mode = match l.mode.as_deref() {
        None => {
            c.problem(
                "mode",
                "is required: \"server\", \"client\", \"bridge\" or \"gateway\"",
            );
            None
        }
        Some("server") => {
            if l.upstream_tls.is_some() {
                c.problem("upstream_tls", "is only used in bridge mode");
            }
            server_tls(c, "tls", l.tls).map(|tls| ListenerMode::Server { tls })
        }
        Some("client") => {
            if l.upstream_tls.is_some() {
                c.problem(
                    "upstream_tls",
                    "is only used in bridge mode; client mode uses [listener.tls]",
                );
            }
            if l.acl.is_some() {
                c.problem("acl", "does not apply in client mode: inbound connections are plain TCP and carry no certificate");
            }
            client_tls(c, "tls", l.tls, target.as_ref()).map(|tls| ListenerMode::Client { tls })
        }
        Some("bridge") => {
            let tls = server_tls(c, "tls", l.tls);
            if l.upstream_tls.is_none() {
                c.problem(
                    "upstream_tls",
                    "is required in bridge mode (the outbound TLS side)",
                );
            }
            let up = client_tls(c, "upstream_tls", l.upstream_tls, target.as_ref());
            match (tls, up) {
                (Some(tls), Some(upstream_tls)) => Some(ListenerMode::Bridge { tls, upstream_tls }),
                _ => None,
            }
        }
        Some("gateway") => {
            if l.upstream_tls.is_some() {
                c.problem(
                    "upstream_tls",
                    "is only used in bridge mode; gateway upstreams are set per route",
                );
            }
            let tls = gateway::gateway_tls(c, l.tls);
            let mut raw = l.gateway.unwrap_or_default();
            let identities = gateway::identities(c, raw.identities.take());
            let settings = gateway::settings(c, raw);
            tls.map(|tls| ListenerMode::Gateway {
                tls,
                gateway: settings,
                identities,
            })
        }
        Some(other) => {
            c.problem(
                "mode",
                format!(
                    "{other:?} is not a mode; use \"server\", \"client\", \"bridge\" or \"gateway\""
                ),
            );
            None
        }
    };

    let acl = acl(c, l.acl.unwrap_or_default());
    let limits = limits(c, l.proxy.unwrap_or_default());
    if c.problems.len() != problems_before {
        return None;
    }
    Some(ListenerConfig {
        name,
        listen: listen?,
        target: if is_gateway { None } else { Some(target?) },
        mode: mode?,
        acl,
        limits,
    })
}

fn target(c: &mut Checker, t: &str) -> Option<Target> {
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(Target {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    let bad = |c: &mut Checker| {
        c.problem(
            "target",
            format!("{t:?} is not host:port, e.g. \"127.0.0.1:8080\" or \"db.internal:5432\""),
        );
        None
    };
    let Some((host, port)) = t.rsplit_once(':') else {
        return bad(c);
    };
    match (host, port.parse::<u16>()) {
        (h, Ok(p)) if !h.is_empty() && p != 0 && ServerName::try_from(h).is_ok() => Some(Target {
            host: h.to_owned(),
            port: p,
        }),
        _ => bad(c),
    }
}

fn acl(c: &mut Checker, a: raw::RawAcl) -> AclRules {
    let mut rules = AclRules::new();
    for (field, list) in [
        (AclField::CommonName, a.allow_cn),
        (AclField::Organization, a.allow_org),
        (AclField::OrganizationalUnit, a.allow_ou),
        (AclField::DnsName, a.allow_dns),
        (AclField::Uri, a.allow_uri),
    ] {
        for p in list {
            match AclPattern::try_new(&p) {
                Ok(p) => {
                    rules.allow(field, p);
                }
                Err(e) => c.problem(&format!("acl.{}", field.config_key()), e.to_string()),
            }
        }
    }
    rules
}

/// A positive count, or `default` when absent (a problem, and `1`, when not positive).
fn positive(c: &mut Checker, field: &str, value: Option<i64>, default: usize) -> NonZeroUsize {
    let Some(n) = value else {
        return NonZeroUsize::new(default).unwrap_or(NonZeroUsize::MIN);
    };
    match usize::try_from(n).ok().and_then(NonZeroUsize::new) {
        Some(n) => n,
        None => {
            c.problem(field, format!("{n} is not a positive number"));
            NonZeroUsize::MIN
        }
    }
}

fn limits(c: &mut Checker, p: raw::RawProxy) -> ProxyLimits {
    let max_connections = positive(
        c,
        "proxy.max_connections",
        p.max_connections,
        DEFAULT_MAX_CONNECTIONS,
    );
    let max_handshakes = positive(
        c,
        "proxy.max_handshakes",
        p.max_handshakes,
        DEFAULT_MAX_HANDSHAKES,
    );
    let max_handshakes_per_source = positive(
        c,
        "proxy.max_handshakes_per_source",
        p.max_handshakes_per_source,
        DEFAULT_MAX_HANDSHAKES_PER_SOURCE.min(max_handshakes.get()),
    );
    if max_handshakes_per_source > max_handshakes {
        c.problem(
            "proxy.max_handshakes_per_source",
            format!(
                "{max_handshakes_per_source} is above proxy.max_handshakes ({max_handshakes}): \
                 one source could take every handshake slot"
            ),
        );
    }
    let on_limit = match p.on_limit.as_deref() {
        None | Some("wait") => OnLimit::Wait,
        Some("refuse") => OnLimit::Refuse,
        Some(other) => {
            c.problem(
                "proxy.on_limit",
                format!("{other:?} is not a policy; use \"wait\" or \"refuse\""),
            );
            OnLimit::Wait
        }
    };
    ProxyLimits {
        dial_timeout: c.duration(
            "proxy.dial_timeout",
            p.dial_timeout.as_deref(),
            DEFAULT_DIAL_TIMEOUT,
        ),
        idle_timeout: c.duration(
            "proxy.idle_timeout",
            p.idle_timeout.as_deref(),
            DEFAULT_IDLE_TIMEOUT,
        ),
        handshake_timeout: c.duration(
            "proxy.handshake_timeout",
            p.handshake_timeout.as_deref(),
            DEFAULT_HANDSHAKE_TIMEOUT,
        ),
        max_connections,
        on_limit,
        max_handshakes,
        max_handshakes_per_source,
    }
}
