//! Checking a bundle offline, with nothing but the file (and, ideally, the
//! instance's public key obtained separately).
//!
//! A file cut as a bundle is (its head, then the list of steps, last) is
//! checked a step at a time: each piece parsed and its canonical form
//! compared with its bytes, so memory holds one step, not the file's tree
//! (a bundle of 500,000 steps is 1.4 GB of text, several times that as a
//! tree), edited or not. A file that is not cut so is read whole, to say
//! what is wrong with it.

use super::FORMAT;
use crate::cover::{Cover, erasure_signed, expiry_signed};
use crate::signer::{checkpoint_message, signature_valid};
use flightlog_store::{ErasureRow, ExpirationRow};
use crate::verify::{Problem, ProblemKind, ReportStatus, field_is_null, not_erasable, restored};
use flightlog_model::canonical::to_canonical_json;
use flightlog_model::integrity::{chain_next, chain_seed, is_erasable, stored_step_hash};
use flightlog_model::merkle::{Hash, hash_from_hex, leaf_hash, verify_inclusion};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

#[derive(Debug, Serialize, Default)]
pub struct BundleReport {
    /// Same meaning as in a verification report. A file that cannot be
    /// read as a bundle at all is `failed`.
    pub status: ReportStatus,
    pub verified: bool,
    pub session_id: String,
    pub steps: u64,
    pub sealed: u64,
    pub not_yet_sealed: u64,
    /// The key that signed the checkpoint: compare it with the instance's.
    pub public_key: Option<String>,
    pub erased: Vec<String>,
    pub problems: Vec<Problem>,
    /// What the bundle says of who read the session: listed, not proven.
    /// None when the bundle lists no reads at all (made for a key without
    /// the admin scope), which is not the same as none listed.
    pub access_log: Option<AccessSection>,
}

/// The bundle's access log as the check sees it.
#[derive(Debug, Serialize, Default)]
pub struct AccessSection {
    /// Reads listed.
    pub reads: u64,
    /// Always false: reads are not in the signed log (see the module doc).
    pub proven: bool,
}

fn bad(kind: ProblemKind, step: Option<u64>, detail: impl Into<String>) -> Problem {
    Problem { kind, session_id: None, step, log_index: None, detail: detail.into() }
}

/// Checks a bundle offline. With `pinned_key`, the checkpoint must also be
/// signed by that key (hex).
pub fn verify_bundle(file: &[u8], pinned_key: Option<&str>) -> BundleReport {
    // Reading from memory cannot fail.
    if let Ok(Some(report)) = check_in_pieces(file, pinned_key) {
        return report;
    }
    whole(file, pinned_key)
}

/// Checks the bundle in the file at `path` as [`verify_bundle`] does,
/// reading it a step at a time: memory holds one step of a file cut as a
/// bundle is, whatever its size (edited or not), and the whole file only
/// when it is not one.
pub fn verify_bundle_file(path: &std::path::Path, pinned_key: Option<&str>) -> std::io::Result<BundleReport> {
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    match check_in_pieces(file, pinned_key)? {
        Some(report) => Ok(report),
        None => {
            let unreadable = |why: String| BundleReport { problems: vec![bad(ProblemKind::Unreadable, None, why)], ..BundleReport::default() };
            let mut file = Vec::new();
            let mut input = std::io::Read::take(std::fs::File::open(path)?, MAX_WHOLE + 1);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut input, 4096), &mut file)?;
            if file.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{') {
                return Ok(unreadable(format!("not a {FORMAT} bundle: the file is not a JSON object")));
            }
            std::io::Read::read_to_end(&mut input, &mut file)?;
            if file.len() as u64 > MAX_WHOLE {
                return Ok(unreadable(format!("the file is not cut as a bundle is, and is larger than {} GiB: not read further", MAX_WHOLE >> 30)));
            }
            Ok(whole(&file, pinned_key))
        }
    }
}

