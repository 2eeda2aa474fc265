//! `tenantctl crl`: the revocation list for third parties (the gateway itself checks the
//! registry after every handshake and needs no CRL).

use mtls_ca::{CrlRequest, Overwrite, RevokedCertificate, write_public_file};
use serde_json::json;

use super::Context;
use crate::cli::CrlArgs;
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, args: CrlArgs) -> Result<Output, CliError> {
    if args.days == 0 || args.days > 366 {
        return Err(CliError::BadDays {
            days: args.days,
            max: 366,
        });
    }
    let store = ctx.data.open_registry()?;
    let ca = ctx.data.load_ca()?;
    let revoked: Vec<RevokedCertificate> = store
        .revoked_certificates()?
        .into_iter()
        .filter_map(|c| {
            Some(RevokedCertificate {
                serial: c.serial,
                revoked_at: c.revoked_at?,
                reason: c.revocation_reason.unwrap_or_default(),
            })
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let next_update = now + time::Duration::days(i64::from(args.days));
    // Seconds since the epoch: increases with every CRL this CA publishes, as RFC 5280 wants,
    // without keeping a counter of its own.
    let number = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let crl = ca.crl(&CrlRequest {
        number,
        this_update: now,
        next_update,
        revoked: revoked.clone(),
    })?;
    let bytes = if args.der {
        crl.der.as_slice()
    } else {
        crl.pem.as_bytes()
    };
    // A CRL is public and replaced on every publication.
    write_public_file(&args.out, bytes, Overwrite::Force)?;
    let serials: Vec<String> = revoked.iter().map(|r| r.serial.to_string()).collect();
    Ok(written_output(&args, number, &serials, now, next_update))
}

/// What `crl` prints, locally and remotely.
pub(super) fn written_output(
    args: &CrlArgs,
    number: u64,
    serials: &[String],
    now: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
) -> Output {
    Output::new(
        format!(
            "Wrote CRL #{number} ({}) with {} revoked certificate(s) to {}; next update {}.",
            if args.der { "DER" } else { "PEM" },
            serials.len(),
            args.out.display(),
            timestamp(next_update)
        ),
        json!({
            "out": args.out,
            "format": if args.der { "der" } else { "pem" },
            "crl_number": number,
            "revoked_serials": serials,
            "this_update": timestamp(now),
            "next_update": timestamp(next_update),
        }),
    )
}
