//! A real, throwaway PostgreSQL server for tests: `initdb` into a temporary directory, a
//! server on a free `127.0.0.1` port, and one fresh database per test, so that the tests of
//! one binary run in parallel against one server.
//!
//! - [`PgServer::start`] runs Debian's PostgreSQL binaries (`initdb`, `pg_ctl`,
//!   `postgres`): from `$MTLS_PG_BIN` if set, else `/usr/lib/postgresql/15/bin`, else the
//!   `PATH`. When they are missing it **panics** with a message naming
//!   `scripts/install-deps`: a test that needs PostgreSQL fails, it never skips.
//! - [`PgServer::shared`] is one server per test binary, started on first use.
//! - [`PgServer::database`] creates an empty database and returns its connection URL.
//!
//! `initdb` and `postgres` refuse to run as root (CI runs as root): then the harness runs
//! them as `nobody` (`setpriv`), with the data and socket directories owned by that user.
//! The server listens on 127.0.0.1 only, trusts local connections (a test server holds no
//! secrets), and runs with `fsync=off`. `client_connection_check_interval` is short, so a
//! backend notices within 0.1 s that the client of a running statement died (the tests
//! that kill a writer mid-transaction rely on it).
//!
//! The server is stopped (`pg_ctl stop -m immediate`) and its directory removed when the
//! [`PgServer`] is dropped, also while a test panics. A static server is never dropped, so
//! every server also has a watchdog: a small shell process that holds the read end of a
//! pipe whose write end only this test process has, and stops the server when that pipe
//! closes, which happens however the test process ends (even `kill -9`), and then removes
//! the directory.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// The superuser the harness creates (`initdb -U`).
pub const SUPERUSER: &str = "postgres";

/// The role a TLS server ([`PgServer::start_with_tls`]) refuses over plain connections.
pub const TLS_ONLY_ROLE: &str = "tls_only";

/// Where Debian's postgresql-15 package puts its binaries.
const DEBIAN_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running PostgreSQL server in a temporary directory.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_nobody: bool,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    databases: AtomicU32,
    tls: bool,
    /// Extra `-c NAME=VALUE` settings of the server, after the harness's own.
    settings: String,
}

// === impl PgServer ===

