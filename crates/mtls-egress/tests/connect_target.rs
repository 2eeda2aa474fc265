//! The CONNECT target parser against generated targets: every address notation the proxy
//! may be handed, and arbitrary text. What parses names exactly the host and port asked
//! for, and the address the dialer checks for a literal is the one the matcher sees.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mtls_egress::{connect_target, literal_ip};
use mtls_route_spec::{DestinationPolicy, non_public};
use proptest::prelude::*;

fn request(target: &str) -> Option<http::Request<()>> {
    let uri = target.parse::<http::Uri>().ok()?;
    http::Request::connect(uri).body(()).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn ip_literals_round_trip_and_are_judged_like_dialed_addresses(
        bits in any::<u128>(), v4 in any::<bool>(), port in 1u16..,
    ) {
        let ip: IpAddr = if v4 {
            Ipv4Addr::from(bits as u32).into()
        } else {
            Ipv6Addr::from(bits).into()
        };
        let text = match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        };
        let target = connect_target(&request(&text).unwrap()).unwrap();
        prop_assert_eq!(target.port(), port);
        prop_assert_eq!(target.ip(), Some(ip));
        prop_assert_eq!(literal_ip(target.host()), Some(ip));
        prop_assert_eq!(
            DestinationPolicy::default().check(ip).is_err(),
            non_public(ip).is_some()
        );
    }

    #[test]
    fn names_round_trip_and_are_never_literals(
        labels in prop::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..4), port in 1u16..,
    ) {
        let host = labels.join(".");
        let target = connect_target(&request(&format!("{host}:{port}")).unwrap()).unwrap();
        prop_assert_eq!(target.host(), host.as_str());
        prop_assert_eq!(target.port(), port);
        prop_assert_eq!(target.ip(), None);
    }

    #[test]
    fn arbitrary_targets_never_panic_and_agree_with_the_dialer(text in "\\PC{0,40}") {
        if let Some(request) = request(&text)
            && let Ok(target) = connect_target(&request)
        {
            prop_assert_eq!(literal_ip(target.host()), target.ip());
            prop_assert_eq!(target.to_string().parse::<mtls_route_spec::HostPort>().ok(), Some(target));
        }
    }
}

#[test]
fn bad_notations_are_refused() {
    for bad in [
        "db.example.com",
        "[::1]",
        "example.com:0",
        "example.com:65536",
        ":80",
    ] {
        if let Some(request) = request(bad) {
            assert!(connect_target(&request).is_err(), "{bad}");
        }
    }
}
