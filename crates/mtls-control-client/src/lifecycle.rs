//! The certificate lifecycle for apps that embed the client: [`enroll`] once,
//! [`renew_in_place`] (from cron) or [`renew_loop`] (in a sidecar or the app itself).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mtls_ca::{KeyAlgorithm, KeyAndCsr};
use mtls_control_api::{CertificateIssued, EnrollRequest, RenewRequest};
use time::OffsetDateTime;

use crate::cert_dir::{self, NewFiles};
use crate::client::ControlClient;
use crate::error::ClientError;
use crate::material::{LeafFacts, TlsMaterial, csr_pem, pair_matches};
use crate::schedule::{Backoff, delay_until};

/// What [`enroll`] wrote.
#[derive(Debug, Clone)]
pub struct EnrolledBundle {
    /// The certificate directory (cert.pem, key.pem, ca.pem).
    pub dir: PathBuf,
    /// What the server returned.
    pub issued: CertificateIssued,
}

/// Redeems a one-time enrollment token: generates a key here (it never leaves this
/// machine), sends only a CSR to `POST /v1/enroll` (verifying the server with `ca_pem`),
/// and writes cert.pem (the chain), key.pem (0600) and ca.pem into `out_dir` in the
/// layout [`renew_in_place`] swaps atomically. `out_dir` must not exist or be empty; the
/// files are written into a staging directory beside it and renamed into place, so a
/// failure leaves nothing half-written at `out_dir`.
pub async fn enroll(
    server_url: &str,
    ca_pem: &[u8],
    token: &str,
    out_dir: &Path,
    key_algorithm: KeyAlgorithm,
) -> Result<EnrolledBundle, ClientError> {
    cert_dir::check_empty_output(out_dir)?;
    let client = ControlClient::new(server_url, &TlsMaterial::from_pem(ca_pem, None)?)?;
    let generated = KeyAndCsr::generate(key_algorithm)?;
    let issued = client
        .enroll(&EnrollRequest {
            token: token.to_owned(),
            csr: csr_pem(&generated.csr_der),
        })
        .await?;
    check_issued(&issued, &generated)?;
    let facts = LeafFacts::from_pem("the certificate from the server", issued.cert.as_bytes())?;
    cert_dir::check_empty_output(out_dir)?;
    let staging = cert_dir::staging_dir(out_dir)?;
    let files = NewFiles {
        name: &facts.serial,
        cert_pem: &issued.cert,
        key_pem: &generated.key_pem,
        ca_pem: &issued.ca,
    };
    if let Err(e) = cert_dir::populate(&staging, &files) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    publish(&staging, out_dir, &facts.serial)?;
    Ok(EnrolledBundle {
        dir: out_dir.to_owned(),
        issued,
    })
}

fn publish(staging: &Path, target: &Path, serial: &str) -> Result<(), ClientError> {
    let failed = |source| ClientError::PublishFailed {
        serial: serial.to_owned(),
        staging: staging.to_owned(),
        target: target.to_owned(),
        source,
    };
    if target.exists() {
        std::fs::remove_dir(target).map_err(failed)?;
    }
    std::fs::rename(staging, target).map_err(failed)
}

/// Checks the returned chain is for the key we generated.
fn check_issued(issued: &CertificateIssued, generated: &KeyAndCsr) -> Result<(), ClientError> {
    pair_matches(issued.cert.as_bytes(), generated.key_pem.as_bytes()).map_err(|e| {
        ClientError::material(
            "the certificate from the server",
            format!("it is not for the key generated here ({e})"),
        )
    })
}

/// How [`renew_in_place`] renews.
#[derive(Debug, Clone)]
pub struct RenewOptions {
    /// Revoke the current certificate once the new one is installed. Done as a second call
    /// (`POST /v1/certs/{serial}/revoke`, authenticated with the new certificate) after the
    /// swap, not with the renewal request's own `revoke_previous`: if the process dies
    /// between the server's answer and the swap, the directory still holds a working pair.
    pub revoke_previous: bool,
    /// Algorithm of the new key (a new key is generated for every renewal).
    pub key_algorithm: KeyAlgorithm,
    /// The CA bundle that verifies the server; default: the directory's ca.pem.
    pub ca_file: Option<PathBuf>,
}

