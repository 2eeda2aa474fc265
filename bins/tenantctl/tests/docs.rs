//! `tenantctl generate-docs`: completions and one man page per visible subcommand, naming
//! the real subcommands and flags.

use std::fs;
use std::process::Command;

#[test]
fn generate_docs_writes_completions_and_a_man_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(["generate-docs", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bash = fs::read_to_string(dir.path().join("completions/bash/tenantctl")).unwrap();
    for needle in [
        "tenant",
        "route",
        "enroll",
        "--data-dir",
        "--trust-domain",
        "--server",
    ] {
        assert!(bash.contains(needle), "bash completion lacks {needle}");
    }
    let zsh = fs::read_to_string(dir.path().join("completions/zsh/_tenantctl")).unwrap();
    assert!(zsh.starts_with("#compdef tenantctl"));
    let fish = fs::read_to_string(dir.path().join("completions/fish/tenantctl.fish")).unwrap();
    assert!(fish.contains("complete -c tenantctl"));
    for page in [
        "tenantctl.1",
        "tenantctl-init.1",
        "tenantctl-tenant-create.1",
        "tenantctl-route-add-http.1",
        "tenantctl-cert-revoke.1",
    ] {
        let text = fs::read_to_string(dir.path().join("man").join(page)).unwrap();
        assert!(text.contains(".SH SYNOPSIS"), "{page}");
        assert!(!text.contains("generate\\-docs"), "{page}");
    }
    let init = fs::read_to_string(dir.path().join("man/tenantctl-init.1")).unwrap();
    assert!(init.contains("\\-\\-trust\\-domain"));
    assert!(!bash.contains("generate-docs"));
}
