//! When the hourly cost rollups (schema/0020_cost_rollups.sql) give exactly
//! the cost the steps would, and which hours and models must be read from
//! the steps instead.
//!
//! A rollup row sums the tokens of one hour's steps of one session, model,
//! agent, user, tool and input band, and is priced at the hour's start. That
//! is the steps' own cost when one price applies to all of them and every
//! step of the row is on the same side of the price's tier threshold:
//! - a price that takes effect at an hour's start covers the whole hour; one
//!   that takes effect inside an hour splits it, so that hour of that model
//!   is read from the steps;
//! - the input bands split rows at [`INPUT_BAND_EDGES`], so a threshold that
//!   is an edge never falls inside a row; a model with any other threshold
//!   is read from the steps (a project's own tier, say at 100k).

use std::collections::BTreeSet;

/// One hour in microseconds: the rollups' time step.
pub const HOUR_US: i64 = 3_600_000_000;

/// The input sizes (tokens in one call) at which providers' long-context
/// prices start, as the rollups' band edges; a call's band is how many of
/// them its input exceeds. The same list is written in the rollups' view.
pub const INPUT_BAND_EDGES: [u64; 3] = [128_000, 200_000, 272_000];

/// A row of the price list or of a project's overrides, as far as the
/// rollups care: when it applies from, and its tier threshold (0: none).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct PriceChange {
    pub model_key: String,
    pub from_us: i64,
    pub tier_threshold: u64,
}

/// What must be read from the steps rather than the rollups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadFromSteps {
    /// Models with a tier threshold that is not a band edge: all their hours.
    pub models: BTreeSet<String>,
    /// (model, start of the hour in µs): hours in which a price of the
    /// model takes effect after the hour's start.
    pub hours: BTreeSet<(String, i64)>,
}

impl ReadFromSteps {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.hours.is_empty()
    }
}

/// Where the rollups cannot price exactly, given every price row that
/// applies to a project (the list's and the project's own).
pub fn read_from_steps<'a>(prices: impl IntoIterator<Item = &'a PriceChange>) -> ReadFromSteps {
    let mut out = ReadFromSteps::default();
    for p in prices {
        if p.tier_threshold != 0 && !INPUT_BAND_EDGES.contains(&p.tier_threshold) {
            out.models.insert(p.model_key.clone());
        }
        if p.from_us.rem_euclid(HOUR_US) != 0 {
            out.hours.insert((p.model_key.clone(), hour_of(p.from_us)));
        }
    }
    // A model read whole needs no hours of its own.
    out.hours.retain(|(model, _)| !out.models.contains(model));
    out
}

/// The start of the hour holding `us`.
pub fn hour_of(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
}

/// The whole hours inside [from_us, to_us), as [first, end) in µs, or none
/// when no whole hour fits: what a query can read from the rollups. The
/// part of the range before and after them is read from the steps.
pub fn whole_hours(from_us: i64, to_us: i64) -> Option<(i64, i64)> {
    let first = hour_of(from_us) + if from_us.rem_euclid(HOUR_US) == 0 { 0 } else { HOUR_US };
    let end = hour_of(to_us);
    (first < end).then_some((first, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(model: &str, from_us: i64, tier_threshold: u64) -> PriceChange {
        PriceChange {
            model_key: model.into(),
            from_us,
            tier_threshold,
        }
    }

    #[test]
    fn prices_on_the_hour_with_edge_thresholds_need_no_steps() {
        let list = [price("a", 0, 0), price("a", 5 * HOUR_US, 200_000), price("b", 24 * HOUR_US, 128_000)];
        assert!(read_from_steps(&list).is_empty());
    }

    #[test]
    fn a_price_taking_effect_inside_an_hour_sends_that_hour_of_that_model_to_the_steps() {
        let list = [price("a", 0, 0), price("a", 5 * HOUR_US + 1, 0), price("b", -1, 0)];
        let got = read_from_steps(&list);
        assert!(got.models.is_empty());
        assert_eq!(got.hours, BTreeSet::from([("a".to_string(), 5 * HOUR_US), ("b".to_string(), -HOUR_US)]));
    }

    #[test]
    fn a_threshold_that_is_not_an_edge_sends_the_whole_model_to_the_steps() {
        let list = [price("a", 0, 100_000), price("a", 90 * 60 * 1_000_000, 0), price("b", 0, 272_000)];
        let got = read_from_steps(&list);
        assert_eq!(got.models, BTreeSet::from(["a".to_string()]));
        assert!(got.hours.is_empty(), "the model is read whole: {got:?}");
    }

    #[test]
    fn whole_hours_round_inwards() {
        assert_eq!(whole_hours(0, 3 * HOUR_US), Some((0, 3 * HOUR_US)));
        assert_eq!(whole_hours(1, 3 * HOUR_US - 1), Some((HOUR_US, 2 * HOUR_US)));
        assert_eq!(whole_hours(1, 2 * HOUR_US - 1), None);
        assert_eq!(whole_hours(HOUR_US, HOUR_US), None);
        assert_eq!(
            whole_hours(0, crate::time::END_OF_TIME_US),
            Some((0, crate::time::END_OF_TIME_US)),
            "the default range is whole hours"
        );
    }
}
