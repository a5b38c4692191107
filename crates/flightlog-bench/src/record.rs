//! The tamper-evident record's share of one group commit (issue 15: under
//! 10%), for `write-path`: what it adds to a commit, each part measured in
//! the same run as the commit it is part of.
//! - Hashing: each step's field and step hashes, from its canonical form
//!   (what validation computes), against the canonical form alone (what is
//!   stored of a step, with or without the record), and the chain link the
//!   writer computes per step.
//! - The hash columns: the steps insert with the real step and chain
//!   hashes, against the same rows with both zero (they compress to
//!   nothing), commit by commit in turn.
//! - The log-of-record insert, whole.

use crate::write_path::{print_line, time_each};
use flightlog_model::Limits;
use flightlog_model::integrity::{canonical_form, chain_next, chain_seed};
use flightlog_store::{EncodedStep, LogPosition};
use std::collections::HashMap;
use std::time::Duration;

/// Where the steps of `batch` go in their sessions' chains and in the log
/// from `first_index` on, as the writer places them (each session starting
/// its chain in this batch, as the bench's sessions do).
pub(crate) fn chained(batch: &[EncodedStep], first_index: u64) -> Vec<LogPosition> {
    let mut heads: HashMap<&str, (u64, [u8; 32])> = HashMap::new();
    batch
        .iter()
        .zip(first_index..)
        .map(|(step, log_index)| {
            let (seq, previous) = match heads.get(step.session_id.as_str()) {
                Some(&(seq, head)) => (seq + 1, head),
                None => (0, chain_seed("bench", &step.session_id)),
            };
            let chain_hash = chain_next(&previous, &step.step_hash);
            heads.insert(&step.session_id, (seq, chain_hash));
            LogPosition { session_seq: seq, chain_hash, log_index }
        })
        .collect()
}

/// The same places without a chain: what a Flightlog without the record
/// would store (zero, in the column it would not have).
pub(crate) fn unchained(positions: &[LogPosition]) -> Vec<LogPosition> {
    positions.iter().map(|p| LogPosition { chain_hash: [0; 32], ..*p }).collect()
}

/// The request's hashing, per commit: the canonical form hashed and not,
/// and the chain links.
pub(crate) struct Hashing {
    hashed: Vec<Duration>,
    unhashed: Vec<Duration>,
    chain: Vec<Duration>,
}

/// Times the hashing of each body's steps, decoded beforehand.
pub(crate) fn time_hashing(bodies: &[Vec<u8>], limits: &Limits) -> Hashing {
    let values: Vec<Vec<serde_json::Value>> = bodies
        .iter()
        .map(|b| flightlog_decode::decode_body(b, None, flightlog_decode::Framing::Guessed, limits).expect("bench body decodes").into_iter().filter_map(Result::ok).collect())
        .collect();
    let hashed = time_each(&values, |steps| {
        for v in steps {
            std::hint::black_box(canonical_form(v).step_hash());
        }
    });
    let unhashed = time_each(&values, |steps| {
        for v in steps {
            std::hint::black_box(canonical_form(v));
        }
    });
    let chain = time_each(&values, |steps| {
        let mut head = chain_seed("bench", "s");
        for _ in steps {
            head = chain_next(&head, std::hint::black_box(&head));
        }
        std::hint::black_box(head);
    });
    Hashing { hashed, unhashed, chain }
}

/// A group commit as the writer makes it, part by part (samples per commit).
pub(crate) struct Commit<'a> {
    /// The request's CPU work (decode, redact, validate, hash, encode).
    pub cpu: &'a [Duration],
    /// The duplicate check.
    pub check: &'a [Duration],
    /// The steps insert, views and all.
    pub steps: &'a [Duration],
    /// The log-of-record insert.
    pub log: &'a [Duration],
}

/// Prints what the record adds to a commit and its share of the commit.
pub(crate) fn print_share(commit: Commit, unrecorded_steps: &[Duration], hashing: &Hashing, batch: usize) {
    print_line("canonical form with field and step hashes, one thread", &hashing.hashed, batch);
    print_line("canonical form and what raw keeps, alone, one thread", &hashing.unhashed, batch);
    print_line("chain links, one thread", &hashing.chain, batch);
    let hash_ms = (median_ms(&hashing.hashed) - median_ms(&hashing.unhashed)).max(0.0) + median_ms(&hashing.chain);
    let columns_ms = median_ms(commit.steps) - median_ms(unrecorded_steps);
    let log_ms = median_ms(commit.log);
    let record_ms = hash_ms + columns_ms.max(0.0) + log_ms;
    let commit_ms = median_ms(commit.cpu) + median_ms(commit.check) + median_ms(commit.steps) + log_ms;
    println!(
        "the tamper-evident record, per commit of {batch} steps (medians): hashing at most {hash_ms:.1} ms, hash columns {columns_ms:.1} ms, \
         log insert {log_ms:.1} ms = {record_ms:.1} ms of {commit_ms:.1} ms (request CPU + check + steps insert + log insert): {:.1}%",
        100.0 * record_ms / commit_ms
    );
}

/// The median: a neighbour's burst on this shared machine moves a mean
/// more than the difference being measured.
fn median_ms(times: &[Duration]) -> f64 {
    crate::guard::percentiles(times.iter().map(|d| d.as_secs_f64() * 1e3).collect()).0
}
