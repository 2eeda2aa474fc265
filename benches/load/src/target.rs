//! Loopback only: `--connect` must resolve to loopback addresses, `--listen` must be one.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::LoadError;

/// Resolves `HOST:PORT` and returns its first address, refusing the whole name if any address
/// it resolves to is not loopback (a name that resolves to both is not what it seems).
pub fn resolve_loopback(given: &str) -> Result<SocketAddr, LoadError> {
    let refuse = |reason: String| LoadError::NotLoopback {
        what: "--connect",
        given: given.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> = given
        .to_socket_addrs()
        .map_err(|e| refuse(format!("cannot resolve it ({e})")))?
        .collect();
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(refuse(format!("it resolves to {}", bad.ip())));
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| refuse("it resolves to no address".to_owned()))
}

/// Refuses a listen address that is not loopback.
pub fn check_listen(addr: SocketAddr) -> Result<(), LoadError> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(LoadError::NotLoopback {
            what: "--listen",
            given: addr.to_string(),
            reason: "not a loopback address".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_resolve() {
        assert_eq!(
            resolve_loopback("127.0.0.1:8443").unwrap(),
            "127.0.0.1:8443".parse().unwrap()
        );
        assert!(resolve_loopback("127.3.2.1:1").unwrap().ip().is_loopback());
        assert!(resolve_loopback("[::1]:9").unwrap().ip().is_loopback());
        assert!(resolve_loopback("localhost:9").unwrap().ip().is_loopback());
    }

    #[test]
    fn other_addresses_are_refused_with_the_reason() {
        for given in [
            "10.0.0.1:443",
            "0.0.0.0:443",
            "[2001:db8::1]:443",
            "192.0.2.7:80",
        ] {
            let err = resolve_loopback(given).unwrap_err().to_string();
            assert!(err.contains("refusing --connect"), "{err}");
            assert!(err.contains("only runs on loopback"), "{err}");
        }
        assert!(resolve_loopback("no-port").is_err());
        assert!(check_listen("127.0.0.1:0".parse().unwrap()).is_ok());
        let err = check_listen("0.0.0.0:80".parse().unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("refusing --listen 0.0.0.0:80"),
            "{err}"
        );
    }
}
