//! One session's stored rows read a page at a time in the order of its
//! hash chain, so that a check or a bundle of a session of any length
//! holds one page of content, not the session.
//!
//! The chain's order (`session_seq`, then `log_index`) is not the primary
//! key's (the step number). So the session's places are read first, a few
//! bytes a row, and each page is then read by its step numbers.

use flightlog_store::{ChainPosition, IntegrityRow, Store, StoreError};
use std::collections::HashMap;

/// Rows a page holds (a little more where copies of one row, inserted by
/// tampering, would otherwise be split across two).
pub(crate) const PAGE: usize = 1_000;

pub(crate) struct ChainPages<'a> {
    store: &'a Store,
    project: &'a str,
    session: &'a str,
    plan: Vec<ChainPosition>,
    /// Rows stored under each step number: what a page's read may return.
    copies: HashMap<u64, u32>,
    next: usize,
}

impl<'a> ChainPages<'a> {
    pub(crate) async fn open(store: &'a Store, project: &'a str, session: &'a str) -> Result<Self, StoreError> {
        let plan = store.session_chain_positions(project, session).await?;
        let mut copies: HashMap<u64, u32> = HashMap::new();
        for p in &plan {
            *copies.entry(p.step).or_default() += 1;
        }
        Ok(Self { store, project, session, plan, copies, next: 0 })
    }

    /// Where every row of the session stands, in chain order.
    pub(crate) fn places(&self) -> &[ChainPosition] {
        &self.plan
    }

    /// The next page's rows, in chain order (rows at the same place in
    /// step order); None after the last.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<IntegrityRow>>, StoreError> {
        let Some(page) = page_at(&self.plan, self.next) else { return Ok(None) };
        self.next += page.len();
        let mut steps: Vec<u64> = page.iter().map(|p| p.step).collect();
        steps.sort_unstable();
        steps.dedup();
        let limit = steps.iter().map(|s| self.copies[s]).sum();
        let mut rows = self.store.session_integrity_rows_of_steps(self.project, self.session, &steps, limit).await?;
        // A step number read here may also have a row elsewhere in the
        // chain (a copy filed at another place): each row is taken in the
        // page its place falls in, once.
        let (first, last) = (place_of(&page[0]), place_of(&page[page.len() - 1]));
        let place = |r: &IntegrityRow| (r.session_seq, r.log_index);
        rows.retain(|r| first <= place(r) && place(r) <= last);
        rows.sort_by_key(place);
        Ok(Some(rows))
    }
}

fn place_of(p: &ChainPosition) -> (u64, u64) {
    (p.session_seq, p.log_index)
}

/// The page of `plan` starting at `from`: about [`PAGE`] places, never
/// ending between two rows at the same place, which the read of the next
/// page by place would take again.
fn page_at(plan: &[ChainPosition], from: usize) -> Option<&[ChainPosition]> {
    let rest = plan.get(from..).filter(|r| !r.is_empty())?;
    let mut end = PAGE.min(rest.len());
    while end < rest.len() && place_of(&rest[end]) == place_of(&rest[end - 1]) {
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
        let mut plan: Vec<ChainPosition> = (0..PAGE as u64 + 5).map(at).collect();
        plan.insert(PAGE, at(PAGE as u64 - 1));
        plan.insert(PAGE, at(PAGE as u64 - 1));
        let first = page_at(&plan, 0).unwrap();
        assert_eq!(first.len(), PAGE + 2, "the copies stay with their original");
        assert_eq!(page_at(&plan, first.len()).unwrap().len(), 5);
        assert!(page_at(&plan, plan.len()).is_none());
        assert_eq!(page_at(&plan[..3], 0).unwrap().len(), 3);
    }
}
