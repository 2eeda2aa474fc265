//! Remote mode: with `--server`, commands go over the control-plane API
//! (`mtls-control-client`) and print what the local commands print, from the same output
//! functions. Commands that need the CA key or the registry file stay local-only.

mod convert;

use std::io::Write as _;
use std::path::Path;

use mtls_control_api as api;
use mtls_control_client::{
    AuditQuery, ControlClient, CrlFormat, LoopOptions, RenewEvent, RenewOptions, RenewOutcome,
    TlsMaterial,
};
use mtls_registry::{DeletedTenant, TokenRecord};
use serde_json::json;
use zeroize::Zeroizing;

use super::{
    Context, audit, cert, crl, enroll, key_algorithm, read_secret_file, route, tenant, token,
};
use crate::cli::{
    AuditCommand, CertCommand, Command, EnrollArgs, PageArgs, RenewArgs, RouteCommand,
    TenantCommand, TokenCommand,
};
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, command: Command) -> Result<Output, CliError> {
    let local_only = |command| Err(CliError::LocalOnly { command });
    match &command {
        Command::Init(_) => return local_only("init"),
        Command::Cert(CertCommand::Issue { .. }) => return local_only("cert issue"),
        Command::Cert(CertCommand::Sign { .. }) => return local_only("cert sign"),
        Command::Admin(_) => return local_only("admin"),
        Command::Audit(args) if matches!(args.command, Some(AuditCommand::Verify)) => {
            return local_only("audit verify");
        }
        Command::Explain(_) => return local_only("explain"),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::io(
            "start the async runtime for",
            "the API client",
        ))?;
    runtime.block_on(run_async(ctx, command))
}

