//! The stored interior nodes of the Merkle log (`flightlog_model::merkle_nodes`):
//! kept up with the log by the process that signs checkpoints, and the
//! proofs made from them, in O(log n) pieces per proof without the log in
//! memory.

use flightlog_model::merkle::{Hash, consistency_proof_from, inclusion_proof_from, leaf_hash};
use flightlog_model::merkle_nodes::{BLOCK, Fetched, Needs, NodeBuilder, STRIDE};
use flightlog_store::{Store, StoreError};
use std::collections::HashMap;

/// Leaves one extension reads at most, so that catching up with a long log
/// (an instance upgraded with millions of steps) is spread over several
/// seals instead of holding one up for minutes.
const RUN: u64 = 1 << 20;

/// Positions and keys asked of the store at once.
const CHUNK: usize = 50_000;

/// Stores the nodes of the log's first `upto` leaves that are not stored
/// yet, reading at most [`RUN`] leaves; returns how many leaves the stored
/// nodes now cover.
pub async fn extend(store: &Store, upto: u64) -> Result<u64, StoreError> {
    let covered = store.merkle_nodes_stored(STRIDE).await? * BLOCK;
    let target = (upto / BLOCK * BLOCK).min(covered + RUN);
    if target <= covered {
        return Ok(covered);
    }
    let needs = Needs::default();
    needs.peaks(covered);
    let Some(mut builder) = NodeBuilder::resume(covered, &fetch(store, needs).await?) else {
        return Err(StoreError::Engine(format!("the stored Merkle nodes below leaf {covered} are incomplete")));
    };
    let (mut nodes, mut next, mut out_of_order) = (Vec::new(), covered, false);
    store
        .for_each_log_hash_from(covered, Some(target), 100_000, |index, h| {
            // A gap or a repeated position is a log verify --all must look
            // at; nothing is built over it.
            out_of_order |= index != next;
            if !out_of_order {
                builder.push(leaf_hash(&h), &mut nodes);
                next += 1;
            }
        })
        .await?;
    if out_of_order || next != target {
        return Err(StoreError::Engine(format!(
            "the log of record is not contiguous between positions {covered} and {target}: no Merkle nodes stored; run verify --all"
        )));
    }
    store.put_merkle_nodes(&nodes).await?;
    Ok(target)
}

/// The inclusion proofs of leaves `indexes` in the tree of the log's first
/// `size` leaves, in that order; None when the stored nodes do not reach
/// that far yet (the caller then builds them from the whole log).
pub async fn inclusion_proofs(store: &Store, indexes: &[u64], size: u64) -> Result<Option<Vec<Vec<Hash>>>, StoreError> {
    let needs = Needs::default();
    for &i in indexes {
        needs.inclusion(i, size);
    }
    let fetched = fetch(store, needs).await?;
    Ok(indexes.iter().map(|&i| inclusion_proof_from(&fetched, i, size)).collect())
}

/// The consistency proof from the tree of `m` leaves to that of `size`;
/// None as for [`inclusion_proofs`].
pub async fn consistency_proof(store: &Store, m: u64, size: u64) -> Result<Option<Vec<Hash>>, StoreError> {
    let needs = Needs::default();
    needs.consistency(m, size);
    Ok(consistency_proof_from(&fetch(store, needs).await?, m, size))
}

/// The leaves and stored nodes `needs` names, as far as they exist.
async fn fetch(store: &Store, needs: Needs) -> Result<Fetched, StoreError> {
    // Taken before the first await: `Needs` stays on this thread.
    let (leaves, nodes) = needs.fetch();
    drop(needs);
    let positions: Vec<u64> = leaves.into_iter().collect();
    let keys: Vec<_> = nodes.into_iter().collect();
    // The leaves and the nodes are read at the same time: for a page's
    // single proof each is one round trip to the engine.
    let leaves_read = async {
        let mut leaves = HashMap::new();
        for chunk in positions.chunks(CHUNK) {
            for e in store.log_entries_at(chunk).await? {
                leaves.entry(e.log_index).or_insert_with(|| leaf_hash(&e.step_hash));
            }
        }
        Ok::<_, StoreError>(leaves)
    };
    let nodes_read = async {
        let mut nodes = HashMap::new();
        for chunk in keys.chunks(CHUNK) {
            nodes.extend(store.merkle_nodes_at(&chunk.iter().copied().collect()).await?);
        }
        Ok::<_, StoreError>(nodes)
    };
    let (leaves, nodes) = tokio::join!(leaves_read, nodes_read);
    Ok(Fetched { leaves: leaves?, nodes: nodes? })
}
