//! `tenantctl token ...`

use mtls_registry::TokenRecord;
use serde_json::{Value, json};

use super::{Context, parse_tenant};
use crate::cli::TokenCommand;
use crate::error::CliError;
use crate::output::{Output, table, timestamp};

pub(super) fn run(ctx: &Context, cmd: TokenCommand) -> Result<Output, CliError> {
    let store = ctx.data.open_registry()?;
    match cmd {
        TokenCommand::Create { tenant, ttl } => {
            let tenant = parse_tenant(&tenant)?;
            let (secret, record) =
                store.create_enrollment_token(&ctx.actor, &tenant, ttl.into())?;
            Ok(created_output(secret.expose(), &record))
        }
        TokenCommand::List { tenant } => {
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            if let Some(t) = &tenant {
                store.tenant(t)?;
            }
            let tokens = store.tokens(tenant.as_ref())?;
            Ok(list_output(&tokens))
        }
    }
}

/// `token list`'s output (local and remote alike).
pub(super) fn list_output(tokens: &[TokenRecord]) -> Output {
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let state = match t.used_at {
                Some(at) => format!("used {}", timestamp(at)),
                None if t.expires_at <= now => "expired".to_owned(),
                None => "open".to_owned(),
            };
            vec![
                t.id.clone(),
                t.tenant.to_string(),
                state,
                timestamp(t.expires_at),
            ]
        })
        .collect();
    let human = if rows.is_empty() {
        "No enrollment tokens.".to_owned()
    } else {
        table(&["ID", "TENANT", "STATE", "EXPIRES"], &rows)
    };
    Output::new(human, Value::Array(tokens.iter().map(token_json).collect()))
}

pub(super) fn created_output(secret: &str, record: &TokenRecord) -> Output {
    let mut value = token_json(record);
    value["token"] = json!(secret);
    Output::new(
        format!(
            "Enrollment token {} for tenant {} (one use, expires {}):\n\n  {}\n\nIt is shown only now. On the tenant's machine:\n  tenantctl enroll --token-file <file holding the token> --out ./{}-bundle",
            record.id,
            record.tenant,
            timestamp(record.expires_at),
            secret,
            record.tenant
        ),
        value,
    )
}

fn token_json(t: &TokenRecord) -> Value {
    json!({
        "id": t.id,
        "tenant": t.tenant.as_str(),
        "created_at": timestamp(t.created_at),
        "expires_at": timestamp(t.expires_at),
        "used_at": t.used_at.map(timestamp),
    })
}