async fn run_async(ctx: &Context, command: Command) -> Result<Output, CliError> {
    let server = ctx.remote.server("--server")?.to_owned();
    match command {
        Command::Enroll(args) => return enroll_remote(ctx, &server, args).await,
        Command::Renew(args) => return renew_remote(ctx, &server, args).await,
        _ => {}
    }
    let client = connect(ctx, &server)?;
    match command {
        Command::Whoami => {
            let me = client.whoami().await?;
            Ok(Output::new(
                format!(
                    "You are {} {} on {} (certificate {}, valid until {}).",
                    me.kind,
                    me.name,
                    client.server(),
                    me.serial,
                    timestamp(me.not_after)
                ),
                json!({
                    "kind": me.kind,
                    "name": me.name,
                    "serial": me.serial,
                    "not_after": timestamp(me.not_after),
                    "server": client.server().as_str(),
                }),
            ))
        }
        Command::Tenant(cmd) => tenant_remote(&client, cmd).await,
        Command::Route(cmd) => route_remote(&client, cmd).await,
        Command::Token(TokenCommand::Create { tenant, ttl }) => {
            let ttl: std::time::Duration = ttl.into();
            let created = client
                .create_token(
                    &tenant,
                    &api::TokenCreate {
                        ttl_seconds: ttl.as_secs(),
                    },
                )
                .await?;
            let record = TokenRecord {
                id: created.id.clone(),
                tenant: tenant_id(&created.tenant)?,
                created_at: created.created_at,
                expires_at: created.expires_at,
                used_at: None,
            };
            let secret = Zeroizing::new(created.token);
            Ok(token::created_output(&secret, &record))
        }
        Command::Token(TokenCommand::List { tenant }) => {
            // Admin-only on the server; every tenant when none is named, like locally.
            let tenants = tenants_in_scope(&client, tenant.as_deref()).await?;
            let mut tokens = Vec::new();
            for t in &tenants {
                for token in client.tokens(t).await? {
                    tokens.push(convert::token(token)?);
                }
            }
            tokens.sort_by_key(|t| t.created_at);
            Ok(token::list_output(&tokens))
        }
        Command::Cert(CertCommand::List { tenant, page }) => {
            let tenants = tenants_in_scope(&client, tenant.as_deref()).await?;
            if let [one] = tenants.as_slice() {
                let after = cursor(&page)?;
                let got = client
                    .certs_page(one, after.as_deref(), Some(page.limit))
                    .await?;
                let certs = got
                    .items
                    .into_iter()
                    .map(convert::certificate)
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(cert::list_output(&certs).page(got.next.as_deref()));
            }
            every_tenant("cert list --after", &page)?;
            let mut certs = Vec::new();
            for t in &tenants {
                for c in client.certs(t).await? {
                    certs.push(convert::certificate(c)?);
                }
            }
            certs.sort_by_key(|c| c.issued_at);
            Ok(cert::list_output(&certs).page(None))
        }
        Command::Cert(CertCommand::Revoke { serial, reason }) => {
            let (serial, parsed) = super::parse_revocation(&serial, &reason)?;
            let record = client
                .revoke_cert(
                    &serial.to_string(),
                    &api::RevokeRequest {
                        reason: Some(parsed.to_string()),
                    },
                )
                .await?;
            Ok(cert::revoked_output(&convert::certificate(record)?, parsed))
        }
        Command::Crl(args) => {
            let format = if args.der {
                CrlFormat::Der
            } else {
                CrlFormat::Pem
            };
            let bytes = client.crl(format).await?;
            let facts = crl_facts(&bytes, args.der)?;
            mtls_ca::write_public_file(&args.out, &bytes, mtls_ca::Overwrite::Force)?;
            Ok(crl::written_output(
                &args,
                facts.number,
                &facts.serials,
                facts.this_update,
                facts.next_update,
            ))
        }
        Command::Audit(args) => {
            let since = args
                .since
                .as_deref()
                .map(audit::parse_since)
                .transpose()?
                .map(timestamp);
            let tenant = args
                .tenant
                .as_deref()
                .map(super::parse_tenant)
                .transpose()?;
            let after = args
                .after
                .as_deref()
                .map(super::parse_cursor)
                .transpose()?
                .map(|c| c.to_string());
            // The server filters (before its limit): by --tenant, and a tenant caller to
            // its own events.
            let got = client
                .audit_page(
                    &AuditQuery {
                        since,
                        limit: Some(args.limit),
                        tenant: tenant.map(|t| t.to_string()),
                    },
                    after.as_deref(),
                )
                .await?;
            let events = got
                .items
                .into_iter()
                .map(convert::audit_event)
                .collect::<Result<Vec<_>, _>>()?;
            if after.is_none() {
                return Ok(audit::tail_output(&events, args.limit));
            }
            Ok(audit::list_output(&events).page(got.next.as_deref()))
        }
        // Handled above (local-only, enroll, renew).
        _ => Err(CliError::LocalOnly {
            command: "this command",
        }),
    }
}

/// The API client with the caller's certificate (if any) and the server's CA.
fn connect(ctx: &Context, server: &str) -> Result<ControlClient, CliError> {
    let r = &ctx.remote;
    let ca = r.ca()?;
    let identity = match (&r.cert, &r.key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        (Some(_), None) => {
            return Err(CliError::RemoteSettings {
                reason: "--cert needs --key (or pass --cert-dir)".to_owned(),
            });
        }
        (None, Some(_)) => {
            return Err(CliError::RemoteSettings {
                reason: "--key needs --cert (or pass --cert-dir)".to_owned(),
            });
        }
    };
    let tls = TlsMaterial::from_files(ca, identity)?;
    Ok(ControlClient::new(server, &tls)?)
}

fn tenant_id(id: &str) -> Result<mtls_identity::TenantId, CliError> {
    id.parse()
        .map_err(|e: mtls_identity::IdError| CliError::RemoteData {
            what: "a tenant id",
            reason: format!("{id:?}: {e}"),
        })
}

/// `--after`, checked here so that a typo is refused before the request.
fn cursor(page: &PageArgs) -> Result<Option<String>, CliError> {
    Ok(page
        .after
        .as_deref()
        .map(super::parse_cursor)
        .transpose()?
        .map(|c| c.to_string()))
}

