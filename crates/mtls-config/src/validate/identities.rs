//! Validation of the client identities of an outbound TLS side: the single `cert`/`key`
//! form or `[[identities]]`, plus `fallback` and `[[prefer]]`.

use std::collections::HashMap;

use mtls_resolver::{Fallback, MAX_NAME_LEN, SelectionPolicy, ServerNamePattern};

use super::super::raw::{RawIdentity, RawPrefer, RawTls};
use super::super::types::{IdentityConfig, SINGLE_IDENTITY_NAME};
use super::Checker;

/// Identity names that would read ambiguously: `none` is the metric label for "no
/// certificate sent", and `first`/`none` are `fallback` keywords.
const RESERVED_NAMES: &[&str] = &["none", "first"];

/// The identities and selection policy of `[listener.<section>]`, or `None` after reporting
/// problems.
pub(super) fn client_identities(
    c: &mut Checker,
    section: &str,
    tls: &mut RawTls,
) -> Option<(Vec<IdentityConfig>, SelectionPolicy)> {
    let problems_before = c.problems.len();
    let field = |k: &str| format!("{section}.{k}");
    let single = tls.cert.is_some() || tls.key.is_some();
    let identities = match (tls.identities.take(), single) {
        (Some(_), true) => {
            c.problem(
                &field("identities"),
                format!(
                    "cannot be combined with `{section}.cert`/`{section}.key`: move that \
                     certificate into a [[listener.{section}.identities]] entry, or drop the \
                     identities"
                ),
            );
            None
        }
        (None, true) => {
            let cert = c.path(&field("cert"), tls.cert.as_ref());
            let key = c.path(&field("key"), tls.key.as_ref());
            match (cert, key) {
                (Some(cert), Some(key)) => Some(vec![IdentityConfig {
                    name: SINGLE_IDENTITY_NAME.to_owned(),
                    cert,
                    key,
                }]),
                _ => None,
            }
        }
        (None, false) => {
            c.problem(
                &field("cert"),
                format!(
                    "is required: set `cert` and `key`, list [[listener.{section}.identities]], \
                     or write `identities = []` to send no client certificate"
                ),
            );
            None
        }
        (Some(list), false) => identity_list(c, section, list),
    };

    let fallback = match tls.fallback.take().as_deref() {
        None | Some("first") => Fallback::First,
        Some("none") => Fallback::None,
        Some(name) => {
            if let Some(ids) = &identities
                && !ids.iter().any(|i| i.name == name)
            {
                c.problem(
                    &field("fallback"),
                    format!(
                        "{name:?} is not one of the identities ({}); use \"first\", \"none\" \
                         or an identity name",
                        names(ids)
                    ),
                );
            }
            Fallback::Named(name.to_owned())
        }
    };
    let mut policy = SelectionPolicy::new().with_fallback(fallback);
    for (index, prefer) in tls
        .prefer
        .take()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if let Some((pattern, identity)) =
            preference(c, section, index, prefer, identities.as_deref())
        {
            policy = policy.prefer(pattern, identity);
        }
    }
    if c.problems.len() != problems_before {
        return None;
    }
    Some((identities?, policy))
}

pub(super) fn identity_list(
    c: &mut Checker,
    section: &str,
    list: Vec<RawIdentity>,
) -> Option<Vec<IdentityConfig>> {
    let problems_before = c.problems.len();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    for (index, raw) in list.into_iter().enumerate() {
        let field = |k: &str| format!("{section}.identities[{index}].{k}");
        let name = match raw.name {
            None => {
                c.problem(&field("name"), "is required");
                None
            }
            Some(name) => {
                if let Some(reason) = bad_name(&name) {
                    c.problem(&field("name"), format!("{name:?} {reason}"));
                } else if let Some(first) = seen.get(&name) {
                    c.problem(
                        &field("name"),
                        format!("{name:?} is already used by {section}.identities[{first}]"),
                    );
                } else {
                    seen.insert(name.clone(), index);
                }
                Some(name)
            }
        };
        let cert = c.path(&field("cert"), raw.cert.as_ref());
        let key = c.path(&field("key"), raw.key.as_ref());
        if let (Some(name), Some(cert), Some(key)) = (name, cert, key) {
            out.push(IdentityConfig { name, cert, key });
        }
    }
    (c.problems.len() == problems_before).then_some(out)
}

fn preference(
    c: &mut Checker,
    section: &str,
    index: usize,
    raw: RawPrefer,
    identities: Option<&[IdentityConfig]>,
) -> Option<(ServerNamePattern, String)> {
    let field = |k: &str| format!("{section}.prefer[{index}].{k}");
    let pattern = match raw.server_name {
        None => {
            c.problem(&field("server_name"), "is required");
            None
        }
        Some(text) => match text.parse::<ServerNamePattern>() {
            Ok(p) => Some(p),
            Err(e) => {
                c.problem(
                    &field("server_name"),
                    format!(
                        "{text:?} {}; use a DNS name or \"*.parent.domain\"",
                        e.reason
                    ),
                );
                None
            }
        },
    };
    let identity = match raw.identity {
        None => {
            c.problem(&field("identity"), "is required");
            None
        }
        Some(name) => {
            if let Some(ids) = identities
                && !ids.iter().any(|i| i.name == name)
            {
                c.problem(
                    &field("identity"),
                    format!("{name:?} is not one of the identities ({})", names(ids)),
                );
                None
            } else {
                Some(name)
            }
        }
    };
    Some((pattern?, identity?))
}

/// Why `name` cannot name an identity, if it cannot.
fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        Some("must be 1-64 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may only use letters, digits, '-', '_' and '.' (it becomes a metric label)")
    } else if RESERVED_NAMES.contains(&name) {
        Some(
            "is reserved (\"none\" labels connections sent without a certificate; \"first\" and \"none\" are fallback keywords)",
        )
    } else {
        None
    }
}

fn names(ids: &[IdentityConfig]) -> String {
    if ids.is_empty() {
        return "there are none".to_owned();
    }
    ids.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
