//! The table, row by row: generated checks over [`SPECIAL_RANGES`], hand-written literals
//! for every row (so a wrong row is caught by a value written independently of it), and a
//! proptest against a naive reference written with octet and segment comparisons.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The last address of a row's block.
fn last(row: &SpecialRange) -> IpAddr {
    match row.network {
        IpAddr::V4(net) => {
            let host = u32::MAX.checked_shr(u32::from(row.prefix_len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(net) | host))
        }
        IpAddr::V6(net) => {
            let host = u128::MAX
                .checked_shr(u32::from(row.prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(net) | host))
        }
    }
}

#[test]
fn every_row_is_a_well_formed_block() {
    for row in SPECIAL_RANGES {
        let max = if row.network.is_ipv4() { 32 } else { 128 };
        assert!(row.prefix_len <= max, "{row}");
        // No host bits in the network address: the block is what its text says.
        assert!(row.contains(row.network), "{row}");
        assert!(row.contains(last(row)), "{row}");
        let host_bits_zero = match row.network {
            IpAddr::V4(n) => {
                u32::from(n) & u32::MAX.checked_shr(u32::from(row.prefix_len)).unwrap_or(0) == 0
            }
            IpAddr::V6(n) => {
                u128::from(n)
                    & u128::MAX
                        .checked_shr(u32::from(row.prefix_len))
                        .unwrap_or(0)
                    == 0
            }
        };
        assert!(host_bits_zero, "{row} has host bits set");
        assert!(!row.name.is_empty());
        if row.embeds.is_some() {
            assert!(row.network.is_ipv6(), "{row}: only IPv6 forms embed IPv4");
        }
    }
    // No two rows are the same block.
    for (i, a) in SPECIAL_RANGES.iter().enumerate() {
        for b in &SPECIAL_RANGES[i + 1..] {
            assert!(
                (a.network, a.prefix_len) != (b.network, b.prefix_len),
                "{a} twice"
            );
        }
    }
}

#[test]
fn every_row_decides_for_its_own_addresses() {
    for row in SPECIAL_RANGES {
        for addr in [row.network, last(row)] {
            let found = special_range(addr).unwrap_or_else(|| panic!("{addr} of {row}"));
            // The row itself, or a more specific row nested in it.
            assert!(
                found.prefix_len >= row.prefix_len,
                "{addr}: {found} over {row}"
            );
            if found == row && row.embeds.is_none() {
                assert_eq!(non_public_range(addr), Some(row.name), "{addr}");
                assert_eq!(
                    DestinationPolicy::default().check(addr).unwrap_err().range,
                    row.name
                );
            }
        }
    }
}

