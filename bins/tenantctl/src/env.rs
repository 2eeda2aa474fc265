//! The environment variables `tenantctl` reads: all of them, here and nowhere else (the
//! crates it calls take values, never read the environment).
//!
//! | variable | what it sets |
//! |---|---|
//! | `MTLS_DATA_DIR` | `--data-dir` |
//! | `MTLS_ACTOR` | `--actor` (the audit log's actor) |
//! | `MTLS_ENROLL_TOKEN` | `enroll --token` |
//! | `USER`, `LOGNAME` | the default actor, `cli:<login name>` |

/// The data directory (`--data-dir`).
pub(crate) const DATA_DIR: &str = "MTLS_DATA_DIR";
/// The audit log's actor (`--actor`).
pub(crate) const ACTOR: &str = "MTLS_ACTOR";
/// The enrollment token (`enroll --token`).
pub(crate) const ENROLL_TOKEN: &str = "MTLS_ENROLL_TOKEN";

/// `cli:<login name>`, from $USER or $LOGNAME.
pub(crate) fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}
