//! `tenantctl tenant ...`

use mtls_registry::{Store, TenantLimits, TenantRecord, TenantStatus};
use serde_json::{Value, json};

use super::{Context, parse_tenant};
use crate::cli::TenantCommand;
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: TenantCommand) -> Result<Output, CliError> {
    let store = ctx.data.open_registry()?;
    match cmd {
        TenantCommand::Create {
            id,
            name,
            max_connections,
            requests_per_second,
        } => {
            let id = parse_tenant(&id)?;
            let limits = TenantLimits {
                max_connections,
                requests_per_second,
            };
            let t = store.create_tenant(&ctx.actor, &id, &name, limits)?;
            Ok(Output::new(
                format!(
                    "Created tenant {} ({}).\nNext: tenantctl cert issue {} --out ./{}-bundle   or   tenantctl token create {}",
                    t.id, t.display_name, t.id, t.id, t.id
                ),
                tenant_json(&t),
            ))
        }
        TenantCommand::List => {
            let tenants = store.tenants()?;
            let rows: Vec<Vec<String>> = tenants
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.status.to_string(),
                        limits_text(&t.limits),
                        timestamp(t.created_at),
                        t.display_name.clone(),
                    ]
                })
                .collect();
            let human = if rows.is_empty() {
                "No tenants.".to_owned()
            } else {
                table(&["ID", "STATUS", "LIMITS", "CREATED", "NAME"], &rows)
            };
            Ok(Output::new(
                human,
                Value::Array(tenants.iter().map(tenant_json).collect()),
            ))
        }
        TenantCommand::Show { id } => {
            let id = parse_tenant(&id)?;
            let t = store.tenant(&id)?;
            let certs = store.certificates(Some(&id))?;
            let routes = store.routes(Some(&id))?;
            let tokens = store.tokens(Some(&id))?;
            let now = time::OffsetDateTime::now_utc();
            let live = certs
                .iter()
                .filter(|c| c.revoked_at.is_none() && c.not_after > now)
                .count();
            let mut human = format!(
                "Tenant        {}\nName          {}\nStatus        {}\nLimits        {}\nCreated       {}\nUpdated       {}\nCertificates  {} ({} valid)\n",
                t.id,
                t.display_name,
                t.status,
                limits_text(&t.limits),
                timestamp(t.created_at),
                timestamp(t.updated_at),
                certs.len(),
                live
            );
            human.push_str(&format!("Routes        {}\n", routes.len()));
            for r in &routes {
                human.push_str(&format!("  {}  {}\n", r.id, r.spec.summary()));
            }
            let open_tokens = tokens
                .iter()
                .filter(|k| k.used_at.is_none() && k.expires_at > now)
                .count();
            human.push_str(&format!(
                "Tokens        {} ({} redeemable)\n",
                tokens.len(),
                open_tokens
            ));
            let mut value = tenant_json(&t);
            value["certificates"] = json!(certs.len());
            value["valid_certificates"] = json!(live);
            value["routes"] = Value::Array(
                routes
                    .iter()
                    .map(|r| json!({ "id": r.id.to_string(), "summary": r.spec.summary() }))
                    .collect(),
            );
            value["tokens"] = json!(tokens.len());
            value["redeemable_tokens"] = json!(open_tokens);
            Ok(Output::new(human, value))
        }
        TenantCommand::Suspend { id } => status(ctx, &store, &id, TenantStatus::Suspended),
        TenantCommand::Resume { id } => status(ctx, &store, &id, TenantStatus::Active),
        TenantCommand::Limits {
            id,
            max_connections,
            requests_per_second,
        } => {
            let id = parse_tenant(&id)?;
            let t = store.set_tenant_limits(
                &ctx.actor,
                &id,
                TenantLimits {
                    max_connections,
                    requests_per_second,
                },
            )?;
            Ok(Output::new(
                format!("Tenant {} limits: {}", t.id, limits_text(&t.limits)),
                tenant_json(&t),
            ))
        }
        TenantCommand::Delete { id } => {
            let id = parse_tenant(&id)?;
            let deleted = store.delete_tenant(&ctx.actor, &id)?;
            let serials: Vec<String> = deleted.revoked.iter().map(ToString::to_string).collect();
            Ok(Output::new(
                format!(
                    "Deleted tenant {id}: revoked {} certificate(s), removed {} route(s) and {} token(s).{}",
                    serials.len(),
                    deleted.routes_removed,
                    deleted.tokens_removed,
                    if serials.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "\nRevoked serials: {}\nPublish a new CRL: tenantctl crl --out crl.pem",
                            serials.join(", ")
                        )
                    }
                ),
                json!({
                    "deleted": id.as_str(),
                    "revoked_serials": serials,
                    "routes_removed": deleted.routes_removed,
                    "tokens_removed": deleted.tokens_removed,
                }),
            ))
        }
    }
}

fn status(
    ctx: &Context,
    store: &impl Store,
    id: &str,
    status: TenantStatus,
) -> Result<Output, CliError> {
    let id = parse_tenant(id)?;
    let t = store.set_tenant_status(&ctx.actor, &id, status)?;
    let verb = match status {
        TenantStatus::Suspended => "Suspended",
        _ => "Resumed",
    };
    Ok(Output::new(
        format!("{verb} tenant {}.", t.id),
        tenant_json(&t),
    ))
}

fn limits_text(limits: &TenantLimits) -> String {
    let conn = limits
        .max_connections
        .map_or("unlimited".to_owned(), |n| n.to_string());
    let rps = limits
        .requests_per_second
        .map_or("unlimited".to_owned(), |n| n.to_string());
    format!("connections={conn} rps={rps}")
}

fn tenant_json(t: &TenantRecord) -> Value {
    json!({
        "id": t.id.as_str(),
        "display_name": t.display_name,
        "status": t.status.to_string(),
        "max_connections": t.limits.max_connections,
        "requests_per_second": t.limits.requests_per_second,
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
    })
}
