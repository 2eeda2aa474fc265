//! Route specifications and the per-tenant route matcher of multi-mtls-proxy
