//! Embedded ClickHouse through chDB's C API.
//!
//! `libchdb.so` (ClickHouse as a 566 MB library) is opened with `dlopen` at
//! run time instead of being linked at build time. Two reasons:
//! - building Flightlog needs no native part at all, so `cargo check` and
//!   the CI cache work on a machine that has not fetched it yet;
//! - a missing or wrong library is a clear [`Error::Load`] at start-up that
//!   names the path, never a loader failure before `main`.
//!
//! ```no_run
//! let lib = flightlog_chdb::Library::open("/path/to/libchdb.so".as_ref())?;
//! let conn = lib.connect("/tmp/data".as_ref())?;
//! let out = conn.query("SELECT 1 AS x", "JSONEachRow", &[])?;
//! assert_eq!(out, b"{\"x\":1}\n");
//! # Ok::<(), flightlog_chdb::Error>(())
//! ```
//!
//! A [`Connection`] runs one statement at a time (`Send`, not `Sync`); open
//! several to the same data path to run statements in parallel.
//!
//! May use: no other Flightlog crate (floor 0). Used by `flightlog-store`,
//! the only crate of Flightlog itself that talks to the engine, and by the
//! test fixture `flightlog-chdb-http` (its HTTP interface for server mode).

mod ffi;

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};

pub use ffi::Api;

/// The chDB release `scripts/setup-native.sh` fetches and pins.
pub const PINNED_VERSION: &str = "26.7.3-stable.1";

/// Where libchdb is looked for: `$FLIGHTLOG_CHDB_LIB` if set, else where
/// `make setup` puts it: `$FLIGHTLOG_CACHE` (default `~/.cache/flightlog`)
/// `/native/chdb-<version>/libchdb.so`.
pub fn default_library_path() -> PathBuf {
    // An empty variable counts as unset, as shells and Makefiles produce them.
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = var("FLIGHTLOG_CHDB_LIB") {
        return path.into();
    }
    let cache = var("FLIGHTLOG_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache/flightlog")
    });
    cache.join(format!("native/chdb-{PINNED_VERSION}/libchdb.so"))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load libchdb from {path}: {reason} (run `make setup` to fetch it, or set FLIGHTLOG_CHDB_LIB)")]
    Load { path: PathBuf, reason: String },
    #[error("cannot open the chDB data folder {0}")]
    Connect(PathBuf),
    #[error("{0}")]
    Query(String),
    #[error("argument contains a NUL byte: {0}")]
    Nul(#[from] std::ffi::NulError),
}

/// The loaded library. Cheap to copy.
///
/// It is never unloaded: ClickHouse registers thread-local destructors in
/// threads it starts, and they would jump into unmapped code at thread exit
/// after a `dlclose`. So the library is leaked on purpose, once per path.
#[derive(Clone, Copy)]
pub struct Library {
    api: &'static Api,
}

impl Library {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let api = Api::load(path).map_err(|e| Error::Load { path: path.to_owned(), reason: e.to_string() })?;
        // ClickHouse installs process-wide handlers for SIGINT/SIGTERM and
        // friends; Flightlog owns its signals (graceful shutdown), so they
        // are turned off before the first connection.
        unsafe { (api.set_signal_handlers_enabled)(0) };
        Ok(Self { api: Box::leak(Box::new(api)) })
    }

    pub fn version(&self) -> String {
        let ptr = unsafe { (self.api.version)() };
        if ptr.is_null() {
            return "unknown".into();
        }
        unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
    }

    /// Opens a session on the data folder `path` (created when missing).
    pub fn connect(&self, path: &Path) -> Result<Connection, Error> {
        let args = [CString::new("flightlog")?, CString::new(format!("--path={}", path.display()))?];
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        let handle = unsafe { (self.api.connect)(argv.len() as i32, argv.as_mut_ptr()) };
        if handle.is_null() || unsafe { (*handle).is_null() } {
            return Err(Error::Connect(path.to_owned()));
        }
        Ok(Connection { api: self.api, handle })
    }
}

/// One chDB session. Statements on it run one at a time.
pub struct Connection {
    api: &'static Api,
    handle: *mut ffi::ConnectionHandle,
}

