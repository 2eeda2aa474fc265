//! `PeerIdentity::from_der` on arbitrary bytes, with and without a trust domain: errors are
//! fine, panics are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_identity::{PeerIdentity, TrustDomain};

fuzz_target!(|data: &[u8]| {
    let _ = PeerIdentity::from_der(data, None);
    let domain: TrustDomain = "proxy.example.com".parse().expect("a valid trust domain");
    let _ = PeerIdentity::from_der(data, Some(&domain));
});
