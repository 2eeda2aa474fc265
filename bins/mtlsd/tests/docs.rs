//! `mtlsd generate-docs`: completions for three shells and man pages that name the real
//! subcommand and flags, and nothing about the hidden generator itself.

use std::fs;
use std::process::Command;

#[test]
fn generate_docs_writes_completions_and_man_pages_of_the_real_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .args(["generate-docs", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for (file, needles) in [
        (
            "completions/bash/mtlsd",
            &["probe", "--config", "--check"][..],
        ),
        (
            "completions/zsh/_mtlsd",
            &["probe", "--config", "--insecure-skip-verify"],
        ),
        ("completions/fish/mtlsd.fish", &["probe", "config", "check"]),
        (
            "man/mtlsd.1",
            &["mtlsd\\-probe", "\\-\\-config", "\\-\\-check"],
        ),
        (
            "man/mtlsd-probe.1",
            &["\\-\\-server\\-name", "\\-\\-timeout", "HOST:PORT"],
        ),
    ] {
        let path = dir.path().join(file);
        assert!(
            listed.contains(&*path.to_string_lossy()),
            "{file} not listed: {listed}"
        );
        let text = fs::read_to_string(&path).unwrap();
        for needle in needles {
            assert!(text.contains(needle), "{file} does not mention {needle}");
        }
        assert!(
            !text.contains("generate-docs") && !text.contains("generate\\-docs"),
            "{file}"
        );
    }
    let help = Command::new(env!("CARGO_BIN_EXE_mtlsd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate-docs"));
}
