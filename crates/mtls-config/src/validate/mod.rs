//! From [`raw::RawConfig`] to [`Config`], collecting every problem.

mod control;
mod gateway;
mod identities;
mod listener;
mod tls;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{self, RawConfig};
use super::types::*;
use super::{ConfigError, Defaults, Problem};
use mtls_tls::TlsVersion;

const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Handshakes in progress per listener: well above what a burst of honest clients needs
/// (a handshake takes milliseconds), low enough that silent clients cannot pile up.
const DEFAULT_MAX_HANDSHAKES: usize = 256;
/// Handshakes in progress per source address (IPv4 address or IPv6 /64): room for a NAT
/// gateway's burst, not for one client holding the listener.
const DEFAULT_MAX_HANDSHAKES_PER_SOURCE: usize = 32;
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);
const DEFAULT_HEALTH_LISTEN: &str = "127.0.0.1:9000";
const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9001";
const DEFAULT_DATA_DIR: &str = "mtlsd-data";

/// Collects problems; `listener` is the context for the next ones.
struct Checker {
    problems: Vec<Problem>,
    listener: Option<String>,
    base: PathBuf,
    data_dir: PathBuf,
}

// === impl Checker ===

impl Checker {
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            listener: self.listener.clone(),
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn duration(&mut self, field: &str, value: Option<&str>, default: Duration) -> Duration {
        let Some(text) = value else { return default };
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => {
                self.problem(field, format!("{text:?} is zero; use a positive duration"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(
                    field,
                    format!(
                        "{text:?} is not a duration ({e}); write e.g. \"10s\", \"500ms\" or \"2m\""
                    ),
                );
                default
            }
        }
    }

    fn socket_addr(&mut self, field: &str, value: &str) -> Option<SocketAddr> {
        match value.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    field,
                    format!("{value:?} is not an IP address and port, e.g. \"127.0.0.1:8443\""),
                );
                None
            }
        }
    }

    fn path(&mut self, field: &str, value: Option<&PathBuf>) -> Option<PathBuf> {
        match value {
            None => {
                self.problem(field, "is required");
                None
            }
            Some(p) if p.as_os_str().is_empty() => {
                self.problem(field, "is empty");
                None
            }
            Some(p) => Some(self.base.join(p)),
        }
    }

    fn min_version(&mut self, field: &str, value: Option<&str>) -> TlsVersion {
        match value {
            None | Some("1.2") => TlsVersion::Tls12,
            Some("1.3") => TlsVersion::Tls13,
            Some(other) => {
                self.problem(
                    field,
                    format!("{other:?} is not supported; use \"1.2\" or \"1.3\" (older versions are refused)"),
                );
                TlsVersion::Tls12
            }
        }
    }
}

/// `registry` of the file, else of `defaults` (`MTLS_REGISTRY`), else `<data_dir>/registry.db`.
/// A bad value is reported without itself: it may hold a password.
fn registry(c: &mut Checker, file: Option<String>, defaults: &Defaults) -> Registry {
    let (field, value) = match (file, defaults.registry.as_deref()) {
        (Some(v), _) => ("registry", v),
        (None, Some(v)) if !v.is_empty() => ("registry (from MTLS_REGISTRY)", v.to_owned()),
        (None, _) => return Registry::File(c.data_dir.join("registry.db")),
    };
    match RegistryUrl::new(&value) {
        Some(url) => Registry::Postgres(url),
        None => {
            c.problem(
                field,
                "must be a postgres:// or postgresql:// URL (leave it out for the SQLite registry <data_dir>/registry.db)",
            );
            Registry::File(c.data_dir.join("registry.db"))
        }
    }
}

pub(super) fn validate(
    raw: RawConfig,
    path: &Path,
    base: &Path,
    defaults: &Defaults,
) -> Result<Config, ConfigError> {
    let data_dir = match raw.data_dir.as_ref() {
        Some(d) => d.clone(),
        None => defaults
            .data_dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
    };
    let mut c = Checker {
        problems: Vec::new(),
        listener: None,
        base: base.to_owned(),
        data_dir: base.join(&data_dir),
    };
    if data_dir.as_os_str().is_empty() {
        c.problem("data_dir", "is empty");
    }
    let registry = registry(&mut c, raw.registry, defaults);
    if raw.listener.is_empty() && raw.control.is_none() {
        c.problem(
            "listener",
            "at least one [[listener]] (or a [control] section) is required",
        );
    }
    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    let mut listeners = Vec::new();
    for (index, l) in raw.listener.into_iter().enumerate() {
        c.listener = Some(match &l.name {
            Some(n) => format!("{n:?}"),
            None => format!("#{}", index + 1),
        });
        if let Some(lc) = listener::listener(&mut c, l) {
            if !names.insert(lc.name.clone()) {
                c.problem("name", format!("{:?} is used by another listener", lc.name));
            }
            if lc.listen.port() != 0 && !addrs.insert(lc.listen) {
                c.problem(
                    "listen",
                    format!("{} is used by another listener", lc.listen),
                );
            }
            listeners.push(lc);
        }
    }
    c.listener = None;
    let control = raw.control.map(|raw| control::control(&mut c, raw));
    if let Some(Some(control)) = &control
        && control.listen.port() != 0
        && addrs.contains(&control.listen)
    {
        c.problem(
            "control.listen",
            format!("{} is used by a listener", control.listen),
        );
    }

    let health = endpoint(&mut c, "health", raw.health, DEFAULT_HEALTH_LISTEN);
    let metrics = endpoint(&mut c, "metrics", raw.metrics, DEFAULT_METRICS_LISTEN);
    let logging = logging(&mut c, raw.logging.unwrap_or_default());
    let shutdown = raw.shutdown.unwrap_or_default();
    let drain_timeout = c.duration(
        "shutdown.drain_timeout",
        shutdown.drain_timeout.as_deref(),
        DEFAULT_DRAIN_TIMEOUT,
    );
    let reload = raw.reload.unwrap_or_default();
    let reload = ReloadConfig {
        watch: reload.watch.unwrap_or(true),
        debounce: c.duration(
            "reload.debounce",
            reload.debounce.as_deref(),
            DEFAULT_DEBOUNCE,
        ),
    };

    if !c.problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems: c.problems,
        });
    }
    Ok(Config {
        source: path.to_owned(),
        listeners,
        health,
        metrics,
        logging,
        drain_timeout,
        reload,
        data_dir: c.data_dir,
        registry,
        control: control.flatten(),
    })
}

fn endpoint(
    c: &mut Checker,
    section: &str,
    e: Option<raw::RawEndpoint>,
    default: &str,
) -> Option<SocketAddr> {
    let e = e?;
    let listen = e.listen.as_deref().unwrap_or(default);
    let addr = c.socket_addr(&format!("{section}.listen"), listen);
    if e.enabled.unwrap_or(false) {
        addr
    } else {
        None
    }
}

fn logging(c: &mut Checker, l: raw::RawLogging) -> LoggingConfig {
    let level = match l.level.as_deref() {
        None | Some("info") => LogLevel::Info,
        Some("error") => LogLevel::Error,
        Some("warn") => LogLevel::Warn,
        Some("debug") => LogLevel::Debug,
        Some("trace") => LogLevel::Trace,
        Some(other) => {
            c.problem(
                "logging.level",
                format!("{other:?} is not a level; use error, warn, info, debug or trace"),
            );
            LogLevel::Info
        }
    };
    let format = match l.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            c.problem(
                "logging.format",
                format!("{other:?} is not a format; use \"text\" or \"json\""),
            );
            LogFormat::Text
        }
    };
    LoggingConfig { level, format }
}
