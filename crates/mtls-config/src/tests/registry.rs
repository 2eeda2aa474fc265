//! `registry`: the SQLite file by default, or a PostgreSQL URL from the file or `MTLS_REGISTRY`.

use std::path::Path;

use super::*;

fn with(registry_line: &str, defaults: &Defaults) -> Result<Config, ConfigError> {
    let text = format!("{registry_line}\n{}", server_with("", ""));
    Config::from_toml_with(&text, Path::new("/etc/mtlsd/mtlsd.toml"), defaults)
}

#[test]
fn the_default_is_the_sqlite_file_of_the_data_dir() {
    let defaults = Defaults::default().with_data_dir(Some("/var/lib/mtls"));
    let c = with("", &defaults).unwrap();
    assert_eq!(
        c.registry(),
        &Registry::File("/var/lib/mtls/registry.db".into())
    );
    assert_eq!(c.registry().file(), Some(c.registry_path().as_path()));
    assert_eq!(c.registry().to_string(), "/var/lib/mtls/registry.db");
}

#[test]
fn a_postgres_url_in_the_file_wins_over_the_environment() {
    let defaults = Defaults::default().with_registry(Some("postgres://env@db/env"));
    let c = with(
        r#"registry = "postgresql://mtls:s3cret@db.internal:5433/reg?sslmode=require""#,
        &defaults,
    )
    .unwrap();
    let Registry::Postgres(url) = c.registry() else {
        panic!("{:?}", c.registry())
    };
    assert_eq!(
        url.expose(),
        "postgresql://mtls:s3cret@db.internal:5433/reg?sslmode=require"
    );
    assert_eq!(c.registry().file(), None);
    // Shown without the password or the query, in Display and Debug (and so in any
    // `{config:?}`).
    assert_eq!(url.to_string(), "postgresql://mtls@db.internal:5433/reg");
    assert!(!format!("{c:?}").contains("s3cret"));
    assert!(!format!("{c:?}").contains("sslmode"));
}

#[test]
fn mtls_registry_applies_when_the_file_names_none() {
    let defaults = Defaults::default().with_registry(Some("postgres://gw@10.0.0.9/mtls"));
    let c = with("", &defaults).unwrap();
    assert_eq!(c.registry().to_string(), "postgres://gw@10.0.0.9/mtls");
    // An empty variable is unset.
    let c = with("", &Defaults::default().with_registry(Some(""))).unwrap();
    assert!(c.registry().file().is_some());
}

#[test]
fn a_password_only_in_the_query_or_no_user_is_not_shown() {
    for (url, shown) in [
        ("postgres://db/reg?password=hunter2", "postgres://db/reg"),
        ("postgres://:hunter2@db", "postgres://db"),
        ("postgres://u:p:q@h@db:1/x", "postgres://u@db:1/x"),
    ] {
        let url = RegistryUrl::new(url).unwrap();
        assert_eq!(url.to_string(), shown);
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}

#[test]
fn anything_else_is_refused_without_echoing_it() {
    for (line, defaults, field) in [
        (
            r#"registry = "mysql://u:hunter2@db/x""#,
            Defaults::default(),
            "registry",
        ),
        (
            r#"registry = "postgres://""#,
            Defaults::default(),
            "registry",
        ),
        (
            "",
            Defaults::default().with_registry(Some("/var/lib/mtls/registry.db")),
            "registry (from MTLS_REGISTRY)",
        ),
    ] {
        let Err(ConfigError::Invalid { problems, .. }) = with(line, &defaults) else {
            panic!("{line} accepted");
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, field);
        assert!(problems[0].message.contains("postgres://"), "{problems:?}");
        assert!(!problems[0].message.contains("hunter2"));
    }
}
