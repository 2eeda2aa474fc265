//! Which destination addresses count as non-public ([`SPECIAL_RANGES`], one table), and the
//! one rule that decides whether an address may be dialed ([`DestinationPolicy`]).
//!
//! It lives with the route specifications because a route's IP literals are checked against
//! it when the route is added (a non-public literal needs `allow_private`), and the egress
//! dialer (`mtls-egress`, used by every route kind) and the gateway's decision
//! (`mtls-policy`) apply the same rule at dial time: one table, one rule, no copies.
//!
//! # The rule
//!
//! An address is judged by the most specific row of [`SPECIAL_RANGES`] containing it
//! (longest prefix). No row: public. A row without an embedded IPv4 address: non-public,
//! named by the row. A row of an IPv6 form that **embeds an IPv4 address** (IPv4-mapped
//! `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo
//! `2001::/32`): the address is judged by the IPv4 address it embeds, and only by it. So
//! `::ffff:127.0.0.1` and `64:ff9b::7f00:1` are loopback, `2002:a00:1::1` is private
//! (10.0.0.1), while `::ffff:8.8.8.8`, `64:ff9b::808:808` and `2002:808:808::1` are public
//! like 8.8.8.8 itself: these forms reach (or are translated to) the IPv4 address they carry,
//! so that address decides, exactly as the issue asked.
//!
//! The IPv4 rows are the IANA IPv4 special-purpose registry's blocks that are not globally
//! reachable, plus multicast and reserved space; the IPv6 rows likewise, plus deprecated
//! site-local, multicast, and all space outside `2000::/3` (not allocated as global unicast).
//! Where IANA marks a small sub-block globally reachable inside a refused block
//! (`192.0.0.9/32` and `192.0.0.10/32` anycast in `192.0.0.0/24`; PCP/TURN anycast, AMT,
//! AS112, ORCHIDv2 and DRIP inside `2001::/23`), the whole block is refused: none of them is
//! a proxy destination, and `allow_private` reaches them if one ever is.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where an IPv6 form carries an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmbeddedIpv4 {
    /// The last 32 bits (IPv4-mapped, IPv4-compatible, NAT64 `/96`).
    Last32,
    /// Bits 16 to 48, right after `2002` (6to4, RFC 3056).
    SixToFour,
    /// The last 32 bits inverted: the Teredo client's public address (RFC 4380).
    TeredoClient,
}

// === impl EmbeddedIpv4 ===

impl EmbeddedIpv4 {
    /// The IPv4 address `ip` carries in this form (the caller checked that `ip` is of it).
    pub fn extract(self, ip: Ipv6Addr) -> Ipv4Addr {
        let bits = u128::from(ip);
        match self {
            Self::Last32 => Ipv4Addr::from(bits as u32),
            Self::SixToFour => Ipv4Addr::from((bits >> 80) as u32),
            Self::TeredoClient => Ipv4Addr::from(!(bits as u32)),
        }
    }
}

/// One row of [`SPECIAL_RANGES`]: a special-purpose block and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block's first address.
    pub network: IpAddr,
    /// The block's prefix length.
    pub prefix_len: u8,
    /// What the block is, as errors and logs name it (`loopback`, `private`, ...).
    pub name: &'static str,
    /// For IPv6 forms that embed an IPv4 address: where it is. Such an address is judged by
    /// the IPv4 address it embeds, not by this row.
    pub embeds: Option<EmbeddedIpv4>,
}

// === impl SpecialRange ===

impl SpecialRange {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8, name: &'static str) -> Self {
        Self {
            network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix_len,
            name,
            embeds: None,
        }
    }

    const fn v6(segments: [u16; 8], prefix_len: u8, name: &'static str) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Self {
            network: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix_len,
            name,
            embeds: None,
        }
    }

    const fn embedding(self, embeds: EmbeddedIpv4) -> Self {
        Self {
            embeds: Some(embeds),
            ..self
        }
    }

    /// Whether `ip` is in this block (an IPv4 address is never in an IPv6 block, nor the
    /// other way round).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix_len));
                let mask = mask.unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix_len));
                let mask = mask.unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for SpecialRange {
    /// `name (network/len)`, e.g. `loopback (127.0.0.0/8)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.name, self.network, self.prefix_len)
    }
}

const RESERVED_V6: &str = "reserved (outside 2000::/3 global unicast)";