/// An admin's listing of every tenant's routes or certificates over the API reads each
/// tenant's listing whole (the API pages one tenant at a time): `--after` needs a tenant.
fn every_tenant(command: &'static str, page: &PageArgs) -> Result<(), CliError> {
    if page.after.is_some() {
        return Err(CliError::MissingArgument {
            command,
            flag: "TENANT",
            why: "over --server the API pages one tenant's listing at a time",
        });
    }
    Ok(())
}

/// The tenants a listing covers: the one named, else every tenant for an admin, else the
/// caller's own.
async fn tenants_in_scope(
    client: &ControlClient,
    tenant: Option<&str>,
) -> Result<Vec<String>, CliError> {
    if let Some(t) = tenant {
        return Ok(vec![t.to_owned()]);
    }
    let me = client.whoami().await?;
    if me.kind == "admin" {
        Ok(client.tenants().await?.into_iter().map(|t| t.id).collect())
    } else {
        Ok(vec![me.name])
    }
}

async fn tenant_remote(client: &ControlClient, cmd: TenantCommand) -> Result<Output, CliError> {
    match cmd {
        TenantCommand::Create {
            id,
            name,
            max_connections,
            requests_per_second,
        } => {
            let t = client
                .create_tenant(&api::TenantCreate {
                    id,
                    display_name: name,
                    limits: Some(api::Limits {
                        max_connections,
                        requests_per_second,
                        ..api::Limits::default()
                    }),
                })
                .await?;
            Ok(tenant::created_output(&convert::tenant(t)?))
        }
        TenantCommand::List { page } => {
            let after = cursor(&page)?;
            let got = client
                .tenants_page(after.as_deref(), Some(page.limit))
                .await?;
            let tenants = got
                .items
                .into_iter()
                .map(convert::tenant)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(tenant::list_output(&tenants).page(got.next.as_deref()))
        }
        TenantCommand::Show { id } => {
            let t = convert::tenant(client.tenant(&id).await?)?;
            let certs = client
                .certs(&id)
                .await?
                .into_iter()
                .map(convert::certificate)
                .collect::<Result<Vec<_>, _>>()?;
            let routes = client
                .routes(&id)
                .await?
                .into_iter()
                .map(convert::route)
                .collect::<Result<Vec<_>, _>>()?;
            // Tokens are admin-only: a tenant's own `show` has no token line.
            let tokens = if client.whoami().await?.kind == "admin" {
                let tokens = client.tokens(&id).await?.into_iter().map(convert::token);
                Some(tokens.collect::<Result<Vec<_>, _>>()?)
            } else {
                None
            };
            Ok(tenant::show_output(&t, &certs, &routes, tokens.as_deref()))
        }
        TenantCommand::Suspend { id } => Ok(tenant::status_output(&convert::tenant(
            client.suspend_tenant(&id).await?,
        )?)),
        TenantCommand::Resume { id } => Ok(tenant::status_output(&convert::tenant(
            client.resume_tenant(&id).await?,
        )?)),
        TenantCommand::Limits(args) => {
            let (limits, policy) = tenant::limits_update(&args)?;
            // PUT replaces limits and policy: keep the current policy unless flags set one.
            let policy = match policy {
                Some(p) => p,
                None => convert::limits_from_api(&client.tenant(&args.id).await?.limits)?.1,
            };
            let t = client
                .set_limits(&args.id, &convert::limits_to_api(&limits, &policy))
                .await?;
            Ok(tenant::limits_output(&convert::tenant(t)?))
        }
        TenantCommand::Egress { id, address, clear } => {
            let address = if clear { None } else { address };
            let t = client
                .set_egress(&id, &api::EgressUpdate { address })
                .await?;
            Ok(tenant::egress_output(&convert::tenant(t)?))
        }
        TenantCommand::Delete { id } => {
            let deleted = client.delete_tenant(&id).await?;
            let deleted = DeletedTenant {
                revoked: deleted
                    .revoked
                    .iter()
                    .map(|s| {
                        s.parse()
                            .map_err(|e: mtls_identity::SerialError| CliError::RemoteData {
                                what: "a serial",
                                reason: format!("{s:?}: {e}"),
                            })
                    })
                    .collect::<Result<_, _>>()?,
                routes_removed: deleted.routes_removed,
                tokens_removed: deleted.tokens_removed,
            };
            Ok(tenant::deleted_output(&id, &deleted))
        }
    }
}

