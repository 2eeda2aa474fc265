//! The certificate directory and how a renewal replaces its files atomically. Sync.
//!
//! # Layout
//!
//! ```text
//! <dir>/
//!   cert.pem -> live/cert.pem      symlinks: the paths apps are configured with
//!   key.pem  -> live/key.pem
//!   ca.pem   -> live/ca.pem
//!   live     -> .gen-<serial>      the one symlink a renewal swaps
//!   .gen-<serial>/                 one generation: cert.pem, key.pem (0600), ca.pem
//! ```
//!
//! # Why a symlink swap and not two renames
//!
//! Renaming `key.pem.new` over `key.pem` and then `cert.pem.new` over `cert.pem` leaves a
//! window between the two renames in which a reader sees the new key with the old
//! certificate (or, in the other order, the old key with the new certificate): two files
//! cannot be replaced by one atomic operation. A generation directory is written in full
//! (files and directory fsynced) before anything points at it; then one `rename(2)` of a
//! fresh symlink over `live` switches both files at once. A reader that resolves `live`
//! once and reads both files from that generation ([`read_current`]) always gets a matching
//! pair, and the old pair stays readable (the previous generation is kept) until the next
//! renewal. Readers that open `cert.pem` and `key.pem` by path each see a complete file
//! (old or new, never partial); they see a mismatch only if the swap lands between their
//! two opens, as with any scheme, and TLS stacks that check the pair (rustls, OpenSSL)
//! refuse it rather than use it.
//!
//! A directory written by the local `tenantctl enroll` or `cert issue` (regular files) is
//! converted on its first renewal: its pair is copied into a generation first, the paths
//! become symlinks to identical content, and only then is the new generation swapped in.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::ClientError;

/// The certificate chain file.
pub const CERT_FILE: &str = "cert.pem";
/// The private key file (mode 0600).
pub const KEY_FILE: &str = "key.pem";
/// The CA bundle file.
pub const CA_FILE: &str = "ca.pem";
/// The symlink naming the current generation.
pub const LIVE_LINK: &str = "live";
/// The prefix of generation directories.
const GENERATION_PREFIX: &str = ".gen-";
/// How many times [`read_current`] retries when a generation vanishes under it.
const READ_ATTEMPTS: usize = 5;

/// One consistent certificate, key and CA read from a certificate directory.
pub struct CertFiles {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: Zeroizing<String>,
    /// The CA bundle, PEM, if the directory has one.
    pub ca_pem: Option<String>,
    /// The directory the files were read from (a generation, or the directory itself).
    pub source: PathBuf,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("source", &self.source)
            .field("ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads the current certificate, key and CA of `dir` as one consistent set: resolves
/// `live` once and reads every file from that generation (or, in a directory of plain
/// files, reads them directly).
pub fn read_current(dir: &Path) -> Result<CertFiles, ClientError> {
    let live = dir.join(LIVE_LINK);
    let mut last_err = None;
    for _ in 0..READ_ATTEMPTS {
        let source = match fs::read_link(&live) {
            Ok(target) => dir.join(target),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => dir.to_owned(),
            // `live` exists but is not a symlink.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => dir.to_owned(),
            Err(e) => return Err(ClientError::io("read the symlink", &live)(e)),
        };
        match read_files(&source) {
            Ok(files) => return Ok(files),
            // The generation was pruned between resolving `live` and reading: resolve again.
            Err(ClientError::Io { source: e, .. })
                if e.kind() == std::io::ErrorKind::NotFound && source != dir =>
            {
                last_err = Some(ClientError::io("read", source.join(CERT_FILE))(e));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ClientError::material(dir.display().to_string(), "unreadable")))
}

fn read_files(source: &Path) -> Result<CertFiles, ClientError> {
    let cert = source.join(CERT_FILE);
    let key = source.join(KEY_FILE);
    let ca = source.join(CA_FILE);
    let cert_pem = fs::read_to_string(&cert).map_err(ClientError::io("read", &cert))?;
    let key_pem = Zeroizing::new(fs::read_to_string(&key).map_err(ClientError::io("read", &key))?);
    let ca_pem = match fs::read_to_string(&ca) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ClientError::io("read", &ca)(e)),
    };
    Ok(CertFiles {
        cert_pem,
        key_pem,
        ca_pem,
        source: source.to_owned(),
    })
}

/// What goes into a new generation.
#[derive(Clone, Copy)]
pub struct NewFiles<'a> {
    /// A name unique to this certificate (its serial, hex; other characters are dropped).
    pub name: &'a str,
    /// The certificate chain, PEM.
    pub cert_pem: &'a str,
    /// The private key, PEM (written 0600).
    pub key_pem: &'a str,
    /// The CA bundle, PEM (not written when empty).
    pub ca_pem: &'a str,
}

/// Writes `files` as a new generation of `dir` and makes it current with one atomic
/// symlink swap; keeps the previous generation (a reader may still be on it) and prunes
/// older ones. Returns the new generation's path. A directory of plain files is converted
/// first (see the module docs). The caller checks that the key belongs to the certificate.
pub fn install(dir: &Path, files: &NewFiles<'_>) -> Result<PathBuf, ClientError> {
    let previous = current_generation(dir)?;
    if previous.is_none() {
        adopt_plain_files(dir)?;
    }
    let previous = current_generation(dir)?;
    let generation = write_generation(dir, files)?;
    swap_live(dir, &generation)?;
    link_paths(dir)?;
    prune(dir, &generation, previous.as_deref());
    Ok(dir.join(generation))
}

