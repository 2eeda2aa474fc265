//! `tenantctl tenant ...`. The output functions are shared with remote mode, which turns the
//! API's answers into the same registry records first.

use std::net::IpAddr;

use mtls_registry::{
    CertificateRecord, DeletedTenant, PageCursor, RoutePolicy, RouteRecord, TenantLimits,
    TenantRecord, TenantStatus, TenantUpdate, TokenRecord,
};
use serde_json::{Value, json};

use super::{Context, parse_cursor, parse_tenant};
use crate::cli::{LimitsArgs, TenantCommand};
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: TenantCommand) -> Result<Output, CliError> {
    let store = match cmd {
        TenantCommand::List { .. } | TenantCommand::Show { .. } => {
            ctx.data.open_registry_for_reads()?
        }
        _ => ctx.data.open_registry()?,
    };
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
            Ok(created_output(&t))
        }
        TenantCommand::List { page } => {
            let after = page.after.as_deref().map(parse_cursor).transpose()?;
            let tenants = store.tenants_page(after.as_ref(), page.limit as usize)?;
            let next = tenants.next.as_ref().map(PageCursor::as_str);
            Ok(list_output(&tenants.items).page(next))
        }
        TenantCommand::Show { id } => {
            let id = parse_tenant(&id)?;
            let t = store.tenant(&id)?;
            let certs = store.certificates(Some(&id))?;
            let routes = store.routes(Some(&id))?;
            let tokens = store.tokens(Some(&id))?;
            Ok(show_output(&t, &certs, &routes, Some(&tokens)))
        }
        TenantCommand::Suspend { id } => {
            let id = parse_tenant(&id)?;
            let t = store.set_tenant_status(&ctx.actor, &id, TenantStatus::Suspended)?;
            Ok(status_output(&t))
        }
        TenantCommand::Resume { id } => {
            let id = parse_tenant(&id)?;
            let t = store.set_tenant_status(&ctx.actor, &id, TenantStatus::Active)?;
            Ok(status_output(&t))
        }
        TenantCommand::Limits(args) => {
            let id = parse_tenant(&args.id)?;
            let (limits, route_policy) = limits_update(&args)?;
            let t = store.update_tenant(
                &ctx.actor,
                &id,
                &TenantUpdate {
                    limits: Some(limits),
                    route_policy,
                    egress_address: None,
                },
            )?;
            Ok(limits_output(&t))
        }
        TenantCommand::Egress { id, address, clear } => {
            let id = parse_tenant(&id)?;
            let address = if clear { None } else { address };
            if let Some(ip) = address {
                mtls_egress::check_local_address(ip).map_err(|source| CliError::EgressAddress {
                    tenant: id.to_string(),
                    address: ip,
                    source,
                })?;
            }
            let t = store.update_tenant(
                &ctx.actor,
                &id,
                &TenantUpdate {
                    egress_address: Some(address),
                    ..TenantUpdate::default()
                },
            )?;
            Ok(egress_output(&t))
        }
        TenantCommand::Delete { id } => {
            let id = parse_tenant(&id)?;
            let deleted = store.delete_tenant(&ctx.actor, &id)?;
            Ok(deleted_output(id.as_str(), &deleted))
        }
    }
}

/// The limits and (when any route-policy flag is given) the route policy `args` ask for.
/// Connection limits not given are cleared (as documented since the first release); a
/// route policy is replaced whole, flags not given taking their defaults.
pub(super) fn limits_update(
    args: &LimitsArgs,
) -> Result<(TenantLimits, Option<RoutePolicy>), CliError> {
    let limits = TenantLimits {
        max_connections: args.max_connections,
        requests_per_second: args.requests_per_second,
    };
    if !args.sets_route_policy() {
        return Ok((limits, None));
    }
    let defaults = RoutePolicy::default();
    let policy = RoutePolicy {
        max_routes: args.max_routes.unwrap_or(defaults.max_routes),
        max_upstreams_per_route: args
            .max_upstreams_per_route
            .unwrap_or(defaults.max_upstreams_per_route),
        allowed_upstream_hosts: args
            .allow_upstream_hosts
            .iter()
            .map(|h| {
                h.parse()
                    .map_err(CliError::invalid("--allow-upstream-host", h))
            })
            .collect::<Result<_, _>>()?,
        allowed_upstream_ports: args
            .allow_upstream_ports
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(CliError::invalid("--allow-upstream-port", p))
            })
            .collect::<Result<_, _>>()?,
        allow_private: args.allow_private_routes,
        allowed_identities: args.allow_identities.clone(),
    };
    Ok((limits, Some(policy)))
}

