//! The command line. `benches/scale.sh` is written against these names.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// `mtls-scale`: a registry of many tenants (bulk-loaded), a real mtlsd in gateway mode,
/// and what it costs: start-up, memory, change-to-live latency, request latency meanwhile.
#[derive(Debug, Clone, Parser)]
#[command(name = "mtls-scale", version, about, long_about = None)]
pub struct Cli {
    /// Bulk tenants (each with 1 certificate record and 10 HTTP routes), besides the probes.
    #[arg(long, default_value_t = 100_000)]
    pub tenants: usize,
    /// The mtlsd binary to measure.
    #[arg(long, default_value = "target/release/mtlsd")]
    pub mtlsd: PathBuf,
    /// The tenantctl binary that makes the data dir and the probes' certificates.
    #[arg(long, default_value = "target/release/tenantctl")]
    pub tenantctl: PathBuf,
    /// A new or empty directory for the data dir, the config and the logs (kept afterwards).
    #[arg(long)]
    pub work: PathBuf,
    /// Registry changes to make and time (route add, route remove, tenant suspend,
    /// certificate revoke, in turn).
    #[arg(long, default_value_t = 100)]
    pub changes: usize,
    /// The gateway's `poll_interval`, in ms (mtlsd takes 1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub poll_interval_ms: u64,
    /// How long a change may take to go live before it counts as a miss, in seconds.
    #[arg(long, default_value_t = 30)]
    pub change_timeout_s: u64,
    /// How often a change's probe looks for its effect, in ms.
    #[arg(long, default_value_t = 5)]
    pub check_every_ms: u64,
    /// Seconds of background requests before the changes (the baseline latency).
    #[arg(long, default_value_t = 3)]
    pub baseline_s: u64,
    /// Pause between two changes, in ms.
    #[arg(long, default_value_t = 100)]
    pub pause_ms: u64,
    /// The upstream of every bulk route (never dialled).
    #[arg(long, default_value = crate::setup::BULK_UPSTREAM)]
    pub bulk_upstream: String,
    /// Tenants per bulk-load transaction.
    #[arg(long, default_value_t = 10_000)]
    pub chunk: usize,
    /// Exit 1 when a change never went live (the CI smoke's correctness check); timing
    /// targets never fail a run.
    #[arg(long)]
    pub fail_on_miss: bool,
    /// Kill mtlsd (and end the run with an error) when its RSS goes over this, in MiB: a
    /// gateway that does not fit must not take a shared machine down.
    #[arg(long, default_value_t = 8192)]
    pub max_rss_mib: u64,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The commit the measured mtlsd was built from (copied into the report).
    #[arg(long, default_value = "unknown")]
    pub mtlsd_commit: String,
    /// The registry: the data dir's SQLite file and one gateway (issue 16), or a throwaway
    /// PostgreSQL server on loopback shared by `--replicas` gateways (issue 17).
    #[arg(long, value_enum, default_value_t = RegistryKind::Sqlite)]
    pub registry: RegistryKind,
    /// Gateways serving the registry (PostgreSQL only; SQLite always runs one).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Seconds of the idle window (replicas running, no changes) whose database load is
    /// measured before the changes, and the wait after them for the server's statistics
    /// (PostgreSQL only).
    #[arg(long, default_value_t = 11)]
    pub idle_s: u64,
}

/// Which registry backend a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistryKind {
    /// `registry.db` in the data dir, one gateway.
    Sqlite,
    /// A PostgreSQL 15 server started for the run, `--replicas` gateways.
    Postgres,
}

// === impl RegistryKind ===

impl RegistryKind {
    /// The report's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

// === impl Cli ===

impl Cli {
    /// The gateways this run starts: `--replicas` (at least 1) on PostgreSQL, 1 on SQLite.
    pub fn gateways(&self) -> usize {
        match self.registry {
            RegistryKind::Sqlite => 1,
            RegistryKind::Postgres => self.replicas.max(1),
        }
    }
}
