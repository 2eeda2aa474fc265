//! `tenantctl init`: CA, registry and the proxy's server certificate in a new data directory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mtls_ca::{
    CaConfig, CertificateAuthority, Overwrite, ServerCertRequest, write_bundle, write_public_file,
};
use mtls_identity::TrustDomain;
use serde_json::json;

use super::{Context, key_algorithm};
use crate::cli::InitArgs;
use crate::error::CliError;
use crate::output::{Output, timestamp};

pub(super) fn run(ctx: &Context, args: InitArgs) -> Result<Output, CliError> {
    let domain: TrustDomain = args
        .trust_domain
        .parse()
        .map_err(CliError::invalid("--trust-domain", &args.trust_domain))?;
    let data = &ctx.data;
    data.create_or_check()?;

    let registry_path = data.registry_location();
    let existing = data.existing_registry()?;
    let registry_exists = existing.is_some();
    if !args.force {
        if registry_exists && data.registry_is_remote() {
            return Err(CliError::AlreadyInitialised {
                path: data.root().to_owned(),
                found: registry_path,
            });
        }
        let local_registry = (!data.registry_is_remote()).then(|| registry_path.clone());
        for found in local_registry.into_iter().chain([
            data.ca_dir(),
            data.trust_bundle(),
            data.server_dir(),
        ]) {
            if found.exists() {
                return Err(CliError::AlreadyInitialised {
                    path: data.root().to_owned(),
                    found,
                });
            }
        }
    } else if let Some(existing) = existing
        && existing != domain
    {
        return Err(CliError::TrustDomainMismatch {
            path: registry_path,
            existing: existing.to_string(),
            requested: domain.to_string(),
        });
    }

    // Everything is generated in memory first; files are written only once all of it worked.
    let algorithm = key_algorithm(args.algorithm);
    let ca = CertificateAuthority::generate(&CaConfig {
        common_name: format!("multi-mtls-proxy CA ({domain})"),
        organization: Some("multi-mtls-proxy".to_owned()),
        algorithm,
        intermediate: args.intermediate,
        ..CaConfig::default()
    })?;
    let dns_names = if args.server_dns.is_empty() && args.server_ip.is_empty() {
        vec!["localhost".to_owned()]
    } else {
        args.server_dns.clone()
    };
    let ip_addresses = if args.server_dns.is_empty() && args.server_ip.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        args.server_ip.clone()
    };
    let server = ca.issue_server(&ServerCertRequest {
        dns_names: dns_names.clone(),
        ip_addresses: ip_addresses.clone(),
        key_algorithm: algorithm,
        ..ServerCertRequest::default()
    })?;

    let overwrite = if args.force {
        Overwrite::Force
    } else {
        Overwrite::Never
    };
    // Without --force nothing existed: on failure, remove what this run wrote.
    let mut rollback = Rollback::new(!args.force);
    rollback.track(data.ca_dir());
    ca.save(&data.ca_dir(), overwrite)?;
    rollback.track(data.trust_bundle());
    write_public_file(&data.trust_bundle(), ca.root_pem().as_bytes(), overwrite)?;
    rollback.track(data.server_dir());
    if args.force && data.server_dir().exists() {
        std::fs::remove_dir_all(data.server_dir())
            .map_err(CliError::io("replace", data.server_dir()))?;
    }
    write_bundle(&data.server_dir(), &server, &ca, None, Overwrite::Never)?;
    if !registry_exists {
        if !data.registry_is_remote() {
            rollback.track(registry_path.clone());
        }
        data.create_registry(&domain, &ctx.actor)?;
    }
    rollback.commit();

    let names: Vec<String> = dns_names
        .iter()
        .cloned()
        .chain(ip_addresses.iter().map(IpAddr::to_string))
        .collect();
    let human = format!(
        "Initialised {root}\n  trust domain   {domain}\n  CA             {ca_dir}{inter}\n  trust anchor   {bundle}\n  server cert    {server_dir}/cert.pem for {names} (until {until})\n  registry       {registry}{kept}{warn}\n\nNext: tenantctl --data-dir {root} tenant create <id> --name <display name>",
        root = data.root().display(),
        ca_dir = data.ca_dir().display(),
        inter = if args.intermediate {
            " (root + intermediate)"
        } else {
            ""
        },
        bundle = data.trust_bundle().display(),
        server_dir = data.server_dir().display(),
        names = names.join(", "),
        until = timestamp(server.not_after),
        registry = registry_path.display(),
        kept = if registry_exists { " (kept)" } else { "" },
        warn = if args.force {
            "\n\nThe CA was replaced: certificates issued by the old CA no longer verify. Reissue them."
        } else {
            ""
        },
    );
    Ok(Output::new(
        human,
        json!({
            "data_dir": data.root(),
            "trust_domain": domain.as_str(),
            "intermediate": args.intermediate,
            "ca_dir": data.ca_dir(),
            "trust_bundle": data.trust_bundle(),
            "server_cert": data.server_dir().join("cert.pem"),
            "server_key": data.server_dir().join("key.pem"),
            "server_names": names,
            "server_not_after": timestamp(server.not_after),
            "registry": registry_path,
            "registry_kept": registry_exists,
        }),
    ))
}

/// Removes the paths a failed `init` created, so a retry starts clean.
struct Rollback {
    enabled: bool,
    paths: Vec<std::path::PathBuf>,
}

// === impl Rollback ===

impl Rollback {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            paths: Vec::new(),
        }
    }

    fn track(&mut self, path: std::path::PathBuf) {
        self.paths.push(path);
    }

    fn commit(mut self) {
        self.enabled = false;
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if !self.enabled {
            return;
        }
        for path in self.paths.iter().rev() {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            // SQLite's WAL companions.
            for suffix in ["-wal", "-shm"] {
                let mut companion = path.clone().into_os_string();
                companion.push(suffix);
                let _ = std::fs::remove_file(companion);
            }
        }
    }
}
