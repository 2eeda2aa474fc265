//! Crash-safe file writing with explicit permissions.
//!
//! Every file is written to a temporary file in the destination directory, fsynced, then
//! moved into place, and the directory is fsynced: after a crash the destination holds either
//! the old contents or the complete new contents, never half a key.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{CaError, Overwrite};

/// Permission bits of private key files and PKCS#12 bundles.
pub(crate) const PRIVATE_MODE: u32 = 0o600;
/// Permission bits of certificates and CRLs.
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// Permission bits of directories this crate creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Atomically writes a secret file (private key, PKCS#12 bundle) with mode 0600.
///
/// The parent directory must exist. With [`Overwrite::Never`], fails with
/// [`CaError::AlreadyExists`] if `path` exists, and never replaces a file created
/// concurrently by someone else.
pub fn write_private_file(
    path: &Path,
    contents: &[u8],
    overwrite: Overwrite,
) -> Result<(), CaError> {
    write_atomic(path, contents, PRIVATE_MODE, overwrite)
}

/// Atomically writes a public file (certificate, chain, CRL) with mode 0644.
///
/// Same rules as [`write_private_file`].
pub fn write_public_file(
    path: &Path,
    contents: &[u8],
    overwrite: Overwrite,
) -> Result<(), CaError> {
    write_atomic(path, contents, PUBLIC_MODE, overwrite)
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CaError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder
        .create(dir)
        .map_err(|e| CaError::io("create directory", dir, e))
}

/// Fails with [`CaError::AlreadyExists`] for the first of `paths` that exists (as anything,
/// including a dangling symlink), unless `overwrite` is [`Overwrite::Force`].
pub(crate) fn refuse_existing<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    overwrite: Overwrite,
) -> Result<(), CaError> {
    if overwrite == Overwrite::Force {
        return Ok(());
    }
    for path in paths {
        match fs::symlink_metadata(path) {
            Ok(_) => {
                return Err(CaError::AlreadyExists {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CaError::io("inspect", path, e)),
        }
    }
    Ok(())
}

fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), CaError> {
    refuse_existing([path], overwrite)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        CaError::io(
            "write",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| {
        CaError::io(
            "pick a temporary name for",
            path,
            std::io::Error::other("the system random number generator failed"),
        )
    })?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{}.tmp-{suffix}", file_name.to_string_lossy()));

    let result = write_tmp(&tmp, contents, mode).and_then(|()| publish(&tmp, path, overwrite));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

fn write_tmp(tmp: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The file is created with the final mode: a secret is never readable by others,
        // not even for the moment between create and chmod.
        options.mode(mode);
    }
    let mut file = options
        .open(tmp)
        .map_err(|e| CaError::io("create temporary file", tmp, e))?;
    #[cfg(unix)]
    {
        // The umask may have removed bits from a public file's mode; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| CaError::io("set permissions of", tmp, e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents)
        .map_err(|e| CaError::io("write", tmp, e))?;
    file.sync_all().map_err(|e| CaError::io("fsync", tmp, e))?;
    Ok(())
}

fn publish(tmp: &Path, path: &Path, overwrite: Overwrite) -> Result<(), CaError> {
    if overwrite == Overwrite::Never {
        // link(2) never replaces an existing file, so a file created since our check is not
        // clobbered. Filesystems without hard links fall back to a (checked) rename.
        match fs::hard_link(tmp, path) {
            Ok(()) => {
                let _ = fs::remove_file(tmp);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CaError::AlreadyExists {
                    path: path.to_owned(),
                });
            }
            Err(_) => refuse_existing([path], overwrite)?,
        }
    }
    fs::rename(tmp, path).map_err(|e| CaError::io("move into place", path, e))
}

/// Makes a rename durable. Best effort: not every platform can fsync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads a whole file, mapping a missing file to [`CaError::NotFound`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CaError> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CaError::NotFound {
            path: path.to_owned(),
        },
        _ => CaError::io("read", path, e),
    })
}

/// Fails with [`CaError::UnsafePermissions`] if `path` is accessible to group or others.
pub(crate) fn check_private_permissions(path: &Path) -> Result<(), CaError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CaError::NotFound {
                path: path.to_owned(),
            },
            _ => CaError::io("inspect", path, e),
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CaError::UnsafePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn writes_with_modes_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("key.pem");
        let public = dir.path().join("cert.pem");
        write_private_file(&secret, b"secret", Overwrite::Never).unwrap();
        write_public_file(&public, b"public", Overwrite::Never).unwrap();
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(&public), 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "temporary files left behind: {names:?}");
    }

    #[test]
    fn never_refuses_and_keeps_old_contents_force_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_private_file(&path, b"old", Overwrite::Never).unwrap();
        let err = write_private_file(&path, b"new", Overwrite::Never).unwrap_err();
        assert!(matches!(&err, CaError::AlreadyExists { path: p } if *p == path));
        assert_eq!(fs::read(&path).unwrap(), b"old");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&path, b"new", Overwrite::Force).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600, "forced rewrite must reset the mode");
    }

    #[test]
    fn dangling_symlink_counts_as_existing() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("key.pem");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        let err = write_private_file(&link, b"x", Overwrite::Never).unwrap_err();
        assert!(err.is_already_exists());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn ensure_dir_creates_private_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        ensure_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        ensure_dir(&nested).unwrap();
    }

    #[test]
    fn permission_check_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(check_private_permissions(&path).unwrap_err().is_not_found());
        fs::write(&path, b"k").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            check_private_permissions(&path),
            Err(CaError::UnsafePermissions { mode: 0o640, .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        check_private_permissions(&path).unwrap();
    }
}
