//! `Serial` parsing on arbitrary UTF-8; whatever parses displays as hex that parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_identity::Serial;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(serial) = text.parse::<Serial>() {
        let shown = serial.to_string();
        let again: Serial = shown
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} parsed, but its display {shown:?} did not: {e}"));
        assert_eq!(again, serial, "{text:?} -> {shown:?} changed the serial");
        assert_eq!(again.to_string(), shown);
        let colons: Serial = serial.to_colon_hex().parse().expect("colon hex parses");
        assert_eq!(colons, serial);
    }
});
