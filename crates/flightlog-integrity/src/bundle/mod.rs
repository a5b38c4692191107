//! Evidence bundles: one self-contained file per session that a third party
//! checks offline with nothing but the file (and, ideally, the instance's
//! public key obtained separately, to pin who signed it).
//!
//! The file is the canonical JSON (see `flightlog-model` canonical) of:
//!
//! ```text
//! {"format": "flightlog-evidence/v1", "project", "session_id",
//!  "checkpoint": {"tree_size", "root_hash", "created_us", "public_key", "signature"} | null,
//!  "content_expiries": [{"project", "session_id", "kind", "log_indexes", "last_link", "next_seq", "policy",
//!                        "expired_us", "public_key", "signature"}…],
//!  "erasures": [{"project", "at_us", "session_id", "user_id", "reason", "by_key", "steps_erased",
//!                "fields_erased", "log_through", "signature"}…],
//!  "steps": [{"step", "log_index", "session_seq", "step_hash", "chain_hash",
//!             "erased": {path: field hash}, "content": <the step>, "inclusion_proof": [hash…] | null}…],
//!  "access_log": {"complete": bool, "reads": [{"at_us", "read_id", "key_id", "front_end", "route",
//!                 "session_id", "filter", "user_id", "user_ids", "items", "whole_project"}…]}   (admins only)}
//! ```
//!
//! Because it must be canonical, any edit to the file, even of one byte of
//! white space, fails the check; an edit that keeps it canonical changes a
//! hash, a link, a proof or the signed message, and fails there.
//!
//! `erasures` and `content_expiries` are the signed records that explain
//! the session's erased fields (schema/0031): the check accepts an erased
//! field only under one of them signed by the checkpoint's key, as
//! verification does on the stored record. A bundle made before they were
//! carried fails on its erased fields; it is made again from the instance.
//!
//! `access_log` lists who read the session's content before the bundle was
//! made (the instance's access log, oldest first, at most [`MAX_READS`] of
//! the latest; `complete` says whether that is all). It names other
//! readers' keys, filters and users, so it is in the bundle only when an
//! admin asked for it; any other bundle leaves the section out, and its
//! check reports `access_log: null` (not listed) rather than "no reads".
//! It is outside what the bundle proves: reads are neither in the signed
//! log nor hashed, so an edit that keeps the file canonical goes unnoticed
//! there; the report says so (`access_log.proven` is false). The
//! instance's log is the record.

