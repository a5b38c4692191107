//! SHA-256 of a long field value, resumed from the value before it.
//!
//! An agent sends the whole conversation so far with each LLM call, so
//! step k+1's `prompt.messages` is step k's with one more message, and a
//! span's attributes grow the same way. Hashing every field on its own
//! (`integrity::field_hash`) then hashed the whole conversation again at
//! every step: SHA-256 was the request's largest cost for such steps
//! (17% of `flightlog-bench write-path --conversations`'s request CPU).
//!
//! SHA-256 reads its input front to back, so the state after a prefix can
//! be kept and continued. For each thread and path (its last few), the
//! last long value hashed is kept with the hasher's state every
//! [`CHECKPOINT`] bytes into it. The next value of that path on that
//! thread is compared with it byte for byte; hashing resumes from the last
//! checkpoint inside the common prefix. The result is the hash of the
//! value, whatever was kept: a state is only reused for bytes equal to
//! those it was made from. A request's steps are hashed in order on one
//! thread, so a session sent step by step, or whole, gains; steps of
//! several sessions interleaved in one request do not.
//!
//! What is kept is content: at most [`KEPT`] values in the whole process,
//! and [`forget`] (called by every erasure and expiry) drops them all, so
//! erased content does not stay here.

use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// Values shorter than this are hashed from the start: comparing and
/// copying them would cost about what it saves.
pub const MIN_BYTES: usize = 8 * 1024;

/// Values longer than this are hashed from the start and not kept.
const MAX_BYTES: usize = 1 << 20;

/// How far apart the kept states are.
const CHECKPOINT: usize = 4096;

/// Values kept in the whole process (one per thread and path): at most
/// this many MiB. Steps are decoded on as many threads as requests at once.
const KEPT: usize = 32;

struct Last {
    thread: std::thread::ThreadId,
    /// What was hashed before the value (domain, path, separator).
    head: Vec<u8>,
    value: Vec<u8>,
    /// (n, the hasher after `head` and `value[..n]`), n a multiple of
    /// [`CHECKPOINT`], ascending.
    states: Vec<(usize, Sha256)>,
}

/// Newest last. Taken out while a value is hashed, so the lock is held
/// only to find and to put back.
static LAST: Mutex<Vec<Last>> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Vec<Last>> {
    // Nothing is left half-done under the lock: a poisoned one is sound.
    LAST.lock().unwrap_or_else(|p| p.into_inner())
}

/// Drops every value kept: called when content is erased or expires.
pub fn forget() {
    kept().clear();
}

/// SHA-256 of `head` then `value`.
pub fn hash(head: &[u8], value: &[u8]) -> [u8; 32] {
    if value.len() < MIN_BYTES || value.len() > MAX_BYTES {
        let mut h = Sha256::new();
        h.update(head);
        h.update(value);
        return h.finalize().into();
    }
    let thread = std::thread::current().id();
    let found = {
        let mut kept = kept();
        let at = kept.iter().position(|l| l.thread == thread && l.head == head);
        at.map(|i| kept.remove(i))
    };
    let mut last = found.unwrap_or_else(|| Last { thread, head: head.to_vec(), value: Vec::new(), states: Vec::new() });
    let common = common_prefix(&last.value, value);
    last.states.retain(|(n, _)| *n <= common);
    let (mut at, mut h) = match last.states.last() {
        Some((n, state)) => (*n, state.clone()),
        None => {
            let mut h = Sha256::new();
            h.update(head);
            (0, h)
        }
    };
    while at + CHECKPOINT <= value.len() {
        h.update(&value[at..at + CHECKPOINT]);
        at += CHECKPOINT;
        last.states.push((at, h.clone()));
    }
    h.update(&value[at..]);
    // A copy of this size: a buffer kept from a longer value would hold
    // more than the bound says.
    last.value = value.to_vec();
    let mut kept = kept();
    kept.push(last);
    if kept.len() > KEPT {
        kept.remove(0);
    }
    drop(kept);
    h.finalize().into()
}

