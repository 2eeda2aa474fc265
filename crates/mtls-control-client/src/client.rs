//! [`ControlClient`]: one async method per control-plane endpoint.

use std::time::Duration;

use mtls_control_api::{
    AuditEvent, AuditPage, Certificate, CertificateIssued, CertificatePage, EgressUpdate,
    EnrollRequest, Limits, MAX_PAGE_LIMIT, RenewRequest, RevokeRequest, Route, RoutePage, Tenant,
    TenantCreate, TenantDeleted, TenantPage, Token, TokenCreate, TokenCreated, WhoAmI, paths,
};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, error_from_response};
use crate::material::TlsMaterial;

/// How long one request may take in all, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting (TCP and TLS) may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Filters of `GET /v1/audit` (a tenant caller always sees only its own events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// At most this many events (the newest).
    pub limit: Option<u32>,
    /// Only this tenant's events (an admin's filter; a tenant naming another tenant is 403).
    pub tenant: Option<String>,
}

// === impl AuditQuery ===

impl AuditQuery {
    /// Adds the set filters to `url` as query parameters.
    pub fn apply(&self, url: &mut Url) {
        if self.since.is_none() && self.limit.is_none() && self.tenant.is_none() {
            return;
        }
        let mut pairs = url.query_pairs_mut();
        if let Some(s) = &self.since {
            pairs.append_pair("since", s);
        }
        if let Some(l) = self.limit {
            pairs.append_pair("limit", &l.to_string());
        }
        if let Some(t) = &self.tenant {
            pairs.append_pair("tenant", t);
        }
    }
}

/// The format `GET /v1/crl` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlFormat {
    /// `-----BEGIN X509 CRL-----` text.
    Pem,
    /// The DER bytes.
    Der,
}

/// A client of one control-plane server, over HTTPS with our own rustls config (TLS 1.2+,
/// only the given CA bundle as roots, the client certificate if any). Connects directly:
/// `HTTPS_PROXY` and friends are ignored. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: Url,
}

// === impl ControlClient ===

impl ControlClient {
    /// A client of `server_url` (`https://HOST:PORT`, no path) with the default timeouts.
    pub fn new(server_url: &str, tls: &TlsMaterial) -> Result<Self, ClientError> {
        Self::with_timeouts(server_url, tls, DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)
    }

