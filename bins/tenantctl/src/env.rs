//! The environment variables `tenantctl` reads: all of them, here and nowhere else (the
//! crates it calls take values, never read the environment).
//!
//! | variable | what it sets |
//! |---|---|
//! | `MTLS_DATA_DIR` | `--data-dir` |
//! | `MTLS_REGISTRY` | `--registry` (a PostgreSQL registry's URL) |
//! | `MTLS_ACTOR` | `--actor` (the audit log's actor) |
//! | `MTLS_ENROLL_TOKEN` | `enroll --token` |
//! | `TENANTCTL_SERVER` | `--server` (the control-plane API) |
//! | `TENANTCTL_CERT` | `--cert` |
//! | `TENANTCTL_KEY` | `--key` |
//! | `TENANTCTL_CA` | `--ca` |
//! | `TENANTCTL_CERT_DIR` | `--cert-dir` |
//! | `TENANTCTL_CONFIG` | `--config` (TOML: server, cert, key, ca, cert_dir) |
//! | `USER`, `LOGNAME` | the default actor, `cli:<login name>` |

/// The data directory (`--data-dir`).
pub(crate) const DATA_DIR: &str = "MTLS_DATA_DIR";
/// A PostgreSQL registry's URL (`--registry`).
pub(crate) const REGISTRY: &str = "MTLS_REGISTRY";
/// The audit log's actor (`--actor`).
pub(crate) const ACTOR: &str = "MTLS_ACTOR";
/// The enrollment token (`enroll --token`).
pub(crate) const ENROLL_TOKEN: &str = "MTLS_ENROLL_TOKEN";

/// The control-plane server (`--server`).
pub(crate) const SERVER: &str = "TENANTCTL_SERVER";
/// The client certificate (`--cert`).
pub(crate) const CERT: &str = "TENANTCTL_CERT";
/// The client key (`--key`).
pub(crate) const KEY: &str = "TENANTCTL_KEY";
/// The server's CA bundle (`--ca`).
pub(crate) const CA: &str = "TENANTCTL_CA";
/// The certificate directory (`--cert-dir`).
pub(crate) const CERT_DIR: &str = "TENANTCTL_CERT_DIR";
/// The remote-mode config file (`--config`).
pub(crate) const CONFIG: &str = "TENANTCTL_CONFIG";

/// `cli:<login name>`, from $USER or $LOGNAME.
pub(crate) fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}
