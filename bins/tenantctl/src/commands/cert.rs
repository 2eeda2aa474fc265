//! `tenantctl cert ...`

use mtls_ca::{
    ClientCertRequest, IssuedCertificate, Overwrite, P12Options, write_bundle, write_public_file,
};
use mtls_identity::RevocationReason;
use mtls_registry::{CertificateKind, CertificateRecord, NewCertificate, PageCursor};
use serde_json::{Value, json};

use super::{
    Context, StagedDir, days, key_algorithm, parse_cursor, parse_tenant, read_secret_file,
};
use crate::cli::CertCommand;
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: CertCommand) -> Result<Output, CliError> {
    match cmd {
        CertCommand::Issue {
            tenant,
            out,
            p12_password_file,
            days: d,
            workload,
            algorithm,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let validity = days(d)?;
            let password = p12_password_file
                .as_deref()
                .map(|p| read_secret_file("PKCS#12 password file", p))
                .transpose()?;
            let staged = StagedDir::new(&out)?;
            let store = ctx.data.open_registry()?;
            let ca = ctx.data.load_ca()?;
            let domain = store.trust_domain()?;
            let friendly = tenant.to_string();
            let p12 = password.as_ref().map(|pw| P12Options {
                password: pw.as_str(),
                friendly_name: &friendly,
            });
            let record = store.record_certificate(&ctx.actor, &tenant, &mut |t| {
                let mut req =
                    ClientCertRequest::new(domain.clone(), tenant.clone(), t.display_name.clone());
                req.validity = validity;
                req.workload = workload.clone();
                req.key_algorithm = key_algorithm(algorithm);
                let issued = ca.issue_client(&req)?;
                write_bundle(staged.path(), &issued, &ca, p12.as_ref(), Overwrite::Never)?;
                Ok(new_certificate(&issued))
            })?;
            let dir = staged.publish()?;
            let mut files = vec!["cert.pem", "key.pem", "ca.pem"];
            if password.is_some() {
                files.push("bundle.p12");
            }
            let mut value = cert_json(&record);
            value["out"] = json!(dir);
            value["files"] = json!(files);
            Ok(Output::new(
                format!(
                    "Issued certificate {} for tenant {} (valid until {}).\nWrote {} in {} (key.pem is mode 0600; keep it secret).",
                    record.serial,
                    record.tenant,
                    timestamp(record.not_after),
                    files.join(", "),
                    dir.display()
                ),
                value,
            ))
        }
        CertCommand::Sign {
            tenant,
            csr,
            out,
            days: d,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let validity = days(d)?;
            let csr_bytes = std::fs::read(&csr).map_err(CliError::io("read CSR", &csr))?;
            if out.exists() {
                return Err(CliError::OutputExists { path: out });
            }
            let store = ctx.data.open_registry()?;
            let ca = ctx.data.load_ca()?;
            let domain = store.trust_domain()?;
            let mut written = false;
            let result = store.record_certificate(&ctx.actor, &tenant, &mut |t| {
                let mut req =
                    ClientCertRequest::new(domain.clone(), tenant.clone(), t.display_name.clone());
                req.validity = validity;
                let issued = ca.sign_csr(&csr_bytes, &req)?;
                write_public_file(&out, issued.chain_pem.as_bytes(), Overwrite::Never)?;
                written = true;
                Ok(new_certificate(&issued))
            });
            let record = match result {
                Ok(record) => record,
                Err(source) => {
                    if written {
                        let _ = std::fs::remove_file(&out);
                    }
                    return Err(CliError::SignCsr {
                        csr,
                        source: Box::new(source),
                    });
                }
            };
            let mut value = cert_json(&record);
            value["out"] = json!(out);
            Ok(Output::new(
                format!(
                    "Signed {} for tenant {}: certificate {} (valid until {}) written to {}.",
                    csr.display(),
                    record.tenant,
                    record.serial,
                    timestamp(record.not_after),
                    out.display()
                ),
                value,
            ))
        }
        CertCommand::List { tenant, page } => {
            let store = ctx.data.open_registry_for_reads()?;
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let after = page.after.as_deref().map(parse_cursor).transpose()?;
            if let Some(t) = &tenant {
                store.tenant(t)?;
            }
            let certs =
                store.certificates_page(tenant.as_ref(), after.as_ref(), page.limit as usize)?;
            let next = certs.next.as_ref().map(PageCursor::as_str);
            Ok(list_output(&certs.items).page(next))
        }
        CertCommand::Revoke { serial, reason } => {
            let (serial, reason) = super::parse_revocation(&serial, &reason)?;
            let store = ctx.data.open_registry()?;
            let record = store.revoke_certificate(&ctx.actor, &serial, reason)?;
            Ok(revoked_output(&record, reason))
        }
    }
}

pub(super) fn list_output(certs: &[CertificateRecord]) -> Output {
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<Vec<String>> = certs
        .iter()
        .map(|c| {
            vec![
                c.serial.to_string(),
                c.tenant.to_string(),
                state(c, now),
                timestamp(c.not_after),
                c.fingerprint.to_string(),
            ]
        })
        .collect();
    let human = if rows.is_empty() {
        "No certificates.".to_owned()
    } else {
        table(
            &["SERIAL", "TENANT", "STATE", "NOT AFTER", "SHA-256"],
            &rows,
        )
    };
    Output::new(human, Value::Array(certs.iter().map(cert_json).collect()))
}

pub(super) fn revoked_output(record: &CertificateRecord, reason: RevocationReason) -> Output {
    Output::new(
        format!(
            "Revoked certificate {} of tenant {} ({reason}). The gateway refuses it at the next handshake;\npublish a CRL for third parties: tenantctl crl --out crl.pem",
            record.serial, record.tenant
        ),
        cert_json(record),
    )
}

pub(super) fn new_certificate(issued: &IssuedCertificate) -> NewCertificate {
    NewCertificate {
        serial: issued.serial.clone(),
        fingerprint: issued.fingerprint,
        not_before: issued.not_before,
        not_after: issued.not_after,
        kind: CertificateKind::Client,
    }
}

fn state(c: &CertificateRecord, now: time::OffsetDateTime) -> String {
    match (&c.revoked_at, &c.revocation_reason) {
        (Some(_), Some(reason)) => format!("revoked ({reason})"),
        (Some(_), None) => "revoked".to_owned(),
        _ if c.not_after <= now => "expired".to_owned(),
        _ => "valid".to_owned(),
    }
}

pub(super) fn cert_json(c: &CertificateRecord) -> Value {
    json!({
        "serial": c.serial.to_string(),
        "tenant": c.tenant.as_str(),
        "fingerprint_sha256": c.fingerprint.to_string(),
        "not_before": timestamp(c.not_before),
        "not_after": timestamp(c.not_after),
        "issued_at": timestamp(c.issued_at),
        "revoked_at": c.revoked_at.map(timestamp),
        "revocation_reason": c.revocation_reason.map(|r| r.to_string()),
        "lineage": c.lineage.to_string(),
        "renewed_from": c.renewed_from.as_ref().map(ToString::to_string),
        "recovered": c.recovered,
    })
}
