//! Remote mode end to end: a real `mtlsd` serving `[control]` on 127.0.0.1, the real
//! `tenantctl` as admin and as tenant, and curl as a third-party client. An admin creates
//! tenants and a token over the API; the tenant enrolls from an empty directory, adds and
//! lists its route, cannot touch another tenant, renews in place (the old pair keeps
//! working, or stops with --revoke-previous) and keeps renewing with --loop until SIGTERM.

#[allow(unused_imports)] // the shared support module re-exports helpers this file does not need
mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{initialised, mode};

const WAIT: Duration = Duration::from_secs(30);

/// The `mtlsd` binary next to `tenantctl` (built on demand if missing).
fn mtlsd_bin() -> PathBuf {
    let tenantctl = Path::new(env!("CARGO_BIN_EXE_tenantctl"));
    let path = tenantctl.with_file_name("mtlsd");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "mtlsd"])
            .status()
            .expect("cargo build -p mtlsd");
        assert!(status.success(), "cannot build mtlsd");
    }
    path
}

/// A running process whose stdout lines arrive on a channel; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`; returns the lines up to it.
    fn wait_line(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!(
                    "no line {needle:?} within {WAIT:?}; stdout so far {seen:?}; stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "process did not exit; stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts mtlsd with only `[control]` on an ephemeral loopback port.
fn start_control(data_dir: &Path, work: &Path) -> (Proc, SocketAddr) {
    let config = work.join("mtlsd.toml");
    // 153 s certificates: the CA backdates notBefore by 5 minutes, so 2/3 of the lifetime
    // falls 2 s after issuance (what the --loop step waits for). Generous renewal limits:
    // this test renews several times within the hour.
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n\n[control]\nlisten = \"127.0.0.1:0\"\ncert_validity = \"153s\"\n\n[control.rate_limits]\nrenew_per_tenant_per_hour = 100\nrenew_per_tenant_burst = 20\n",
            data_dir
        ),
    )
    .unwrap();
    let mut cmd = Command::new(mtlsd_bin());
    cmd.arg("--config").arg(&config).env("MTLS_LOG", "info");
    let proc = Proc::spawn(cmd);
    let lines = proc.wait_line("ready");
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("bound control control "))
        .unwrap_or_else(|| panic!("no control address in {lines:?}"))
        .parse()
        .unwrap();
    (proc, addr)
}

