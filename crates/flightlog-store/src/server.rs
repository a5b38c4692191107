//! The server backend: a ClickHouse server, or a cluster behind it, over
//! its HTTP interface with the official `clickhouse` crate.
//!
//! Every statement is the same SQL the embedded engine runs. Parameters go
//! to the server as `param_<name>` in the text form [`Params`] already
//! wrote (bound by the server, never spliced into the SQL), answers come
//! back in the format asked for (JSONEachRow unless a read asks for
//! RowBinary), inserts send the RowBinary the store encoded.
//!
//! What a backend must apply, stated once ([`SETTINGS`], [`INSERT_SETTINGS`]):
//! 64-bit integers unquoted in JSON, and inserts that are synchronous (no
//! fire-and-forget `async_insert`), answered only after the parts are
//! written and, on a replicated cluster, after `insert_quorum` replicas have
//! them. An answer is durable or an error; the writer turns an error into a
//! 503 and retries its recovery until the server is back.

use crate::backend::{Backend, Format, Params, StoreError};
use crate::memory::{MemoryBudget, is_read};
use async_trait::async_trait;
use std::time::Duration;

/// Settings of every statement, as URL parameters.
pub const SETTINGS: &[(&str, &str)] = &[
    // u64 counts and sums read as JSON numbers, as the embedded engine does.
    ("output_format_json_quote_64bit_integers", "0"),
    // The whole answer is computed before the first byte is sent, so an
    // error is an HTTP error, never a truncated 200.
    ("wait_end_of_query", "1"),
];

/// Settings of every insert on top of [`SETTINGS`]. Durability of the
/// parts themselves (`fsync_after_insert`, `fsync_part_directory`) is a
/// table setting, stated with each table in schema/.
pub const INSERT_SETTINGS: &[(&str, &str)] = &[
    // Synchronous: the 200 comes after the part is written.
    ("async_insert", "0"),
    // The views on `steps` write their parts at the same time rather than
    // in turn: each part's fixed cost (its files created and fsynced) is
    // mostly waiting. A 160-step commit of conversation steps with its
    // three views: p50 94.5 -> 73.4 ms (`flightlog-bench write-path
    // --conversations --batch-size 160`). A view's failure still fails the
    // insert, and what a failed insert leaves behind is the same in turn or
    // at once (since ClickHouse 21.9 every view runs to completion either
    // way): the writer's recovery repairs the views' tables from steps.
    ("parallel_view_processing", "1"),
];

/// Settings of every statement on a replicated cluster, on top of
/// [`SETTINGS`]: an insert is answered once a quorum of replicas has it,
/// quorum inserts are linearised, and a read sees every insert a quorum
/// acknowledged, whichever replica the load balancer picks (the writer's
/// duplicate check must see the commit before).
pub const CLUSTER_SETTINGS: &[(&str, &str)] = &[("insert_quorum_parallel", "0"), ("select_sequential_consistency", "1")];

/// Where the server is and who we are there.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `http://host:8123` or `https://…`.
    pub url: String,
    pub user: String,
    pub password: String,
    pub database: String,
    /// A replicated cluster (its name in the servers' `remote_servers`):
    /// the schema is created `ON CLUSTER` with `Replicated*` tables, and
    /// every statement runs with [`CLUSTER_SETTINGS`].
    pub cluster: Option<String>,
    /// On a cluster: replicas that must have an insert before it is
    /// acknowledged (`insert_quorum`); None: `auto`, a majority.
    pub insert_quorum: Option<u32>,
    /// How long one statement may take before it is an error.
    pub timeout: Duration,
    /// The memory one read may use on the server (crate::memory).
    pub memory: MemoryBudget,
}

pub struct Server {
    client: clickhouse::Client,
    options: ServerOptions,
}

impl Server {
    /// A client for the server (nothing is sent yet; [`Server::ping`] checks).
    pub fn new(options: ServerOptions) -> Result<Self, StoreError> {
        if !(options.url.starts_with("http://") || options.url.starts_with("https://")) {
            return Err(StoreError::Setup(format!("--clickhouse-url must start with http:// or https://, got {:?}", options.url)));
        }
        let mut client = clickhouse::Client::default()
            .with_url(options.url.trim_end_matches('/'))
            .with_user(&options.user)
            .with_password(&options.password)
            .with_database(&options.database)
            .with_compression(clickhouse::Compression::None)
            .with_validation(false);
        for (name, value) in SETTINGS {
            client = client.with_setting(*name, *value);
        }
        match (&options.cluster, options.insert_quorum) {
            (Some(_), quorum) => {
                for (name, value) in CLUSTER_SETTINGS {
                    client = client.with_setting(*name, *value);
                }
                client = client.with_setting("insert_quorum", quorum.map_or("auto".to_string(), |n| n.to_string()));
            }
            (None, Some(_)) => {
                return Err(StoreError::Setup(
                    "--clickhouse-insert-quorum needs replicated tables: name the cluster with --clickhouse-cluster".into(),
                ));
            }
            (None, None) => {}
        }
        Ok(Self { client, options })
    }

