//! Test fixtures shared by multi-mtls-proxy's crates and end-to-end tests. Not published.
//!
//! - [`Openssl`]: runs the real `openssl` CLI, the independent judge of every certificate,
//!   CRL and PKCS#12 file we write.
//! - [`CliRunner`]: runs one of our binaries as a process against a throwaway data dir.
//! - [`net`]: loopback TCP peers for socket tests (an echo listener, a closed port, and
//!   HTTP and TCP upstreams that answer with the peer address they see).
//! - [`pki`]: a throwaway rcgen CA and its leaves, for tests that need PEM files.

pub mod net;
pub mod pki;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `openssl` command-line tool.
#[derive(Debug, Clone, Copy, Default)]
pub struct Openssl;

// === impl Openssl ===

impl Openssl {
    /// Runs `openssl ARGS` in `dir` and returns the raw output.
    pub fn run(self, dir: &Path, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("openssl CLI not found: run scripts/install-deps")
    }

    /// Runs `openssl ARGS`, panics with its stderr unless it succeeded, returns stdout+stderr.
    pub fn ok(self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        let text = combined(&out);
        assert!(
            out.status.success(),
            "openssl {} failed:\n{text}",
            args.join(" ")
        );
        text
    }

    /// Runs `openssl ARGS`, panics if it succeeded, returns stdout+stderr.
    pub fn fails(self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        let text = combined(&out);
        assert!(
            !out.status.success(),
            "openssl {} unexpectedly succeeded:\n{text}",
            args.join(" ")
        );
        text
    }
}

/// Stdout followed by stderr, lossily decoded.
pub fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a binary of ours with a fixed working directory and data dir.
#[derive(Debug)]
pub struct CliRunner {
    bin: PathBuf,
    work: tempfile::TempDir,
    data_dir: PathBuf,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

// === impl CliRunner ===

impl CliRunner {
    /// A runner for `bin` in a new temporary working directory whose data dir is
    /// `<work>/data` (not created).
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        let work = tempfile::tempdir().expect("temp dir");
        let data_dir = work.path().join("data");
        Self {
            bin: bin.into(),
            work,
            data_dir,
        }
    }

    /// The working directory (relative paths in arguments resolve here).
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// The data directory passed with `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Runs the binary with `--data-dir` and `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .current_dir(self.work.path())
            .env_remove("MTLS_DATA_DIR")
            .env_remove("MTLS_REGISTRY")
            .env_remove("MTLS_ENROLL_TOKEN")
            .env("MTLS_ACTOR", "cli:test")
            .stdin(Stdio::null())
            .output()
            .expect("run binary");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code,
            Some(0),
            "{} failed:\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs with `--json`, asserts success and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
    }

    /// Runs and asserts a non-zero exit whose stderr contains `needle`; returns stderr.
    pub fn fails(&self, args: &[&str], needle: &str) -> String {
        let run = self.run(args);
        assert_ne!(
            run.code,
            Some(0),
            "{} unexpectedly succeeded:\n{}",
            args.join(" "),
            run.stdout
        );
        assert!(
            run.stderr.contains(needle),
            "{}: stderr does not mention {needle:?}:\n{}",
            args.join(" "),
            run.stderr
        );
        run.stderr
    }
}
