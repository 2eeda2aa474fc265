//! Tenant registry for multi-mtls-proxy: tenants, certificates, routes, enrollment tokens and a hash-chained audit log
