//! The OpenAPI document lists exactly the routes the router serves, and documents the
//! error responses; unknown paths and methods are JSON errors.

mod support;

use std::collections::BTreeSet;

use mtls_control_api::paths;
use reqwest::{Method, StatusCode};
use support::{Fixture, call, code, get, message, relaxed};

/// Every path template the API's `paths` module knows.
fn templates() -> Vec<String> {
    vec![
        paths::ENROLL.to_owned(),
        paths::RENEW.to_owned(),
        paths::WHOAMI.to_owned(),
        paths::TENANTS.to_owned(),
        paths::AUDIT.to_owned(),
        paths::CRL.to_owned(),
        paths::OPENAPI.to_owned(),
        paths::tenant("{id}"),
        paths::tenant_suspend("{id}"),
        paths::tenant_resume("{id}"),
        paths::tenant_limits("{id}"),
        paths::tenant_egress("{id}"),
        paths::tenant_routes("{id}"),
        paths::tenant_route("{id}", "{route_id}"),
        paths::tenant_tokens("{id}"),
        paths::tenant_certs("{id}"),
        paths::cert_revoke("{serial}"),
    ]
}

fn concrete(template: &str) -> String {
    template
        .replace("{id}", "acme")
        .replace("{route_id}", "r-0123456789abcdef")
        .replace("{serial}", "0a1b")
}

const PUBLIC: [&str; 3] = ["/v1/enroll", "/v1/crl", "/openapi.json"];

#[tokio::test]
async fn the_document_lists_every_served_route_and_only_those() {
    let fx = Fixture::start(relaxed()).await;
    let anon = fx.client(None);
    let (status, doc) = get(&anon, &fx.url("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let templates = templates();
    for (_, path) in &documented {
        assert!(
            templates.contains(path),
            "documented {path} is not in mtls_control_api::paths"
        );
    }
    let mut served = BTreeSet::new();
    for template in &templates {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let (status, _, body) =
                call(&anon, method.clone(), &fx.url(&concrete(template)), None).await;
            let unknown =
                status == StatusCode::NOT_FOUND && message(&body).starts_with("no endpoint");
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(code(&body), "method_not_allowed", "{body}");
            } else if !unknown {
                served.insert((method.as_str().to_owned(), template.clone()));
            }
        }
    }
    assert_eq!(served, documented, "served routes vs. the OpenAPI document");
    assert_eq!(
        served.len(),
        21,
        "the 20 operations of issue 14, and GET tokens"
    );

    // Every operation documents its error body; every non-public one its 401.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        if path != "/openapi.json" {
            let errors: Vec<_> = responses.keys().filter(|s| s.as_str() >= "400").collect();
            assert!(!errors.is_empty(), "{method} {path} documents no error");
            for status in errors {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        if !PUBLIC.contains(&path.as_str()) {
            assert!(
                responses.contains_key("401"),
                "{method} {path} does not document 401"
            );
        }
    }
    assert!(doc["components"]["schemas"]["ErrorCode"].is_object());
    fx.stop().await;
}

#[tokio::test]
async fn the_paged_listings_document_limit_after_and_a_page_with_next() {
    let fx = Fixture::start(relaxed()).await;
    let anon = fx.client(None);
    let (_, doc) = get(&anon, &fx.url("/openapi.json")).await;
    for (path, page) in [
        (paths::TENANTS.to_owned(), "TenantPage"),
        (paths::tenant_routes("{id}"), "RoutePage"),
        (paths::tenant_certs("{id}"), "CertificatePage"),
        (paths::AUDIT.to_owned(), "AuditPage"),
    ] {
        let op = &doc["paths"][&path]["get"];
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path} has no parameters"))
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            params.contains(&"limit") && params.contains(&"after"),
            "GET {path} query parameters: {params:?}"
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{page}"),
            "GET {path}"
        );
        assert!(
            op["responses"]["400"].is_object(),
            "GET {path} documents no 400"
        );
        let schema = &doc["components"]["schemas"][page];
        assert_eq!(
            schema["properties"]["items"]["type"], "array",
            "{page}: {schema}"
        );
        assert!(schema["properties"]["next"].is_object(), "{page}: {schema}");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(required, ["items"], "{page}: next may be null");
    }
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(description.contains("?after="), "{description}");
    fx.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let fx = Fixture::start(relaxed()).await;
    let anon = fx.client(None);
    let (status, body) = get(&anon, &fx.url("/v2/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
    assert!(message(&body).contains("/v2/nothing"), "{body}");
    let (status, _, body) = call(&anon, Method::DELETE, &fx.url("/v1/whoami"), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&body), "method_not_allowed");
    fx.stop().await;
}
