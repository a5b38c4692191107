//! Pages read one ahead of their use: the engine reads the next page while
//! the caller checks or writes this one, so the two share the cores. A page
//! is read only once the one before it has been taken, so at most two are
//! in memory. An error ends the pages.

use flightlog_store::StoreError;
use std::future::Future;
use tokio::sync::mpsc;

pub(crate) struct ReadAhead<T> {
    pages: mpsc::Receiver<Result<T, StoreError>>,
    reader: tokio::task::JoinHandle<()>,
}

/// Where the reader puts its pages.
pub(crate) struct Feed<T>(mpsc::Sender<Result<T, StoreError>>);

pub(crate) type Slot<'a, T> = mpsc::Permit<'a, Result<T, StoreError>>;

impl<T> Feed<T> {
    /// A slot for the next page, once the one before has been taken;
    /// None when the pages are no longer wanted.
    pub(crate) async fn slot(&self) -> Option<Slot<'_, T>> {
        self.0.reserve().await.ok()
    }
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts `reader`, which fills the feed until it returns.
    pub(crate) fn start<F: Future<Output = ()> + Send + 'static>(reader: impl FnOnce(Feed<T>) -> F) -> Self {
        let (tx, pages) = mpsc::channel(1);
        Self { pages, reader: tokio::spawn(reader(Feed(tx))) }
    }

    /// The next page; None once every page was read. If the reader
    /// panicked, so does this: pages read halfway are never taken for the
    /// whole (the steps not read would look deleted).
    pub(crate) async fn next(&mut self) -> Option<Result<T, StoreError>> {
        if let Some(page) = self.pages.recv().await {
            return Some(page);
        }
        match (&mut self.reader).await {
            Ok(()) => None,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Some(Err(StoreError::Engine(format!("reading the stored steps stopped before the end: {e}")))),
        }
    }
}

impl<T> Drop for ReadAhead<T> {
    /// A check or bundle dropped (a request gone) stops its reading.
    fn drop(&mut self) {
        self.reader.abort();
    }
}
