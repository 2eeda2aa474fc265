//! `tenantctl route ...`: routes are validated by `mtls-route-spec` and stored per tenant.

use mtls_registry::{PageCursor, RouteId, RouteRecord};
use mtls_route_spec::{ConnectRoute, HttpRoute, RouteSpec, TcpRoute, UpstreamTls};
use serde_json::{Value, json};

use super::{Context, parse_cursor, parse_tenant};
use crate::cli::{RouteCommand, RouteSpecArgs};
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: RouteCommand) -> Result<Output, CliError> {
    match cmd {
        RouteCommand::Add { tenant, spec } => {
            let tenant = parse_tenant(&tenant)?;
            let spec = build_spec(*spec)?;
            let store = ctx.data.open_registry()?;
            let route = store.add_route(&ctx.actor, &tenant, spec)?;
            Ok(added_output(&route))
        }
        RouteCommand::List { tenant, page } => {
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let after = page.after.as_deref().map(parse_cursor).transpose()?;
            let store = ctx.data.open_registry_for_reads()?;
            if let Some(t) = &tenant {
                store.tenant(t)?;
            }
            let routes = store.routes_page(tenant.as_ref(), after.as_ref(), page.limit as usize)?;
            let next = routes.next.as_ref().map(PageCursor::as_str);
            Ok(list_output(&routes.items).page(next))
        }
        RouteCommand::Remove { id, tenant } => {
            let id: RouteId = id.parse().map_err(CliError::invalid("route id", &id))?;
            let store = ctx.data.open_registry()?;
            if let Some(t) = tenant.as_deref().map(parse_tenant).transpose()? {
                let owner = store.routes(Some(&t))?.into_iter().any(|r| r.id == id);
                if !owner {
                    return Err(mtls_registry::RegistryError::UnknownRoute { id }.into());
                }
            }
            let route = store.remove_route(&ctx.actor, &id)?;
            Ok(removed_output(&route))
        }
    }
}

pub(super) fn added_output(route: &RouteRecord) -> Output {
    Output::new(
        format!(
            "Added route {} to tenant {}: {}",
            route.id,
            route.tenant,
            route.spec.summary()
        ),
        route_json(route),
    )
}

pub(super) fn removed_output(route: &RouteRecord) -> Output {
    Output::new(
        format!(
            "Removed route {} of tenant {}: {}",
            route.id,
            route.tenant,
            route.spec.summary()
        ),
        route_json(route),
    )
}

pub(super) fn list_output(routes: &[RouteRecord]) -> Output {
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.tenant.to_string(),
                r.spec.kind().to_string(),
                r.spec.summary(),
            ]
        })
        .collect();
    let human = if rows.is_empty() {
        "No routes.".to_owned()
    } else {
        table(&["ID", "TENANT", "KIND", "ROUTE"], &rows)
    };
    Output::new(human, Value::Array(routes.iter().map(route_json).collect()))
}

/// Turns command-line strings into a typed spec; every field is parsed by its own type, so
/// the error names the flag and the value.
pub(super) fn build_spec(args: RouteSpecArgs) -> Result<RouteSpec, CliError> {
    let spec = match args {
        RouteSpecArgs::Http(a) => {
            let upstream_tls = if a.upstream_ca.is_some()
                || a.upstream_sni.is_some()
                || a.upstream_identity.is_some()
            {
                Some(UpstreamTls {
                    ca_file: a.upstream_ca,
                    server_name: a.upstream_sni,
                    identity: a.upstream_identity,
                })
            } else {
                None
            };
            RouteSpec::Http(HttpRoute {
                host: a
                    .host
                    .parse()
                    .map_err(CliError::invalid("--host", &a.host))?,
                path_prefix: a
                    .path
                    .parse()
                    .map_err(CliError::invalid("--path", &a.path))?,
                upstreams: a
                    .upstreams
                    .iter()
                    .map(|u| u.parse().map_err(CliError::invalid("--upstream", u)))
                    .collect::<Result<_, _>>()?,
                rewrite_host: a.rewrite_host,
                add_headers: a
                    .add_headers
                    .iter()
                    .map(|h| h.parse().map_err(CliError::invalid("--add-header", h)))
                    .collect::<Result<_, _>>()?,
                timeout: a.timeout.map(Into::into),
                max_body_bytes: a.max_body_bytes,
                upstream_tls,
                egress_bind: a.egress_bind,
                escaped_slashes: a
                    .escaped_slashes
                    .parse()
                    .map_err(CliError::invalid("--escaped-slashes", &a.escaped_slashes))?,
                allow_private: a.allow_private,
            })
        }
        RouteSpecArgs::Tcp(a) => RouteSpec::Tcp(TcpRoute {
            sni: a.sni.parse().map_err(CliError::invalid("--sni", &a.sni))?,
            upstreams: a
                .upstreams
                .iter()
                .map(|u| u.parse().map_err(CliError::invalid("--upstream", u)))
                .collect::<Result<_, _>>()?,
            egress_bind: a.egress_bind,
            allow_private: a.allow_private,
        }),
        RouteSpecArgs::Connect(a) => RouteSpec::Connect(ConnectRoute {
            allow: a
                .allow
                .iter()
                .map(|p| p.parse().map_err(CliError::invalid("--allow", p)))
                .collect::<Result<_, _>>()?,
            allow_private: a.allow_private,
            egress_bind: a.egress_bind,
        }),
    };
    spec.validate_new()
        .map_err(CliError::invalid("route", &spec.summary()))?;
    Ok(spec)
}

fn route_json(r: &RouteRecord) -> Value {
    json!({
        "id": r.id.to_string(),
        "tenant": r.tenant.as_str(),
        "kind": r.spec.kind().to_string(),
        "summary": r.spec.summary(),
        "spec": serde_json::to_value(&r.spec).unwrap_or(Value::Null),
        "created_at": timestamp(r.created_at),
    })
}