/// How many leading bytes `a` and `b` share, a checkpoint's worth at a
/// time (each a `memcmp`), then byte by byte in the first that differs.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + CHECKPOINT <= n && a[at..at + CHECKPOINT] == b[at..at + CHECKPOINT] {
        at += CHECKPOINT;
    }
    at + a[at..n].iter().zip(&b[at..n]).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(head: &[u8], value: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(head);
        h.update(value);
        h.finalize().into()
    }

    /// A conversation's text after `turns` messages, as canonical JSON.
    fn conversation(turns: usize) -> Vec<u8> {
        let messages: Vec<String> = (0..turns).map(|i| format!(r#"{{"content":"turn {i}: {}","role":"user"}}"#, "words ".repeat(200))).collect();
        format!("[{}]", messages.join(",")).into_bytes()
    }

    #[test]
    fn a_growing_value_hashes_as_from_the_start() {
        for turns in 1..40 {
            let value = conversation(turns);
            assert_eq!(hash(b"head/a\0", &value), plain(b"head/a\0", &value), "{turns} turns");
        }
    }

    #[test]
    fn any_value_after_any_other_hashes_as_from_the_start() {
        let long = conversation(30);
        let mut changed_early = long.clone();
        changed_early[10] ^= 1;
        let mut changed_late = long.clone();
        let last = changed_late.len() - 3;
        changed_late[last] ^= 1;
        let shorter = conversation(20);
        let exactly_a_checkpoint = long[..CHECKPOINT * 3].to_vec();
        let cases: Vec<(&[u8], Vec<u8>)> = vec![
            (b"head/a\0", long.clone()),
            (b"head/a\0", changed_late),
            (b"head/a\0", changed_early),
            (b"head/b\0", long.clone()),
            (b"head/a\0", shorter),
            (b"head/a\0", long.clone()),
            (b"head/a\0", exactly_a_checkpoint.clone()),
            (b"head/a\0", exactly_a_checkpoint),
            (b"head/a\0", vec![b'x'; MIN_BYTES - 1]),
            (b"head/a\0", vec![b'x'; MIN_BYTES + 1]),
            (b"head/c\0", long.clone()),
            (b"head/d\0", long.clone()),
            (b"head/e\0", long.clone()),
            (b"head/f\0", long.clone()),
            (b"head/a\0", long.clone()),
            (b"head/a\0", [&long[..], &vec![b'y'; MAX_BYTES][..]].concat()),
            (b"head/a\0", long.clone()),
            // The same bytes after another head: never the other's states.
            (b"head/a\0\0", long[1..].to_vec()),
        ];
        for (i, (head, value)) in cases.iter().enumerate() {
            assert_eq!(hash(head, value), plain(head, value), "case {i}");
        }
    }

    #[test]
    fn forgotten_values_and_other_threads_change_nothing_but_the_work() {
        let (a, b) = (conversation(20), conversation(21));
        assert_eq!(hash(b"head/g\0", &a), plain(b"head/g\0", &a));
        forget();
        assert!(!kept().iter().any(|l| l.head == b"head/g\0"), "forgotten");
        assert_eq!(hash(b"head/g\0", &b), plain(b"head/g\0", &b));
        let other = std::thread::spawn(move || hash(b"head/g\0", &conversation(22))).join().unwrap();
        assert_eq!(other, plain(b"head/g\0", &conversation(22)));
        assert!(kept().len() <= KEPT);
    }

    #[test]
    fn the_common_prefix_is_found_across_checkpoints() {
        let a = conversation(30);
        for at in [0, 1, CHECKPOINT - 1, CHECKPOINT, CHECKPOINT + 1, 3 * CHECKPOINT + 17, a.len() - 1] {
            let mut b = a.clone();
            b[at] ^= 1;
            assert_eq!(common_prefix(&a, &b), at);
        }
        assert_eq!(common_prefix(&a, &a[..100]), 100);
        assert_eq!(common_prefix(&a, &a), a.len());
    }
}
