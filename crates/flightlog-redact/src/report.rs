//! What a redaction did to one step: where, what kind, how many. Never the
//! original text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kind::Kind;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// One entry per field and kind, in the order the fields were walked.
    pub redactions: Vec<Redaction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// A JSON pointer to the string (or dropped field): `/tool/params/to`.
    pub path: String,
    pub kind: Kind,
    /// How many values of this kind were replaced in this field.
    pub count: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.redactions.is_empty()
    }

    /// Replacements per kind, over all fields.
    pub fn totals(&self) -> BTreeMap<Kind, usize> {
        let mut totals = BTreeMap::new();
        for redaction in &self.redactions {
            *totals.entry(redaction.kind.clone()).or_insert(0) += redaction.count;
        }
        totals
    }

    /// Replacements of every kind together.
    pub fn total(&self) -> usize {
        self.redactions.iter().map(|r| r.count).sum()
    }

    pub(crate) fn add(&mut self, path: &str, kind: &Kind) {
        // A field's findings are added together, so its entries are the
        // last ones.
        let mut this_field = self
            .redactions
            .iter_mut()
            .rev()
            .take_while(|r| r.path == path);
        match this_field.find(|r| r.kind == *kind) {
            Some(redaction) => redaction.count += 1,
            None => self.redactions.push(Redaction {
                path: path.to_owned(),
                kind: kind.clone(),
                count: 1,
            }),
        }
    }
}