    /// The same with explicit timeouts (whole request, connect).
    pub fn with_timeouts(
        server_url: &str,
        tls: &TlsMaterial,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, ClientError> {
        let base = parse_server_url(server_url)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.client_config()?)
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("mtls-control-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::HttpClient {
                url: base.to_string(),
                source,
            })?;
        Ok(Self { http, base })
    }

    /// The server's base URL.
    pub fn server(&self) -> &Url {
        &self.base
    }

    /// `GET /v1/whoami`.
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.call(Method::GET, paths::WHOAMI, None::<&()>).await
    }

    /// `GET /v1/tenants` (admin).
    ///
    /// Every tenant: reads every page ([`MAX_PAGE_LIMIT`] at a time). For one page, see
    /// [`tenants_page`](Self::tenants_page).
    pub async fn tenants(&self) -> Result<Vec<Tenant>, ClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .tenants_page(after.as_deref(), Some(MAX_PAGE_LIMIT))
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// `GET /v1/tenants?limit=&after=` (admin): one page of tenants, by id. `after`: a
    /// previous page's `next` (`None`: the first page); `limit`: `None` for the server's
    /// default (100).
    pub async fn tenants_page(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<TenantPage, ClientError> {
        self.get_page(paths::TENANTS, after, limit).await
    }

    /// `POST /v1/tenants` (admin).
    pub async fn create_tenant(&self, req: &TenantCreate) -> Result<Tenant, ClientError> {
        self.call(Method::POST, paths::TENANTS, Some(req)).await
    }

    /// `GET /v1/tenants/{id}`.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, ClientError> {
        self.call(Method::GET, &paths::tenant(id), None::<&()>)
            .await
    }

    /// `POST /v1/tenants/{id}/suspend` (admin).
    pub async fn suspend_tenant(&self, id: &str) -> Result<Tenant, ClientError> {
        self.call(Method::POST, &paths::tenant_suspend(id), None::<&()>)
            .await
    }

    /// `POST /v1/tenants/{id}/resume` (admin).
    pub async fn resume_tenant(&self, id: &str) -> Result<Tenant, ClientError> {
        self.call(Method::POST, &paths::tenant_resume(id), None::<&()>)
            .await
    }

    /// `DELETE /v1/tenants/{id}` (admin).
    pub async fn delete_tenant(&self, id: &str) -> Result<TenantDeleted, ClientError> {
        self.call(Method::DELETE, &paths::tenant(id), None::<&()>)
            .await
    }

    /// `PUT /v1/tenants/{id}/limits` (admin): replaces limits and route policy.
    pub async fn set_limits(&self, id: &str, limits: &Limits) -> Result<Tenant, ClientError> {
        self.call(Method::PUT, &paths::tenant_limits(id), Some(limits))
            .await
    }

    /// `PUT /v1/tenants/{id}/egress` (admin): assigns or clears the egress address.
    pub async fn set_egress(&self, id: &str, update: &EgressUpdate) -> Result<Tenant, ClientError> {
        self.call(Method::PUT, &paths::tenant_egress(id), Some(update))
            .await
    }

    /// `GET /v1/tenants/{id}/routes`.
    ///
    /// Every route of the tenant: reads every page. For one page, see
    /// [`routes_page`](Self::routes_page).
    pub async fn routes(&self, id: &str) -> Result<Vec<Route>, ClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .routes_page(id, after.as_deref(), Some(MAX_PAGE_LIMIT))
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// `GET /v1/tenants/{id}/routes?limit=&after=`: one page of a tenant's routes, in
    /// creation order (arguments as for [`tenants_page`](Self::tenants_page)).
    pub async fn routes_page(
        &self,
        id: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<RoutePage, ClientError> {
        self.get_page(&paths::tenant_routes(id), after, limit).await
    }

    /// `POST /v1/tenants/{id}/routes`: `spec` is the route spec object
    /// (`{"kind":"http",...}`).
    pub async fn add_route(
        &self,
        id: &str,
        spec: &serde_json::Value,
    ) -> Result<Route, ClientError> {
        self.call(Method::POST, &paths::tenant_routes(id), Some(spec))
            .await
    }

    /// `DELETE /v1/tenants/{id}/routes/{route}`: returns the removed route.
    pub async fn remove_route(&self, id: &str, route: &str) -> Result<Route, ClientError> {
        self.call(Method::DELETE, &paths::tenant_route(id, route), None::<&()>)
            .await
    }

    /// `POST /v1/tenants/{id}/tokens` (admin).
    pub async fn create_token(
        &self,
        id: &str,
        req: &TokenCreate,
    ) -> Result<TokenCreated, ClientError> {
        self.call(Method::POST, &paths::tenant_tokens(id), Some(req))
            .await
    }

    /// `GET /v1/tenants/{id}/tokens` (admin): the tenant's enrollment tokens, no secrets.
    pub async fn tokens(&self, id: &str) -> Result<Vec<Token>, ClientError> {
        self.call(Method::GET, &paths::tenant_tokens(id), None::<&()>)
            .await
    }

    /// `GET /v1/tenants/{id}/certs`.
    ///
    /// Every certificate of the tenant: reads every page. For one page, see
    /// [`certs_page`](Self::certs_page).
    pub async fn certs(&self, id: &str) -> Result<Vec<Certificate>, ClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .certs_page(id, after.as_deref(), Some(MAX_PAGE_LIMIT))
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// `GET /v1/tenants/{id}/certs?limit=&after=`: one page of a tenant's certificates, by
    /// issue time (arguments as for [`tenants_page`](Self::tenants_page)).
    pub async fn certs_page(
        &self,
        id: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<CertificatePage, ClientError> {
        self.get_page(&paths::tenant_certs(id), after, limit).await
    }

    /// `POST /v1/certs/{serial}/revoke`.
    pub async fn revoke_cert(
        &self,
        serial: &str,
        req: &RevokeRequest,
    ) -> Result<Certificate, ClientError> {
        self.call(Method::POST, &paths::cert_revoke(serial), Some(req))
            .await
    }

    /// `POST /v1/renew`, authenticated by this client's certificate.
    pub async fn renew(&self, req: &RenewRequest) -> Result<CertificateIssued, ClientError> {
        self.call(Method::POST, paths::RENEW, Some(req)).await
    }

    /// `POST /v1/enroll` (no client certificate needed).
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<CertificateIssued, ClientError> {
        self.call(Method::POST, paths::ENROLL, Some(req)).await
    }

    /// `GET /v1/audit`.
    ///
    /// The most recent `query.limit` matching events, oldest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, ClientError> {
        Ok(self.audit_page(query, None).await?.items)
    }

    /// `GET /v1/audit?...&after=`: with `after` (a previous page's `next`, or `"0"` for the
    /// first event), the `query.limit` matching events that follow it, and `next` while more
    /// follow; without, the most recent ones (`next` is `None`).
    pub async fn audit_page(
        &self,
        query: &AuditQuery,
        after: Option<&str>,
    ) -> Result<AuditPage, ClientError> {
        let mut url = self.url(paths::AUDIT)?;
        query.apply(&mut url);
        if let Some(after) = after {
            url.query_pairs_mut().append_pair("after", after);
        }
        let (status, body) = self.send(&url, self.http.get(url.clone())).await?;
        decode(&url, status, &body)
    }

    /// `GET path?limit=&after=`: one page of a listing.
    async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<T, ClientError> {
        let mut url = self.url(path)?;
        page_query(&mut url, after, limit);
        let (status, body) = self.send(&url, self.http.get(url.clone())).await?;
        decode(&url, status, &body)
    }

    /// `GET /v1/crl`: the revocation list in `format`.
    pub async fn crl(&self, format: CrlFormat) -> Result<Vec<u8>, ClientError> {
        let mut url = self.url(paths::CRL)?;
        if format == CrlFormat::Der {
            url.set_query(Some("format=der"));
        }
        let (_, body) = self.send(&url, self.http.get(url.clone())).await?;
        Ok(body)
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::InvalidUrl {
            url: format!("{}{path}", self.base),
            reason: e.to_string(),
        })
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = self.url(path)?;
        let mut request = self.http.request(method, url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, bytes) = self.send(&url, request).await?;
        decode(&url, status, &bytes)
    }

    /// Sends; a failure status becomes [`ClientError::Api`] (or `UnexpectedResponse`).
    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if !(200..300).contains(&status) {
            return Err(error_from_response(url.as_str(), status, &body));
        }
        Ok((status, body))
    }
}

