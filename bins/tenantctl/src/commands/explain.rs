//! `tenantctl explain`: the gateway's decision for one request, step by step, computed from
//! the same registry snapshot and route matcher the gateway uses.

use std::net::IpAddr;
use std::path::Path;

use mtls_identity::PeerIdentity;
use mtls_registry::{RouteId, Snapshot, Store};
use mtls_route_spec::{UpstreamTls, non_public_range};
use mtls_router::{NoRoute, RouteTable};
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Context;
use crate::cli::ExplainArgs;
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, args: ExplainArgs) -> Result<Output, CliError> {
    let store = ctx.data.open_registry()?;
    let ca = ctx.data.load_ca()?;
    let snapshot = store.snapshot()?;
    let der = first_certificate(&args.cert)?;

    let mut human = String::new();
    let mut value = json!({ "cert": args.cert });

    // 1. Would the TLS handshake accept the certificate at all?
    let identity = PeerIdentity::from_der(&der, Some(snapshot.trust_domain())).map_err(
        CliError::invalid("--cert", &args.cert.display().to_string()),
    )?;
    let chain_problem = chain_problem(&der, ca.issuer_der(), &identity);
    human.push_str(&format!(
        "Certificate  serial {} subject \"{}\"\n             issued by \"{}\", valid until {}\n",
        identity.serial,
        identity.subject,
        identity.issuer,
        timestamp(identity.not_after)
    ));
    value["serial"] = json!(identity.serial.to_string());
    value["subject"] = json!(identity.subject);
    if let Some(problem) = chain_problem {
        human.push_str(&format!("Handshake    REFUSED: {problem}\n"));
        value["admitted"] = json!(false);
        value["refusal"] = json!(problem);
        return Ok(Output::new(human, value));
    }
    human.push_str("Handshake    accepted: issued by this CA and within its validity\n");

    // 2. Which tenant, and is it admitted right now?
    let Some(tenant) = identity.tenant.clone() else {
        let problem = format!(
            "no URI SAN names a tenant under spiffe://{}/tenant/",
            snapshot.trust_domain()
        );
        human.push_str(&format!("Tenant       REFUSED: {problem}\n"));
        value["admitted"] = json!(false);
        value["refusal"] = json!("no_tenant");
        return Ok(Output::new(human, value));
    };
    value["tenant"] = json!(tenant.as_str());
    if let Err(refusal) = snapshot.admit(&tenant, &identity.serial) {
        human.push_str(&format!("Tenant       {tenant}: REFUSED ({refusal})\n"));
        value["admitted"] = json!(false);
        value["refusal"] = json!(refusal.as_str());
        return Ok(Output::new(human, value));
    }
    human.push_str(&format!(
        "Tenant       {tenant}: admitted (registry version {})\n",
        snapshot.version()
    ));
    value["admitted"] = json!(true);

    // 3. Which of the tenant's routes wins?
    let table = tenant_table(&snapshot, &tenant);
    if let Some(host) = &args.host {
        explain_http(&table, &tenant, host, &args.path, &mut human, &mut value);
    } else if let Some(target) = &args.connect {
        explain_connect(&table, &tenant, target, &mut human, &mut value)?;
    }
    Ok(Output::new(human, value))
}

/// Only the tenant's own routes: lookups never see another tenant's table anyway.
fn tenant_table(snapshot: &Snapshot, tenant: &mtls_identity::TenantId) -> RouteTable<RouteId> {
    RouteTable::build(
        snapshot
            .routes(tenant)
            .iter()
            .map(|r| (r.tenant.clone(), r.id.clone(), r.spec.clone())),
    )
}