// The C API serialises statements per connection and a connection may move
// between threads; it must not be used from two threads at once (no Sync).
unsafe impl Send for Connection {}

impl Connection {
    /// Runs one statement and returns its output in `format`. `params` bind
    /// `{name:Type}` placeholders on the engine side: values are never
    /// spliced into the SQL text.
    pub fn query(&self, sql: &str, format: &str, params: &[(&str, &str)]) -> Result<Vec<u8>, Error> {
        let conn = unsafe { *self.handle };
        let result = if params.is_empty() {
            unsafe { (self.api.query_n)(conn, sql.as_ptr().cast(), sql.len(), format.as_ptr().cast(), format.len()) }
        } else {
            let names: Vec<*const c_char> = params.iter().map(|(n, _)| n.as_ptr().cast()).collect();
            let name_lens: Vec<usize> = params.iter().map(|(n, _)| n.len()).collect();
            let values: Vec<*const c_char> = params.iter().map(|(_, v)| v.as_ptr().cast()).collect();
            let value_lens: Vec<usize> = params.iter().map(|(_, v)| v.len()).collect();
            unsafe {
                (self.api.query_with_params_n)(
                    conn,
                    sql.as_ptr().cast(),
                    sql.len(),
                    format.as_ptr().cast(),
                    format.len(),
                    names.as_ptr(),
                    name_lens.as_ptr(),
                    values.as_ptr(),
                    value_lens.as_ptr(),
                    params.len(),
                )
            }
        };
        self.take_result(result)
    }

    /// Streams `data` (already encoded in `format`) into `insert_sql`, an
    /// `INSERT INTO t (cols)` statement without a FORMAT clause. Returns the
    /// number of rows written (including rows written by materialized views).
    pub fn insert(&self, insert_sql: &str, format: &str, data: &[u8]) -> Result<u64, Error> {
        let conn = unsafe { *self.handle };
        let stream = unsafe {
            (self.api.stream_insert_n)(conn, insert_sql.as_ptr().cast(), insert_sql.len(), format.as_ptr().cast(), format.len())
        };
        let guard = InsertStream { api: self.api, stream };
        if let Some(err) = guard.error() {
            return Err(Error::Query(err));
        }
        // Appending in chunks keeps the engine's copy of the data bounded.
        for chunk in data.chunks(4 << 20) {
            let state = unsafe { (self.api.stream_append)(stream, chunk.as_ptr().cast(), chunk.len()) };
            if state != 0 {
                return Err(Error::Query(guard.error().unwrap_or_else(|| "insert stream failed".into())));
            }
        }
        let result = unsafe { (self.api.stream_done)(stream) };
        let rows = if result.is_null() { 0 } else { unsafe { (self.api.result_rows_written)(result) } };
        self.take_result(result)?;
        Ok(rows)
    }

    fn take_result(&self, result: *mut ffi::ResultHandle) -> Result<Vec<u8>, Error> {
        if result.is_null() {
            return Err(Error::Query("chDB returned no result".into()));
        }
        let api = self.api;
        let outcome = unsafe {
            let err = (api.result_error)(result);
            if !err.is_null() {
                Err(Error::Query(CStr::from_ptr(err).to_string_lossy().trim().to_string()))
            } else {
                let buf = (api.result_buffer)(result);
                let len = (api.result_length)(result);
                Ok(if buf.is_null() || len == 0 { Vec::new() } else { std::slice::from_raw_parts(buf as *const u8, len).to_vec() })
            }
        };
        unsafe { (api.destroy_query_result)(result) };
        outcome
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        unsafe { (self.api.close_conn)(self.handle) };
    }
}

/// Frees an insert stream on every path out of [`Connection::insert`].
struct InsertStream<'a> {
    api: &'a Api,
    stream: *mut ffi::InsertHandle,
}

impl InsertStream<'_> {
    fn error(&self) -> Option<String> {
        let err = unsafe { (self.api.stream_insert_error)(self.stream) };
        (!err.is_null()).then(|| unsafe { CStr::from_ptr(err) }.to_string_lossy().trim().to_string())
    }
}

impl Drop for InsertStream<'_> {
    fn drop(&mut self) {
        unsafe { (self.api.destroy_insert_stream)(self.stream) };
    }
}