/// The deepest nesting a bundle may hold. A step nested as deep as
/// ingestion takes (serde_json's limit of 128) sits a few levels deeper in
/// a bundle (in the list of steps, under `content`), past that limit: a
/// genuine bundle of such a step read as "not JSON".
const MAX_DEPTH: usize = 128 + 8;

/// A bundle's JSON, or a piece of it, parsed without serde_json's limit of
/// 128 levels but no deeper than [`MAX_DEPTH`] (counted first: unlimited,
/// a deeper input would overflow the stack).
fn parse(text: &str) -> Result<Value, String> {
    let mut depth = Scan { depth: 0, in_string: false, escaped: false, deepest: 0 };
    depth.end_in(text.as_bytes());
    if depth.deepest > MAX_DEPTH {
        return Err(format!("the file nests values {} deep, deeper than any bundle ({MAX_DEPTH})", depth.deepest));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut de).map_err(|_| "the file is not JSON".to_string())?;
    de.end().map_err(|_| "the file is not JSON".to_string())?;
    Ok(value)
}

/// The keys of a bundle, of its checkpoint and of each of its steps (see
/// the module doc of `bundle`). A key beside them would pass every other
/// check, canonical as it is: the file was edited.
const BUNDLE_KEYS: [&str; 8] = ["access_log", "checkpoint", "content_expiries", "erasures", "format", "project", "session_id", "steps"];
const ERASURE_KEYS: [&str; 10] =
    ["at_us", "by_key", "fields_erased", "log_through", "project", "reason", "session_id", "signature", "steps_erased", "user_id"];
const EXPIRY_KEYS: [&str; 10] =
    ["expired_us", "kind", "last_link", "log_indexes", "next_seq", "policy", "project", "public_key", "session_id", "signature"];
const CHECKPOINT_KEYS: [&str; 5] = ["created_us", "public_key", "root_hash", "signature", "tree_size"];
const STEP_KEYS: [&str; 8] = ["chain_hash", "content", "erased", "inclusion_proof", "log_index", "session_seq", "step", "step_hash"];

/// A problem for each key of `object` its format does not have.
fn unknown_keys(object: &Value, known: &[&str], step: Option<u64>, what: &str) -> Vec<Problem> {
    let keys = object.as_object().into_iter().flat_map(|o| o.keys());
    keys.filter(|k| !known.contains(&k.as_str()))
        .map(|k| bad(ProblemKind::Modified, step, format!("{what} has a key the bundle format does not: {k:?}")))
        .collect()
}

/// The most bytes of a file not cut as a bundle is that are read whole to
/// say what is wrong with it (a bundle as Flightlog writes it is checked a
/// step at a time, at any size): an endless input (`/dev/zero`) grew
/// without bound.
const MAX_WHOLE: u64 = 1 << 30;

fn whole(file: &[u8], pinned_key: Option<&str>) -> BundleReport {
    let text = std::str::from_utf8(file).unwrap_or("");
    check_whole(text.strip_suffix('\n').unwrap_or(text), pinned_key)
}

/// Where the steps start in a bundle as written: every key of the head
/// sorts before "steps", so the list is the file's last member.
const STEPS_KEY: &[u8] = br#","steps":["#;
/// The most bytes of a head (its access log lists at most 10,000 reads)
/// or of one step read in pieces; a larger one is read whole.
const MAX_PIECE: usize = 512 << 20;

