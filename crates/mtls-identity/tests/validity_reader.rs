//! `validity_of_der` (the validity-only reader of the session and verified-chain caches)
//! against the full parse, on real certificates with bytes changed, cut or inserted: it
//! reads the same period or refuses (it is the stricter of the two: x509-parser accepts,
//! for one, a tbsCertificate under a context-specific tag), never another period.

use mtls_identity::{PeerIdentity, validity_of_der};
use proptest::prelude::*;
use rcgen::{CertificateParams, KeyPair};

fn certificate() -> Vec<u8> {
    let mut params = CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
    params.serial_number = Some(vec![0x01, 0x02, 0x03].into());
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn a_tbs_certificate_under_another_tag_is_refused() {
    let mut der = certificate();
    // Certificate SEQUENCE header (30 82 LL LL), then the tbsCertificate's tag.
    assert_eq!(der[4], 0x30);
    der[4] = 0xb0; // [16] context-specific, constructed
    assert!(validity_of_der(&der).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn agrees_with_the_full_parse(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut der = certificate();
        for (at, byte, kind) in edits {
            let i = at.index(der.len());
            match kind {
                0 => der[i] = byte,
                1 => der.insert(i, byte),
                _ => der.truncate(i),
            }
            if der.is_empty() {
                break;
            }
        }
        if let (Ok(full), Ok(period)) = (PeerIdentity::from_der(&der, None), validity_of_der(&der)) {
            prop_assert_eq!(period, (full.not_before, full.not_after), "{:02x?}", der);
        }
    }
}
