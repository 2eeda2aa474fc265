//! Shared set-up for the tenantctl process tests.

#![allow(dead_code, unreachable_pub)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

// Not every test binary runs openssl.
#[allow(unused_imports)]
pub use mtls_test_support::{CliRunner, Openssl};

/// A runner for the tenantctl binary under test.
pub fn tenantctl() -> CliRunner {
    CliRunner::new(env!("CARGO_BIN_EXE_tenantctl"))
}

/// A runner with an initialised data dir (trust domain example.test).
pub fn initialised(intermediate: bool) -> CliRunner {
    let t = tenantctl();
    let mut args = vec!["init", "--trust-domain", "example.test"];
    if intermediate {
        args.push("--intermediate");
    }
    t.ok(&args);
    t
}

/// Permission bits of a path.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Issues a bundle for `tenant` into `<work>/<out>`, returns the JSON output.
pub fn issue(t: &CliRunner, tenant: &str, out: &str) -> serde_json::Value {
    t.json(&["cert", "issue", tenant, "--out", out])
}

/// A serial in the form `openssl` prints in CRL and x509 text: uppercase hex, no colons.
pub fn openssl_serial(serial: &str) -> String {
    serial.to_uppercase()
}
