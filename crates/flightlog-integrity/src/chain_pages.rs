//! One session's stored rows read a page at a time in the order of its
//! hash chain, so that a check or a bundle of a session of any length
//! holds a page or two of content, not the session.
//!
//! The chain's order (`session_seq`, then `log_index`) is not the primary
//! key's (the step number). So the session's places are read first, a few
//! bytes a row, and each page is then read by its step numbers.

use flightlog_store::{ChainPosition, IntegrityRow, Store, StoreError};
use crate::read_ahead::ReadAhead;
use std::sync::Arc;

/// Rows a page holds (a little more where copies of one row, inserted by
/// tampering, would otherwise be split across two).
pub(crate) const PAGE_ROWS: usize = 5_000;

/// The pages of one session, read one ahead of their use (read_ahead.rs).
pub(crate) struct ChainPages {
    places: Arc<[ChainPosition]>,
    pages: ReadAhead<Vec<IntegrityRow>>,
}

impl ChainPages {
    pub(crate) async fn open(store: &Store, project: &str, session: &str) -> Result<Self, StoreError> {
        let places: Arc<[ChainPosition]> = store.session_chain_positions(project, session).await?.into();
        let (store, project, session, plan) = (store.clone(), project.to_string(), session.to_string(), places.clone());
        let pages = ReadAhead::start(|feed| async move {
            let mut from = 0;
            while let Some(page) = page_at(&plan, from) {
                let Some(slot) = feed.slot().await else { return };
                from += page.len();
                let read = read_page(&store, &project, &session, page).await;
                let failed = read.is_err();
                slot.send(read);
                if failed {
                    return;
                }
            }
        });
        Ok(Self { places, pages })
    }

    /// Where every row of the session stands, in chain order.
    pub(crate) fn places(&self) -> &[ChainPosition] {
        &self.places
    }

    /// The next page's rows, in chain order (rows at the same place in
    /// step order); None after the last.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<IntegrityRow>>, StoreError> {
        self.pages.next().await.transpose()
    }
}

/// One page's rows, in chain order (rows at one place in step order): read
/// by their step numbers and places, so that a copy of a step filed at
/// another place (by tampering) is read by its own page only.
async fn read_page(store: &Store, project: &str, session: &str, page: &[ChainPosition]) -> Result<Vec<IntegrityRow>, StoreError> {
    let mut steps: Vec<u64> = page.iter().map(|p| p.step).collect();
    steps.sort_unstable();
    steps.dedup();
    let places = page[0].place()..=page[page.len() - 1].place();
    // As many rows as were there when the places were read: rows filed
    // since (by tampering) do not grow a page without bound.
    let limit = u32::try_from(page.len()).unwrap_or(u32::MAX);
    let mut rows = store.session_integrity_rows_at(project, session, &steps, places, limit).await?;
    rows.sort_by_key(IntegrityRow::place);
    Ok(rows)
}

/// The page of `plan` starting at `from`: about [`PAGE_ROWS`] places, never
/// ending between two rows at the same place, which the read of the next
/// page by place would take again.
fn page_at(plan: &[ChainPosition], from: usize) -> Option<&[ChainPosition]> {
    let rest = plan.get(from..).filter(|r| !r.is_empty())?;
    let mut end = PAGE_ROWS.min(rest.len());
    while end < rest.len() && rest[end].place() == rest[end - 1].place() {
        end += 1;
    }
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_never_ends_between_rows_at_one_place() {
        let at = |seq: u64| ChainPosition { session_seq: seq, log_index: seq, step: seq };
        let mut plan: Vec<ChainPosition> = (0..PAGE_ROWS as u64 + 5).map(at).collect();
        plan.insert(PAGE_ROWS, at(PAGE_ROWS as u64 - 1));
        plan.insert(PAGE_ROWS, at(PAGE_ROWS as u64 - 1));
        let first = page_at(&plan, 0).unwrap();
        assert_eq!(first.len(), PAGE_ROWS + 2, "the copies stay with their original");
        assert_eq!(page_at(&plan, first.len()).unwrap().len(), 5);
        assert!(page_at(&plan, plan.len()).is_none());
        assert_eq!(page_at(&plan[..3], 0).unwrap().len(), 3);
    }
}
