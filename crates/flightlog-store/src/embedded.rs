//! The embedded backend: ClickHouse (chDB) inside this process.
//!
//! A chDB connection runs one statement at a time, so the backend keeps one
//! connection for inserts (the single writer) and a few for reads; reads
//! never wait behind a group commit. Each call runs on tokio's blocking
//! pool, since the C API blocks.

use crate::backend::{Backend, Format, Params, StoreError};
use crate::memory::{MemoryBudget, is_read};
use async_trait::async_trait;
pub use flightlog_chdb::default_library_path;
use flightlog_chdb::{Connection, Library};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Embedded {
    path: PathBuf,
    version: String,
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    memory: MemoryBudget,
}

/// Settings of the read connections: no compiling of a query's
/// expressions, aggregates and sorts to machine code (JIT). The engine
/// compiles them the fourth time it sees them, inside that query, once per
/// query shape per process: 50-100 ms added to that one read, which was
/// the p99 of every benchmark of reads in a fresh process (cost by model ×
/// day over 10M steps: the 4th run 146-167 ms, the others 57-93). Measured
/// without it, in turn with it (`flightlog-bench costs`, `sessions`,
/// `verify --decision-pages`): the same p50s within the machine's noise
/// (the top sessions by cost over 100M steps: medians 393-423 ms against
/// 374-435 in three rounds), the p99s lower. Off for expressions alone, the
/// aggregates' compiling still added 30-60 ms to that run. A server keeps
/// its own profile: its compiled code is shared by every connection for as
/// long as it runs.
const NO_JIT: [(&str, &str); 3] = [("compile_expressions", "0"), ("compile_aggregate_expressions", "0"), ("compile_sort_description", "0")];

impl Embedded {
    /// Opens (or creates) the data folder `path` with `libchdb` at `lib`;
    /// each read runs within `memory`.
    pub fn open(lib: &Path, path: &Path, readers: usize, memory: MemoryBudget) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", path.display())))?;
        let lib = Library::open(lib).map_err(|e| StoreError::Setup(e.to_string()))?;
        let connect = |budget: Option<MemoryBudget>| -> Result<Arc<Mutex<Connection>>, StoreError> {
            let conn = lib.connect(path).map_err(|e| StoreError::Setup(e.to_string()))?;
            // Session settings shared by every statement on this connection.
            let mut settings = vec![("output_format_json_quote_64bit_integers", "0".to_string())];
            settings.extend(budget.iter().flat_map(|b| b.settings()));
            // A read connection runs without the JIT; the writer's runs what
            // every backend's inserts run with.
            let of_role: &[(&str, &str)] = match budget {
                Some(_) => &NO_JIT,
                None => crate::server::INSERT_SETTINGS,
            };
            settings.extend(of_role.iter().map(|(name, value)| (*name, value.to_string())));
            for (name, value) in settings {
                conn.query(&format!("SET {name} = {value}"), "CSV", &[]).map_err(|e| StoreError::Engine(e.to_string()))?;
            }
            Ok(Arc::new(Mutex::new(conn)))
        };
        // The writer's inserts are bounded by the batch size; a memory
        // limit there could only turn an acknowledged-size batch into a 503.
        let writer = connect(None)?;
        let readers = (0..readers.max(1)).map(|_| connect(Some(memory))).collect::<Result<_, _>>()?;
        Ok(Self { path: path.to_owned(), version: lib.version(), writer, readers, next_reader: AtomicUsize::new(0), memory })
    }

    fn reader(&self) -> Arc<Mutex<Connection>> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].clone()
    }
}

/// Runs `f` on `conn` off the async threads; its failure is over `budget`
/// when the engine says so (None: the statement ran without one).
async fn blocking<T: Send + 'static>(
    conn: Arc<Mutex<Connection>>,
    budget: Option<MemoryBudget>,
    f: impl FnOnce(&Connection) -> Result<T, flightlog_chdb::Error> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(move || {
        let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&conn).map_err(|e| match budget {
            Some(budget) => budget.classify(e.to_string()),
            None => StoreError::Engine(e.to_string()),
        })
    })
    .await
    .map_err(|e| StoreError::Engine(format!("engine task failed: {e}")))?
}

#[async_trait]
impl Backend for Embedded {
    async fn query_as(&self, sql: &str, params: Params, format: Format) -> Result<Vec<u8>, StoreError> {
        let sql = sql.to_owned();
        let read = is_read(&sql);
        let budget = self.memory;
        blocking(self.reader(), read.then_some(budget), move |conn| {
            let params: Vec<(&str, &str)> = params.iter().collect();
            if read || budget.is_off() {
                return conn.query(&sql, format.name(), &params);
            }
            // A maintenance statement on a read connection: lifted for it
            // alone (the connection is held, so no read runs meanwhile).
            conn.query("SET max_memory_usage = 0", "CSV", &[])?;
            let out = conn.query(&sql, format.name(), &params);
            conn.query(&format!("SET max_memory_usage = {}", budget.bytes), "CSV", &[])?;
            out
        })
        .await
    }

    async fn insert_as(&self, insert_sql: &str, rows: Vec<u8>, format: Format) -> Result<u64, StoreError> {
        let sql = insert_sql.to_owned();
        blocking(self.writer.clone(), None, move |conn| conn.insert(&sql, format.name(), &rows)).await
    }

    fn describe(&self) -> String {
        format!("embedded chDB {} at {}", self.version, self.path.display())
    }
}