    /// Creates the database when it is missing (the statements that run
    /// outside it). A user without the right to create databases can use
    /// one an operator created.
    pub async fn create_database(&self) -> Result<(), StoreError> {
        let outside = self.client.clone().with_database("default");
        let exists = "SELECT count() AS n FROM system.databases WHERE name = {name:String}";
        let found = self.fetch(&outside, exists, Params::new().text("name", &self.options.database), Format::JsonEachRow).await?;
        if String::from_utf8_lossy(&found).contains("\"n\":1") {
            return Ok(());
        }
        let on_cluster = self.options.cluster.as_deref().map(|c| format!(" ON CLUSTER {}", quote_identifier(c))).unwrap_or_default();
        let sql = format!("CREATE DATABASE IF NOT EXISTS {}{on_cluster}", quote_identifier(&self.options.database));
        let run = outside.query(&escape_placeholders(&sql)).execute();
        tokio::time::timeout(self.options.timeout, run)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.error(e, &sql))
    }

    /// The server's answer, and which statement it was about (its start).
    fn error(&self, e: clickhouse::error::Error, sql: &str) -> StoreError {
        let start: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(80).collect();
        let message = format!("ClickHouse server at {}: {e} (in: {start}…)", self.options.url);
        match is_read(sql) {
            true => self.options.memory.classify(message),
            false => StoreError::Engine(message),
        }
    }

    /// Runs one statement with `client` and returns its answer in `format`.
    async fn fetch(&self, client: &clickhouse::Client, sql: &str, params: Params, format: Format) -> Result<Vec<u8>, StoreError> {
        let mut query = client.query(&escape_placeholders(sql));
        // Reads only: see crate::memory.
        if is_read(sql) {
            for (name, value) in self.options.memory.settings() {
                query = query.with_setting(name, value);
            }
        }
        for (name, value) in params.iter() {
            query = query.with_setting(format!("param_{name}"), value);
        }
        let run = async {
            let mut cursor = query.fetch_bytes(format.name()).map_err(|e| self.error(e, sql))?;
            cursor.collect().await.map_err(|e| self.error(e, sql))
        };
        let bytes = tokio::time::timeout(self.options.timeout, run).await.map_err(|_| self.timed_out())??;
        Ok(bytes.to_vec())
    }

    fn timed_out(&self) -> StoreError {
        StoreError::Engine(format!("ClickHouse server at {}: no answer in {:?}", self.options.url, self.options.timeout))
    }
}

/// The crate reads `?` as a client-side placeholder; our SQL has none, so
/// every `?` (in a regex, a comment) is meant literally.
fn escape_placeholders(sql: &str) -> String {
    sql.replace('?', "??")
}

pub(crate) fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[async_trait]
impl Backend for Server {
    async fn query_as(&self, sql: &str, params: Params, format: Format) -> Result<Vec<u8>, StoreError> {
        self.fetch(&self.client, sql, params, format).await
    }

    async fn insert_as(&self, insert_sql: &str, rows: Vec<u8>, format: Format) -> Result<u64, StoreError> {
        let mut insert = self.client.insert_formatted_with(format!("{insert_sql} FORMAT {}", format.name()));
        for (name, value) in INSERT_SETTINGS {
            insert = insert.with_setting(*name, *value);
        }
        let run = async {
            insert.send(rows.into()).await.map_err(|e| self.error(e, insert_sql))?;
            insert.end().await.map_err(|e| self.error(e, insert_sql))
        };
        tokio::time::timeout(self.options.timeout, run).await.map_err(|_| self.timed_out())??;
        // The HTTP answer does not count rows; the caller knows how many it sent.
        Ok(0)
    }

    fn remote(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        match &self.options.cluster {
            Some(cluster) => format!("ClickHouse cluster {cluster} at {} database {}", self.options.url, self.options.database),
            None => format!("ClickHouse server {} database {}", self.options.url, self.options.database),
        }
    }

    fn cluster(&self) -> Option<&str> {
        self.options.cluster.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn question_marks_are_literal() {
        assert_eq!(super::escape_placeholders("SELECT match(x, '^a?$') -- why?"), "SELECT match(x, '^a??$') -- why??");
        assert_eq!(super::quote_identifier("fl`x"), "`fl\\`x`");
    }
}