impl Default for RenewOptions {
    fn default() -> Self {
        Self {
            revoke_previous: false,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ca_file: None,
        }
    }
}

/// What [`renew_in_place`] did.
#[derive(Debug, Clone)]
pub struct RenewOutcome {
    /// The new certificate, as the server returned it.
    pub issued: CertificateIssued,
    /// The serial of the certificate that authenticated the renewal.
    pub previous_serial: String,
    /// Its end of validity.
    pub previous_not_after: OffsetDateTime,
    /// Whether it was expired (a recovery; the server revokes it).
    pub recovered: bool,
    /// Whether the previous certificate is now revoked (`revoke_previous`, or a recovery).
    pub previous_revoked: bool,
    /// The new generation directory `live` now points at.
    pub generation: PathBuf,
}

/// Renews the certificate in `cert_dir` in place: authenticates with the current pair
/// (read consistently, see [`read_current`](crate::read_current)), generates a new key,
/// sends a CSR to `POST /v1/renew`, checks the returned chain is for that key and
/// installs it with one atomic symlink swap (see the [`cert_dir`](crate::cert_dir) module
/// for the layout and why). Until the swap, the old files are untouched and keep working:
/// the server keeps the old certificate valid, and `revoke_previous` revokes it only after
/// the swap. An expired certificate is tried too: the server may recover it within its
/// window (and then revokes it itself, so a crash between its answer and the swap loses the
/// lineage's recovery; retry within the window).
///
/// If the renewal succeeded but revoking the previous certificate failed, the error is
/// [`ClientError::RevokePreviousFailed`]: the new pair is installed, revoke the old serial
/// again later.
pub async fn renew_in_place(
    server_url: &str,
    cert_dir: &Path,
    options: &RenewOptions,
) -> Result<RenewOutcome, ClientError> {
    let current = crate::cert_dir::read_current(cert_dir)?;
    let cert_name = cert_dir.join(cert_dir::CERT_FILE).display().to_string();
    let previous = LeafFacts::from_pem(&cert_name, current.cert_pem.as_bytes())?;
    let ca_pem = match &options.ca_file {
        Some(path) => std::fs::read(path).map_err(ClientError::io("read", path))?,
        None => current
            .ca_pem
            .clone()
            .ok_or_else(|| {
                ClientError::material(
                    cert_dir.join(cert_dir::CA_FILE).display().to_string(),
                    "missing: pass the CA bundle that verifies the server",
                )
            })?
            .into_bytes(),
    };
    let tls = TlsMaterial::from_pem(
        &ca_pem,
        Some((current.cert_pem.as_bytes(), current.key_pem.as_bytes())),
    )?;
    let client = ControlClient::new(server_url, &tls)?;
    let generated = KeyAndCsr::generate(options.key_algorithm)?;
    let issued = client
        .renew(&RenewRequest {
            csr: csr_pem(&generated.csr_der),
            revoke_previous: false,
        })
        .await?;
    check_issued(&issued, &generated)?;
    let facts = LeafFacts::from_pem("the certificate from the server", issued.cert.as_bytes())?;
    let ca = if issued.ca.trim().is_empty() {
        String::from_utf8_lossy(&ca_pem).into_owned()
    } else {
        issued.ca.clone()
    };
    let generation = cert_dir::install(
        cert_dir,
        &NewFiles {
            name: &facts.serial,
            cert_pem: &issued.cert,
            key_pem: &generated.key_pem,
            ca_pem: &ca,
        },
    )?;
    let recovered = previous.not_after <= OffsetDateTime::now_utc();
    let mut previous_revoked = recovered;
    if options.revoke_previous && !recovered {
        let installed = crate::cert_dir::read_current(cert_dir)?;
        let tls = TlsMaterial::from_pem(
            &ca_pem,
            Some((installed.cert_pem.as_bytes(), installed.key_pem.as_bytes())),
        )?;
        let request = mtls_control_api::RevokeRequest {
            reason: Some("superseded".to_owned()),
        };
        ControlClient::new(server_url, &tls)?
            .revoke_cert(&previous.serial, &request)
            .await
            .map_err(|source| ClientError::RevokePreviousFailed {
                previous: previous.serial.clone(),
                renewed: issued.serial.clone(),
                source: Box::new(source),
            })?;
        previous_revoked = true;
    }
    Ok(RenewOutcome {
        issued,
        previous_serial: previous.serial,
        previous_not_after: previous.not_after,
        recovered,
        previous_revoked,
        generation,
    })
}