/// Every special-purpose block the proxy does not dial without `allow_private`, IPv4 then
/// IPv6. Rows may nest; the longest prefix containing an address decides (see [`non_public`]
/// for the rule and for embedded IPv4 addresses).
pub static SPECIAL_RANGES: &[SpecialRange] = &[
    // IPv4 (IANA IPv4 special-purpose address registry, multicast, reserved, broadcast).
    SpecialRange::v4(0, 0, 0, 0, 8, "this network"),
    SpecialRange::v4(10, 0, 0, 0, 8, "private"),
    SpecialRange::v4(
        100,
        64,
        0,
        0,
        10,
        "shared address space (carrier-grade NAT)",
    ),
    SpecialRange::v4(127, 0, 0, 0, 8, "loopback"),
    SpecialRange::v4(169, 254, 0, 0, 16, "link-local (includes cloud metadata)"),
    SpecialRange::v4(172, 16, 0, 0, 12, "private"),
    SpecialRange::v4(192, 0, 0, 0, 24, "IETF protocol assignments"),
    SpecialRange::v4(192, 0, 2, 0, 24, "documentation (TEST-NET-1)"),
    SpecialRange::v4(192, 88, 99, 0, 24, "deprecated 6to4 relay anycast"),
    SpecialRange::v4(192, 168, 0, 0, 16, "private"),
    SpecialRange::v4(198, 18, 0, 0, 15, "benchmarking"),
    SpecialRange::v4(198, 51, 100, 0, 24, "documentation (TEST-NET-2)"),
    SpecialRange::v4(203, 0, 113, 0, 24, "documentation (TEST-NET-3)"),
    SpecialRange::v4(224, 0, 0, 0, 4, "multicast"),
    SpecialRange::v4(240, 0, 0, 0, 4, "reserved"),
    SpecialRange::v4(255, 255, 255, 255, 32, "limited broadcast"),
    // IPv6 (IANA IPv6 special-purpose address registry, address space registry).
    SpecialRange::v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    SpecialRange::v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    SpecialRange::v6([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible (deprecated)")
        .embedding(EmbeddedIpv4::Last32),
    SpecialRange::v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped")
        .embedding(EmbeddedIpv4::Last32),
    SpecialRange::v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "NAT64 well-known prefix",
    )
    .embedding(EmbeddedIpv4::Last32),
    SpecialRange::v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "NAT64 local-use prefix",
    ),
    SpecialRange::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    SpecialRange::v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments",
    ),
    SpecialRange::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo")
        .embedding(EmbeddedIpv4::TeredoClient),
    SpecialRange::v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    SpecialRange::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    SpecialRange::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4").embedding(EmbeddedIpv4::SixToFour),
    SpecialRange::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    SpecialRange::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (private)"),
    SpecialRange::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    SpecialRange::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (deprecated)"),
    SpecialRange::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    // Everything else outside 2000::/3 is unallocated (IANA IPv6 address space registry).
    SpecialRange::v6([0, 0, 0, 0, 0, 0, 0, 0], 8, RESERVED_V6),
    SpecialRange::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 8, RESERVED_V6),
    SpecialRange::v6([0x200, 0, 0, 0, 0, 0, 0, 0], 7, RESERVED_V6),
    SpecialRange::v6([0x400, 0, 0, 0, 0, 0, 0, 0], 6, RESERVED_V6),
    SpecialRange::v6([0x800, 0, 0, 0, 0, 0, 0, 0], 5, RESERVED_V6),
    SpecialRange::v6([0x1000, 0, 0, 0, 0, 0, 0, 0], 4, RESERVED_V6),
    SpecialRange::v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 3, RESERVED_V6),
    SpecialRange::v6([0x6000, 0, 0, 0, 0, 0, 0, 0], 3, RESERVED_V6),
    SpecialRange::v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 3, RESERVED_V6),
    SpecialRange::v6([0xa000, 0, 0, 0, 0, 0, 0, 0], 3, RESERVED_V6),
    SpecialRange::v6([0xc000, 0, 0, 0, 0, 0, 0, 0], 3, RESERVED_V6),
    SpecialRange::v6([0xe000, 0, 0, 0, 0, 0, 0, 0], 4, RESERVED_V6),
    SpecialRange::v6([0xf000, 0, 0, 0, 0, 0, 0, 0], 5, RESERVED_V6),
    SpecialRange::v6([0xf800, 0, 0, 0, 0, 0, 0, 0], 6, RESERVED_V6),
    SpecialRange::v6([0xfe00, 0, 0, 0, 0, 0, 0, 0], 9, RESERVED_V6),
];

/// The most specific row of [`SPECIAL_RANGES`] containing `ip` (longest prefix), if any:
/// the raw table lookup, before embedded IPv4 addresses are followed (see [`non_public`]).
pub fn special_range(ip: IpAddr) -> Option<&'static SpecialRange> {
    SPECIAL_RANGES
        .iter()
        .filter(|row| row.contains(ip))
        .max_by_key(|row| row.prefix_len)
}

/// Why an address is non-public: the range that decides, and the IPv6 form it came through
/// when it was judged by an embedded IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonPublic {
    /// The range that decides: the address's own, or its embedded IPv4 address's.
    pub range: &'static SpecialRange,
    /// The IPv6 form and the IPv4 address it embeds, when the address was judged by that.
    pub embedded: Option<(&'static SpecialRange, Ipv4Addr)>,
}

impl fmt::Display for NonPublic {
    /// `loopback (127.0.0.0/8)`, or `loopback (127.0.0.0/8) of 127.0.0.1 embedded by NAT64
    /// well-known prefix (64:ff9b::/96)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.range)?;
        if let Some((form, ipv4)) = self.embedded {
            write!(f, " of {ipv4} embedded by {form}")?;
        }
        Ok(())
    }
}

