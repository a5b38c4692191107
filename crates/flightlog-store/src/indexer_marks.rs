//! The similar-failure indexer's high-water marks (`indexer_marks`), one
//! per vector index.

use crate::backend::rows;
use crate::{Params, Store, StoreError};

const GET: &str = "SELECT next_log_index, model, dimension FROM indexer_marks FINAL WHERE index_name = {name:String}";

const PUT: &str = "INSERT INTO indexer_marks (index_name, next_log_index, model, dimension, saved_us) \
    SELECT {name:String}, {next:UInt64}, {model:String}, {dimension:UInt32}, {saved_us:Int64}";

/// Every key decision with a smaller log_index is in the index, embedded
/// with this model.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct IndexerMark {
    pub next_log_index: u64,
    pub model: String,
    pub dimension: u32,
}

impl Store {
    pub async fn indexer_mark(&self, index_name: &str) -> Result<Option<IndexerMark>, StoreError> {
        Ok(rows(&self.ch.query(GET, Params::new().text("name", index_name)).await?)?.into_iter().next())
    }

    /// Saves a mark; returns once it is durable. `saved_us` orders saves
    /// (the newest wins), so callers pass a clock that never goes back.
    pub async fn save_indexer_mark(&self, index_name: &str, mark: &IndexerMark, saved_us: i64) -> Result<(), StoreError> {
        let params = Params::new()
            .text("name", index_name)
            .number("next", mark.next_log_index)
            .text("model", &mark.model)
            .number("dimension", mark.dimension)
            .number("saved_us", saved_us);
        self.ch.query(PUT, params).await?;
        Ok(())
    }
}
