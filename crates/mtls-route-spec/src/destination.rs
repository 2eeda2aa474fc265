//! Which destination addresses count as non-public, and the one rule that decides whether an
//! address may be dialed ([`DestinationPolicy`]).
//!
//! It lives with the route specifications because a connect route's patterns are checked
//! against it when the route is added (a private IP literal needs `allow_private`), and the
//! egress dialer (`mtls-egress`) and the gateway's decision (`mtls-policy`) apply the same
//! rule at request time: one table, one rule, no copies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of non-public range `ip` is in, or `None` for a public address.
///
/// CONNECT refuses destinations in these ranges unless the route sets `allow_private`: they
/// reach the proxy host itself, its neighbours or cloud metadata services
/// (`169.254.169.254` is link-local). IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn non_public_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_range(v4),
            None => v6_range(v6),
        },
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified (\"this network\")")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (includes cloud metadata)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast, broadcast or reserved")
    } else {
        None
    }
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique local (private)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Which destination addresses may be dialed.
///
/// This is the **one** place where the proxy decides whether an address is acceptable as a
/// destination: the egress dialer (`mtls_egress::dial`) asks it for every address a name resolves to, and any
/// other component that needs the same answer (explaining a route, a shared decision
/// module) calls [`check`](Self::check) instead of consulting the range table itself.
///
/// The table of non-public ranges (loopback, private, link-local including cloud metadata,
/// carrier-grade NAT, multicast, reserved, ...) is [`non_public_range`].
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
        match non_public_range(ip) {
            Some(range) => Err(PrivateDestination { addr: ip, range }),
            None => Ok(()),
        }
    }
}

/// An address in a non-public range, refused because the policy does not allow private
/// destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{addr} is in a non-public range ({range}); private destinations are not allowed")]
#[non_exhaustive]
pub struct PrivateDestination {
    /// The refused address.
    pub addr: IpAddr,
    /// The kind of range, from [`non_public_range`] (`loopback`, `private`,
    /// ...).
    pub range: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_ranges() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        let private = [
            v4(127, 0, 0, 1),
            v4(10, 1, 2, 3),
            v4(172, 16, 0, 1),
            v4(192, 168, 1, 1),
            v4(169, 254, 169, 254),
            v4(100, 64, 0, 1),
            v4(0, 0, 0, 0),
            v4(0, 1, 2, 3),
            v4(255, 255, 255, 255),
            v4(224, 0, 0, 1),
            v4(240, 0, 0, 1),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            "fd00::1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
            "ff02::1".parse().unwrap(),
            "::ffff:10.0.0.1".parse().unwrap(),
            "::ffff:169.254.169.254".parse().unwrap(),
        ];
        for ip in private {
            assert!(non_public_range(ip).is_some(), "{ip} is not public");
        }
        assert_eq!(
            non_public_range(v4(169, 254, 169, 254)),
            Some("link-local (includes cloud metadata)")
        );
        let public = [
            v4(8, 8, 8, 8),
            v4(100, 63, 255, 255),
            v4(100, 128, 0, 0),
            v4(172, 32, 0, 1),
            "2001:4860:4860::8888".parse().unwrap(),
            "::ffff:8.8.8.8".parse().unwrap(),
        ];
        for ip in public {
            assert_eq!(non_public_range(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn public_only_refuses_each_non_public_range_by_name() {
        let policy = DestinationPolicy::default();
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("169.254.169.254", "link-local (includes cloud metadata)"),
            ("::1", "loopback"),
            ("::ffff:192.168.1.1", "private"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                policy.check(ip),
                Err(PrivateDestination { addr: ip, range }),
                "{ip}"
            );
        }
        for ip in ["8.8.8.8", "2001:4860:4860::8888"] {
            assert_eq!(policy.check(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn allow_private_accepts_everything() {
        let policy = DestinationPolicy {
            allow_private: true,
        };
        for ip in ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "8.8.8.8"] {
            assert_eq!(policy.check(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn refusal_names_address_and_range() {
        let err = DestinationPolicy::default()
            .check("127.0.0.1".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1 is in a non-public range (loopback); private destinations are not allowed"
        );
    }
}
