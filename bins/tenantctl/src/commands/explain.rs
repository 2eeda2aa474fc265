//! `tenantctl explain`: the gateway's decision for one request, step by step. The decision
//! itself comes from `mtls-policy`, the same functions the gateway calls; this file only
//! adds the handshake's chain check (there is no handshake here) and prints.

use std::path::Path;

use mtls_identity::PeerIdentity;
use mtls_policy::{
    AdmissionRefusal, ConnectDecision, DestinationVerdict, EgressOrigin, EgressSource,
    PathDecision, Policy, Request, RouteDecision, UpstreamIdentity,
};
use mtls_registry::{RouteId, SnapshotBuilder};
use mtls_router::{HttpExplanation, NoRoute};
use mtls_tls::ClientChainError;
use rustls::CertificateError;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Context;
use crate::cli::ExplainArgs;
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, args: ExplainArgs, cert: &Path) -> Result<Output, CliError> {
    let store = ctx.data.open_registry_for_reads()?;
    // The CA must be usable; the listener trusts its bundle, ca.pem.
    ctx.data.load_ca()?;
    let chain = certificate_chain(cert)?;
    let der = chain[0].clone();
    let now = time::OffsetDateTime::now_utc();

    let mut human = String::new();
    let mut value = json!({ "cert": cert });

    // 1. Would the TLS handshake accept the certificate at all?
    let trust_domain = store.trust_domain()?;
    let identity = PeerIdentity::from_der(&der, Some(&trust_domain))
        .map_err(CliError::invalid("--cert", &cert.display().to_string()))?;
    // Only what the decision reads: the certificate's tenant (its row, routes and
    // certificates) and the certificate itself, with indexed reads. The gateway's full
    // snapshot decides the same for this tenant and this certificate.
    let snapshot = match &identity.tenant {
        Some(tenant) => store.tenant_snapshot(tenant, Some(&identity.serial))?,
        None => SnapshotBuilder::new(store.version()?, trust_domain).build(),
    };
    let policy = Policy::new(snapshot);
    let chain_problem = chain_problem(&ctx.data.trust_bundle(), &chain, &identity, now)?;
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

    // 2. Which tenant, and is it admitted right now? 3. Which of its routes wins?
    let request = match (&args.host, &args.connect) {
        (Some(host), _) => Request::Http {
            host,
            path: &args.path,
        },
        (None, Some(target)) => {
            let (host, port) = split_host_port(target)?;
            Request::Connect { host, port }
        }
        // clap requires one of them.
        (None, None) => Request::Http {
            host: "",
            path: &args.path,
        },
    };
    let decision = policy.decide(Some(&der), now, request);
    let admitted = match &decision.admission {
        Ok(admitted) => admitted,
        Err(refused) => {
            value["admitted"] = json!(false);
            value["refusal"] = json!(refused.reason.as_str());
            match (refused.reason, refused.tenant()) {
                (AdmissionRefusal::Registry(refusal), Some(tenant)) => {
                    value["tenant"] = json!(tenant.as_str());
                    human.push_str(&format!("Tenant       {tenant}: REFUSED ({refusal})\n"));
                }
                _ => human.push_str(&format!("Tenant       REFUSED: {}\n", refused.detail)),
            }
            return Ok(Output::new(human, value));
        }
    };
    let tenant = &admitted.tenant;
    value["tenant"] = json!(tenant.as_str());
    human.push_str(&format!(
        "Tenant       {tenant}: admitted (registry version {})\n",
        policy.snapshot().version()
    ));
    value["admitted"] = json!(true);
    match decision.route {
        Some(RouteDecision::Http {
            path,
            explanation,
            upstream_identity,
        }) => {
            let host = args.host.as_deref().unwrap_or_default();
            explain_path(&path, &mut human, &mut value);
            if let Some(explanation) = &explanation {
                let shown = path.normalized.as_deref().unwrap_or(&path.raw);
                explain_http(
                    explanation,
                    upstream_identity,
                    host,
                    shown,
                    &mut human,
                    &mut value,
                );
            }
            if let Some(refusal) = path.refusal {
                // The gateway refuses the request: 400 bad_path, whichever route would win.
                value["refusal"] = json!(refusal.reason());
            }
        }
        Some(RouteDecision::Connect(outcome)) => {
            let target = args.connect.as_deref().unwrap_or_default();
            explain_connect(outcome, target, &mut human, &mut value);
        }
        _ => {}
    }
    // The winning route's source address, from the decision (the rule the gateway applies).
    if let Some(egress) = decision.egress {
        explain_egress(egress, &mut human, &mut value);
    }
    Ok(Output::new(human, value))
}

