//! A throwaway PKI made with rcgen: a CA, leaves (server, client, expired, other CA).

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

/// A CA that can issue leaf certificates into a directory.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a leaf and returns (cert PEM, key PEM).
    pub fn issue(&self, spec: Leaf<'_>) -> (String, String) {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.cn);
        if let Some(o) = spec.org {
            dn.push(DnType::OrganizationName, o);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = spec
            .dns
            .iter()
            .map(|d| SanType::DnsName((*d).try_into().unwrap()))
            .chain(
                spec.uris
                    .iter()
                    .map(|u| SanType::URI((*u).try_into().unwrap())),
            )
            .chain(
                spec.ips
                    .iter()
                    .map(|ip| SanType::IpAddress(ip.parse().unwrap())),
            )
            .collect();
        params.extended_key_usages = vec![if spec.server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        if spec.expired {
            params.not_before = now - time::Duration::days(10);
            params.not_after = now - time::Duration::days(1);
        } else {
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(spec.days);
        }
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).unwrap();
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        params.serial_number = Some(serial.to_vec().into());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// What to put in a leaf.
#[derive(Clone, Copy)]
pub struct Leaf<'a> {
    pub cn: &'a str,
    pub org: Option<&'a str>,
    pub dns: &'a [&'a str],
    pub uris: &'a [&'a str],
    pub ips: &'a [&'a str],
    pub server: bool,
    pub expired: bool,
    pub days: i64,
}

impl<'a> Leaf<'a> {
    pub fn server() -> Self {
        Self {
            cn: "localhost",
            org: None,
            dns: &["localhost"],
            uris: &[],
            ips: &["127.0.0.1"],
            server: true,
            expired: false,
            days: 30,
        }
    }

    pub fn client(cn: &'a str) -> Self {
        Self {
            cn,
            org: Some("Acme"),
            dns: &[],
            uris: &[],
            ips: &[],
            server: false,
            expired: false,
            days: 30,
        }
    }
}

/// A test PKI written to a temp dir: ca.pem, server.pem/server-key.pem,
/// client.pem/client-key.pem (CN frontend, URI spiffe://example.test/tenant/acme).
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("mtlsd test CA");
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let pki = Self { dir, ca };
        pki.write_leaf("server", Leaf::server());
        pki.write_leaf(
            "client",
            Leaf {
                uris: &["spiffe://example.test/tenant/acme"],
                ..Leaf::client("frontend")
            },
        );
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `<name>.pem` and `<name>-key.pem`.
    pub fn write_leaf(&self, name: &str, leaf: Leaf<'_>) -> (PathBuf, PathBuf) {
        let (cert, key) = self.ca.issue(leaf);
        let c = self.path(&format!("{name}.pem"));
        let k = self.path(&format!("{name}-key.pem"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}