/// How [`renew_loop`] behaves.
#[derive(Debug, Clone, Default)]
pub struct LoopOptions {
    /// What each renewal does.
    pub renew: RenewOptions,
    /// The waits between failed attempts.
    pub backoff: Backoff,
}

/// What [`renew_loop`] reports as it goes.
#[derive(Debug)]
pub enum RenewEvent<'a> {
    /// The next renewal of certificate `serial` is due at `at`.
    Scheduled {
        /// The current certificate's serial.
        serial: &'a str,
        /// When it will be renewed.
        at: OffsetDateTime,
    },
    /// A renewal succeeded.
    Renewed(&'a RenewOutcome),
    /// A renewal failed; the next attempt is in `retry_in`.
    Failed {
        /// Why.
        error: &'a ClientError,
        /// Consecutive failures so far.
        failures: u32,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
}

/// The longest single sleep: the loop re-reads the clock at least this often, so a
/// suspended machine (or a laptop lid) does not push a renewal past its time.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Keeps the certificate in `cert_dir` renewed until `shutdown` completes: renews at 2/3
/// of the current certificate's lifetime ([`renewal_time`](crate::renewal_time)), retries
/// failures with bounded exponential backoff, and tries an expired certificate too (the
/// server may recover it). Each step is reported to `on_event`. Returns `Ok(())` on
/// shutdown, or an error if the directory holds no readable certificate.
pub async fn renew_loop<S, F>(
    server_url: &str,
    cert_dir: &Path,
    options: &LoopOptions,
    shutdown: S,
    on_event: F,
) -> Result<(), ClientError>
where
    S: Future<Output = ()>,
    F: FnMut(RenewEvent<'_>),
{
    renew_loop_with_clock(
        server_url,
        cert_dir,
        options,
        shutdown,
        OffsetDateTime::now_utc,
        on_event,
    )
    .await
}

/// [`renew_loop`] with the wall clock it schedules by given as `now` (for tests and
/// simulations; the renewals themselves are real).
pub async fn renew_loop_with_clock<S, C, F>(
    server_url: &str,
    cert_dir: &Path,
    options: &LoopOptions,
    shutdown: S,
    now: C,
    mut on_event: F,
) -> Result<(), ClientError>
where
    S: Future<Output = ()>,
    C: Fn() -> OffsetDateTime,
    F: FnMut(RenewEvent<'_>),
{
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let current = crate::cert_dir::read_current(cert_dir)?;
        let cert_name = cert_dir.join(cert_dir::CERT_FILE).display().to_string();
        let facts = LeafFacts::from_pem(&cert_name, current.cert_pem.as_bytes())?;
        let due = if failures == 0 {
            let at = facts.renewal_time();
            on_event(RenewEvent::Scheduled {
                serial: &facts.serial,
                at,
            });
            at
        } else {
            now()
        };
        // Sleep until due, in bounded steps, unless shut down.
        loop {
            let left = delay_until(due, now());
            if left.is_zero() {
                break;
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
            }
        }
        let attempt = renew_in_place(server_url, cert_dir, &options.renew);
        let result = tokio::select! {
            () = &mut shutdown => return Ok(()),
            result = attempt => result,
        };
        match result {
            Ok(outcome) => {
                failures = 0;
                on_event(RenewEvent::Renewed(&outcome));
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let retry_in = options.backoff.delay(failures);
                on_event(RenewEvent::Failed {
                    error: &error,
                    failures,
                    retry_in,
                });
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(retry_in) => {}
                }
            }
        }
    }
}