/// Judges `ip` by the table: `None` for a public address, otherwise the deciding range.
///
/// An address is judged by the most specific row of [`SPECIAL_RANGES`] containing it
/// (longest prefix). No row: public. A row without an embedded IPv4 address: non-public,
/// named by the row. A row of an IPv6 form that **embeds an IPv4 address** (IPv4-mapped
/// `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo
/// `2001::/32`): the address is judged by the IPv4 address it embeds, and only by it, since
/// these forms reach (or are translated to) that address. So `::ffff:127.0.0.1` and
/// `64:ff9b::7f00:1` are loopback, while `::ffff:8.8.8.8` and `2002:808:808::1` are public.
///
/// Where IANA marks a small sub-block globally reachable inside a refused block
/// (`192.0.0.9/32` and `192.0.0.10/32` in `192.0.0.0/24`; PCP/TURN anycast, AMT, AS112,
/// ORCHIDv2 and DRIP inside `2001::/23`), the whole block is refused; `allow_private` reaches
/// them.
///
/// ```
/// use mtls_route_spec::non_public;
///
/// let nat64 = non_public("64:ff9b::a00:1".parse()?).unwrap();
/// assert_eq!(nat64.range.name, "private");
/// assert_eq!(
///     nat64.to_string(),
///     "private (10.0.0.0/8) of 10.0.0.1 embedded by NAT64 well-known prefix (64:ff9b::/96)"
/// );
/// // Embedding a public IPv4 address makes a public address.
/// assert_eq!(non_public("::ffff:8.8.8.8".parse()?), None);
/// assert_eq!(non_public("2002:808:808::1".parse()?), None);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    let row = special_range(ip)?;
    match (row.embeds, ip) {
        (Some(form), IpAddr::V6(v6)) => {
            let ipv4 = form.extract(v6);
            special_range(IpAddr::V4(ipv4)).map(|range| NonPublic {
                range,
                embedded: Some((row, ipv4)),
            })
        }
        _ => Some(NonPublic {
            range: row,
            embedded: None,
        }),
    }
}

/// The name of the non-public range `ip` is judged to be in, or `None` for a public address
/// (the name of [`non_public`]'s deciding range).
///
/// Routes refuse destinations in these ranges unless they set `allow_private`: they reach
/// the proxy host itself, its neighbours or cloud metadata services (`169.254.169.254` is
/// link-local).
pub fn non_public_range(ip: IpAddr) -> Option<&'static str> {
    non_public(ip).map(|n| n.range.name)
}

/// Which destination addresses may be dialed.
///
/// This is the **one** place where the proxy decides whether an address is acceptable as a
/// destination: the egress dialer (`mtls_egress::dial`, used for HTTP, TCP and CONNECT
/// routes) asks it for every address a name resolves to, and any other component that needs
/// the same answer (explaining a route, a shared decision module) calls
/// [`check`](Self::check) instead of consulting the range table itself.
///
/// The table of non-public ranges is [`SPECIAL_RANGES`]; the rule over it is [`non_public`].
///
/// ```
/// use mtls_route_spec::DestinationPolicy;
///
/// let public_only = DestinationPolicy::default();
/// let refused = public_only.check("169.254.169.254".parse()?).unwrap_err();
/// assert_eq!(refused.range, "link-local (includes cloud metadata)");
/// assert!(public_only.check("8.8.8.8".parse()?).is_ok());
///
/// let any = DestinationPolicy { allow_private: true };
/// assert!(any.check("10.0.0.5".parse()?).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Permit destinations in non-public ranges (a route's `allow_private`).
    pub allow_private: bool,
}

// === impl DestinationPolicy ===

impl DestinationPolicy {
    /// `Ok` if `ip` may be dialed under this policy; otherwise the range it is in.
    pub fn check(self, ip: IpAddr) -> Result<(), PrivateDestination> {
        if self.allow_private {
            return Ok(());
        }
        match non_public(ip) {
            Some(why) => Err(PrivateDestination {
                addr: ip,
                range: why.range.name,
                why,
            }),
            None => Ok(()),
        }
    }
}

/// An address in a non-public range, refused because the policy does not allow private
/// destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{addr} is in a non-public range ({why}); private destinations are not allowed")]
#[non_exhaustive]
pub struct PrivateDestination {
    /// The refused address.
    pub addr: IpAddr,
    /// The name of the deciding range (`loopback`, `private`, ...), as [`non_public_range`].
    pub range: &'static str,
    /// The deciding range and, for an IPv6 form embedding an IPv4 address, the form.
    pub why: NonPublic,
}

/// Refuses an upstream that is a non-public IP literal unless `allow_private` (the add-time
/// check of HTTP and TCP routes).
pub(crate) fn check_upstream_literal(
    upstream: &dyn fmt::Display,
    ip: Option<IpAddr>,
    allow_private: bool,
) -> Result<(), crate::RouteSpecError> {
    match ip.and_then(non_public) {
        Some(why) if !allow_private => Err(crate::RouteSpecError::PrivateUpstream {
            upstream: upstream.to_string(),
            why,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
