//! Checks every route kind shares, and the limits they enforce. The route kinds import
//! from here (and [`RouteSpec`](crate::RouteSpec) imports the route kinds), so nothing
//! imports in a circle.

use std::fmt;
use std::net::IpAddr;

use crate::error::RouteSpecError;

/// The most upstreams one HTTP or TCP route may list.
pub const MAX_UPSTREAMS: usize = 32;

/// Checks a list's length and that no two entries share a key (the error names the first
/// entry, in list order, whose key an earlier one has). Lists hold at most a few dozen
/// entries, so comparing each with those before it is cheaper than sorting copies of the
/// keys, and allocates nothing.
pub(crate) fn check_list<'a, T, K: PartialEq + fmt::Display>(
    field: &'static str,
    items: &'a [T],
    min: usize,
    max: usize,
    key: impl Fn(&'a T) -> K,
) -> Result<(), RouteSpecError> {
    if items.len() < min || items.len() > max {
        return Err(RouteSpecError::Count {
            field,
            count: items.len(),
            min,
            max,
        });
    }
    for (i, item) in items.iter().enumerate() {
        let item = key(item);
        if items[..i].iter().any(|earlier| key(earlier) == item) {
            return Err(RouteSpecError::Duplicate {
                field,
                value: item.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks an egress bind address: a unicast address a socket can use as its source.
pub(crate) fn check_egress_bind(addr: Option<IpAddr>) -> Result<(), RouteSpecError> {
    let Some(addr) = addr else { return Ok(()) };
    let reason = if addr.is_unspecified() {
        "the unspecified address picks no particular source; omit egress_bind instead"
    } else if addr.is_multicast() {
        "a multicast address cannot be a source address"
    } else if matches!(addr, IpAddr::V4(v4) if v4.is_broadcast()) {
        "the broadcast address cannot be a source address"
    } else {
        return Ok(());
    };
    Err(RouteSpecError::EgressBind { addr, reason })
}
