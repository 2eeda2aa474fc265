//! `[[listener.tls.identities]]`, `fallback` and `[[listener.tls.prefer]]`.

use std::path::Path;

use super::{load, problems};
use crate::*;

/// A client-mode listener `out` with `tls` as the body of `[listener.tls]` and `after`
/// appended (for `[[listener.tls.*]]` tables).
fn client(tls: &str, after: &str) -> String {
    format!(
        "[[listener]]\nname = \"out\"\nmode = \"client\"\nlisten = \"127.0.0.1:9080\"\n\
         target = \"api.acme.test:443\"\n\n[listener.tls]\nca = \"ca.pem\"\n{tls}\n{after}\n"
    )
}

const TWO: &str = "[[listener.tls.identities]]\nname = \"acme\"\ncert = \"acme.pem\"\n\
                   key = \"acme-key.pem\"\n\n[[listener.tls.identities]]\nname = \"globex\"\n\
                   cert = \"/pki/globex.pem\"\nkey = \"globex-key.pem\"\n";

fn outbound(c: &Config) -> &ClientTlsConfig {
    match &c.listeners()[0].mode {
        ListenerMode::Client { tls } => tls,
        ListenerMode::Bridge { upstream_tls, .. } => upstream_tls,
        other => panic!("{other:?}"),
    }
}

#[test]
fn several_identities_with_fallback_and_preferences() {
    let prefer = "[[listener.tls.prefer]]\nserver_name = \"*.acme.test\"\nidentity = \"acme\"\n\n\
                  [[listener.tls.prefer]]\nserver_name = \"api.globex.test\"\nidentity = \"globex\"\n";
    let c = load(&client(
        "fallback = \"globex\"",
        &format!("{TWO}\n{prefer}"),
    ))
    .unwrap();
    let tls = outbound(&c);
    let names: Vec<&str> = tls.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["acme", "globex"]);
    assert_eq!(tls.identities[0].cert, Path::new("/etc/mtlsd/acme.pem"));
    assert_eq!(tls.identities[1].cert, Path::new("/pki/globex.pem"));
    assert_eq!(
        tls.identities[1].key,
        Path::new("/etc/mtlsd/globex-key.pem")
    );
    assert_eq!(tls.policy.fallback(), &Fallback::Named("globex".into()));
    let prefs: Vec<(String, &str)> = tls
        .policy
        .preferences()
        .map(|(p, id)| (p.to_string(), id))
        .collect();
    assert_eq!(
        prefs,
        [
            ("*.acme.test".to_owned(), "acme"),
            ("api.globex.test".to_owned(), "globex")
        ]
    );

    for (text, expected) in [("first", Fallback::First), ("none", Fallback::None)] {
        let c = load(&client(&format!("fallback = \"{text}\""), TWO)).unwrap();
        assert_eq!(outbound(&c).policy.fallback(), &expected);
    }
}

#[test]
fn bridge_mode_takes_identities_under_upstream_tls() {
    let text = "[[listener]]\nname = \"br\"\nmode = \"bridge\"\nlisten = \"127.0.0.1:1\"\n\
                target = \"up.test:443\"\n[listener.tls]\ncert = \"s.pem\"\nkey = \"s-key.pem\"\n\
                ca = \"ca.pem\"\n[listener.upstream_tls]\nca = \"up-ca.pem\"\nfallback = \"none\"\n"
        .to_owned()
        + &TWO.replace("listener.tls.", "listener.upstream_tls.");
    let c = load(&text).unwrap();
    assert_eq!(outbound(&c).identities.len(), 2);
    assert_eq!(outbound(&c).policy.fallback(), &Fallback::None);

    // Identities on the inbound side are refused, by field.
    let p = problems(&text.replace(
        "listener.upstream_tls.identities",
        "listener.tls.identities",
    ));
    assert!(
        p.iter()
            .any(|p| p.field == "tls.identities" && p.message.contains("outbound")),
        "{p:?}"
    );
}

#[test]
fn both_forms_together_is_an_error_naming_listener_and_field() {
    let p = problems(&client("cert = \"c.pem\"\nkey = \"k.pem\"", TWO));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].listener.as_deref(), Some("\"out\""));
    assert_eq!(p[0].field, "tls.identities");
    assert!(p[0].message.contains("tls.cert"), "{}", p[0]);
    let err = load(&client("cert = \"c.pem\"", TWO))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/etc/mtlsd/mtlsd.toml"), "{err}");
    assert!(err.contains("listener \"out\": `tls.identities`"), "{err}");
}

#[test]
fn duplicate_reserved_and_incomplete_identities() {
    let dup = TWO.replace("\"globex\"", "\"acme\"");
    let p = problems(&client("", &dup));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "tls.identities[1].name");
    assert!(
        p[0].message.contains("already used by tls.identities[0]"),
        "{}",
        p[0]
    );

    let p = problems(&client(
        "",
        "[[listener.tls.identities]]\nname = \"none\"\ncert = \"n.pem\"\nkey = \"nk.pem\"\n\n\
         [[listener.tls.identities]]\nname = \"bad name\"\n",
    ));
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "tls.identities[0].name",
            "tls.identities[1].name",
            "tls.identities[1].cert",
            "tls.identities[1].key"
        ]
    );
    assert!(p[0].message.contains("reserved"), "{}", p[0]);

    let err = load(&client(
        "",
        "[[listener.tls.identities]]\nname = \"a\"\ncolour = \"red\"\n",
    ))
    .unwrap_err();
    assert!(
        err.is_parse() && err.to_string().contains("colour"),
        "{err}"
    );
}

#[test]
fn fallback_and_preferences_must_name_an_identity() {
    let p = problems(&client("fallback = \"initech\"", TWO));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "tls.fallback");
    assert!(
        p[0].message
            .contains("\"initech\" is not one of the identities (acme, globex)")
    );

    let prefer = "[[listener.tls.prefer]]\nserver_name = \"*.x.test\"\nidentity = \"initech\"\n\n\
                  [[listener.tls.prefer]]\nserver_name = \"a.*.test\"\nidentity = \"acme\"\n\n\
                  [[listener.tls.prefer]]\n";
    let p = problems(&client("", &format!("{TWO}\n{prefer}")));
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "tls.prefer[0].identity",
            "tls.prefer[1].server_name",
            "tls.prefer[2].server_name",
            "tls.prefer[2].identity"
        ]
    );
    // The single form's identity is called "default".
    let c = load(&client(
        "cert = \"c.pem\"\nkey = \"k.pem\"\nfallback = \"default\"",
        "",
    ))
    .unwrap();
    assert_eq!(outbound(&c).identities[0].name, SINGLE_IDENTITY_NAME);
}

#[test]
fn no_identity_needs_an_explicit_empty_list() {
    let p = problems(&client("", ""));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].field, "tls.cert");
    assert!(p[0].message.contains("identities = []"), "{}", p[0]);

    let c = load(&client("identities = []", "")).unwrap();
    assert!(outbound(&c).identities.is_empty());
    // Nothing for a fallback to name.
    let p = problems(&client("identities = []\nfallback = \"acme\"", ""));
    assert!(p[0].message.contains("there are none"), "{}", p[0]);
}