use crate::chain_pages::ChainPages;
use crate::cover::{blanks_content, erasure_signed, expiry_signed};
use flightlog_model::canonical::{to_canonical_json, write_string, write_value};
use flightlog_model::merkle::{Hash, Tree, leaf_hash};
use flightlog_store::{AccessFilter, IntegrityRow, Store, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use tokio::io::{AsyncWrite, AsyncWriteExt};

mod check;
pub use check::{AccessSection, BundleReport, verify_bundle, verify_bundle_file};

pub const FORMAT: &str = "flightlog-evidence/v1";

/// The most reads a bundle lists (the latest).
pub const MAX_READS: usize = 10_000;

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Where the bundle was being written refused it (a full disk).
    #[error("cannot write the bundle: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes the bundle of a session to `out`, a page of steps at a time in
/// the order of its chain; false (and nothing written) when the project
/// has no such session. The newest checkpoint `trusted_key` (the
/// instance's, hex) signed seals the steps it covers; later steps are
/// included without a proof. The session's reads are listed only
/// `with_access_log` (for an admin: see the module doc).
pub async fn export(
    store: &Store,
    trusted_key: &str,
    project: &str,
    session_id: &str,
    with_access_log: bool,
    out: &mut (impl AsyncWrite + Unpin),
) -> Result<bool, ExportError> {
    // Memory holds one page of steps and their proofs, however long the
    // session (a bundle of 500,000 steps, built whole, took the server from
    // 0.5 to 5.1 GB).
    let mut pages = ChainPages::open(store, project, session_id).await?;
    if pages.places().is_empty() {
        return Ok(false);
    }
    // Not merely the newest row: one added behind Flightlog's back, signed
    // with a key of its own, would seal whatever log it was made over.
    let checkpoint = crate::checkpoint::newest_signed_by(store, trusted_key).await?;
    let mut head = json!({
        "format": FORMAT,
        "project": project,
        "session_id": session_id,
        "checkpoint": checkpoint.as_ref().map(|c| json!({
            "tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash), "created_us": c.created_us,
            "public_key": c.public_key, "signature": c.signature,
        })),
    });
    let (erasures, content_expiries) = erasure_records(store, trusted_key, project, session_id).await?;
    head["erasures"] = erasures;
    head["content_expiries"] = content_expiries;
    if with_access_log {
        head["access_log"] = access_log(store, project, session_id).await?;
    }
    // The steps are written straight into the file's canonical form: as one
    // `Value` tree, a 10,000-step bundle spent a third of its time building
    // and freeing it. "steps" sorts after every key of the head, so the
    // file is the head's canonical form with the steps appended last.
    debug_assert!(head.as_object().is_some_and(|h| h.keys().all(|k| k.as_bytes() < b"steps".as_slice())));
    let mut buf = to_canonical_json(&head).into_bytes();
    buf.pop(); // the head's closing brace
    buf.extend_from_slice(br#","steps":["#);
    let mut proofs = Proofs { size: checkpoint.map(|c| c.tree_size), whole_log: None };
    let mut written = 0usize;
    while let Some(rows) = pages.next().await? {
        let proofs = proofs.of(store, &rows).await?;
        // A page of content put back and written canonically is tens of
        // milliseconds of CPU: not on a thread other requests wait for.
        crate::off_the_async_threads(|| {
            for r in &rows {
                if written > 0 {
                    buf.push(b',');
                }
                write_step(r, proofs.get(&r.log_index), &mut buf);
                written += 1;
            }
        });
        out.write_all(&buf).await?;
        buf.clear();
    }
    buf.extend_from_slice(b"]}");
    out.write_all(&buf).await?;
    out.flush().await?;
    Ok(true)
}

/// The records, signed by `trusted_key`, that can explain erased fields of
/// the session: erasures of it or of its users, and its content expiries.
async fn erasure_records(store: &Store, trusted_key: &str, project: &str, session_id: &str) -> Result<(Value, Value), StoreError> {
    let (erasures, expiries) = tokio::try_join!(store.erasures_of_session(project, session_id), store.session_expirations(project, session_id))?;
    let erasures: Vec<_> = erasures.into_iter().filter(|e| erasure_signed(e, trusted_key)).collect();
    let expiries: Vec<_> = expiries.into_iter().filter(|x| blanks_content(x) && expiry_signed(x, trusted_key)).collect();
    Ok((json!(erasures), json!(expiries)))
}

/// One step of a bundle in canonical form: its keys in bytewise order, its
/// content in the canonical form of the stored step.
fn write_step(r: &IntegrityRow, proof: Option<&Vec<Hash>>, out: &mut Vec<u8>) {
    let number = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(br#"{"chain_hash":"#);
    write_string(&r.chain_hash, out);
    out.extend_from_slice(br#","content":"#);
    match r.content() {
        Ok(content) => write_value(&content, out),
        Err(_) => write_string(&r.raw, out),
    }
    out.extend_from_slice(br#","erased":{"#);
    for (i, (path, hash)) in r.erased.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(path, out);
        out.push(b':');
        write_string(hash, out);
    }
    out.extend_from_slice(br#"},"inclusion_proof":"#);
    match proof {
        None => out.extend_from_slice(b"null"),
        Some(hashes) => {
            out.push(b'[');
            for (i, h) in hashes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(&hex::encode(h), out);
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(br#","log_index":"#);
    number(out, r.log_index);
    out.extend_from_slice(br#","session_seq":"#);
    number(out, r.session_seq);
    out.extend_from_slice(br#","step":"#);
    number(out, r.step);
    out.extend_from_slice(br#","step_hash":"#);
    write_string(&r.step_hash, out);
    out.push(b'}');
}

/// The inclusion proofs of a bundle's sealed rows, against the checkpoint
/// of `size` (none without one).
struct Proofs {
    size: Option<u64>,
    /// Where the stored nodes do not reach yet (an instance that has not
    /// sealed since it was upgraded), the tree of the whole log, built once.
    whole_log: Option<Tree>,
}

impl Proofs {
    /// The proofs of those of `rows` the checkpoint seals, by log position.
    async fn of(&mut self, store: &Store, rows: &[IntegrityRow]) -> Result<HashMap<u64, Vec<Hash>>, StoreError> {
        let Some(size) = self.size else { return Ok(HashMap::new()) };
        let sealed: Vec<u64> = rows.iter().map(|r| r.log_index).filter(|&i| i < size).collect();
        if self.whole_log.is_none() {
            if let Some(proofs) = crate::nodes::inclusion_proofs(store, &sealed, size).await? {
                return Ok(sealed.into_iter().zip(proofs).collect());
            }
            let leaves = store.log_step_hashes().await?.iter().take(size as usize).map(leaf_hash).collect();
            self.whole_log = Some(Tree::new(leaves));
        }
        let tree = self.whole_log.as_ref().expect("built above");
        Ok(rows
            .iter()
            .filter(|r| r.log_index < tree.size() as u64)
            .map(|r| (r.log_index, tree.inclusion_proof(r.log_index as usize, tree.size())))
            .collect())
    }
}

/// The reads of a session (see the module's doc), oldest first. Other
/// sessions a read returned are left out: the bundle is about this one.
async fn access_log(store: &Store, project: &str, session_id: &str) -> Result<Value, StoreError> {
    const PAGE: u32 = 1000;
    let mut filter = AccessFilter { session_id: session_id.to_string(), limit: PAGE, ..AccessFilter::default() };
    let mut reads = Vec::new();
    let complete = loop {
        let page = store.access_log(project, &filter).await?;
        let last = page.len() < PAGE as usize;
        filter.before = page.last().map(|r| (r.at_us, r.read_id.clone()));
        reads.extend(page);
        if reads.len() >= MAX_READS {
            // Complete only if nothing was cut (when exactly MAX_READS fill
            // whole pages, more may exist: said to be incomplete).
            let complete = last && reads.len() == MAX_READS;
            reads.truncate(MAX_READS);
            break complete;
        }
        if last {
            break true;
        }
    };
    reads.reverse();
    let reads: Vec<Value> = reads
        .into_iter()
        .map(|r| {
            json!({
                "at_us": r.at_us, "read_id": r.read_id, "key_id": r.key_id, "front_end": r.front_end, "route": r.route,
                "session_id": r.session_id, "filter": r.filter, "user_id": r.user_id, "user_ids": r.user_ids,
                "items": r.items, "whole_project": r.whole_project,
            })
        })
        .collect();
    Ok(json!({"complete": complete, "reads": reads}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(access_log: Option<Value>) -> BundleReport {
        // One step, as a session has at least one.
        let content = json!({"session_id": "s", "step": 0});
        let hash = flightlog_model::integrity::stored_step_hash(&content, &Default::default());
        let link = flightlog_model::integrity::chain_next(&flightlog_model::integrity::chain_seed("p", "s"), &hash);
        let step = json!({"step": 0, "log_index": 0, "session_seq": 0, "step_hash": hex::encode(hash), "chain_hash": hex::encode(link),
                          "erased": {}, "content": content, "inclusion_proof": null});
        let mut b = json!({"format": FORMAT, "project": "p", "session_id": "s", "checkpoint": null, "steps": [step]});
        if let Some(a) = access_log {
            b["access_log"] = a;
        }
        verify_bundle(to_canonical_json(&b).as_bytes(), None)
    }

    /// A step written straight is the canonical form of the tree it
    /// stands for, whatever its content, erasures and proof.
    #[test]
    fn a_step_is_written_as_the_canonical_form_of_its_tree() {
        let row = |raw: &str, erased: &[(&str, &str)]| IntegrityRow {
            project: "p".into(),
            session_id: "s\"é".into(),
            step: 7,
            log_index: 1 << 40,
            session_seq: 0,
            step_hash: "ab".repeat(32),
            chain_hash: "cd".repeat(32),
            erased: erased.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            raw: raw.into(),
            attributes: Vec::new(),
            columns: Vec::new(),
            not_utf8: Vec::new(),
        };
        let proof = vec![[1u8; 32], [2u8; 32]];
        let cases = [
            (row(r#"{"z":1,"a":{"y":[1,2.5,null],"b":"\n\"é"}}"#, &[]), Some(&proof)),
            (row(r#"{"prompt":{"messages":null}}"#, &[(r#"["prompt","messages"]"#, "ef"), (r#"["a"]"#, "01")]), None),
            (row("not JSON at all", &[]), Some(&proof)),
        ];
        // Content left to its columns is carried in the bundle.
        let mut from_columns = row(r#"{"prompt":{},"z":1}"#, &[]);
        from_columns.columns = vec![
            ("completion", flightlog_store::Stored::Text("said \"so\"".into())),
            ("metadata", flightlog_store::Stored::Text(r#"{"k":[1,2]}"#.into())),
        ];
        let with_columns = json!({"prompt": {"completion": "said \"so\""}, "metadata": {"k": [1, 2]}, "z": 1});
        let contents = [None, None, None, Some(with_columns)];
        let cases = cases.into_iter().chain([(from_columns, None)]);
        for ((r, proof), content) in cases.zip(contents) {
            let tree = json!({
                "step": r.step, "log_index": r.log_index, "session_seq": r.session_seq,
                "step_hash": r.step_hash, "chain_hash": r.chain_hash, "erased": r.erased,
                "content": content.unwrap_or_else(|| serde_json::from_str::<Value>(&r.raw).unwrap_or(Value::String(r.raw.clone()))),
                "inclusion_proof": proof.map(|p| p.iter().map(hex::encode).collect::<Vec<_>>()),
            });
            let mut out = Vec::new();
            write_step(&r, proof, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), to_canonical_json(&tree));
        }
    }

    #[test]
    fn a_bundle_without_its_access_log_says_none_is_listed_not_that_none_happened() {
        let without = checked(None);
        assert!(without.problems.is_empty(), "{:?}", without.problems);
        assert!(without.access_log.is_none());
        let read = json!({"at_us": 1, "read_id": "ab", "key_id": "k", "front_end": "api", "route": "r", "session_id": "s",
                          "filter": "", "user_id": "", "user_ids": [], "items": 0, "whole_project": false});
        let with = checked(Some(json!({"complete": true, "reads": [read]})));
        assert!(with.problems.is_empty(), "{:?}", with.problems);
        let section = with.access_log.expect("listed");
        assert_eq!((section.reads, section.proven), (1, false));
        let empty = checked(Some(json!({"complete": true, "reads": []})));
        assert_eq!(empty.access_log.map(|a| a.reads), Some(0));
    }
}
