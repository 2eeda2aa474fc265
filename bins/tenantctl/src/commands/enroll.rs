//! `tenantctl enroll`: the tenant-side half of onboarding.
//!
//! The private key is generated here and never leaves this machine: only a CSR is handed to
//! the CA, together with the one-time token. Today the CSR is signed against the registry of
//! the local data dir; the remote admin API will add a second way to redeem the same token.

use mtls_ca::{ClientCertRequest, KeyAndCsr, Overwrite, write_bundle};
use serde_json::json;
use zeroize::Zeroizing;

use super::cert::{cert_json, new_certificate};
use super::{Context, StagedDir, days, key_algorithm, read_secret_file};
use crate::cli::EnrollArgs;
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, args: EnrollArgs) -> Result<Output, CliError> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) if !t.trim().is_empty() => Zeroizing::new(t.trim().to_owned()),
        (_, Some(path)) => read_secret_file("token file", path)?,
        _ => return Err(CliError::NoToken),
    };
    let validity = days(args.days)?;
    let staged = StagedDir::new(&args.out)?;
    let generated = KeyAndCsr::generate(key_algorithm(args.algorithm))?;

    let store = ctx.data.open_registry()?;
    let ca = ctx.data.load_ca()?;
    let domain = store.trust_domain()?;
    // Signing and writing the bundle happen inside the redemption's transaction: if either
    // fails, the token stays unused and can be tried again.
    let record = store.redeem_enrollment_token(&ctx.actor, &token, &mut |tenant| {
        let mut req = ClientCertRequest::new(
            domain.clone(),
            tenant.id.clone(),
            tenant.display_name.clone(),
        );
        req.validity = validity;
        let mut issued = ca.sign_csr(&generated.csr_der, &req)?;
        // The bundle holds our own key: the CA never saw it.
        issued.key_pem = Some(generated.key_pem.clone());
        write_bundle(staged.path(), &issued, &ca, None, Overwrite::Never)?;
        Ok(new_certificate(&issued))
    })?;
    let dir = staged.publish()?;
    Ok(enrolled_output(&record, &dir))
}

/// What `enroll` prints, locally and remotely.
pub(super) fn enrolled_output(
    record: &mtls_registry::CertificateRecord,
    dir: &std::path::Path,
) -> Output {
    let mut value = cert_json(record);
    value["out"] = json!(dir);
    Output::new(
        format!(
            "Enrolled tenant {}: certificate {} valid until {}.\nWrote cert.pem, key.pem (0600, generated here) and ca.pem in {}.",
            record.tenant,
            record.serial,
            timestamp(record.not_after),
            dir.display()
        ),
        value,
    )
}
