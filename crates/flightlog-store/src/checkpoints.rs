//! Signed checkpoints (tree heads) of the Merkle log.

use crate::backend::{Params, StoreError, rows};
use crate::steps::decode_hash;
use crate::Store;

const ALL_CHECKPOINTS: &str = "SELECT tree_size, lower(hex(root_hash)) AS root_hash, created_us, public_key, signature \
    FROM checkpoints ORDER BY tree_size";
// The table is ordered by tree_size: this reads its last granule, where
// every checkpoint (one a minute, half a million a year) would be read.
const LATEST_CHECKPOINT: &str = "SELECT tree_size, lower(hex(root_hash)) AS root_hash, created_us, public_key, signature \
    FROM checkpoints ORDER BY tree_size DESC LIMIT 1";

// A page of one key's checkpoints, newest first, below a size: read from
// the end of the table, as the newest one is. With every row of the size
// it ends at (WITH TIES): the next page starts below that size, and rows
// of it past the limit (copies inserted behind Flightlog's back) would
// hide the one signed there.
const CHECKPOINTS_OF_KEY_BELOW: &str = "SELECT tree_size, lower(hex(root_hash)) AS root_hash, created_us, public_key, signature \
    FROM checkpoints WHERE public_key = {public_key:String} AND tree_size < {below:UInt64} \
    ORDER BY tree_size DESC LIMIT {limit:UInt32} WITH TIES";

const PUT_CHECKPOINT: &str = "INSERT INTO checkpoints (tree_size, root_hash, created_us, public_key, signature) \
    SELECT {tree_size:UInt64}, unhex({root_hash:String}), {created_us:Int64}, {public_key:String}, {signature:String}";

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckpointRow {
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub created_us: i64,
    /// Hex Ed25519 public key that signed it.
    pub public_key: String,
    /// Hex Ed25519 signature of the checkpoint's message.
    pub signature: String,
}

impl Store {
    /// Every checkpoint, oldest first: for verification. The newest alone
    /// is [`Store::latest_checkpoint`].
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        self.read_checkpoints(ALL_CHECKPOINTS, Params::new()).await
    }

    /// The newest checkpoint, if there is one.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(self.read_checkpoints(LATEST_CHECKPOINT, Params::new()).await?.pop())
    }

    /// Up to `limit` checkpoints stored under `public_key` with a tree
    /// size below `below`, newest first (their signatures unchecked), and
    /// every other one at the last one's size.
    pub async fn checkpoints_of_key_below(&self, public_key: &str, below: u64, limit: u32) -> Result<Vec<CheckpointRow>, StoreError> {
        let params = Params::new().text("public_key", public_key).number("below", below).number("limit", limit);
        self.read_checkpoints(CHECKPOINTS_OF_KEY_BELOW, params).await
    }

    async fn read_checkpoints(&self, sql: &str, params: Params) -> Result<Vec<CheckpointRow>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            tree_size: u64,
            root_hash: String,
            created_us: i64,
            public_key: String,
            signature: String,
        }
        let found: Vec<Row> = rows(&self.ch.query(sql, params).await?)?;
        found
            .into_iter()
            .map(|r| {
                Ok(CheckpointRow {
                    tree_size: r.tree_size,
                    root_hash: decode_hash(&r.root_hash)?,
                    created_us: r.created_us,
                    public_key: r.public_key,
                    signature: r.signature,
                })
            })
            .collect()
    }

    pub async fn put_checkpoint(&self, c: &CheckpointRow) -> Result<(), StoreError> {
        let params = Params::new()
            .number("tree_size", c.tree_size)
            .text("root_hash", &hex::encode(c.root_hash))
            .number("created_us", c.created_us)
            .text("public_key", &c.public_key)
            .text("signature", &c.signature);
        self.ch.query(PUT_CHECKPOINT, params).await?;
        Ok(())
    }
}