/// Lays out a fresh directory (empty, used by enrollment): one generation, `live` and the
/// path symlinks.
pub(crate) fn populate(dir: &Path, files: &NewFiles<'_>) -> Result<PathBuf, ClientError> {
    let generation = write_generation(dir, files)?;
    swap_live(dir, &generation)?;
    link_paths(dir)?;
    Ok(dir.join(generation))
}

/// The generation `live` names, or `None` for a directory of plain files.
fn current_generation(dir: &Path) -> Result<Option<OsString>, ClientError> {
    let live = dir.join(LIVE_LINK);
    match fs::read_link(&live) {
        Ok(target) => Ok(Some(target.into_os_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClientError::io("read the symlink", &live)(e)),
    }
}

/// Converts a directory of plain cert.pem/key.pem/ca.pem into the symlinked layout without
/// changing what any path reads.
fn adopt_plain_files(dir: &Path) -> Result<(), ClientError> {
    let current = read_files(dir)?;
    let name = crate::material::LeafFacts::from_pem(
        &dir.join(CERT_FILE).display().to_string(),
        current.cert_pem.as_bytes(),
    )
    .map(|f| f.serial)
    .unwrap_or_else(|_| "initial".to_owned());
    let ca = current.ca_pem.clone().unwrap_or_default();
    let generation = write_generation(
        dir,
        &NewFiles {
            name: &name,
            cert_pem: &current.cert_pem,
            key_pem: &current.key_pem,
            ca_pem: &ca,
        },
    )?;
    swap_live(dir, &generation)?;
    link_paths(dir)
}

/// Writes `<dir>/.gen-<name>/` with the three files, each fsynced, then the directory.
fn write_generation(dir: &Path, files: &NewFiles<'_>) -> Result<OsString, ClientError> {
    let safe: String = files
        .name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    let mut name = format!("{GENERATION_PREFIX}{safe}");
    // A renewal that failed after writing its generation leaves it behind: never reuse it.
    let mut n = 0u32;
    while dir.join(&name).symlink_metadata().is_ok() {
        n += 1;
        if n > 1000 {
            return Err(ClientError::material(
                dir.display().to_string(),
                "too many generation directories",
            ));
        }
        name = format!("{GENERATION_PREFIX}{safe}-{n}");
    }
    let path = dir.join(&name);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(ClientError::io("create", &path))?;
    write_synced(&path.join(CERT_FILE), files.cert_pem.as_bytes(), 0o644)?;
    write_synced(&path.join(KEY_FILE), files.key_pem.as_bytes(), 0o600)?;
    if !files.ca_pem.is_empty() {
        write_synced(&path.join(CA_FILE), files.ca_pem.as_bytes(), 0o644)?;
    }
    sync_dir(&path)?;
    Ok(name.into())
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ClientError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(ClientError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(ClientError::io("write", path))
}

fn sync_dir(path: &Path) -> Result<(), ClientError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(ClientError::io("fsync", path))
}

/// Points `live` at `generation` with one rename of a fresh symlink (atomic).
fn swap_live(dir: &Path, generation: &OsString) -> Result<(), ClientError> {
    replace_with_symlink(dir, LIVE_LINK, Path::new(generation))?;
    sync_dir(dir)
}

/// Makes cert.pem, key.pem and ca.pem symlinks into `live` (each an atomic replacement).
fn link_paths(dir: &Path) -> Result<(), ClientError> {
    for file in [CERT_FILE, KEY_FILE, CA_FILE] {
        let target = Path::new(LIVE_LINK).join(file);
        let path = dir.join(file);
        if fs::read_link(&path).is_ok_and(|t| t == target) {
            continue;
        }
        replace_with_symlink(dir, file, &target)?;
    }
    sync_dir(dir)
}

fn replace_with_symlink(dir: &Path, name: &str, target: &Path) -> Result<(), ClientError> {
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .map_err(ClientError::io("create the symlink", &tmp))?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        ClientError::io("replace", &path)(e)
    })
}

/// Removes generations other than `current` and `previous` (best effort).
fn prune(dir: &Path, current: &OsString, previous: Option<&std::ffi::OsStr>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_generation = name.to_string_lossy().starts_with(GENERATION_PREFIX);
        if is_generation && &name != current && Some(name.as_os_str()) != previous {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Refuses an output directory that exists and is not empty.
pub(crate) fn check_empty_output(target: &Path) -> Result<(), ClientError> {
    match fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ClientError::OutputExists {
                    path: target.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(ClientError::OutputExists {
            path: target.to_owned(),
        }),
    }
}

/// A staging directory beside `target` (same file system, so the final rename is atomic).
pub(crate) fn staging_dir(target: &Path) -> Result<PathBuf, ClientError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_owned());
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(ClientError::io("create", &staging))?;
    Ok(staging)
}
