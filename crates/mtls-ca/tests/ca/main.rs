//! End-to-end tests of the CA, checked with an independent implementation: the `openssl`
//! command-line tool (OpenSSL 3).

mod support;

mod bundle;
mod crl;
mod csr;
mod issue;
mod properties;
mod storage;