/// Runs tenantctl in `work` with extra environment; returns (exit code, stdout, stderr).
fn tenantctl(work: &Path, env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
    cmd.args(args)
        .current_dir(work)
        .stdin(Stdio::null())
        .env("MTLS_ACTOR", "cli:test");
    for var in [
        "TENANTCTL_SERVER",
        "TENANTCTL_CERT",
        "TENANTCTL_KEY",
        "TENANTCTL_CA",
        "TENANTCTL_CERT_DIR",
        "TENANTCTL_CONFIG",
        "MTLS_DATA_DIR",
        "MTLS_ENROLL_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tenantctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(work: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let (code, stdout, stderr) = tenantctl(work, env, args);
    assert_eq!(code, Some(0), "{args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn json(work: &Path, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ok(work, env, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

fn fails(work: &Path, env: &[(&str, &str)], args: &[&str], needle: &str) -> String {
    let (code, stdout, stderr) = tenantctl(work, env, args);
    assert_eq!(
        code,
        Some(1),
        "{args:?}: expected exit 1:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{stderr}"
    );
    stderr
}

/// curl with a client certificate: (HTTP status, body).
fn curl(url: &str, ca: &Path, cert: &Path, key: &Path) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn cat<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

fn copy_pair(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for f in ["cert.pem", "key.pem", "ca.pem"] {
        std::fs::write(to.join(f), std::fs::read(from.join(f)).unwrap()).unwrap();
    }
}

#[test]
fn admin_and_tenant_work_remotely_end_to_end() {
    let t = initialised(false);
    let work = t.work().to_owned();
    let data = t.data_dir().to_str().unwrap().to_owned();
    // The admin's certificate is issued locally, on the proxy host.
    t.ok(&["admin", "issue", "alice", "--out", "admin"]);
    let (mut mtlsd, addr) = start_control(t.data_dir(), &work);
    let url = format!("https://{addr}");
    let ca = t.data_dir().join("ca.pem");
    let ca_s = ca.to_str().unwrap().to_owned();
    let admin = ["--server", url.as_str(), "--cert-dir", "admin"];

    let me = json(&work, &[], &cat(&admin, &["whoami"]));
    assert_eq!(me["kind"], "admin");
    assert_eq!(me["name"], "alice");

    // The admin onboards tenants a and b and makes a token for a.
    let created = json(
        &work,
        &[],
        &cat(&admin, &["tenant", "create", "a", "--name", "Tenant A"]),
    );
    assert_eq!(created["id"], "a");
    assert_eq!(created["status"], "active");
    ok(
        &work,
        &[],
        &cat(&admin, &["tenant", "create", "b", "--name", "Tenant B"]),
    );
    let token = json(
        &work,
        &[],
        &cat(&admin, &["token", "create", "a", "--ttl", "15m"]),
    );
    let token = token["token"].as_str().unwrap().to_owned();
    // The same listing, remotely and locally.
    let remote_list = ok(&work, &[], &cat(&admin, &["tenant", "list"]));
    let local_list = ok(&work, &[], &["--data-dir", &data, "tenant", "list"]);
    assert_eq!(remote_list, local_list);

    // The tenant enrolls over the network into a directory that does not exist yet; the
    // key is generated here.
    assert!(!work.join("a-bundle").exists());
    let token_file = work.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let enrolled = json(
        &work,
        &[],
        &[
            "enroll",
            "--server",
            &url,
            "--token-file",
            "token",
            "--ca",
            &ca_s,
            "--out",
            "a-bundle",
        ],
    );
    assert_eq!(enrolled["tenant"], "a");
    let bundle = work.join("a-bundle");
    assert_eq!(mode(&bundle.join("key.pem")), 0o600);
    let first_serial = enrolled["serial"].as_str().unwrap().to_owned();
    // The token was used once.
    fails(
        &work,
        &[],
        &[
            "enroll", "--server", &url, "--token", &token, "--ca", &ca_s, "--out", "again",
        ],
        "410 token_gone",
    );
    // Token listings (never secrets), remotely and locally alike: the one token, used.
    let remote_tokens = ok(&work, &[], &cat(&admin, &["token", "list"]));
    let local_tokens = ok(&work, &[], &["--data-dir", &data, "token", "list"]);
    assert_eq!(remote_tokens, local_tokens);
    assert!(remote_tokens.contains(" used "), "{remote_tokens}");
    assert!(
        !remote_tokens.contains(&token),
        "a token listing shows no secret"
    );
    // An admin's remote `tenant show` is the local one, token line included.
    let remote_show = ok(&work, &[], &cat(&admin, &["tenant", "show", "a"]));
    let local_show = ok(&work, &[], &["--data-dir", &data, "tenant", "show", "a"]);
    assert_eq!(remote_show, local_show);

    // From here on the tenant uses the environment (flag > env > file is unit-tested).
    let tenant_env = [
        ("TENANTCTL_SERVER", url.as_str()),
        ("TENANTCTL_CERT_DIR", "a-bundle"),
    ];
    let who = json(&work, &tenant_env, &["whoami"]);
    assert_eq!(
        (who["kind"].as_str(), who["name"].as_str()),
        (Some("tenant"), Some("a"))
    );
    assert_eq!(who["serial"], first_serial.as_str());
    let route = json(
        &work,
        &tenant_env,
        &[
            "route",
            "add",
            "a",
            "http",
            "--host",
            "api.a.test",
            "--upstream",
            "https://backend.a.example",
        ],
    );
    let route_id = route["id"].as_str().unwrap().to_owned();
    let listed = json(&work, &tenant_env, &["route", "list"])["items"].clone();
    assert_eq!(listed[0]["id"], route_id.as_str());
    let remote_routes = ok(&work, &tenant_env, &["route", "list", "a"]);
    let local_routes = ok(&work, &[], &["--data-dir", &data, "route", "list", "a"]);
    assert_eq!(remote_routes, local_routes);
    assert!(ok(&work, &tenant_env, &["tenant", "show", "a"]).contains(&route_id));

    // a cannot read or change b, nor call admin endpoints (403, exit 1, code in JSON).
    fails(
        &work,
        &tenant_env,
        &["tenant", "show", "b"],
        "403 forbidden",
    );
    fails(
        &work,
        &tenant_env,
        &[
            "route",
            "add",
            "b",
            "http",
            "--host",
            "x.b.test",
            "--upstream",
            "https://backend.b.example",
        ],
        "403 forbidden",
    );
    fails(
        &work,
        &tenant_env,
        &["tenant", "create", "c", "--name", "C"],
        "403 forbidden",
    );
    let (code, stdout, _) = tenantctl(&work, &tenant_env, &["--json", "tenant", "list"]);
    assert_eq!(code, Some(1));
    let err: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(err["kind"], "remote");
    assert_eq!(err["code"], "forbidden");
    // A private upstream breaks the default route policy: refused, naming the rule.
    fails(
        &work,
        &tenant_env,
        &[
            "route",
            "add",
            "a",
            "tcp",
            "--sni",
            "db.a.test",
            "--upstream",
            "10.0.0.5:5432",
            "--allow-private",
        ],
        "allow_private",
    );
    // Nothing of b changed.
    assert_eq!(
        json(&work, &[], &cat(&admin, &["route", "list", "b"]))["items"],
        serde_json::json!([])
    );

    // curl, as a third-party client, with the enrolled files.
    let whoami_url = format!("{url}/v1/whoami");
    let (status, body) = curl(
        &whoami_url,
        &ca,
        &bundle.join("cert.pem"),
        &bundle.join("key.pem"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\":\"a\""), "{body}");

    // Renew in place: the old pair keeps working until it expires.
    copy_pair(&bundle, &work.join("old-1"));
    let renewed = json(&work, &tenant_env, &["renew"]);
    assert_eq!(renewed["previous_serial"], first_serial.as_str());
    assert_eq!(renewed["lineage"], enrolled["lineage"]);
    assert_eq!(renewed["previous_revoked"], false);
    let second_serial = renewed["serial"].as_str().unwrap().to_owned();
    assert_ne!(second_serial, first_serial);
    assert_eq!(
        json(&work, &tenant_env, &["whoami"])["serial"],
        second_serial.as_str()
    );
    let old1 = work.join("old-1");
    let (status, _) = curl(
        &whoami_url,
        &ca,
        &old1.join("cert.pem"),
        &old1.join("key.pem"),
    );
    assert_eq!(
        status, 200,
        "the previous certificate stopped working after a plain renewal"
    );

    // Renew with --revoke-previous: the pair it replaced fails from now on.
    copy_pair(&bundle, &work.join("old-2"));
    let renewed = json(&work, &tenant_env, &["renew", "--revoke-previous"]);
    assert_eq!(renewed["previous_serial"], second_serial.as_str());
    assert_eq!(renewed["previous_revoked"], true);
    let old2 = work.join("old-2");
    let (status, body) = curl(
        &whoami_url,
        &ca,
        &old2.join("cert.pem"),
        &old2.join("key.pem"),
    );
    assert_ne!(status, 200, "a revoked certificate still works: {body}");
    fails(
        &work,
        &[
            ("TENANTCTL_SERVER", url.as_str()),
            ("TENANTCTL_CERT_DIR", "old-2"),
        ],
        &["whoami"],
        &url,
    );
    let certs = json(&work, &tenant_env, &["cert", "list"])["items"].clone();
    let states: Vec<(String, bool)> = certs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_owned(),
                c["revoked_at"].is_null(),
            )
        })
        .collect();
    assert!(
        states.contains(&(second_serial.clone(), false)),
        "{states:?}"
    );
    assert_eq!(states.len(), 3, "{states:?}");

    // A config file works as well (paths relative to the file).
    std::fs::write(
        work.join("tenantctl.toml"),
        format!("server = \"{url}\"\ncert_dir = \"a-bundle\"\n"),
    )
    .unwrap();
    let who = json(
        &work,
        &[("TENANTCTL_CONFIG", "tenantctl.toml")],
        &["whoami"],
    );
    assert_eq!(who["name"], "a");

    // --loop renews at 2/3 of the lifetime, logs each renewal, exits 0 on SIGTERM.
    let before = json(&work, &tenant_env, &["whoami"])["serial"].clone();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantctl"));
    cmd.args([
        "--server",
        &url,
        "--cert-dir",
        "a-bundle",
        "renew",
        "--loop",
    ])
    .current_dir(&work)
    .env_remove("TENANTCTL_SERVER")
    .env_remove("TENANTCTL_CERT_DIR");
    let mut renewer = Proc::spawn(cmd);
    let lines = renewer.wait_line("Renewed tenant a");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("next renewal of certificate")),
        "{lines:?}"
    );
    renewer.wait_line("next renewal of certificate");
    renewer.signal("TERM");
    assert_eq!(renewer.wait_exit(), 0);
    let after = json(&work, &tenant_env, &["whoami"])["serial"].clone();
    assert_ne!(after, before);

    // The admin sees the tenant's changes in the audit log.
    let audit = json(&work, &[], &cat(&admin, &["audit", "--tenant", "a"]))["items"].clone();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"route.add"), "{actions:?}");
    assert!(actions.contains(&"cert.renew"), "{actions:?}");
    // Removing the route by id alone: tenantctl finds its tenant.
    let removed = json(&work, &tenant_env, &["route", "remove", &route_id]);
    assert_eq!(removed["id"], route_id.as_str());
    assert_eq!(
        json(&work, &tenant_env, &["route", "list"])["items"],
        serde_json::json!([])
    );

    mtlsd.signal("TERM");
    assert_eq!(mtlsd.wait_exit(), 0);
}