async fn route_remote(client: &ControlClient, cmd: RouteCommand) -> Result<Output, CliError> {
    match cmd {
        RouteCommand::Add { tenant, spec } => {
            // The same spec the local command builds and validates, sent as JSON.
            let spec = route::build_spec(*spec)?;
            let value = serde_json::to_value(&spec).map_err(|e| CliError::RemoteData {
                what: "a route spec",
                reason: e.to_string(),
            })?;
            let added = client.add_route(&tenant, &value).await?;
            Ok(route::added_output(&convert::route(added)?))
        }
        RouteCommand::List { tenant, page } => {
            let tenants = tenants_in_scope(client, tenant.as_deref()).await?;
            if let [one] = tenants.as_slice() {
                let after = cursor(&page)?;
                let got = client
                    .routes_page(one, after.as_deref(), Some(page.limit))
                    .await?;
                let routes = got
                    .items
                    .into_iter()
                    .map(convert::route)
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(route::list_output(&routes).page(got.next.as_deref()));
            }
            every_tenant("route list --after", &page)?;
            let mut routes = Vec::new();
            for t in &tenants {
                for r in client.routes(t).await? {
                    routes.push(convert::route(r)?);
                }
            }
            Ok(route::list_output(&routes).page(None))
        }
        RouteCommand::Remove { id, tenant } => {
            let tenant = match tenant {
                Some(t) => t,
                None => find_route_tenant(client, &id).await?,
            };
            let removed = client.remove_route(&tenant, &id).await?;
            Ok(route::removed_output(&convert::route(removed)?))
        }
    }
}

/// Which tenant a route belongs to, by listing the routes in scope.
async fn find_route_tenant(client: &ControlClient, id: &str) -> Result<String, CliError> {
    for t in tenants_in_scope(client, None).await? {
        if client.routes(&t).await?.iter().any(|r| r.id == id) {
            return Ok(t);
        }
    }
    Err(CliError::RemoteSettings {
        reason: format!(
            "no route {id} among the routes you can see; pass --tenant if it is another tenant's"
        ),
    })
}

async fn enroll_remote(ctx: &Context, server: &str, args: EnrollArgs) -> Result<Output, CliError> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) if !t.trim().is_empty() => Zeroizing::new(t.trim().to_owned()),
        (_, Some(path)) => read_secret_file("token file", path)?,
        _ => return Err(CliError::NoToken),
    };
    let ca_path = ctx.remote.ca.as_deref().ok_or_else(|| CliError::RemoteSettings {
        reason: "enroll --server needs --ca FILE, the CA bundle that verifies the server (or TENANTCTL_CA)".to_owned(),
    })?;
    let ca = std::fs::read(ca_path).map_err(CliError::io("read", ca_path))?;
    let bundle = mtls_control_client::enroll(
        server,
        &ca,
        &token,
        &args.out,
        key_algorithm(args.algorithm),
    )
    .await?;
    let record = convert::issued(&bundle.issued)?;
    Ok(enroll::enrolled_output(&record, &bundle.dir))
}

