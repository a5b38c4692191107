//! A session's waterfall: its steps on a time axis. A range with few
//! enough steps comes back step by step; a longer one (a 10,000-step
//! session seen whole) in time slices counted by the engine, from which
//! the reader zooms into a range. Either way the work is bounded.

use crate::{AppError, AppState, params};
use flightlog_model::time::END_OF_TIME_US;
use flightlog_store::waterfall::{WaterfallSlice, WaterfallStep};

/// At most this many steps are drawn one by one; a range holding more is
/// drawn in slices.
pub const MAX_BARS: u64 = 400;
/// How many time slices a long range is cut into.
pub const SLICES: i64 = 120;

/// The range asked for, as the browser sends it (µs since the epoch).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct WaterfallParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug)]
pub enum WaterfallMarks {
    Steps(Vec<WaterfallStep>),
    Slices { width_us: i64, slices: Vec<WaterfallSlice> },
}

#[derive(Clone, Debug)]
pub struct Waterfall {
    /// The range drawn, [from_us, to_us).
    pub from_us: i64,
    pub to_us: i64,
    /// The whole session, for zooming back out.
    pub session_from_us: i64,
    pub session_to_us: i64,
    pub steps_in_range: u64,
    pub session_steps: u64,
    /// Tokens of the steps before the range: where its cumulative line starts.
    pub tokens_before: u64,
    pub marks: WaterfallMarks,
}

impl Waterfall {
    pub fn zoomed(&self) -> bool {
        self.from_us > self.session_from_us || self.to_us < self.session_to_us
    }
}

/// A bound of the range, in µs since the epoch, within the times a step
/// can have: the drawing subtracts and adds them.
fn micros(name: &str, s: Option<&str>) -> Result<Option<i64>, AppError> {
    match params::number::<i64>(name, s.filter(|s| !s.is_empty()))? {
        Some(us) if !(0..=END_OF_TIME_US).contains(&us) => Err(AppError::invalid(
            name,
            format!("must be microseconds since 1970-01-01, at most {END_OF_TIME_US} (2200-01-01), got {us}"),
        )),
        us => Ok(us),
    }
}

impl AppState {
    pub async fn waterfall(&self, project: &str, id: &str, range: &WaterfallParams) -> Result<Waterfall, AppError> {
        crate::params::session_id(id)?;
        let from = micros("from", range.from.as_deref())?;
        let to = micros("to", range.to.as_deref())?;
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(AppError::invalid("to", format!("the range must end after it starts ({f} to {t})")));
        }
        let extent = self.store.waterfall_extent(project, id, from.unwrap_or(0), to.unwrap_or(END_OF_TIME_US)).await?;
        if extent.steps == 0 {
            return Err(AppError::no_session(id));
        }
        // A step's end is its start plus a duration the client reported,
        // which may reach past any time a range can name.
        let session_to_us = extent.last_us.max(extent.first_us).saturating_add(1).min(END_OF_TIME_US);
        let session_from_us = extent.first_us;
        let from_us = from.unwrap_or(session_from_us);
        let to_us = to.unwrap_or(session_to_us);
        let marks = if extent.in_range <= MAX_BARS {
            WaterfallMarks::Steps(self.store.waterfall_steps(project, id, from_us, to_us).await?)
        } else {
            let width_us = ((to_us - from_us + SLICES - 1) / SLICES).max(1);
            WaterfallMarks::Slices { width_us, slices: self.store.waterfall_slices(project, id, from_us, to_us, width_us).await? }
        };
        Ok(Waterfall {
            from_us,
            to_us,
            session_from_us,
            session_to_us,
            steps_in_range: extent.in_range,
            session_steps: extent.steps,
            tokens_before: extent.tokens_before,
            marks,
        })
    }
}
