//! Whether this host holds an address, so that connections can leave from it.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

/// Why an address cannot be a tenant's egress address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalAddressError {
    /// The unspecified address (`0.0.0.0`, `::`) names no one source.
    #[error(
        "{address} is the unspecified address, not one source address; name an address this host holds"
    )]
    Unspecified {
        /// The address.
        address: IpAddr,
    },
    /// A multicast or broadcast address cannot be a source.
    #[error("{address} is a multicast or broadcast address and cannot be a source address")]
    NotUnicast {
        /// The address.
        address: IpAddr,
    },
    /// Binding a socket to the address failed: the host does not hold it (or may not use it).
    #[error("this host does not hold {address}: binding a socket to it failed")]
    NotLocal {
        /// The address.
        address: IpAddr,
        /// The bind error (`AddrNotAvailable` when the host lacks it).
        #[source]
        source: io::Error,
    },
}

/// Checks that connections can leave from `address`: it is a unicast address this host
/// holds (a socket binds to it on an ephemeral port). Sync; one `bind` and `close`.
///
/// ```
/// use mtls_egress::check_local_address;
/// assert!(check_local_address("127.0.0.1".parse().unwrap()).is_ok());
/// assert!(check_local_address("0.0.0.0".parse().unwrap()).is_err());
/// assert!(check_local_address("192.0.2.1".parse().unwrap()).is_err()); // TEST-NET-1, not ours
/// ```
pub fn check_local_address(address: IpAddr) -> Result<(), LocalAddressError> {
    if address.is_unspecified() {
        return Err(LocalAddressError::Unspecified { address });
    }
    let broadcast = matches!(address, IpAddr::V4(v4) if v4.is_broadcast());
    if address.is_multicast() || broadcast {
        return Err(LocalAddressError::NotUnicast { address });
    }
    TcpListener::bind(SocketAddr::new(address, 0))
        .map(drop)
        .map_err(|source| LocalAddressError::NotLocal { address, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_aliases_are_held_and_foreign_addresses_are_not() {
        // Linux routes all of 127.0.0.0/8 to lo, so these are the addresses tests use.
        for held in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            check_local_address(held.parse().unwrap()).unwrap();
        }
        let err = check_local_address("198.51.100.7".parse().unwrap()).unwrap_err();
        assert!(matches!(err, LocalAddressError::NotLocal { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "this host does not hold 198.51.100.7: binding a socket to it failed"
        );
        for refused in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255"] {
            assert!(
                check_local_address(refused.parse().unwrap()).is_err(),
                "{refused}"
            );
        }
    }
}