impl PgServer {
    /// The server shared by every test of this test binary, started on first use.
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<PgServer> = OnceLock::new();
        SERVER.get_or_init(PgServer::start)
    }

    /// Starts a new server. Panics (with what to install) when the binaries are missing or
    /// the server does not start.
    pub fn start() -> Self {
        Self::start_with(None, &[])
    }

    /// Starts a new server with extra settings, given as `-c NAME=VALUE` after the
    /// harness's own (so they override them): `("shared_preload_libraries",
    /// "pg_stat_statements")` loads that extension's library (a benchmark counting the
    /// statements it causes), `("shared_buffers", "256MB")` gives a large registry more
    /// cache. Names and values must be plain words (no spaces or quotes). Panics like
    /// [`start`](Self::start), and when the server refuses a setting.
    pub fn start_with_settings(settings: &[(&str, &str)]) -> Self {
        Self::start_with(None, settings)
    }

    /// Starts a new server that also speaks TLS with the PEM certificate chain `cert` and key
    /// `key`, and refuses the role [`TLS_ONLY_ROLE`] (which the caller creates) over a
    /// connection without TLS.
    pub fn start_with_tls(cert: &str, key: &str) -> Self {
        Self::start_with(Some((cert, key)), &[])
    }

    fn start_with(tls: Option<(&str, &str)>, settings: &[(&str, &str)]) -> Self {
        for (name, value) in settings {
            assert!(
                [name, value].iter().all(|w| !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.,-".contains(c))),
                "PostgreSQL setting {name}={value}: plain words only"
            );
        }
        let settings: String = settings
            .iter()
            .map(|(name, value)| format!(" -c {name}={value}"))
            .collect();
        let bin = find_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL binaries (initdb, pg_ctl, postgres) not found in $MTLS_PG_BIN, \
                 {DEBIAN_BIN} or PATH: these tests need a real server; install Debian's \
                 postgresql-15 package (bash scripts/install-deps does)"
            )
        });
        let as_nobody = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("mtls-pg-")
            .tempdir()
            .expect("create the server's temporary directory");
        for sub in ["data", "socket"] {
            std::fs::create_dir(dir.path().join(sub)).expect("create a server directory");
        }
        if as_nobody {
            let status = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown the server directory to nobody");
        }
        let mut server = Self {
            bin,
            dir,
            port: 0,
            as_nobody,
            watchdog: Mutex::new(None),
            databases: AtomicU32::new(0),
            tls: tls.is_some(),
            settings,
        };
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        if let Some((cert, key)) = tls {
            server.install_tls(cert, key);
        }
        // A free port can be taken between our probe and the server's bind: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => {
                    server.start_watchdog();
                    return server;
                }
                Err(e) => last_error = e,
            }
        }
        panic!("PostgreSQL did not start: {last_error}");
    }

    /// Writes the TLS files into the data directory (the key 0600, owned by the server's
    /// user) and puts the rule refusing [`TLS_ONLY_ROLE`] without TLS first in
    /// `pg_hba.conf`.
    fn install_tls(&self, cert: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data_dir();
        for (name, text, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("write a TLS file of the server");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("set a TLS file's mode");
            if self.as_nobody {
                let status = Command::new("chown")
                    .arg("nobody:nogroup")
                    .arg(&path)
                    .status()
                    .expect("run chown");
                assert!(status.success(), "chown {name} to nobody");
            }
        }
        let hba = data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(
            &hba,
            format!("hostnossl all {TLS_ONLY_ROLE} 0.0.0.0/0 reject\n{rules}"),
        )
        .expect("write pg_hba.conf");
    }

    /// `pg_ctl start` on this server's data directory and port, waiting until it accepts
    /// connections.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let tls = if self.tls {
            " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        } else {
            ""
        };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB \
             -c client_connection_check_interval=100ms{tls}{}",
            self.port,
            path_str(&self.dir.path().join("socket")),
            self.settings,
        );
        let log = self.dir.path().join("server.log");
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                path_str(&self.data_dir()),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ])
            .output()
            .expect("run pg_ctl start");
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are closed) and keeps its
    /// data, for a test of what clients do while the database is away; [`PgServer::resume`]
    /// starts it again on the same port.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", path_str(&self.data_dir()), "stop", "-m", "fast", "-w"],
        );
    }

    /// Starts a server stopped by [`PgServer::stop`] again, on the same port, with the same
    /// data. Panics if it does not start (the port was taken meanwhile, say).
    pub fn resume(&self) {
        if let Err(e) = self.pg_ctl_start() {
            panic!("PostgreSQL did not start again on port {}: {e}", self.port);
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` as the superuser.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{name}?connect_timeout=10",
            self.port
        )
    }

    /// Creates a new, empty database and returns its URL.
    pub fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test server");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        self.url(&name)
    }

    /// A plain client of the database at `url` (raw SQL, as an operator with database
    /// access has).
    pub fn client(url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).expect("connect to the test database")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `tool` from the server's binaries, run as `nobody` when we are root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_nobody {
            let mut cmd = Command::new("setpriv");
            cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(program);
            cmd
        } else {
            Command::new(program)
        };
        // The server and its tools must not inherit a locale or a PG* setting of the test
        // environment.
        cmd.env("LC_ALL", "C")
            .env_remove("PGDATA")
            .env_remove("PGPORT");
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The watchdog: stops the server when this process's end of its stdin closes.
    fn start_watchdog(&self) {
        let stop = self.stop_command_line();
        // Then remove the directory: a static server's `TempDir` is never dropped.
        let dir = path_str(self.dir.path());
        let script =
            format!("trap '' INT TERM HUP; read _ignored; {stop} >/dev/null 2>&1; rm -rf '{dir}'");
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server's watchdog");
        let stdin = child.stdin.take().expect("the watchdog's stdin");
        *self.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, stdin));
    }

    fn stop_command_line(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if self.as_nobody {
            "setpriv --reuid=nobody --regid=nogroup --clear-groups "
        } else {
            ""
        };
        format!(
            "{prefix}'{}' -D '{}' stop -m immediate -w",
            path_str(&pg_ctl),
            path_str(&self.data_dir())
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let taken = self
            .watchdog
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((mut child, mut stdin)) = taken {
            // Wake the watchdog: it stops the server; wait for it so that the directory is
            // free to remove.
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
fn find_bin() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|t| dir.join(t).is_file())
    };
    let candidates = std::env::var_os("MTLS_PG_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from(DEBIAN_BIN)])
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()),
        );
    for dir in candidates {
        if has_all(&dir) {
            // Through PATH, Debian's wrappers live elsewhere: resolve symlinks so pg_ctl
            // finds its own postgres.
            return Some(
                std::fs::canonicalize(dir.join("initdb"))
                    .ok()?
                    .parent()?
                    .to_owned(),
            );
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_creates_databases_and_stops_on_drop() {
        let server = PgServer::start();
        let url = server.database();
        let mut client = PgServer::client(&url);
        let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        let other = server.database();
        assert_ne!(url, other);
        drop(client);
        let port = server.port();
        let data = server.data_dir();
        drop(server);
        assert!(!data.exists(), "the data directory is removed");
        assert!(
            std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "the server is stopped"
        );
    }

    #[test]
    fn extra_settings_reach_the_server() {
        let server = PgServer::start_with_settings(&[
            ("shared_preload_libraries", "pg_stat_statements"),
            ("shared_buffers", "48MB"),
        ]);
        let mut client = PgServer::client(&server.database());
        let show = |client: &mut postgres::Client, name: &str| -> String {
            client
                .query_one(&format!("SHOW {name}"), &[])
                .unwrap()
                .get(0)
        };
        assert_eq!(
            show(&mut client, "shared_preload_libraries"),
            "pg_stat_statements"
        );
        assert_eq!(show(&mut client, "shared_buffers"), "48MB");
        client
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .unwrap();
        let calls: i64 = client
            .query_one("SELECT count(*) FROM pg_stat_statements", &[])
            .unwrap()
            .get(0);
        assert!(calls > 0);
    }

    #[test]
    #[should_panic(expected = "plain words only")]
    fn a_setting_with_spaces_is_refused() {
        PgServer::start_with_settings(&[("shared_buffers", "1 MB")]);
    }
}