/// The source address the winning route's connections leave from: the route's own
/// `egress_bind`, else the tenant's egress address, else the host's default
/// ([`mtls_policy::Policy::egress_of`], what the gateway binds).
fn explain_egress(egress: EgressSource, human: &mut String, value: &mut Value) {
    let source = match egress.origin {
        EgressOrigin::Route => "the route's egress_bind",
        EgressOrigin::Tenant => "the tenant's egress address",
        _ => "the host's default",
    };
    match egress.address {
        Some(ip) => human.push_str(&format!("Egress       from {ip} ({source})\n")),
        None => human.push_str("Egress       from the host's default source address\n"),
    }
    value["egress"] = json!(egress);
    value["egress_address"] = json!(egress.address);
    value["egress_source"] = json!(source);
}

/// The path step: the raw path, the normalised one the gateway routes on and forwards (with
/// the query unchanged), or why it answers 400 bad_path.
fn explain_path(path: &PathDecision, human: &mut String, value: &mut Value) {
    value["path"] = json!(path.raw);
    value["query"] = json!(path.query);
    value["normalized_path"] = json!(path.normalized.as_ref().ok());
    value["path_refusal"] = json!(path.refusal.map(|r| r.reason()));
    let query = path
        .query
        .as_deref()
        .map(|q| format!(" (query ?{q} forwarded unchanged)"))
        .unwrap_or_default();
    match (&path.normalized, path.refusal) {
        (Ok(normalized), None) if *normalized == path.raw => {
            human.push_str(&format!("Path         {normalized}: already normal{query}\n"));
        }
        (Ok(normalized), None) => human.push_str(&format!(
            "Path         {} normalises to {normalized}{query}\n",
            path.raw
        )),
        (Ok(normalized), Some(refusal)) => human.push_str(&format!(
            "Path         {} normalises to {normalized}, then REFUSED: {refusal} and the winning route does not allow escaped slashes (the gateway answers 400 bad_path)\n",
            path.raw
        )),
        (Err(refusal), _) => human.push_str(&format!(
            "Path         {}: REFUSED: {refusal} (the gateway answers 400 bad_path)\n",
            path.raw
        )),
    }
}

