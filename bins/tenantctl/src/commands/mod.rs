//! One module per command group; `run` dispatches.

mod admin;
mod audit;
mod cert;
mod crl;
mod enroll;
mod explain;
mod init;
mod remote;
mod route;
mod tenant;
mod token;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mtls_identity::TenantId;
use mtls_registry::Actor;

use crate::cli::{Algorithm, Cli, Command};
use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::Remote;

/// What every command gets: where the data lives and who is acting.
pub(crate) struct Context {
    pub(crate) data: DataDir,
    pub(crate) actor: Actor,
    /// Remote-mode settings (`--server` and friends); `server` is `None` in local mode.
    pub(crate) remote: Remote,
    /// `--json`: for commands that print as they go (`renew --loop`).
    pub(crate) json: bool,
}

pub(crate) fn run(cli: Cli) -> Result<Output, CliError> {
    let actor_name = cli.actor.clone().unwrap_or_else(crate::env::default_actor);
    let actor =
        Actor::new(actor_name.clone()).map_err(CliError::invalid("--actor", &actor_name))?;
    let remote = Remote::resolve(&cli.remote)?;
    let ctx = Context {
        data: DataDir::new(cli.data_dir, cli.registry),
        actor,
        remote,
        json: cli.json,
    };
    if ctx.remote.server.is_some() {
        return remote::run(&ctx, cli.command);
    }
    match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Tenant(cmd) => tenant::run(&ctx, cmd),
        Command::Cert(cmd) => cert::run(&ctx, cmd),
        Command::Token(cmd) => token::run(&ctx, cmd),
        Command::Enroll(args) => enroll::run(&ctx, args),
        Command::Route(cmd) => route::run(&ctx, cmd),
        Command::Crl(args) => crl::run(&ctx, args),
        Command::Audit(args) => audit::run(&ctx, args),
        Command::Explain(args) => {
            let cert = cli.remote.cert.ok_or(CliError::MissingArgument {
                command: "explain",
                flag: "--cert FILE",
                why: "the client certificate to explain (or TENANTCTL_CERT)",
            })?;
            explain::run(&ctx, args, &cert)
        }
        Command::Admin(cmd) => admin::run(&ctx, cmd),
        Command::Whoami => Err(CliError::NeedsServer { command: "whoami" }),
        Command::Renew(_) => Err(CliError::NeedsServer { command: "renew" }),
    }
}

pub(crate) fn parse_tenant(value: &str) -> Result<TenantId, CliError> {
    value.parse().map_err(CliError::invalid("tenant id", value))
}

/// `--after`: a page cursor (what the listing does with it is the registry's to check).
pub(crate) fn parse_cursor(value: &str) -> Result<mtls_registry::PageCursor, CliError> {
    value.parse().map_err(CliError::invalid("--after", value))
}

/// The `SERIAL` and `--reason` of a `revoke` command (tenant and admin certificates, local
/// and remote alike).
pub(crate) fn parse_revocation(
    serial: &str,
    reason: &str,
) -> Result<(mtls_identity::Serial, mtls_identity::RevocationReason), CliError> {
    let serial = serial
        .parse()
        .map_err(CliError::invalid("serial", serial))?;
    let reason = reason
        .parse()
        .map_err(CliError::invalid("--reason", reason))?;
    Ok((serial, reason))
}

/// Longest certificate validity we hand out (the CA/Browser Forum's old ceiling).
pub(crate) const MAX_DAYS: u32 = 825;

pub(crate) fn days(days: u32) -> Result<Duration, CliError> {
    if days == 0 || days > MAX_DAYS {
        return Err(CliError::BadDays {
            days,
            max: MAX_DAYS,
        });
    }
    Ok(Duration::from_secs(u64::from(days) * 86_400))
}

pub(crate) fn key_algorithm(alg: Algorithm) -> mtls_ca::KeyAlgorithm {
    match alg {
        Algorithm::P256 => mtls_ca::KeyAlgorithm::EcdsaP256,
        Algorithm::P384 => mtls_ca::KeyAlgorithm::EcdsaP384,
        Algorithm::Ed25519 => mtls_ca::KeyAlgorithm::Ed25519,
    }
}

/// Reads the first line of a secret file (password, token), without its line ending.
pub(crate) fn read_secret_file(
    what: &'static str,
    path: &Path,
) -> Result<zeroize::Zeroizing<String>, CliError> {
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(CliError::io("read", path))?);
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(CliError::EmptySecretFile {
            what,
            path: path.to_owned(),
        });
    }
    Ok(zeroize::Zeroizing::new(first.to_owned()))
}

/// A directory a bundle is written into before it is moved to its final place, so that a
/// failure never leaves a half-written bundle at `--out`. Removed on drop unless published.
pub(crate) struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    published: bool,
}

// === impl StagedDir ===

impl StagedDir {
    /// Refuses a target that exists and is not an empty directory; picks a staging path
    /// beside it (same file system, so the final rename is atomic).
    pub(crate) fn new(target: &Path) -> Result<Self, CliError> {
        match std::fs::read_dir(target) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(CliError::OutputExists {
                        path: target.to_owned(),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                return Err(CliError::OutputExists {
                    path: target.to_owned(),
                });
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".to_owned());
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        Ok(Self {
            staging,
            target: target.to_owned(),
            published: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.staging
    }

    /// Moves the staged directory to the target.
    pub(crate) fn publish(mut self) -> Result<PathBuf, CliError> {
        if self.target.exists() {
            std::fs::remove_dir(&self.target)
                .map_err(CliError::io("replace empty directory", &self.target))?;
        }
        if let Err(source) = std::fs::rename(&self.staging, &self.target) {
            // The certificate is already recorded: keep the files where they are.
            self.published = true;
            return Err(CliError::PublishFailed {
                staging: self.staging.clone(),
                target: self.target.clone(),
                source,
            });
        }
        self.published = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
