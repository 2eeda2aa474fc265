//! The environment variables `mtlsd` reads: all of them, here and nowhere else. Libraries get
//! the values as arguments (see `mtls_config::Defaults` and `mtls_gateway::init_logging`).
//!
//! | variable | what it sets |
//! |---|---|
//! | `MTLS_CONFIG` | the config file (`--config` wins) |
//! | `MTLS_DATA_DIR` | the data dir when the config file has no `data_dir` |
//! | `MTLS_REGISTRY` | a PostgreSQL registry (`postgres://…`) when the config file has no `registry` |
//! | `MTLS_LOG` | a `tracing` filter that overrides `logging.level` |
//!
//! `MTLSD_CONFIG` and `MTLSD_LOG`, the names of 0.1, are still read when the new name is
//! unset, with a warning on stderr; they will be removed.

/// The config file, when `--config` is not given.
pub(crate) const CONFIG: &str = "MTLS_CONFIG";
/// The data dir, when the config file does not name one.
pub(crate) const DATA_DIR: &str = "MTLS_DATA_DIR";
/// The registry URL, when the config file does not name one.
pub(crate) const REGISTRY: &str = "MTLS_REGISTRY";
/// A `tracing` filter overriding `logging.level`.
pub(crate) const LOG: &str = "MTLS_LOG";

/// Old names still honoured (old, new).
const DEPRECATED: [(&str, &str); 2] = [("MTLSD_CONFIG", CONFIG), ("MTLSD_LOG", LOG)];

/// The value of `name`, if set and not empty; for a variable that was renamed, the old name
/// is read when the new one is unset, and `warn` is told (old, new).
pub(crate) fn var(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
    warn: impl FnOnce(&str, &str),
) -> Option<String> {
    let get = |n: &str| lookup(n).filter(|v| !v.is_empty());
    if let Some(value) = get(name) {
        return Some(value);
    }
    let (old, new) = DEPRECATED.iter().find(|(_, new)| *new == name)?;
    let value = get(old)?;
    warn(old, new);
    Some(value)
}

/// [`var`] on the process environment, warning on stderr about old names.
pub(crate) fn process_var(name: &str) -> Option<String> {
    var(
        name,
        |n| std::env::var(n).ok(),
        |old, new| eprintln!("mtlsd: warning: {old} is deprecated; set {new} instead"),
    )
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;

    fn read(env: &[(&str, &str)], name: &str) -> (Option<String>, Vec<String>) {
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let warned = RefCell::new(Vec::new());
        let value = var(
            name,
            |n| map.get(n).cloned(),
            |old, new| warned.borrow_mut().push(format!("{old}->{new}")),
        );
        (value, warned.into_inner())
    }

    #[test]
    fn the_new_name_wins_and_empty_counts_as_unset() {
        assert_eq!(read(&[(LOG, "debug")], LOG), (Some("debug".into()), vec![]));
        assert_eq!(
            read(&[(LOG, "debug"), ("MTLSD_LOG", "trace")], LOG),
            (Some("debug".into()), vec![])
        );
        assert_eq!(read(&[(LOG, "")], LOG), (None, vec![]));
        assert_eq!(read(&[], DATA_DIR), (None, vec![]));
    }

    #[test]
    fn old_names_are_read_with_a_warning() {
        assert_eq!(
            read(&[("MTLSD_LOG", "trace")], LOG),
            (Some("trace".into()), vec!["MTLSD_LOG->MTLS_LOG".into()])
        );
        assert_eq!(
            read(&[(LOG, ""), ("MTLSD_CONFIG", "/etc/m.toml")], CONFIG),
            (
                Some("/etc/m.toml".into()),
                vec!["MTLSD_CONFIG->MTLS_CONFIG".into()]
            )
        );
        // A variable that was never renamed has no old name.
        assert_eq!(read(&[("MTLSD_DATA_DIR", "/x")], DATA_DIR), (None, vec![]));
    }
}
