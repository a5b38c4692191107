//! Stored interior nodes of the log's Merkle tree (schema 0019; what they
//! are and why they may be trusted as a cache: `flightlog_model::merkle_nodes`).

use crate::Store;
use crate::backend::{Params, StoreError, column, rows};
use crate::rowbinary::RowBinary;
use crate::steps::decode_hash;
use flightlog_model::merkle::Hash;
use flightlog_model::merkle_nodes::NodeKey;
use std::collections::{BTreeSet, HashMap};

const BLOCKS_STORED: &str = include_str!("queries/merkle_blocks_stored.sql");
const NODES_AT: &str = include_str!("queries/merkle_nodes_at.sql");
/// Keys per read of stored nodes.
const NODES_PER_READ: usize = 10_000;
const INSERT_NODES: &str = "INSERT INTO merkle_nodes (height, idx, hash)";

impl Store {
    /// How many nodes of `height` are stored, from index 0 on.
    pub async fn merkle_nodes_stored(&self, height: u32) -> Result<u64, StoreError> {
        let found: Vec<u64> = column(&self.ch.query(BLOCKS_STORED, Params::new().number("height", height)).await?)?;
        Ok(found.first().copied().unwrap_or(0))
    }

    /// The stored nodes among `keys` (missing ones are left out).
    pub async fn merkle_nodes_at(&self, keys: &BTreeSet<NodeKey>) -> Result<HashMap<NodeKey, Hash>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            height: u32,
            idx: u64,
            hash: String,
        }
        let keys: Vec<NodeKey> = keys.iter().copied().collect();
        let mut found = HashMap::with_capacity(keys.len());
        // A server takes the parameters in the URL (at most 1 MiB by
        // default): 10,000 keys make about 300 KB of them.
        for chunk in keys.chunks(NODES_PER_READ) {
            let heights: BTreeSet<u32> = chunk.iter().map(|k| k.height).collect();
            let idxs: BTreeSet<u64> = chunk.iter().map(|k| k.index).collect();
            // One number per key: an index counts leaves divided by
            // 2^height, so it stays far below 2^56.
            debug_assert!(chunk.iter().all(|k| k.index < 1 << 56));
            let packed = chunk.iter().map(|k| (u64::from(k.height) << 56) | k.index);
            let params = Params::new().numbers("heights", heights).numbers("idxs", idxs).numbers("keys", packed);
            for r in rows::<Row>(&self.ch.query(NODES_AT, params).await?)? {
                found.insert(NodeKey { height: r.height, index: r.idx }, decode_hash(&r.hash)?);
            }
        }
        Ok(found)
    }

    /// Stores nodes (one insert: a run is stored whole or not at all).
    pub async fn put_merkle_nodes(&self, nodes: &[(NodeKey, Hash)]) -> Result<(), StoreError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(nodes.len() * 41);
        let mut w = RowBinary(&mut buf);
        for (k, h) in nodes {
            w.u8(k.height as u8);
            w.u64(k.index);
            w.fixed(h);
        }
        self.ch.insert(INSERT_NODES, buf).await?;
        Ok(())
    }
}
