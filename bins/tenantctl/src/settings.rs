//! Remote-mode settings: where the control-plane API is and which files authenticate to
//! it, from flags, environment variables (clap reads both) and the TOML config file.
//!
//! Precedence, per value: flag > environment variable > config file. An explicit
//! `--cert`/`--key`/`--ca` beats the file of the same name in `--cert-dir`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::RemoteArgs;
use crate::error::CliError;

/// The config file (`--config`, `TENANTCTL_CONFIG`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    cert_dir: Option<PathBuf>,
}

/// Resolved remote-mode settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Remote {
    /// `https://HOST:PORT`, or `None` for local mode.
    pub(crate) server: Option<String>,
    /// The client certificate.
    pub(crate) cert: Option<PathBuf>,
    /// Its key.
    pub(crate) key: Option<PathBuf>,
    /// The CA bundle that verifies the server.
    pub(crate) ca: Option<PathBuf>,
    /// Whether `ca` was given by itself (not derived from the certificate directory).
    pub(crate) ca_explicit: bool,
    /// The certificate directory.
    pub(crate) cert_dir: Option<PathBuf>,
}

// === impl Remote ===

impl Remote {
    /// Merges flags/env with the config file.
    pub(crate) fn resolve(args: &RemoteArgs) -> Result<Self, CliError> {
        let file = match &args.config {
            Some(path) => load(path)?,
            None => ConfigFile::default(),
        };
        let cert_dir = args.cert_dir.clone().or(file.cert_dir);
        let in_dir = |name: &str| cert_dir.as_ref().map(|d| d.join(name));
        let from_dir_only = args.cert_dir.is_some();
        let pick = |flag: &Option<PathBuf>, name: &str, file_value: Option<PathBuf>| {
            flag.clone()
                .or_else(|| if from_dir_only { in_dir(name) } else { None })
                .or(file_value)
                .or_else(|| in_dir(name))
        };
        let ca_explicit = args.ca.is_some() || (!from_dir_only && file.ca.is_some());
        Ok(Self {
            server: args.server.clone().or(file.server),
            cert: pick(&args.cert, "cert.pem", file.cert),
            key: pick(&args.key, "key.pem", file.key),
            ca: pick(&args.ca, "ca.pem", file.ca),
            ca_explicit,
            cert_dir,
        })
    }

    /// The server URL, or the error saying `command` needs one.
    pub(crate) fn server(&self, command: &'static str) -> Result<&str, CliError> {
        self.server
            .as_deref()
            .ok_or(CliError::NeedsServer { command })
    }

    /// The CA bundle, or an error saying how to give one.
    pub(crate) fn ca(&self) -> Result<&Path, CliError> {
        self.ca.as_deref().ok_or_else(|| CliError::RemoteSettings {
            reason: "no CA bundle to verify the server: pass --ca FILE or --cert-dir DIR (or TENANTCTL_CA, or ca in the config file)".to_owned(),
        })
    }
}

fn load(path: &Path) -> Result<ConfigFile, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::ConfigFile {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    let mut file: ConfigFile = toml::from_str(&text).map_err(|e| CliError::ConfigFile {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    // Relative paths are relative to the file, not to the working directory.
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [
        &mut file.cert,
        &mut file.key,
        &mut file.ca,
        &mut file.cert_dir,
    ]
    .into_iter()
    .flatten()
    {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RemoteArgs {
        RemoteArgs::default()
    }

    #[test]
    fn flags_beat_the_file_and_the_dir_fills_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tenantctl.toml");
        std::fs::write(
            &cfg,
            "server = \"https://file:1\"\ncert = \"file-cert.pem\"\nca = \"/abs/ca.pem\"\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(cfg.clone());
        let r = Remote::resolve(&a).unwrap();
        assert_eq!(r.server.as_deref(), Some("https://file:1"));
        assert_eq!(r.cert, Some(dir.path().join("file-cert.pem")));
        assert_eq!(r.ca, Some(PathBuf::from("/abs/ca.pem")));
        assert!(r.key.is_none());

        a.server = Some("https://flag:2".into());
        a.cert_dir = Some(PathBuf::from("/bundle"));
        let r = Remote::resolve(&a).unwrap();
        assert_eq!(r.server.as_deref(), Some("https://flag:2"));
        // --cert-dir (flag) beats the file's cert and ca.
        assert_eq!(r.cert, Some(PathBuf::from("/bundle/cert.pem")));
        assert_eq!(r.key, Some(PathBuf::from("/bundle/key.pem")));
        assert_eq!(r.ca, Some(PathBuf::from("/bundle/ca.pem")));
        assert!(!r.ca_explicit);

        a.ca = Some(PathBuf::from("/flag/ca.pem"));
        let r = Remote::resolve(&a).unwrap();
        assert_eq!(r.ca, Some(PathBuf::from("/flag/ca.pem")));
        assert!(r.ca_explicit);
    }

    #[test]
    fn a_bad_config_file_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("bad.toml");
        std::fs::write(&cfg, "servr = \"x\"\n").unwrap();
        let mut a = args();
        a.config = Some(cfg.clone());
        let err = Remote::resolve(&a).unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("bad.toml"), "{text}");
        assert!(text.contains("servr"), "{text}");
    }
}