fn explain_http(
    table: &RouteTable<RouteId>,
    tenant: &mtls_identity::TenantId,
    host: &str,
    path: &str,
    human: &mut String,
    value: &mut Value,
) {
    let explanation = table.explain_http(tenant, host, path);
    match &explanation.outcome {
        Ok(winner) => {
            let route = winner.route;
            human.push_str(&format!(
                "Route        {} wins for {host}{path}\n             upstreams: {}\n             upstream identity: {}\n",
                winner.key,
                route
                    .upstreams
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                upstream_identity(route.upstream_tls.as_ref(), route.upstreams.iter().any(|u| u.is_https())),
            ));
            value["route"] = json!(winner.key.to_string());
            value["upstreams"] = json!(
                route
                    .upstreams
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
            value["upstream_identity"] =
                json!(route.upstream_tls.as_ref().and_then(|t| t.identity.clone()));
        }
        Err(no_route) => {
            human.push_str(&format!(
                "Route        none: {} (the gateway answers 404 no_route)\n",
                no_route_text(*no_route)
            ));
            value["route"] = Value::Null;
            value["no_route"] = json!(no_route.as_str());
        }
    }
    let candidates: Vec<Value> = explanation
        .candidates
        .iter()
        .map(|c| {
            json!({
                "route": c.key.to_string(),
                "host": c.route.host.to_string(),
                "path_prefix": c.route.path_prefix.to_string(),
                "verdict": c.verdict.as_str(),
            })
        })
        .collect();
    if !explanation.candidates.is_empty() || !explanation.path_misses.is_empty() {
        human.push_str("Candidates\n");
        for line in explanation.to_string().lines() {
            human.push_str(&format!("  {line}\n"));
        }
    }
    value["candidates"] = Value::Array(candidates);
}

fn explain_connect(
    table: &RouteTable<RouteId>,
    tenant: &mtls_identity::TenantId,
    target: &str,
    human: &mut String,
    value: &mut Value,
) -> Result<(), CliError> {
    let (host, port) = split_host_port(target)?;
    match table.match_connect(tenant, host, port) {
        Ok(m) => {
            human.push_str(&format!(
                "Route        {} allows CONNECT {target} (pattern {}){}\n",
                m.key,
                m.pattern,
                m.egress_bind()
                    .map(|ip| format!(", egress from {ip}"))
                    .unwrap_or_default()
            ));
            let address_note = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => match non_public_range(ip) {
                    Some(range) if !m.allow_private() => {
                        value["refusal"] = json!("private_destination");
                        format!("REFUSED: {ip} is in the {range} range and the route does not allow private destinations")
                    }
                    Some(range) => format!("{ip} is in the {range} range, allowed by --allow-private"),
                    None => format!("{ip} is a public address"),
                },
                Err(_) if m.allow_private() => {
                    "resolved at connect time; private destinations allowed".to_owned()
                }
                Err(_) => "resolved at connect time; refused if any address is loopback, private, link-local or metadata".to_owned(),
            };
            human.push_str(&format!("Destination  {address_note}\n"));
            value["route"] = json!(m.key.to_string());
            value["pattern"] = json!(m.pattern.to_string());
            value["allow_private"] = json!(m.allow_private());
        }
        Err(no_route) => {
            human.push_str(&format!(
                "Route        none: {} (the gateway answers 403 forbidden)\n",
                no_route_text(no_route)
            ));
            value["route"] = Value::Null;
            value["no_route"] = json!(no_route.as_str());
        }
    }
    Ok(())
}

fn no_route_text(no_route: NoRoute) -> &'static str {
    match no_route {
        NoRoute::UnknownTenant => "the tenant has no routes",
        NoRoute::NoHostMatch => "no route of this tenant matches the host",
        NoRoute::NoPathMatch => "routes match the host, but none matches the path",
        NoRoute::NotAllowed => "no connect route of this tenant allows this destination",
        _ => "no route matches",
    }
}

fn upstream_identity(tls: Option<&UpstreamTls>, https: bool) -> String {
    match (https, tls.and_then(|t| t.identity.as_deref())) {
        (false, _) => "none (plain HTTP upstream)".to_owned(),
        (true, Some(name)) => format!("client identity \"{name}\""),
        (true, None) => {
            "no client certificate unless the upstream asks for one the gateway holds".to_owned()
        }
    }
}

fn split_host_port(target: &str) -> Result<(&str, u16), CliError> {
    let bad = |_| CliError::InvalidArgument {
        field: "--connect",
        value: target.to_owned(),
        source: "expected HOST:PORT".into(),
    };
    let (host, port) = target.rsplit_once(':').ok_or(()).map_err(bad)?;
    let port: u16 = port.parse().map_err(|_| ()).map_err(bad)?;
    if host.is_empty() {
        return Err(bad(()));
    }
    Ok((host, port))
}

/// Why the handshake would refuse this certificate, if it would.
fn chain_problem(der: &[u8], issuer_der: &[u8], identity: &PeerIdentity) -> Option<String> {
    let (Ok((_, leaf)), Ok((_, issuer))) = (
        X509Certificate::from_der(der),
        X509Certificate::from_der(issuer_der),
    ) else {
        return Some("the certificate or the CA could not be parsed".to_owned());
    };
    if leaf.issuer().as_raw() != issuer.subject().as_raw()
        || leaf.verify_signature(Some(issuer.public_key())).is_err()
    {
        return Some(format!(
            "not issued by this proxy's CA (issuer \"{}\")",
            identity.issuer
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    if !identity.is_valid_at(now) {
        return Some(format!(
            "outside its validity ({} to {})",
            timestamp(identity.not_before),
            timestamp(identity.not_after)
        ));
    }
    None
}

fn first_certificate(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(CliError::io("read certificate", path))?;
    let pem = x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE");
    match pem {
        Some(p) => Ok(p.contents),
        // Not PEM: maybe DER.
        None if X509Certificate::from_der(&bytes).is_ok() => Ok(bytes),
        None => Err(CliError::InvalidArgument {
            field: "--cert",
            value: path.display().to_string(),
            source: "no PEM CERTIFICATE block and not a DER certificate".into(),
        }),
    }
}
