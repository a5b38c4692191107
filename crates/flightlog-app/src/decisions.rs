//! One decision explained: the step, the steps that led to it, what the
//! session set out to do, and whether the record of it is proven unaltered
//! (the "why" page's content, and the MCP server's next).

use crate::{AppError, AppState};
use flightlog_integrity::verify;
use flightlog_store::StoredStep;
use serde_json::Value;

/// How many earlier steps an explanation carries.
pub const EARLIER_STEPS: u64 = 10;

pub struct Explanation {
    pub step: StoredStep,
    /// The steps just before it, oldest first (at most [`EARLIER_STEPS`]).
    pub earlier: Vec<StoredStep>,
    /// What the session set out to do (see [`goal_of`]).
    pub goal: String,
    /// Where in the session's first step the goal is (a JSON pointer), so
    /// a page can tell what redaction put into it.
    pub goal_pointer: String,
    /// The session's first step, which the goal is read from, when it is
    /// neither the step nor among the earlier ones: its content is returned
    /// too (the goal), so a front end's access record names its user.
    pub goal_step: Option<StoredStep>,
    /// The step's integrity report; None when it could not be checked.
    pub report: Option<verify::Report>,
}

/// What a session set out to do, from its first step: the first user
/// message, else the system prompt, else the reasoning; with where in the
/// step it is (a JSON pointer).
pub fn goal_of(first: &StoredStep) -> (String, String) {
    let v: Value = flightlog_model::stored::read_step_json(&first.raw).unwrap_or(Value::Null);
    let user = v["prompt"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, m)| m["role"] == "user")
        .and_then(|(i, m)| m["content"].as_str().map(|c| (c.to_string(), format!("/prompt/messages/{i}/content"))));
    let at = |pointer: &str| v.pointer(pointer).and_then(Value::as_str).map(|t| (t.to_string(), pointer.to_string()));
    user.or_else(|| at("/prompt/system")).or_else(|| at("/agent_thoughts/reasoning")).unwrap_or_default()
}

impl AppState {
    /// Step `n` of a session.
    pub async fn step(&self, project: &str, id: &str, n: u64) -> Result<StoredStep, AppError> {
        crate::params::session_id(id)?;
        self.store
            .session_timeline(project, id, n.checked_sub(1), 1)
            .await?
            .into_iter()
            .next()
            .filter(|s| s.step == n)
            .ok_or_else(|| AppError::NotFound(format!("no step {n} in session {id:?}")))
    }

    pub async fn explain(&self, project: &str, id: &str, n: u64) -> Result<Explanation, AppError> {
        crate::params::session_id(id)?;
        // The step comes with the ones before it in one read, and the
        // session's first step (unless that read starts there) and the
        // step's verification are read meanwhile: each is a round trip to
        // the engine, and the page used to wait for all of them in turn.
        let from = n.checked_sub(EARLIER_STEPS + 1);
        let (around, first, report) = tokio::join!(
            self.store.session_timeline(project, id, from, EARLIER_STEPS as u32 + 1),
            async {
                match from {
                    Some(_) => self.store.session_timeline(project, id, None, 1).await.unwrap_or_default(),
                    None => Vec::new(),
                }
            },
            verify::verify_step(&self.store, &self.sealed, project, id, n),
        );
        let mut around = around?;
        // Step numbers with gaps leave fewer than the ten steps before it in
        // that range: the range is then counted back from the step instead
        // (two more reads, for such sessions only).
        let before_it = around.iter().filter(|s| s.step < n).count() as u64;
        if from.is_some() && before_it < EARLIER_STEPS && around.iter().any(|s| s.step == n) {
            let start = match self.store.step_counted_back(project, id, n, EARLIER_STEPS).await? {
                Some(oldest) => oldest.checked_sub(1),
                None => None,
            };
            let wanted = (EARLIER_STEPS + 1) as u32;
            around = self.store.session_timeline(project, id, start, wanted).await?;
        }
        let full = around.len() > EARLIER_STEPS as usize;
        // A read from the session's start holds its first step.
        let (goal, goal_pointer) = first.first().or(around.first().filter(|_| from.is_none())).map(goal_of).unwrap_or_default();
        // Unless the read around the step holds it already (a session whose
        // first step number is above 0).
        let goal_step = first.into_iter().next().filter(|g| around.first().is_none_or(|a| g.step < a.step));
        let mut earlier: Vec<StoredStep> = Vec::with_capacity(around.len());
        let mut step = None;
        for s in around {
            match s.step.cmp(&n) {
                std::cmp::Ordering::Less => earlier.push(s),
                std::cmp::Ordering::Equal if step.is_none() => step = Some(s),
                std::cmp::Ordering::Equal => {}
                std::cmp::Ordering::Greater => break,
            }
        }
        let step = match step {
            Some(s) => s,
            // Rows written behind Flightlog's back can repeat a step number
            // and fill the read before step n: it is then read on its own.
            None if full => self.step(project, id, n).await?,
            None => return Err(AppError::NotFound(format!("no step {n} in session {id:?}"))),
        };
        Ok(Explanation { step, earlier, goal, goal_pointer, goal_step, report: report.ok().flatten() })
    }
}

impl Explanation {
    /// Every step whose content the explanation returns: the step, the ones
    /// before it and the one its goal comes from.
    pub fn returned(&self) -> impl Iterator<Item = &StoredStep> {
        std::iter::once(&self.step).chain(&self.earlier).chain(&self.goal_step)
    }
}
