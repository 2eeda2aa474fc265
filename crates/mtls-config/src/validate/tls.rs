//! Validation of the TLS sections: the inbound side (`[listener.tls]` of server, bridge and
//! gateway listeners) and the outbound side (client mode's `[listener.tls]`, bridge mode's
//! `[listener.upstream_tls]`). Shared by the listener and gateway validators.

use rustls_pki_types::ServerName;

use super::super::raw::RawTls;
use super::super::types::*;
use super::{Checker, identities};
use mtls_tls::ClientAuth;

/// The largest `verified_chain_cache`: each entry holds a chain (about 0.5–2 KiB), so this
/// bounds the cache at a few hundred MiB even for a typo.
const MAX_VERIFIED_CHAIN_CACHE: usize = 1 << 18;

pub(super) fn server_tls(
    c: &mut Checker,
    section: &str,
    tls: Option<RawTls>,
) -> Option<ServerTlsConfig> {
    let Some(tls) = tls else {
        c.problem(section, "is required (cert, key and ca)");
        return None;
    };
    let field = |k: &str| format!("{section}.{k}");
    for (key, set) in [
        ("identities", tls.identities.is_some()),
        ("fallback", tls.fallback.is_some()),
        ("prefer", tls.prefer.is_some()),
    ] {
        if set {
            c.problem(
                &field(key),
                "only applies to the outbound TLS side (client mode's [listener.tls], bridge \
                 mode's [listener.upstream_tls])",
            );
        }
    }
    if tls.server_name.is_some() {
        c.problem(
            &field("server_name"),
            "only applies to the outbound TLS side",
        );
    }
    let cert = c.path(&field("cert"), tls.cert.as_ref());
    let key = c.path(&field("key"), tls.key.as_ref());
    let client_auth = match tls.client_auth.as_deref() {
        None | Some("required") => c
            .path(&field("ca"), tls.ca.as_ref())
            .map(|ca| ClientAuth::Required { ca }),
        Some("optional") => c
            .path(&field("ca"), tls.ca.as_ref())
            .map(|ca| ClientAuth::Optional { ca }),
        Some("none") => {
            if tls.ca.is_some() {
                c.problem(
                    &field("ca"),
                    "is set but client_auth = \"none\" never uses it",
                );
            }
            Some(ClientAuth::None)
        }
        Some(other) => {
            c.problem(
                &field("client_auth"),
                format!("{other:?} is not a policy; use \"required\", \"optional\" or \"none\""),
            );
            None
        }
    };
    let min_version = c.min_version(&field("min_version"), tls.min_version.as_deref());
    let session_lifetime = match tls.session_lifetime.as_deref() {
        None => mtls_tls::DEFAULT_SESSION_LIFETIME,
        // Zero is allowed here: it turns session resumption off.
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) => d,
            Err(e) => {
                c.problem(
                    &field("session_lifetime"),
                    format!(
                        "{text:?} is not a duration ({e}); write e.g. \"1h\", \"10m\", or \"0s\" \
                         to turn session resumption off"
                    ),
                );
                mtls_tls::DEFAULT_SESSION_LIFETIME
            }
        },
    };
    let verified_chain_cache = match tls.verified_chain_cache {
        None => mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE,
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= MAX_VERIFIED_CHAIN_CACHE => n,
            _ => {
                c.problem(
                    &field("verified_chain_cache"),
                    format!(
                        "{n} is not a number of chains from 0 (off) to {MAX_VERIFIED_CHAIN_CACHE}"
                    ),
                );
                mtls_tls::DEFAULT_VERIFIED_CHAIN_CACHE
            }
        },
    };
    Some(ServerTlsConfig {
        cert: cert?,
        key: key?,
        client_auth: client_auth?,
        min_version,
        session_lifetime,
        verified_chain_cache,
    })
}

pub(super) fn client_tls(
    c: &mut Checker,
    section: &str,
    tls: Option<RawTls>,
    target: Option<&Target>,
) -> Option<ClientTlsConfig> {
    let Some(mut tls) = tls else {
        if section == "tls" {
            c.problem(
                section,
                "is required (cert and key or [[listener.tls.identities]], and ca)",
            );
        }
        return None;
    };
    let field = |k: &str| format!("{section}.{k}");
    for (key, set) in [
        ("client_auth", tls.client_auth.is_some()),
        ("session_lifetime", tls.session_lifetime.is_some()),
        ("verified_chain_cache", tls.verified_chain_cache.is_some()),
    ] {
        if set {
            c.problem(&field(key), "only applies to the inbound TLS side");
        }
    }
    let identities = identities::client_identities(c, section, &mut tls);
    let ca = c.path(&field("ca"), tls.ca.as_ref());
    let server_name = match (tls.server_name, target) {
        (Some(n), _) => match ServerName::try_from(n.clone()) {
            Ok(s) => Some(s),
            Err(_) => {
                c.problem(
                    &field("server_name"),
                    format!("{n:?} is not a DNS name or IP address"),
                );
                None
            }
        },
        (None, Some(t)) => ServerName::try_from(t.host.clone()).ok(),
        (None, None) => None,
    };
    let min_version = c.min_version(&field("min_version"), tls.min_version.as_deref());
    let (identities, policy) = identities?;
    Some(ClientTlsConfig {
        identities,
        policy,
        ca: ca?,
        server_name: server_name?,
        min_version,
    })
}
