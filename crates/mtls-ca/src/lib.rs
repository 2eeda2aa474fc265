//! Certificate authority for multi-mtls-proxy: root and intermediate CAs, tenant client and server certificates, CSR signing, CRLs
