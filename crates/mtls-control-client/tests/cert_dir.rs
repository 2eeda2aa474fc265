//! The certificate directory's atomic replacement, with real certificates from our CA: a
//! reader that keeps reading while generations are swapped in never sees a certificate
//! with another certificate's key.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mtls_ca::{CaConfig, CertificateAuthority, ClientCertRequest};
use mtls_control_client::cert_dir::{self, NewFiles};
use mtls_control_client::{LeafFacts, pair_matches, read_current};

struct Pair {
    serial: String,
    cert: String,
    key: String,
}

fn issue(ca: &CertificateAuthority, n: usize) -> Vec<Pair> {
    (0..n)
        .map(|_| {
            let req = ClientCertRequest::new(
                "example.test".parse().unwrap(),
                "acme".parse().unwrap(),
                "Acme".to_owned(),
            );
            let issued = ca.issue_client(&req).unwrap();
            Pair {
                serial: issued.serial.to_string(),
                cert: issued.chain_pem.clone(),
                key: issued.key_pem.as_deref().unwrap().to_owned(),
            }
        })
        .collect()
}

fn write_plain(dir: &Path, pair: &Pair, ca: &CertificateAuthority) {
    std::fs::create_dir(dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &pair.cert).unwrap();
    std::fs::write(dir.join("key.pem"), &pair.key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.root_pem()).unwrap();
}

fn serial_of(cert_pem: &str) -> String {
    LeafFacts::from_pem("cert", cert_pem.as_bytes())
        .unwrap()
        .serial
}

#[test]
fn a_reader_never_sees_a_certificate_with_the_wrong_key() {
    let ca = CertificateAuthority::generate(&CaConfig::default()).unwrap();
    let pairs = issue(&ca, 40);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    // Start from the plain layout `tenantctl cert issue` writes.
    write_plain(&dir, &pairs[0], &ca);

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let dir = dir.clone();
        let stop = stop.clone();
        let reads = reads.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let files = read_current(&dir).expect("read_current");
                if let Err(e) = pair_matches(files.cert_pem.as_bytes(), files.key_pem.as_bytes()) {
                    panic!("mismatched pair from {}: {e}", files.source.display());
                }
                assert!(
                    files.ca_pem.is_some(),
                    "ca.pem missing in {}",
                    files.source.display()
                );
                seen.insert(serial_of(&files.cert_pem));
                reads.fetch_add(1, Ordering::Relaxed);
            }
            seen
        })
    };

    for pair in &pairs[1..] {
        let generation = cert_dir::install(
            &dir,
            &NewFiles {
                name: &pair.serial,
                cert_pem: &pair.cert,
                key_pem: &pair.key,
                ca_pem: ca.root_pem(),
            },
        )
        .unwrap();
        assert!(generation.starts_with(&dir));
        // Let the reader make progress between swaps (bounded wait on its counter).
        let before = reads.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reads.load(Ordering::Relaxed) < before + 2 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen = reader.join().expect("reader thread");
    assert!(
        reads.load(Ordering::Relaxed) >= 40,
        "the reader made too few reads"
    );
    // The reader saw several generations, not only the first or last.
    assert!(
        seen.len() >= 5,
        "reader saw only {} generations",
        seen.len()
    );

    // The paths apps use read the last pair; the key is private.
    let last = pairs.last().unwrap();
    let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    assert_eq!(cert, last.cert);
    assert_eq!(key, last.key);
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        ca.root_pem()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // rustls loads the pair through the symlinks, as the gateway's client mode would.
    mtls_tls::load_cert_and_key(
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
        &mtls_tls::provider(),
    )
    .unwrap();

    // Only the current and the previous generation are kept.
    let generations: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gen-"))
        .collect();
    assert_eq!(generations.len(), 2, "{generations:?}");
    assert!(generations.contains(&format!(".gen-{}", last.serial)));
    let live = std::fs::read_link(dir.join("live")).unwrap();
    assert_eq!(live, Path::new(&format!(".gen-{}", last.serial)));
}

#[test]
fn converting_a_plain_directory_keeps_what_every_path_reads() {
    let ca = CertificateAuthority::generate(&CaConfig::default()).unwrap();
    let pairs = issue(&ca, 2);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    write_plain(&dir, &pairs[0], &ca);
    let before = read_current(&dir).unwrap();
    assert_eq!(before.source, dir);
    assert_eq!(before.cert_pem, pairs[0].cert);

    cert_dir::install(
        &dir,
        &NewFiles {
            name: &pairs[1].serial,
            cert_pem: &pairs[1].cert,
            key_pem: &pairs[1].key,
            ca_pem: ca.root_pem(),
        },
    )
    .unwrap();
    // The old pair is kept as the previous generation, still a matching pair.
    let old = dir.join(format!(".gen-{}", pairs[0].serial));
    let old_cert = std::fs::read_to_string(old.join("cert.pem")).unwrap();
    let old_key = std::fs::read_to_string(old.join("key.pem")).unwrap();
    assert_eq!(old_cert, pairs[0].cert);
    pair_matches(old_cert.as_bytes(), old_key.as_bytes()).unwrap();
    for file in ["cert.pem", "key.pem", "ca.pem"] {
        let link = std::fs::read_link(dir.join(file)).unwrap();
        assert_eq!(link, Path::new("live").join(file));
    }
    let now = read_current(&dir).unwrap();
    assert_eq!(now.cert_pem, pairs[1].cert);
    assert_eq!(now.source, dir.join(format!(".gen-{}", pairs[1].serial)));
}

#[test]
fn a_missing_key_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cert.pem"), "x").unwrap();
    let err = read_current(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("key.pem"), "{err}");
}
