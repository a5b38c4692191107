//! The newest checkpoint this instance signed, kept outside the database
//! (`DATA_DIR/integrity/last-checkpoint`): the database alone cannot tell a
//! checkpoint deleted together with the log's tail from one never signed,
//! and the writer would hand the tail's positions out again.

use flightlog_model::merkle::{Hash, hash_from_hex};
use std::io::Write;
use std::path::PathBuf;

pub struct Mark {
    path: PathBuf,
}

impl Mark {
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    /// The size and root last written; None when there is none (a new
    /// instance, or one upgraded from before the mark) or it cannot be
    /// read (logged).
    pub fn read(&self) -> Option<(u64, Hash)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the mark of the last checkpoint signed");
                return None;
            }
        };
        let (size, root) = text.trim().split_once(' ')?;
        Some((size.parse().ok()?, hash_from_hex(root)?))
    }

    /// How many entries the marked checkpoint covered, when the newest
    /// checkpoint at hand covers fewer (`newest_size`): the marked one was
    /// deleted, with the log's tail or without.
    pub fn deleted_beyond(&self, newest_size: u64) -> Option<u64> {
        let (marked, _) = self.read()?;
        (newest_size < marked).then_some(marked)
    }

    /// How many entries the marked checkpoint covered, when no stored
    /// checkpoint reaches as far (one stored with a bad signature counts as
    /// stored: the log's check names that); None without a mark.
    pub async fn deleted_from(&self, store: &flightlog_store::Store) -> Result<Option<u64>, flightlog_store::StoreError> {
        if self.read().is_none() {
            return Ok(None);
        }
        Ok(self.deleted_beyond(store.latest_checkpoint().await?.map_or(0, |c| c.tree_size)))
    }

    /// Replaces the mark, durably: written aside, fsynced, renamed over.
    pub fn write(&self, size: u64, root: &Hash) -> std::io::Result<()> {
        let aside = self.path.with_extension("new");
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(&aside)?;
        writeln!(file, "{size} {}", hex::encode(root))?;
        file.sync_all()?;
        std::fs::rename(&aside, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_what_was_written_and_none_before() {
        let dir = tempfile::tempdir().unwrap();
        let mark = Mark::at(dir.path().join("integrity/last-checkpoint"));
        assert_eq!(mark.read(), None);
        mark.write(14, &[7; 32]).unwrap();
        mark.write(18, &[9; 32]).unwrap();
        assert_eq!(mark.read(), Some((18, [9; 32])));
        std::fs::write(dir.path().join("integrity/last-checkpoint"), "eighteen").unwrap();
        assert_eq!(mark.read(), None, "an unreadable mark is no mark");
    }
}
