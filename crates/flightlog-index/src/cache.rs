//! Identical texts are embedded once: vectors are kept by the SHA-256 of
//! their text and the model that read it, oldest forgotten first once the
//! cache is full.

use flightlog_embed::Reader;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub type TextHash = [u8; 32];

/// The key of `text` as `reader` reads it: the same words read by the
/// word table and by the sentence model are two vectors.
pub fn text_hash(reader: Reader, text: &str) -> TextHash {
    let tag: &[u8] = match reader {
        Reader::Sentence => b"sentence\0",
        Reader::Words => b"words\0",
    };
    Sha256::new().chain_update(tag).chain_update(text.as_bytes()).finalize().into()
}

pub struct VectorCache {
    capacity: usize,
    vectors: HashMap<TextHash, Arc<Vec<f32>>>,
    order: VecDeque<TextHash>,
    pub hits: u64,
    pub misses: u64,
}

impl VectorCache {
    /// A cache of at most `capacity` vectors (384 floats are 1.5 KiB).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), vectors: HashMap::new(), order: VecDeque::new(), hits: 0, misses: 0 }
    }

    pub fn get(&mut self, hash: &TextHash) -> Option<Arc<Vec<f32>>> {
        let found = self.vectors.get(hash).cloned();
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    pub fn put(&mut self, hash: TextHash, vector: Arc<Vec<f32>>) {
        if self.vectors.insert(hash, vector).is_some() {
            return;
        }
        self.order.push_back(hash);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.vectors.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_up_to_capacity_and_counts_hits() {
        let mut c = VectorCache::new(2);
        let key = |t| text_hash(Reader::Sentence, t);
        let (a, b, d) = (key("a"), key("b"), key("d"));
        assert_ne!(a, text_hash(Reader::Words, "a"), "one text read two ways is two entries");
        c.put(a, Arc::new(vec![1.0]));
        c.put(b, Arc::new(vec![2.0]));
        c.put(a, Arc::new(vec![1.0])); // already there: no reorder, no growth
        assert_eq!(c.len(), 2);
        c.put(d, Arc::new(vec![3.0]));
        assert_eq!(c.len(), 2);
        assert!(c.get(&a).is_none(), "the oldest went first");
        assert_eq!(c.get(&b).as_deref(), Some(&vec![2.0]));
        assert_eq!(c.get(&d).as_deref(), Some(&vec![3.0]));
        assert_eq!((c.hits, c.misses), (2, 1));
    }
}
