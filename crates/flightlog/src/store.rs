//! Where the steps are stored: the command-line options every command that
//! opens a store shares, turned into a `flightlog_store::Location` (whose
//! `open_backend` is the one choice of backend), next to the
//! similar-failure index's `open_index`.
//! Embedded chDB in DATA_DIR/clickhouse unless `--clickhouse-url` names a
//! server (or a cluster's load balancer).

use flightlog_store::server::ServerOptions;
use flightlog_store::{Backend, Location, MemoryBudget, Params, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Path of libchdb.so for the embedded engine (default: where `make
    /// setup` puts it).
    #[arg(long, env = "FLIGHTLOG_CHDB_LIB")]
    chdb_lib: Option<PathBuf>,
    /// Read connections to the embedded engine (reads run in parallel).
    #[arg(long, default_value_t = 3)]
    readers: usize,
    /// A ClickHouse server instead of the embedded engine:
    /// http://host:8123 or https://host:8443.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_USER", default_value = "default")]
    clickhouse_user: String,
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_PASSWORD", default_value = "", hide_env_values = true)]
    clickhouse_password: String,
    /// The server's database for Flightlog's tables (created when missing).
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_DATABASE", default_value = "flightlog")]
    clickhouse_database: String,
    /// A replicated ClickHouse cluster (its name in the servers'
    /// remote_servers): the schema is created ON CLUSTER with Replicated
    /// tables (`flightlog schema --cluster NAME` prints it), inserts wait
    /// for a quorum of replicas and reads are sequentially consistent.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_CLUSTER")]
    clickhouse_cluster: Option<String>,
    /// On a cluster: replicas that must have each insert before it is
    /// acknowledged (default: a majority).
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_INSERT_QUORUM", requires = "clickhouse_cluster")]
    clickhouse_insert_quorum: Option<u32>,
    /// Seconds one statement may take on the server before it is an error.
    #[arg(long, env = "FLIGHTLOG_CLICKHOUSE_TIMEOUT", default_value_t = 30)]
    clickhouse_timeout: u64,
    /// The memory one query may use (512MiB, 2GiB…), enforced by ClickHouse
    /// on either backend: a query that needs more is answered 503
    /// `over_memory_budget`, never an out-of-memory kill, and big GROUP BYs
    /// and sorts spill to disk from half of it.
    #[arg(long, env = "FLIGHTLOG_QUERY_MEMORY", default_value_t = MemoryBudget::DEFAULT)]
    query_memory: MemoryBudget,
}

impl StoreArgs {
    /// Whether the store is a server, which other processes may share.
    pub fn is_server(&self) -> bool {
        self.clickhouse_url.is_some()
    }

    /// Where these options say the store is; `data_dir` holds the embedded one.
    pub fn location(&self, data_dir: &Path) -> Location {
        match &self.clickhouse_url {
            Some(url) => Location::Server(ServerOptions {
                url: url.clone(),
                user: self.clickhouse_user.clone(),
                password: self.clickhouse_password.clone(),
                database: self.clickhouse_database.clone(),
                cluster: self.clickhouse_cluster.clone(),
                insert_quorum: self.clickhouse_insert_quorum,
                timeout: Duration::from_secs(self.clickhouse_timeout.max(1)),
                memory: self.query_memory,
            }),
            None => Location::Embedded {
                path: data_dir.join("clickhouse"),
                chdb_lib: self.chdb_lib.clone().unwrap_or_else(flightlog_store::embedded::default_library_path),
                readers: self.readers,
                memory: self.query_memory,
            },
        }
    }

    pub async fn open_backend(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn Backend>> {
        Ok(flightlog_store::open_backend(&self.location(data_dir)).await?)
    }

    /// Whether a store is there already, found without making one (a
    /// command that only reads, such as `verify`, must not create an empty
    /// store and read it): the embedded engine's folder, or the server
    /// database's log of record. Also where that is, in words.
    pub async fn holds_a_store(&self, data_dir: &Path) -> anyhow::Result<(bool, String)> {
        match self.location(data_dir) {
            Location::Embedded { path, .. } => Ok((path.is_dir(), path.display().to_string())),
            Location::Server(options) => {
                let server = flightlog_store::server::Server::new(options)?;
                let asked = server
                    .query("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'log_entries'", Params::new())
                    .await;
                // A database that does not exist holds no store; any other
                // error (a wrong password, a server down) is said as it is.
                let found = match asked {
                    Ok(out) => String::from_utf8_lossy(&out).contains("\"n\":1"),
                    Err(e) if e.to_string().contains("UNKNOWN_DATABASE") => false,
                    Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot ask {}", server.describe()))),
                };
                Ok((found, server.describe()))
            }
        }
    }

    /// The store over that backend, its schema brought up to date.
    pub async fn open_store(&self, data_dir: &Path) -> anyhow::Result<Store> {
        Ok(flightlog_store::open_store(&self.location(data_dir)).await?)
    }
}