fn explain_http(
    explanation: &HttpExplanation<'_, RouteId>,
    upstream_identity: Option<UpstreamIdentity<'_>>,
    host: &str,
    path: &str,
    human: &mut String,
    value: &mut Value,
) {
    match &explanation.outcome {
        Ok(winner) => {
            let route = winner.route;
            let upstreams: Vec<String> = route.upstreams.iter().map(ToString::to_string).collect();
            human.push_str(&format!(
                "Route        {} wins for {host}{path}\n             upstreams: {}\n             upstream identity: {}\n",
                winner.key,
                upstreams.join(", "),
                upstream_identity.map_or_else(String::new, upstream_identity_text),
            ));
            // The dialer's rule on each upstream, as far as it can be told before DNS.
            let mut destinations = Vec::new();
            for upstream in &route.upstreams {
                let verdict = DestinationVerdict::before_dial(upstream.host(), route.allow_private);
                let note = destination_text(verdict, "403 destination_forbidden");
                human.push_str(&format!("Destination  {upstream}: {note}\n"));
                if verdict.is_refused() {
                    value["refusal"] = json!("private_destination");
                }
                destinations.push(json!({
                    "upstream": upstream.to_string(),
                    "refused": verdict.is_refused(),
                    "verdict": note,
                }));
            }
            value["route"] = json!(winner.key.to_string());
            value["upstreams"] = json!(upstreams);
            value["upstream_destinations"] = Value::Array(destinations);
            value["allow_private"] = json!(route.allow_private);
            value["upstream_identity"] = json!(upstream_identity.and_then(|i| i.name()));
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
    outcome: Result<ConnectDecision<'_>, NoRoute>,
    target: &str,
    human: &mut String,
    value: &mut Value,
) {
    match outcome {
        Ok(ConnectDecision {
            matched: m,
            destination,
        }) => {
            human.push_str(&format!(
                "Route        {} allows CONNECT {target} (pattern {}){}\n",
                m.key,
                m.pattern,
                m.egress_bind()
                    .map(|ip| format!(", egress from {ip}"))
                    .unwrap_or_default()
            ));
            if destination.is_refused() {
                value["refusal"] = json!("private_destination");
            }
            let address_note = destination_text(destination, "403 destination_forbidden");
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
}

/// What the dialer will do with a destination (`answer`: what the client gets if it is
/// refused).
fn destination_text(verdict: DestinationVerdict, answer: &str) -> String {
    match verdict {
        DestinationVerdict::PrivateRefused { ip, range } => format!(
            "REFUSED: {ip} is in the {range} range and the route does not allow private destinations (the gateway answers {answer})"
        ),
        DestinationVerdict::PrivateAllowed { ip, range } => {
            format!("{ip} is in the {range} range, allowed by --allow-private")
        }
        DestinationVerdict::Public(ip) => format!("{ip} is a public address"),
        DestinationVerdict::ResolvedAtDial {
            allow_private: true,
        } => "resolved at connect time; private destinations allowed".to_owned(),
        _ => "resolved at connect time; refused if any address is loopback, private, link-local, metadata or another non-public range".to_owned(),
    }
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

fn upstream_identity_text(identity: UpstreamIdentity<'_>) -> String {
    match identity {
        UpstreamIdentity::PlainHttp => "none (plain HTTP upstream)".to_owned(),
        UpstreamIdentity::Named(name) => format!("client identity \"{name}\""),
        _ => "no client certificate unless the upstream asks for one the gateway holds".to_owned(),
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

/// Why a gateway listener's handshake would refuse this chain, if it would: the verifier the
/// listener builds from the data dir's `ca.pem` (`mtls_tls::verify_client_chain`), run on the
/// leaf and the intermediates the file holds (what a client sends from its cert.pem).
fn chain_problem(
    trust_bundle: &Path,
    chain: &[Vec<u8>],
    identity: &PeerIdentity,
    now: time::OffsetDateTime,
) -> Result<Option<String>, CliError> {
    let chain: Vec<CertificateDer<'_>> =
        chain.iter().map(|c| CertificateDer::from(&c[..])).collect();
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap_or_default(),
    ));
    let refusal = match mtls_tls::verify_client_chain(trust_bundle, &chain, at) {
        Ok(()) => return Ok(None),
        Err(ClientChainError::Refused(refusal)) => refusal,
        Err(source) => {
            return Err(CliError::TrustBundle {
                path: trust_bundle.to_owned(),
                source: Box::new(source),
            });
        }
    };
    let problem = match refusal {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "not issued by this proxy's CA (issuer \"{}\")",
            identity.issuer
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => format!(
            "outside its validity ({} to {})",
            timestamp(identity.not_before),
            timestamp(identity.not_after)
        ),
        other => format!("the handshake would refuse it: {other}"),
    };
    Ok(Some(problem))
}

/// Every certificate of a PEM file (leaf first), or the one certificate of a DER file.
fn certificate_chain(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let bytes = std::fs::read(path).map_err(CliError::io("read certificate", path))?;
    let pem: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect();
    if !pem.is_empty() {
        return Ok(pem);
    }
    // Not PEM: maybe DER.
    if X509Certificate::from_der(&bytes).is_ok() {
        return Ok(vec![bytes]);
    }
    Err(CliError::InvalidArgument {
        field: "--cert",
        value: path.display().to_string(),
        source: "no PEM CERTIFICATE block and not a DER certificate".into(),
    })
}
