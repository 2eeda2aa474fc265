//! Enrollment token operations.

use mtls_identity::TenantId;
use postgres::GenericClient;

use crate::rows::{TOKEN_COLUMNS, query_all, token};
use mtls_registry::{RegistryError, TokenRecord};

pub(crate) fn list(
    client: &mut impl GenericClient,
    tenant: Option<&TenantId>,
) -> Result<Vec<TokenRecord>, RegistryError> {
    query_all(
        client,
        "list enrollment tokens",
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE $1::TEXT IS NULL OR tenant = $1
             ORDER BY created_at, rowid"
        ),
        &[&tenant.map(TenantId::as_str)],
        token,
    )
}
