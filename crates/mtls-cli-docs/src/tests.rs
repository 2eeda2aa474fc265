use super::*;

fn demo() -> clap::Command {
    clap::Command::new("demo")
        .version("1.2.3")
        .about("A demo tool")
        .arg(
            clap::Arg::new("config")
                .long("config")
                .help("The config file"),
        )
        .subcommand(
            clap::Command::new("tenant")
                .about("Tenants")
                .subcommand(clap::Command::new("create").about("Create a tenant")),
        )
        .subcommand(clap::Command::new("secret").hide(true))
}

#[test]
fn writes_every_shell_and_a_page_per_visible_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let written = generate(demo(), dir.path()).unwrap();
    let rel: Vec<String> = written
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        rel,
        [
            "completions/bash/demo",
            "completions/zsh/_demo",
            "completions/fish/demo.fish",
            "man/demo.1",
            "man/demo-tenant.1",
            "man/demo-tenant-create.1",
        ]
    );
    for path in &written {
        let text = fs::read_to_string(path).unwrap();
        assert!(!text.trim().is_empty(), "{} is empty", path.display());
        // clap_complete lists hidden subcommands too (hence `with_generate_subcommand`);
        // man pages leave them out.
        if path.extension().is_some_and(|e| e == "1") {
            assert!(
                !text.contains("secret"),
                "{} shows a hidden command",
                path.display()
            );
        }
    }
    let bash = fs::read_to_string(dir.path().join("completions/bash/demo")).unwrap();
    assert!(bash.contains("--config") && bash.contains("tenant"));
    let page = fs::read_to_string(dir.path().join("man/demo-tenant-create.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH demo-tenant-create"),
        "{page}"
    );
    assert!(page.contains("Create a tenant"));
}

#[test]
fn the_subcommand_parses_but_is_not_documented() {
    let parser = with_generate_subcommand(demo());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docs");
    let matches = parser
        .clone()
        .try_get_matches_from(["demo", SUBCOMMAND, "--out", out.to_str().unwrap()])
        .unwrap();
    assert!(run_if_requested(&matches, demo()).is_some());
    for entry in fs::read_dir(out.join("man")).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            !fs::read_to_string(&path).unwrap().contains(SUBCOMMAND),
            "{}",
            path.display()
        );
    }
    let bash = fs::read_to_string(out.join("completions/bash/demo")).unwrap();
    assert!(!bash.contains(SUBCOMMAND));
    let other = parser
        .try_get_matches_from(["demo", "tenant", "create"])
        .unwrap();
    assert!(run_if_requested(&other, demo()).is_none());
}
