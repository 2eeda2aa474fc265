//! [`DestinationPolicy`]: whether an address may be dialed. The one place that decision is
//! made.

use std::net::IpAddr;

use mtls_router::non_public_range;

/// Which destination addresses may be dialed.
///
/// This is the **one** place where the proxy decides whether an address is acceptable as a
/// destination: [`dial`](crate::dial) asks it for every address a name resolves to, and any
/// other component that needs the same answer (explaining a route, a shared decision
/// module) calls [`check`](Self::check) instead of consulting the range table itself.
///
/// The table of non-public ranges (loopback, private, link-local including cloud metadata,
/// carrier-grade NAT, multicast, reserved, ...) is [`mtls_router::non_public_range`].
///
/// ```
/// use mtls_egress::DestinationPolicy;
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
    /// The kind of range, from [`mtls_router::non_public_range`] (`loopback`, `private`,
    /// ...).
    pub range: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

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