/// A bundle checked a step at a time; None when the input is not cut as a
/// bundle is (`check_whole` then says how). A head or a step that is not
/// in canonical form is named as `check_whole` names it, and the check
/// goes on.
fn check_in_pieces(input: impl BufRead, pinned_key: Option<&str>) -> std::io::Result<Option<BundleReport>> {
    let mut input = Pieces(input);
    // A bundle starts with its opening brace (not read again: the head is
    // read to its first key's end below).
    if input.0.fill_buf()?.first() != Some(&b'{') {
        return Ok(None);
    }
    // A quote inside a JSON string is escaped, so the first `,"steps":[`
    // is structural; one that is not the head's end (inside a nested
    // object) leaves a head that does not parse.
    let Some(head_text) = input.until(STEPS_KEY)?.and_then(|h| String::from_utf8(h).ok()) else { return Ok(None) };
    let head_text = head_text + "}";
    let Ok(head) = parse(&head_text) else { return Ok(None) };
    // Every key of the head sorts before "steps", so the list is the
    // file's last member. A head with a key after it (or a second
    // "steps") is not cut as a bundle is: the list would not be the file's
    // only or last one.
    if head["format"] != FORMAT || !head.as_object().is_some_and(|h| h.keys().all(|k| k.as_bytes() < b"steps".as_slice())) {
        return Ok(None);
    }
    let mut canonical = to_canonical_json(&head) == head_text;
    let mut check = Check::new(&head, pinned_key);
    let mut first = true;
    loop {
        match (input.byte()?, first) {
            (Some(b']'), _) => break,
            (Some(b'{'), true) => {}
            (Some(b','), false) if input.byte()? == Some(b'{') => {}
            _ => return Ok(None),
        }
        first = false;
        let Some(bytes) = input.object()? else { return Ok(None) };
        let Ok(text) = std::str::from_utf8(&bytes) else { return Ok(None) };
        let Ok(step) = parse(text) else { return Ok(None) };
        canonical &= to_canonical_json(&step) == text;
        check.step(&step);
    }
    // The file's closing brace and, at most, one newline.
    match (input.byte()?, input.byte()?, input.byte()?) {
        (Some(b'}'), None, None) | (Some(b'}'), Some(b'\n'), None) => {}
        _ => return Ok(None),
    }
    if !canonical {
        check.r.problems.insert(0, not_canonical());
    }
    Ok(Some(check.finish(head.get("access_log"))))
}

fn not_canonical() -> Problem {
    bad(ProblemKind::NotCanonical, None, "the file is not in canonical form: it was edited")
}

/// An input read in the pieces of a bundle.
struct Pieces<R>(R);

