//! `tenantctl audit` and `tenantctl audit verify`.

use mtls_registry::{AuditEvent, AuditFilter, PageCursor};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Context, parse_cursor, parse_tenant};
use crate::cli::{AuditArgs, AuditCommand};
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, args: AuditArgs) -> Result<Output, CliError> {
    if let Some(AuditCommand::Verify) = args.command {
        // Verifying the log checks the whole file as well.
        let store = ctx.data.open_registry()?;
        let report = store.verify_audit()?;
        return Ok(Output::new(
            format!(
                "Audit log intact: {} events, head hash {}.\nRecord the head hash somewhere else to detect a rewrite of the whole log.",
                report.events, report.head_hash
            ),
            json!({ "ok": true, "events": report.events, "head_hash": report.head_hash }),
        ));
    }
    let store = ctx.data.open_registry_for_reads()?;
    let tenant = args.tenant.as_deref().map(parse_tenant).transpose()?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let filter = AuditFilter {
        tenant,
        since,
        limit: Some(args.limit),
    };
    match args.after.as_deref().map(parse_cursor).transpose()? {
        Some(after) => {
            let page = store.audit_page(&filter, Some(&after), args.limit as usize)?;
            let next = page.next.as_ref().map(PageCursor::as_str);
            Ok(list_output(&page.items).page(next))
        }
        None => {
            let events = store.audit_events(&filter)?;
            Ok(tail_output(&events, args.limit))
        }
    }
}

/// The newest `limit` events: the last page, so `next` is null; when it is full, the
/// hint says how to read the older ones.
pub(super) fn tail_output(events: &[AuditEvent], limit: u32) -> Output {
    let output = list_output(events).page(None);
    if events.len() >= limit as usize {
        output.with_hint(format!(
            "The newest {limit} events. Page through all of them with --after 0."
        ))
    } else {
        output
    }
}

pub(super) fn list_output(events: &[AuditEvent]) -> Output {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                timestamp(e.at),
                e.actor.clone(),
                e.action.clone(),
                e.tenant
                    .as_ref()
                    .map_or("-".to_owned(), ToString::to_string),
                e.details.to_string(),
            ]
        })
        .collect();
    let human = if rows.is_empty() {
        "No audit events match.".to_owned()
    } else {
        table(
            &["SEQ", "AT", "ACTOR", "ACTION", "TENANT", "DETAILS"],
            &rows,
        )
    };
    Output::new(human, Value::Array(events.iter().map(event_json).collect()))
}

/// RFC 3339, or an age such as `2h` meaning "that long ago".
pub(super) fn parse_since(value: &str) -> Result<OffsetDateTime, CliError> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let age = humantime::parse_duration(value).map_err(|_| CliError::BadSince {
        value: value.to_owned(),
    })?;
    let age = time::Duration::try_from(age).map_err(|_| CliError::BadSince {
        value: value.to_owned(),
    })?;
    OffsetDateTime::now_utc()
        .checked_sub(age)
        .ok_or_else(|| CliError::BadSince {
            value: value.to_owned(),
        })
}

fn event_json(e: &AuditEvent) -> Value {
    json!({
        "seq": e.seq,
        "at": timestamp(e.at),
        "actor": e.actor,
        "action": e.action,
        "tenant": e.tenant.as_ref().map(|t| t.as_str()),
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    })
}
