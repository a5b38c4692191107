//! The one choice of backend: where a store lives, and opening it. Every
//! command that opens a store (the binary's `StoreArgs`, the benchmarks)
//! describes it as a [`Location`] and opens it here.

use crate::backend::Backend;
use crate::embedded::Embedded;
use crate::memory::MemoryBudget;
use crate::server::{Server, ServerOptions};
use crate::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the steps are stored.
#[derive(Clone, Debug)]
pub enum Location {
    /// chDB in this process, its data in `path`; each read within `memory`.
    Embedded { path: PathBuf, chdb_lib: PathBuf, readers: usize, memory: MemoryBudget },
    /// A ClickHouse server (or a cluster behind one address).
    Server(ServerOptions),
}

/// The backend at `location` (a server's database is created when missing).
pub async fn open_backend(location: &Location) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(match location {
        Location::Embedded { path, chdb_lib, readers, memory } => Arc::new(Embedded::open(chdb_lib, path, *readers, *memory)?),
        Location::Server(options) => {
            let server = Server::new(options.clone())?;
            server.create_database().await?;
            Arc::new(server)
        }
    })
}

/// The store at `location`, its schema brought up to date.
pub async fn open_store(location: &Location) -> Result<Store, StoreError> {
    Store::open(open_backend(location).await?).await
}
