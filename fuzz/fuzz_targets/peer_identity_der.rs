//! `PeerIdentity::from_der` and `validity_of_der` on arbitrary bytes, with and without a trust
//! domain: errors are fine, panics are bugs. Where the full parse accepts the bytes, the
//! validity-only reader (used by the session and verified-chain caches) reads the same
//! validity period or refuses: it is stricter than x509-parser (which, for one, accepts a
//! tbsCertificate under a context-specific tag), never different.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_identity::{PeerIdentity, TrustDomain, validity_of_der};

fuzz_target!(|data: &[u8]| {
    let parsed = PeerIdentity::from_der(data, None);
    let domain: TrustDomain = "proxy.example.com".parse().expect("a valid trust domain");
    let _ = PeerIdentity::from_der(data, Some(&domain));
    let validity = validity_of_der(data);
    if let (Ok(identity), Ok(period)) = (parsed, validity) {
        assert_eq!(
            period,
            (identity.not_before, identity.not_after),
            "validity_of_der read another period than the full parse"
        );
    }
});
