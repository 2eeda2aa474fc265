//! `tenantctl admin ...`: admin certificates for the control-plane API (local only: the CA
//! key never leaves the proxy host).

use mtls_ca::{AdminCertRequest, Overwrite, write_bundle};
use mtls_identity::AdminName;
use mtls_registry::AdminCertificateRecord;
use serde_json::{Value, json};

use super::cert::new_certificate;
use super::{Context, StagedDir, days, key_algorithm};
use crate::cli::AdminCommand;
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: AdminCommand) -> Result<Output, CliError> {
    match cmd {
        AdminCommand::Issue {
            name,
            out,
            days: d,
            algorithm,
        } => {
            let admin: AdminName = name
                .parse()
                .map_err(CliError::invalid("admin name", &name))?;
            let validity = days(d)?;
            let staged = StagedDir::new(&out)?;
            let store = ctx.data.open_registry()?;
            let ca = ctx.data.load_ca()?;
            let domain = store.trust_domain()?;
            // Signing and writing the bundle happen inside the registry transaction: if
            // either fails, nothing is recorded.
            let record = store.record_admin_certificate(&ctx.actor, &admin, &mut |admin| {
                let mut req = AdminCertRequest::new(domain.clone(), admin.clone());
                req.validity = validity;
                req.key_algorithm = key_algorithm(algorithm);
                let issued = ca.issue_admin(&req)?;
                write_bundle(staged.path(), &issued, &ca, None, Overwrite::Never)?;
                Ok(new_certificate(&issued))
            })?;
            let dir = staged.publish()?;
            let mut value = admin_json(&record);
            value["out"] = json!(dir);
            value["uri"] = json!(mtls_identity::admin_uri(&domain, &record.admin));
            Ok(Output::new(
                format!(
                    "Issued admin certificate {} for {} ({}), valid until {}.\nWrote cert.pem, key.pem (0600; keep it secret) and ca.pem in {}.\nUse it with: tenantctl --server https://HOST:PORT --cert-dir {} whoami",
                    record.serial,
                    record.admin,
                    mtls_identity::admin_uri(&domain, &record.admin),
                    timestamp(record.not_after),
                    dir.display(),
                    dir.display()
                ),
                value,
            ))
        }
        AdminCommand::List => {
            let store = ctx.data.open_registry()?;
            let certs = store.admin_certificates()?;
            let now = time::OffsetDateTime::now_utc();
            let rows: Vec<Vec<String>> = certs
                .iter()
                .map(|c| {
                    vec![
                        c.serial.to_string(),
                        c.admin.to_string(),
                        state(c, now),
                        timestamp(c.not_after),
                        c.fingerprint.to_string(),
                    ]
                })
                .collect();
            let human = if rows.is_empty() {
                "No admin certificates.".to_owned()
            } else {
                table(&["SERIAL", "ADMIN", "STATE", "NOT AFTER", "SHA-256"], &rows)
            };
            Ok(Output::new(
                human,
                Value::Array(certs.iter().map(admin_json).collect()),
            ))
        }
        AdminCommand::Revoke { serial, reason } => {
            let (serial, reason) = super::parse_revocation(&serial, &reason)?;
            let store = ctx.data.open_registry()?;
            let record = store.revoke_admin_certificate(&ctx.actor, &serial, reason)?;
            Ok(Output::new(
                format!(
                    "Revoked admin certificate {} of {} ({reason}). The control plane refuses it from the next request.",
                    record.serial, record.admin
                ),
                admin_json(&record),
            ))
        }
    }
}

fn state(c: &AdminCertificateRecord, now: time::OffsetDateTime) -> String {
    match (&c.revoked_at, &c.revocation_reason) {
        (Some(_), Some(reason)) => format!("revoked ({reason})"),
        (Some(_), None) => "revoked".to_owned(),
        _ if c.not_after <= now => "expired".to_owned(),
        _ => "valid".to_owned(),
    }
}

fn admin_json(c: &AdminCertificateRecord) -> Value {
    json!({
        "serial": c.serial.to_string(),
        "admin": c.admin.as_str(),
        "fingerprint_sha256": c.fingerprint.to_string(),
        "not_before": timestamp(c.not_before),
        "not_after": timestamp(c.not_after),
        "issued_at": timestamp(c.issued_at),
        "revoked_at": c.revoked_at.map(timestamp),
        "revocation_reason": c.revocation_reason.map(|r| r.to_string()),
    })
}