/// Hand-written: (address, the range name it must be judged in). At least one per row;
/// [`literals_cover_every_row`] checks that.
const NON_PUBLIC: &[(&str, &str)] = &[
    ("0.0.0.0", "this network"),
    ("0.255.255.255", "this network"),
    ("10.0.0.0", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.0", "shared address space (carrier-grade NAT)"),
    (
        "100.127.255.255",
        "shared address space (carrier-grade NAT)",
    ),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local (includes cloud metadata)"),
    ("169.254.0.0", "link-local (includes cloud metadata)"),
    ("172.16.0.0", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.0", "IETF protocol assignments"),
    ("192.0.0.255", "IETF protocol assignments"),
    ("192.0.2.1", "documentation (TEST-NET-1)"),
    ("192.88.99.1", "deprecated 6to4 relay anycast"),
    ("192.168.0.1", "private"),
    ("192.168.255.255", "private"),
    ("198.18.0.0", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.51.100.7", "documentation (TEST-NET-2)"),
    ("203.0.113.9", "documentation (TEST-NET-3)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.255", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    (
        "::ffff:169.254.169.254",
        "link-local (includes cloud metadata)",
    ),
    ("::127.0.0.1", "loopback"),
    ("::10.0.0.1", "private"),
    ("::0.0.0.2", "this network"),
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::a00:1", "private"),
    ("64:ff9b::", "this network"),
    ("64:ff9b::c0a8:101", "private"),
    ("64:ff9b:1::1", "NAT64 local-use prefix"),
    (
        "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
        "NAT64 local-use prefix",
    ),
    ("100::1", "discard-only"),
    ("2001:1::1", "IETF protocol assignments"),
    ("2001:1ff:ffff::", "IETF protocol assignments"),
    // Teredo, client 10.0.0.1 (stored inverted: f5ff:fffe).
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),
    // Teredo, client 127.0.0.1 (80ff:fffe).
    ("2001::80ff:fffe", "loopback"),
    ("2001:2::1", "benchmarking"),
    ("2001:db8::1", "documentation"),
    ("2001:db8:ffff::1", "documentation"),
    ("2002:a00:1::1", "private"),
    ("2002:7f00:1::", "loopback"),
    ("2002:c000:204::1", "documentation (TEST-NET-1)"),
    ("3fff::1", "documentation"),
    ("3fff:fff:ffff::", "documentation"),
    ("fc00::1", "unique local (private)"),
    ("fdff:ffff::1", "unique local (private)"),
    ("fe80::1", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local (deprecated)"),
    ("feff::1", "site-local (deprecated)"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("::2:0:0:1", RESERVED_V6),
    ("ff:ffff::", RESERVED_V6),
    ("100:0:0:1::1", RESERVED_V6),
    ("1ff::1", RESERVED_V6),
    ("200::1", RESERVED_V6),
    ("400::1", RESERVED_V6),
    ("800::1", RESERVED_V6),
    ("1000::1", RESERVED_V6),
    ("1fff:ffff::", RESERVED_V6),
    ("4000::1", RESERVED_V6),
    ("5f00::1", RESERVED_V6),
    ("6000::1", RESERVED_V6),
    ("8000::1", RESERVED_V6),
    ("a000::1", RESERVED_V6),
    ("c000::1", RESERVED_V6),
    ("e000::1", RESERVED_V6),
    ("f000::1", RESERVED_V6),
    ("f800::1", RESERVED_V6),
    ("fe00::1", RESERVED_V6),
    ("fe7f:ffff::", RESERVED_V6),
];

/// Hand-written public addresses, many just outside a row's edge, and IPv6 forms embedding
/// a public IPv4 address (judged by it: public).
const PUBLIC: &[&str] = &[
    "1.0.0.0",
    "1.1.1.1",
    "8.8.8.8",
    "9.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "126.255.255.255",
    "128.0.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "191.255.255.255",
    "192.0.1.0",
    "192.0.3.0",
    "192.31.196.1",
    "192.52.193.1",
    "192.88.98.255",
    "192.88.100.0",
    "192.167.255.255",
    "192.169.0.0",
    "192.175.48.1",
    "198.17.255.255",
    "198.20.0.0",
    "198.51.99.255",
    "198.51.101.0",
    "203.0.112.255",
    "203.0.114.0",
    "223.255.255.255",
    "2000::",
    "2001:200::",
    "2001:4860:4860::8888",
    "2001:db7:ffff::1",
    "2001:db9::",
    "2003::1",
    "2620:4f:8000::1",
    "2a00:1450::1",
    "3ffe:ffff::1",
    "3fff:1000::",
    "::ffff:8.8.8.8",
    "::8.8.8.8",
    "64:ff9b::808:808",
    "64:ff9b::1.1.1.1",
    "2002:808:808::1",
    // Teredo, client 8.8.8.8 (stored inverted: f7f7:f7f7).
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
];

#[test]
fn literal_non_public_addresses_are_judged_in_their_range() {
    let policy = DestinationPolicy::default();
    for (text, name) in NON_PUBLIC {
        let addr = ip(text);
        assert_eq!(non_public_range(addr), Some(*name), "{text}");
        let refused = policy.check(addr).unwrap_err();
        assert_eq!((refused.addr, refused.range), (addr, *name), "{text}");
        assert!(
            DestinationPolicy {
                allow_private: true
            }
            .check(addr)
            .is_ok()
        );
    }
}

#[test]
fn literal_public_addresses_are_public() {
    for text in PUBLIC {
        assert_eq!(non_public(ip(text)), None, "{text}");
        assert_eq!(
            DestinationPolicy::default().check(ip(text)),
            Ok(()),
            "{text}"
        );
    }
}

#[test]
fn literals_cover_every_row() {
    for row in SPECIAL_RANGES {
        let hit = NON_PUBLIC
            .iter()
            .map(|(text, _)| *text)
            .chain(PUBLIC.iter().copied())
            .any(|text| special_range(ip(text)) == Some(row));
        assert!(hit, "no hand-written literal falls in {row}");
    }
}

#[test]
fn embedded_forms_name_the_form_and_the_ipv4_address() {
    let why = non_public(ip("64:ff9b::7f00:1")).unwrap();
    assert_eq!(why.range.name, "loopback");
    let (form, ipv4) = why.embedded.unwrap();
    assert_eq!(
        (form.name, ipv4),
        ("NAT64 well-known prefix", Ipv4Addr::new(127, 0, 0, 1))
    );
    let err = DestinationPolicy::default()
        .check(ip("::ffff:127.0.0.1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "::ffff:127.0.0.1 is in a non-public range (loopback (127.0.0.0/8) of 127.0.0.1 \
         embedded by IPv4-mapped (::ffff:0.0.0.0/96)); private destinations are not allowed"
    );
    let six_to_four = non_public(ip("2002:a00:1::1")).unwrap();
    assert_eq!(
        six_to_four.embedded.map(|(f, v4)| (f.name, v4)),
        Some(("6to4", Ipv4Addr::new(10, 0, 0, 1)))
    );
    assert_eq!(
        EmbeddedIpv4::TeredoClient.extract("2001::f7f7:f7f7".parse().unwrap()),
        Ipv4Addr::new(8, 8, 8, 8)
    );
}

#[test]
fn refusal_names_address_and_range() {
    let err = DestinationPolicy::default()
        .check(ip("127.0.0.1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "127.0.0.1 is in a non-public range (loopback (127.0.0.0/8)); private destinations are not allowed"
    );
}

/// The naive reference: the same rule written as octet and segment comparisons, without
/// the table.
fn reference(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => reference_v4(v4),
        IpAddr::V6(v6) => reference_v6(v6),
    }
}

fn reference_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = v4.octets();
    Some(match (a, b, c, d) {
        (0, ..) => "this network",
        (10, ..) => "private",
        (100, 64..=127, ..) => "shared address space (carrier-grade NAT)",
        (127, ..) => "loopback",
        (169, 254, ..) => "link-local (includes cloud metadata)",
        (172, 16..=31, ..) => "private",
        (192, 0, 0, _) => "IETF protocol assignments",
        (192, 0, 2, _) => "documentation (TEST-NET-1)",
        (192, 88, 99, _) => "deprecated 6to4 relay anycast",
        (192, 168, ..) => "private",
        (198, 18..=19, ..) => "benchmarking",
        (198, 51, 100, _) => "documentation (TEST-NET-2)",
        (203, 0, 113, _) => "documentation (TEST-NET-3)",
        (224..=239, ..) => "multicast",
        (255, 255, 255, 255) => "limited broadcast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn reference_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    let last32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s == [0; 8] {
        Some("unspecified")
    } else if s == [0, 0, 0, 0, 0, 0, 0, 1] {
        Some("loopback")
    } else if s[..6] == [0, 0, 0, 0, 0, 0xffff]
        || s[..6] == [0; 6]
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        reference_v4(last32)
    } else if s[..3] == [0x64, 0xff9b, 1] {
        Some("NAT64 local-use prefix")
    } else if s[..4] == [0x100, 0, 0, 0] {
        Some("discard-only")
    } else if s[0] == 0x2001 && s[1] == 0 {
        reference_v4(Ipv4Addr::from(!u32::from(last32)))
    } else if s[0] == 0x2001 && s[1] == 2 && s[2] == 0 {
        Some("benchmarking")
    } else if s[0] == 0x2001 && s[1] == 0xdb8 {
        Some("documentation")
    } else if s[0] == 0x2001 && s[1] < 0x200 {
        Some("IETF protocol assignments")
    } else if s[0] == 0x2002 {
        reference_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else if s[0] == 0x3fff && s[1] < 0x1000 {
        Some("documentation")
    } else if (0xfc00..=0xfdff).contains(&s[0]) {
        Some("unique local (private)")
    } else if (0xfe80..=0xfebf).contains(&s[0]) {
        Some("link-local")
    } else if (0xfec0..=0xfeff).contains(&s[0]) {
        Some("site-local (deprecated)")
    } else if s[0] >= 0xff00 {
        Some("multicast")
    } else if !(0x2000..=0x3fff).contains(&s[0]) {
        Some(RESERVED_V6)
    } else {
        None
    }
}

/// Addresses near the table's blocks: a row's network with random host bits, an embedding
/// form around a random IPv4 address, or anything at all.
fn interesting_ip() -> impl Strategy<Value = IpAddr> {
    let row_ip =
        (0..SPECIAL_RANGES.len(), any::<u128>(), any::<bool>()).prop_map(|(i, bits, flip)| {
            let row = &SPECIAL_RANGES[i];
            // Random host bits; sometimes flip the last network bit to land just outside.
            match row.network {
                IpAddr::V4(n) => {
                    let host = u32::MAX.checked_shr(u32::from(row.prefix_len)).unwrap_or(0);
                    let mut v = u32::from(n) | (bits as u32 & host);
                    if flip && row.prefix_len > 0 {
                        v ^= 1 << (32 - u32::from(row.prefix_len));
                    }
                    IpAddr::V4(Ipv4Addr::from(v))
                }
                IpAddr::V6(n) => {
                    let host = u128::MAX
                        .checked_shr(u32::from(row.prefix_len))
                        .unwrap_or(0);
                    let mut v = u128::from(n) | (bits & host);
                    if flip && row.prefix_len > 0 {
                        v ^= 1 << (128 - u32::from(row.prefix_len));
                    }
                    IpAddr::V6(Ipv6Addr::from(v))
                }
            }
        });
    let embedded = (0..5u8, any::<u32>(), any::<u64>()).prop_map(|(form, v4, noise)| {
        let v4 = u128::from(v4);
        let bits = match form {
            0 => 0xffff_0000_0000 | v4,
            1 => v4,
            2 => (0x64_ff9b_u128 << 96) | v4,
            3 => (0x2002_u128 << 112) | (v4 << 80) | u128::from(noise),
            _ => (0x2001_0000_u128 << 96) | (u128::from(noise) << 32) | (!v4 & 0xffff_ffff),
        };
        IpAddr::V6(Ipv6Addr::from(bits))
    });
    prop_oneof![
        row_ip,
        embedded,
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn table_agrees_with_the_naive_reference(addr in interesting_ip()) {
        prop_assert_eq!(non_public_range(addr), reference(addr), "{}", addr);
        prop_assert_eq!(
            DestinationPolicy::default().check(addr).is_err(),
            reference(addr).is_some()
        );
        let any = DestinationPolicy { allow_private: true };
        prop_assert!(any.check(addr).is_ok());
    }
}