async fn renew_remote(ctx: &Context, server: &str, args: RenewArgs) -> Result<Output, CliError> {
    let dir = ctx
        .remote
        .cert_dir
        .clone()
        .ok_or_else(|| CliError::RemoteSettings {
            reason: "renew needs --cert-dir DIR (the directory enroll wrote)".to_owned(),
        })?;
    let options = RenewOptions {
        revoke_previous: args.revoke_previous,
        key_algorithm: key_algorithm(args.algorithm),
        ca_file: if ctx.remote.ca_explicit {
            ctx.remote.ca.clone()
        } else {
            None
        },
    };
    if !args.keep_running {
        let outcome = mtls_control_client::renew_in_place(server, &dir, &options).await?;
        return Ok(renewed_output(&outcome, &dir));
    }
    let loop_options = LoopOptions {
        renew: options,
        ..LoopOptions::default()
    };
    let json = ctx.json;
    let mut renewals = 0u64;
    mtls_control_client::renew_loop(server, &dir, &loop_options, shutdown_signal(), |event| {
        let line = match event {
            RenewEvent::Scheduled { serial, at } => {
                if json {
                    json!({"event": "scheduled", "serial": serial, "at": timestamp(at)}).to_string()
                } else {
                    format!("{} next renewal of certificate {serial} at {}", timestamp(time::OffsetDateTime::now_utc()), timestamp(at))
                }
            }
            RenewEvent::Renewed(outcome) => {
                renewals += 1;
                if json {
                    renewed_json(outcome, &dir).to_string()
                } else {
                    format!(
                        "{} {}",
                        timestamp(time::OffsetDateTime::now_utc()),
                        renewed_text(outcome, &dir).replace('\n', " ")
                    )
                }
            }
            RenewEvent::Failed { error, failures, retry_in } => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                if json {
                    json!({"event": "failed", "error": text, "failures": failures, "retry_in_seconds": retry_in.as_secs()}).to_string()
                } else {
                    format!(
                        "{} renewal failed ({failures} in a row), retrying in {}s: {text}",
                        timestamp(time::OffsetDateTime::now_utc()),
                        retry_in.as_secs()
                    )
                }
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .await?;
    Ok(Output::new(
        format!("Stopped after {renewals} renewal(s)."),
        json!({"event": "stopped", "renewals": renewals}),
    ))
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers, only Ctrl-C through tokio's portable path remains.
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn renewed_text(o: &RenewOutcome, dir: &Path) -> String {
    let old = if o.previous_revoked {
        format!("certificate {} is revoked", o.previous_serial)
    } else {
        format!(
            "certificate {} stays valid until {}",
            o.previous_serial,
            timestamp(o.previous_not_after)
        )
    };
    format!(
        "Renewed tenant {}: certificate {} valid until {} replaces {}{}; {old}.\nReplaced cert.pem and key.pem in {} atomically (new key generated here).",
        o.issued.tenant,
        o.issued.serial,
        timestamp(o.issued.not_after),
        o.previous_serial,
        if o.recovered {
            " (recovered after expiry)"
        } else {
            ""
        },
        dir.display()
    )
}

fn renewed_json(o: &RenewOutcome, dir: &Path) -> serde_json::Value {
    json!({
        "event": "renewed",
        "tenant": o.issued.tenant,
        "serial": o.issued.serial,
        "not_after": timestamp(o.issued.not_after),
        "lineage": o.issued.lineage,
        "previous_serial": o.previous_serial,
        "previous_revoked": o.previous_revoked,
        "recovered": o.recovered,
        "cert_dir": dir,
    })
}

fn renewed_output(o: &RenewOutcome, dir: &Path) -> Output {
    Output::new(renewed_text(o, dir), renewed_json(o, dir))
}

/// What the CRL says: its number, revoked serials and update times.
struct CrlFacts {
    number: u64,
    serials: Vec<String>,
    this_update: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
}

fn crl_facts(bytes: &[u8], der: bool) -> Result<CrlFacts, CliError> {
    let bad = |reason: String| CliError::RemoteData {
        what: "a CRL",
        reason,
    };
    let der_bytes = if der {
        bytes.to_vec()
    } else {
        use rustls::pki_types::pem::PemObject as _;
        rustls::pki_types::CertificateRevocationListDer::from_pem_slice(bytes)
            .map_err(|e| bad(e.to_string()))?
            .as_ref()
            .to_vec()
    };
    let (_, crl) = x509_parser::parse_x509_crl(&der_bytes).map_err(|e| bad(e.to_string()))?;
    let number = crl
        .crl_number()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| {
            mtls_identity::Serial::from_be_bytes(r.raw_serial())
                .map(|s| s.to_string())
                .map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let this_update = crl.last_update().to_datetime();
    let next_update = crl
        .next_update()
        .map(|t| t.to_datetime())
        .unwrap_or(this_update);
    Ok(CrlFacts {
        number,
        serials,
        this_update,
        next_update,
    })
}