impl<R: BufRead> Pieces<R> {
    /// The next byte; None at the end.
    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        let b = self.0.fill_buf()?.first().copied();
        if b.is_some() {
            self.0.consume(1);
        }
        Ok(b)
    }

    /// The bytes before `marker` (which is read too); None if the input
    /// ends first or more than [`MAX_PIECE`] bytes come before it.
    fn until(&mut self, marker: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(b) = self.byte()? {
            out.push(b);
            if out.ends_with(marker) {
                out.truncate(out.len() - marker.len());
                return Ok(Some(out));
            }
            if out.len() > MAX_PIECE {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// One JSON object, whose opening brace was just read; None if the
    /// input ends first or it is larger than [`MAX_PIECE`].
    fn object(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let (mut out, mut scan) = (vec![b'{'], Scan::inside_an_object());
        loop {
            let buf = self.0.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let (taken, ended) = match scan.end_in(buf) {
                Some(n) => (n, true),
                None => (buf.len(), false),
            };
            out.extend_from_slice(&buf[..taken]);
            self.0.consume(taken);
            if ended {
                return Ok(Some(out));
            }
            if out.len() > MAX_PIECE {
                return Ok(None);
            }
        }
    }
}

/// Where a JSON value's brackets close, by its brackets outside strings,
/// over as many pieces of input as it takes.
struct Scan {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The deepest `depth` reached.
    deepest: usize,
}

impl Scan {
    fn inside_an_object() -> Self {
        Self { depth: 1, in_string: false, escaped: false, deepest: 1 }
    }

    /// The length of `bytes` up to the bracket that closes the value, if
    /// it is in them.
    fn end_in(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            match (self.in_string, self.escaped, b) {
                (true, true, _) => self.escaped = false,
                (true, false, b'\\') => self.escaped = true,
                (true, false, b'"') => self.in_string = false,
                (true, false, _) => {}
                (false, _, b'"') => self.in_string = true,
                (false, _, b'{' | b'[') => {
                    self.depth += 1;
                    self.deepest = self.deepest.max(self.depth);
                }
                (false, _, b'}' | b']') => {
                    // A closing bracket with none open ends the value as well:
                    // the parse that follows refuses it.
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                (false, _, _) => {}
            }
        }
        None
    }
}

/// The file parsed whole: for files not cut as a bundle is, or not
/// canonical, whose report names that.
fn check_whole(text: &str, pinned_key: Option<&str>) -> BundleReport {
    let b = match parse(text) {
        Ok(b) => b,
        Err(why) => return BundleReport { problems: vec![bad(ProblemKind::Unreadable, None, why)], ..BundleReport::default() },
    };
    let canonical = to_canonical_json(&b) == text;
    if b["format"] != FORMAT {
        let mut problems = Vec::new();
        if !canonical {
            problems.push(not_canonical());
        }
        problems.push(bad(ProblemKind::Unreadable, None, format!("not a {FORMAT} bundle")));
        return BundleReport { problems, ..BundleReport::default() };
    }
    let mut check = Check::new(&b, pinned_key);
    if !canonical {
        check.r.problems.insert(0, not_canonical());
    }
    let Some(steps) = b["steps"].as_array() else {
        check.r.problems.push(bad(ProblemKind::Unreadable, None, "the bundle holds no list of steps"));
        check.r.status = ReportStatus::of(check.r.problems.len() as u64, 0);
        return check.r;
    };
    for s in steps {
        check.step(s);
    }
    check.finish(b.get("access_log"))
}

/// The checks of one bundle: its checkpoint, then its steps in turn.
struct Check<'a> {
    r: BundleReport,
    pinned_key: Option<&'a str>,
    session: String,
    /// The checkpoint's size and root, once its signature verified.
    sealed: Option<(u64, Hash)>,
    /// The chain's link after the last step checked.
    link: Hash,
    /// Positions in the log, proven by each step's inclusion proof: a
    /// session's steps enter the log in their order, each once.
    previous_index: Option<u64>,
    project: String,
    /// The bundle's erasure and content expiry records signed by the
    /// checkpoint's key (of this session, for expiries).
    cover: Cover,
}

impl<'a> Check<'a> {
    /// The head's checks: the checkpoint's signature, and who signed it.
    fn new(head: &Value, pinned_key: Option<&'a str>) -> Self {
        let mut r = BundleReport::default();
        let (project, session) = (head["project"].as_str().unwrap_or(""), head["session_id"].as_str().unwrap_or(""));
        r.session_id = session.to_string();
        r.problems.extend(unknown_keys(head, &BUNDLE_KEYS, None, "the bundle"));
        r.problems.extend(unknown_keys(&head["checkpoint"], &CHECKPOINT_KEYS, None, "the checkpoint"));
        let mut sealed: Option<(u64, Hash)> = None;
        if let Some(c) = head["checkpoint"].as_object() {
            let size = c.get("tree_size").and_then(Value::as_u64).unwrap_or(0);
            let root = hash_field(c.get("root_hash"));
            let key = c.get("public_key").and_then(Value::as_str).unwrap_or("");
            let created = c.get("created_us").and_then(Value::as_i64).unwrap_or(0);
            let sig = c.get("signature").and_then(Value::as_str).unwrap_or("");
            r.public_key = Some(key.to_string());
            match root {
                Some(root) if signature_valid(key, &checkpoint_message(size, &root, created), sig) => sealed = Some((size, root)),
                _ => r.problems.push(bad(ProblemKind::BadSignature, None, "the checkpoint's signature does not verify")),
            }
            if pinned_key.is_some_and(|k| !k.eq_ignore_ascii_case(key)) {
                r.problems.push(bad(ProblemKind::WrongKey, None, "the checkpoint was signed by another key than the one given"));
            }
        } else if pinned_key.is_some() {
            // Without a checkpoint any file consistent with itself would
            // pass: a pinned key asks for proof, and there is none.
            r.problems.push(bad(ProblemKind::WrongKey, None, "the bundle carries no checkpoint, so nothing in it is signed by the key given"));
        }
        // The records that explain erased fields count only under the key
        // that signed the checkpoint (the one given, when one is).
        let key = sealed.and(r.public_key.clone());
        let key = key.as_deref();
        let erasures = signed_records(head, "erasures", &ERASURE_KEYS, &mut r.problems, |e: &ErasureRow| key.is_some_and(|k| erasure_signed(e, k)));
        let expiries =
            signed_records(head, "content_expiries", &EXPIRY_KEYS, &mut r.problems, |x: &ExpirationRow| key.is_some_and(|k| expiry_signed(x, k)));
        // Only this session's expiries list its steps' positions.
        let cover = Cover::checked(erasures, expiries.iter().filter(|x| x.project == project && x.session_id == session));
        Self {
            r,
            pinned_key,
            session: session.to_string(),
            sealed,
            link: chain_seed(project, session),
            previous_index: None,
            project: project.to_string(),
            cover,
        }
    }

    /// The next step of the list.
    fn step(&mut self, s: &Value) {
        let i = self.r.steps;
        let r = &mut self.r;
        r.steps += 1;
        let n = s["step"].as_u64();
        r.problems.extend(unknown_keys(s, &STEP_KEYS, n, "a step"));
        let (Some(recorded), Some(recorded_link)) = (hash_field(s.get("step_hash")), hash_field(s.get("chain_hash"))) else {
            r.problems.push(bad(ProblemKind::Unreadable, n, "a step's hashes are missing or not hex"));
            return;
        };
        let mut erased = BTreeMap::new();
        for (path, h) in s["erased"].as_object().into_iter().flatten() {
            if !is_erasable(path) {
                r.problems.push(bad(ProblemKind::Modified, n, not_erasable(path)));
            }
            if !field_is_null(&s["content"], path) {
                r.problems.push(bad(ProblemKind::RestoredAfterErasure, n, restored(path)));
            }
            match hash_field(Some(h)) {
                Some(h) => {
                    erased.insert(path.clone(), h);
                    r.erased.push(format!("step {}: {path}", n.unwrap_or(0)));
                }
                None => r.problems.push(bad(ProblemKind::Unreadable, n, format!("erased field {path} has a bad hash"))),
            }
        }
        if stored_step_hash(&s["content"], &erased) != recorded {
            r.problems.push(bad(ProblemKind::Modified, n, "the step's content does not match its hash"));
        }
        if s["content"]["step"].as_u64() != n || s["content"]["session_id"].as_str() != Some(self.session.as_str()) {
            r.problems.push(bad(ProblemKind::Modified, n, "the step is filed under another step number or session than its content says"));
        }
        if s["session_seq"].as_u64() != Some(i) {
            r.problems.push(bad(ProblemKind::MissingInSession, n, format!("expected position {i} in the session's chain")));
        }
        if chain_next(&self.link, &recorded) != recorded_link {
            r.problems.push(bad(ProblemKind::ChainBroken, n, "the session's hash chain breaks here"));
        }
        self.link = recorded_link;

        let index = s["log_index"].as_u64().unwrap_or(u64::MAX);
        if self.previous_index.is_some_and(|p| index <= p) {
            r.problems.push(bad(ProblemKind::RepeatedPosition, n, "the step's log position does not come after the one before it: steps were reordered or repeated"));
        }
        self.previous_index = Some(index);
        if !erased.is_empty() {
            let user = s["content"]["user_id"].as_str().unwrap_or("");
            if !self.cover.covers(&self.project, &self.session, user, index) {
                r.problems.push(bad(
                    ProblemKind::ErasedWithoutRecord,
                    n,
                    "the step has erased fields that no erasure or content expiry record in the bundle, signed by the checkpoint's key, covers",
                ));
            }
        }
        match self.sealed {
            Some((size, root)) if index < size => {
                let proof: Option<Vec<Hash>> =
                    s["inclusion_proof"].as_array().and_then(|p| p.iter().map(|h| hash_field(Some(h))).collect());
                if proof.is_some_and(|p| verify_inclusion(index, size, &leaf_hash(&recorded), &p, &root)) {
                    r.sealed += 1;
                } else {
                    r.problems.push(bad(ProblemKind::NotInLog, n, "the step is not proven to be in the signed log"));
                }
            }
            _ if self.pinned_key.is_some() && self.sealed.is_some() => {
                r.problems.push(bad(ProblemKind::NotInLog, n, "the step is not sealed by the checkpoint, so the key given proves nothing of it"));
            }
            _ => r.not_yet_sealed += 1,
        }
    }

    fn finish(mut self, access_log: Option<&Value>) -> BundleReport {
        // Every session has a step (a bundle is made of a session that has
        // one): an empty list proves nothing, and would pass every check.
        if self.r.steps == 0 {
            self.r.problems.push(bad(ProblemKind::MissingInSession, None, "the bundle lists no steps"));
        }
        if let Some(section) = access_log {
            self.r.access_log = Some(AccessSection { reads: section["reads"].as_array().map_or(0, |a| a.len() as u64), proven: false });
        }
        self.r.status = ReportStatus::of(self.r.problems.len() as u64, self.r.not_yet_sealed);
        self.r.verified = self.r.status == ReportStatus::Verified;
        self.r
    }
}

/// The records of the head's list `name` that `signed` accepts; one that
/// is not such a record, or not signed so, is named.
fn signed_records<T: serde::de::DeserializeOwned>(
    head: &Value,
    name: &str,
    keys: &[&str],
    problems: &mut Vec<Problem>,
    signed: impl Fn(&T) -> bool,
) -> Vec<T> {
    let mut kept = Vec::new();
    if head.get(name).is_some_and(|v| !v.is_array()) {
        problems.push(bad(ProblemKind::Unreadable, None, format!("{name} is not a list")));
    }
    for record in head[name].as_array().into_iter().flatten() {
        problems.extend(unknown_keys(record, keys, None, &format!("a record of {name}")));
        match serde_json::from_value::<T>(record.clone()) {
            Ok(r) if signed(&r) => kept.push(r),
            Ok(_) => problems.push(bad(ProblemKind::BadSignature, None, format!("a record of {name} is not signed by the checkpoint's key"))),
            Err(e) => problems.push(bad(ProblemKind::Unreadable, None, format!("a record of {name} cannot be read: {e}"))),
        }
    }
    kept
}

fn hash_field(v: Option<&Value>) -> Option<Hash> {
    hash_from_hex(v?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A bundle of `n` steps of session "s" without a checkpoint, made as
    /// Flightlog makes one; `edit` changes the tree before it is written.
    fn bundle(n: u64, edit: impl FnOnce(&mut Value)) -> String {
        bundle_of(n, |_| json!(null), edit)
    }

    /// [`bundle`], step i's metadata `metadata(i)` (null: none).
    fn bundle_of(n: u64, metadata: impl Fn(u64) -> Value, edit: impl FnOnce(&mut Value)) -> String {
        let mut link = chain_seed("p", "s");
        let steps: Vec<Value> = (0..n)
            .map(|i| {
                let mut content = json!({"session_id": "s", "step": i, "note": format!("a \"quoted\" }} {{ [ é \\ text {i}")});
                if !metadata(i).is_null() {
                    content["metadata"] = metadata(i);
                }
                let hash = stored_step_hash(&content, &BTreeMap::new());
                link = chain_next(&link, &hash);
                json!({"step": i, "log_index": 10 + i, "session_seq": i, "step_hash": hex::encode(hash),
                       "chain_hash": hex::encode(link), "erased": {}, "content": content, "inclusion_proof": null})
            })
            .collect();
        let mut b = json!({"format": FORMAT, "project": "p", "session_id": "s", "checkpoint": null, "steps": steps,
                           "access_log": {"complete": true, "reads": []}});
        edit(&mut b);
        to_canonical_json(&b)
    }

    fn report(r: &BundleReport) -> Value {
        serde_json::to_value(r).unwrap()
    }

    fn object_end(text: &str) -> Option<usize> {
        text.strip_prefix('{')?;
        Scan::inside_an_object().end_in(&text.as_bytes()[1..]).map(|n| n + 1)
    }

    fn in_pieces(text: &str) -> Option<BundleReport> {
        check_in_pieces(text.as_bytes(), None).unwrap()
    }

    #[test]
    fn an_object_ends_at_its_own_closing_bracket_whatever_its_strings_hold() {
        assert_eq!(object_end(r#"{"a":"}\"{]","b":[{}]},{"c":1}"#), Some(22));
        assert_eq!(object_end(r#"{"a":"\\"},"#), Some(10));
        assert_eq!(object_end(r#"{"a":[1,2}"#), None, "brackets that do not pair end nothing");
        assert_eq!(object_end(r#"{"a":"never closed}"#), None);
        assert_eq!(object_end(r#"[1]"#), None, "a step is an object");
    }

    /// Read a step at a time or whole, a bundle says the same, whatever is
    /// wrong inside it; and a file that is not canonical is read whole.
    #[test]
    fn a_bundle_read_in_pieces_reports_what_it_reads_whole() {
        let cases = [
            bundle(3, |_| {}),
            bundle(0, |_| {}),
            bundle(4, |b| b["steps"][2]["content"]["note"] = json!("changed")),
            bundle(4, |b| b["steps"].as_array_mut().unwrap().swap(1, 2)),
            bundle(2, |b| b["checkpoint"] = json!({"tree_size": 20, "root_hash": "ab".repeat(32), "created_us": 1, "public_key": "cd".repeat(32), "signature": "00"})),
        ];
        for (i, text) in cases.iter().enumerate() {
            let pieces = in_pieces(text).unwrap_or_else(|| panic!("case {i} is read in pieces"));
            assert_eq!(report(&pieces), report(&check_whole(text, None)), "case {i}");
            // Read through buffers of 1 to 16 bytes: pieces cut anywhere,
            // inside an escape or a character of two bytes too.
            for size in 1..=16 {
                let small = check_in_pieces(std::io::BufReader::with_capacity(size, text.as_bytes()), None).unwrap();
                assert_eq!(report(&small.expect("read in pieces")), report(&pieces), "case {i}, buffer {size}");
            }
            assert_eq!(report(&verify_bundle(text.as_bytes(), Some(&"cd".repeat(32)))), report(&check_whole(text, Some(&"cd".repeat(32)))));
        }
        assert_eq!(report(&verify_bundle(cases[0].as_bytes(), None))["status"], "intact_not_yet_sealed");
        assert_eq!(report(&verify_bundle(cases[2].as_bytes(), None))["status"], "failed");

        // Edits that keep the file cut as a bundle is, read in pieces, are
        // named as the whole file's reading names them.
        let spaced_head = cases[0].replacen(",", ", ", 1);
        let spaced_step = cases[0].replacen(r#""note":"a"#, r#""note": "a"#, 1);
        for edited in [&spaced_head, &spaced_step] {
            assert_ne!(edited, &cases[0]);
            let pieces = in_pieces(edited).expect("cut as a bundle is");
            assert_eq!(pieces.problems[0].kind, ProblemKind::NotCanonical);
            assert_eq!(report(&pieces), report(&check_whole(edited, None)));
        }
        // A head with a key after "steps", or a second "steps", is not cut
        // as a bundle is: the list would not be the file's only or last.
        let reordered = cases[0].replacen(r#"{"access_log""#, r#"{"zz":1,"access_log""#, 1);
        let key_before_steps = cases[0].replacen(r#","steps":["#, r#","zz":"anything","steps":["#, 1);
        let two_lists = cases[0].replacen(r#","steps":["#, r#","steps":{"fake":1},"steps":["#, 1);
        for edited in [&reordered, &key_before_steps, &two_lists] {
            assert_ne!(edited, &cases[0]);
            assert!(in_pieces(edited).is_none(), "{edited}");
            let whole = verify_bundle(edited.as_bytes(), None);
            assert_eq!(report(&whole)["status"], "failed", "{edited}");
            assert!(whole.problems.iter().any(|p| p.kind == ProblemKind::NotCanonical), "{edited}");
        }
        let with_newline = format!("{}\n", cases[0]);
        assert!(in_pieces(&with_newline).is_some(), "one newline at the end is allowed");
        assert!(in_pieces(&format!("{with_newline}\n")).is_none());
        for cut in [&cases[0][..cases[0].len() - 1], &cases[0][..cases[0].len() - 40]] {
            assert!(in_pieces(cut).is_none());
            assert_eq!(report(&verify_bundle(cut.as_bytes(), None))["problems"][0]["kind"], "unreadable");
        }
    }

    #[test]
    fn a_step_nested_as_deep_as_ingestion_takes_is_checked() {
        let nested = |levels: usize| (0..levels).fold(json!(1), |v, _| json!([v]));
        // Ingestion takes a step whose metadata nests 126 deep (the record's
        // object, then 127 levels: serde_json's limit is 128).
        let step: Value = json!({"session_id": "s", "step": 0, "metadata": nested(126)});
        assert!(serde_json::from_str::<Value>(&to_canonical_json(&step)).is_ok(), "as deep as ingestion takes");
        let deep = bundle_of(2, |i| if i == 1 { nested(126) } else { json!(null) }, |_| {});
        assert!(serde_json::from_str::<Value>(&deep).is_err(), "deeper than serde_json's default limit in a bundle");
        let pieces = in_pieces(&deep).expect("read in pieces");
        assert_eq!(report(&pieces)["status"], "intact_not_yet_sealed", "{}", report(&pieces));
        assert_eq!(report(&check_whole(&deep, None)), report(&pieces));

        let too_deep = bundle_of(1, |_| nested(MAX_DEPTH), |_| {});
        let r = verify_bundle(too_deep.as_bytes(), None);
        assert_eq!((r.status, r.problems[0].kind), (ReportStatus::Failed, ProblemKind::Unreadable));
        assert!(r.problems[0].detail.contains("deeper than any bundle"), "{:?}", r.problems);
        // Counted, not parsed: a million levels do not overflow the stack.
        let million = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(parse(&million).unwrap_err().contains("deeper than any bundle"));
    }

    #[test]
    fn a_key_the_format_does_not_have_or_an_empty_list_fails() {
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let edits: [(&str, Edit); 3] = [
            ("the bundle", Box::new(|b: &mut Value| b["zz"] = json!(1))),
            ("a step", Box::new(|b: &mut Value| b["steps"][1]["note"] = json!("added"))),
            ("the checkpoint", Box::new(|b: &mut Value| {
                b["checkpoint"] = json!({"tree_size": 20, "root_hash": "ab".repeat(32), "created_us": 1, "public_key": "cd".repeat(32),
                                         "signature": "00", "comment": "x"})
            })),
        ];
        for (what, edit) in edits {
            let r = verify_bundle(bundle(3, edit).as_bytes(), None);
            assert_eq!(r.status, ReportStatus::Failed, "{what}");
            assert!(r.problems.iter().any(|p| p.kind == ProblemKind::Modified && p.detail.starts_with(what)), "{what}: {:?}", r.problems);
        }
        let empty = verify_bundle(bundle(0, |_| {}).as_bytes(), None);
        assert_eq!(empty.status, ReportStatus::Failed);
        assert_eq!(empty.problems[0].detail, "the bundle lists no steps");
        assert_eq!(verify_bundle(bundle(3, |_| {}).as_bytes(), None).status, ReportStatus::IntactNotYetSealed);
    }
}