/// Adds `limit` and `after` (when set) to `url`; the query pair encoding keeps any cursor
/// intact.
fn page_query(url: &mut Url, after: Option<&str>, limit: Option<u32>) {
    if after.is_none() && limit.is_none() {
        return;
    }
    let mut pairs = url.query_pairs_mut();
    if let Some(limit) = limit {
        pairs.append_pair("limit", &limit.to_string());
    }
    if let Some(after) = after {
        pairs.append_pair("after", after);
    }
}

fn decode<T: DeserializeOwned>(url: &Url, status: u16, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        url: url.to_string(),
        status,
        source,
    })
}

/// Checks a server URL: `https`, a host, no path, query or credentials.
pub fn parse_server_url(server_url: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: server_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(server_url).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid(
            "the scheme must be https (the control plane is mTLS only)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials do not go in the URL"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "give only https://HOST:PORT, without a path or query",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked() {
        assert!(parse_server_url("https://127.0.0.1:8443").is_ok());
        assert!(parse_server_url("https://control.example:8443/").is_ok());
        for (bad, why) in [
            ("http://127.0.0.1:8443", "https"),
            ("127.0.0.1:8443", "invalid server URL"),
            ("https://127.0.0.1:8443/v1", "without a path"),
            ("https://u:p@127.0.0.1:8443", "credentials"),
            ("https://127.0.0.1:8443/?x=1", "without a path or query"),
        ] {
            let err = parse_server_url(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn audit_query_adds_only_set_filters() {
        let q = AuditQuery {
            since: Some("2026-12-01T00:00:00Z".into()),
            limit: Some(5),
            tenant: Some("acme".into()),
        };
        let mut url = Url::parse("https://h:1/v1/audit").unwrap();
        q.apply(&mut url);
        assert_eq!(
            url.as_str(),
            "https://h:1/v1/audit?since=2026-12-01T00%3A00%3A00Z&limit=5&tenant=acme"
        );
        let mut url = Url::parse("https://h:1/v1/audit").unwrap();
        AuditQuery::default().apply(&mut url);
        assert_eq!(url.as_str(), "https://h:1/v1/audit");
    }

    #[test]
    fn page_queries_add_only_what_is_set() {
        let mut url = Url::parse("https://h:1/v1/tenants").unwrap();
        page_query(&mut url, None, None);
        assert_eq!(url.as_str(), "https://h:1/v1/tenants");
        page_query(&mut url, Some("acme.1793620800.42"), Some(50));
        assert_eq!(
            url.as_str(),
            "https://h:1/v1/tenants?limit=50&after=acme.1793620800.42"
        );
    }
}