pub(super) fn created_output(t: &TenantRecord) -> Output {
    Output::new(
        format!(
            "Created tenant {} ({}).\nNext: tenantctl cert issue {} --out ./{}-bundle   or   tenantctl token create {}",
            t.id, t.display_name, t.id, t.id, t.id
        ),
        tenant_json(t),
    )
}

pub(super) fn list_output(tenants: &[TenantRecord]) -> Output {
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
    Output::new(
        human,
        Value::Array(tenants.iter().map(tenant_json).collect()),
    )
}

/// `tokens` is `None` remotely (the API does not list tokens): the line is left out.
pub(super) fn show_output(
    t: &TenantRecord,
    certs: &[CertificateRecord],
    routes: &[RouteRecord],
    tokens: Option<&[TokenRecord]>,
) -> Output {
    let now = time::OffsetDateTime::now_utc();
    let live = certs
        .iter()
        .filter(|c| c.revoked_at.is_none() && c.not_after > now)
        .count();
    let mut human = format!(
        "Tenant        {}\nName          {}\nStatus        {}\nLimits        {}\nEgress        {}\nRoute policy  {}\nCreated       {}\nUpdated       {}\nCertificates  {} ({} valid)\n",
        t.id,
        t.display_name,
        t.status,
        limits_text(&t.limits),
        egress_text(t.egress_address),
        policy_text(&t.route_policy),
        timestamp(t.created_at),
        timestamp(t.updated_at),
        certs.len(),
        live
    );
    human.push_str(&format!("Routes        {}\n", routes.len()));
    for r in routes {
        human.push_str(&format!("  {}  {}\n", r.id, r.spec.summary()));
    }
    let mut value = tenant_json(t);
    value["certificates"] = json!(certs.len());
    value["valid_certificates"] = json!(live);
    value["routes"] = Value::Array(
        routes
            .iter()
            .map(|r| json!({ "id": r.id.to_string(), "summary": r.spec.summary() }))
            .collect(),
    );
    if let Some(tokens) = tokens {
        let open_tokens = tokens
            .iter()
            .filter(|k| k.used_at.is_none() && k.expires_at > now)
            .count();
        human.push_str(&format!(
            "Tokens        {} ({} redeemable)\n",
            tokens.len(),
            open_tokens
        ));
        value["tokens"] = json!(tokens.len());
        value["redeemable_tokens"] = json!(open_tokens);
    }
    Output::new(human, value)
}

pub(super) fn status_output(t: &TenantRecord) -> Output {
    let verb = match t.status {
        TenantStatus::Suspended => "Suspended",
        _ => "Resumed",
    };
    Output::new(format!("{verb} tenant {}.", t.id), tenant_json(t))
}

pub(super) fn limits_output(t: &TenantRecord) -> Output {
    Output::new(
        format!(
            "Tenant {} limits: {}\nRoute policy: {}",
            t.id,
            limits_text(&t.limits),
            policy_text(&t.route_policy)
        ),
        tenant_json(t),
    )
}

pub(super) fn egress_output(t: &TenantRecord) -> Output {
    let human = match t.egress_address {
        Some(ip) => format!(
            "Tenant {} egress address: {ip}. Its routes without their own egress_bind now leave from it.",
            t.id
        ),
        None => format!(
            "Tenant {} has no egress address: its routes leave from the host's default source address.",
            t.id
        ),
    };
    Output::new(human, tenant_json(t))
}

pub(super) fn deleted_output(id: &str, deleted: &DeletedTenant) -> Output {
    let serials: Vec<String> = deleted.revoked.iter().map(ToString::to_string).collect();
    Output::new(
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
            "deleted": id,
            "revoked_serials": serials,
            "routes_removed": deleted.routes_removed,
            "tokens_removed": deleted.tokens_removed,
        }),
    )
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

fn egress_text(address: Option<IpAddr>) -> String {
    address.map_or("the host's default".to_owned(), |ip| ip.to_string())
}

fn list_text<T: ToString>(items: &[T], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn policy_text(p: &RoutePolicy) -> String {
    format!(
        "max_routes={} max_upstreams_per_route={} hosts={} ports={} private={} identities={}",
        p.max_routes,
        p.max_upstreams_per_route,
        list_text(&p.allowed_upstream_hosts, "any"),
        list_text(&p.allowed_upstream_ports, "any"),
        if p.allow_private {
            "allowed"
        } else {
            "refused"
        },
        list_text(&p.allowed_identities, "none"),
    )
}

fn tenant_json(t: &TenantRecord) -> Value {
    json!({
        "id": t.id.as_str(),
        "display_name": t.display_name,
        "status": t.status.to_string(),
        "max_connections": t.limits.max_connections,
        "requests_per_second": t.limits.requests_per_second,
        "egress_address": t.egress_address,
        "route_policy": serde_json::to_value(&t.route_policy).unwrap_or(Value::Null),
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
    })
}
