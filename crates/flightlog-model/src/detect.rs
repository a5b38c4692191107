//! The detectors: failure patterns of production agents, found as steps
//! arrive, each reported as an [`Incident`] that grows as the pattern goes
//! on (one incident for 500 identical emails, not 500 incidents).
//!
//! [`Detectors::observe`] takes one stored step's [`Action`] at a time, in
//! order of acceptance, and returns the incidents it opened or grew (their
//! whole new state). Nothing is rescanned: each session keeps a few
//! counters, its recent calls and its identical-call counts; each project
//! keeps its recent side effects and its rate windows.
//!
//! - **repeated side effect**: one session ran the same tool with the same
//!   canonical parameters successfully `repeat_side_effect` times (2) for a
//!   side-effecting tool ([`is_side_effect`]), `repeat_other` times (5)
//!   for any other;
//! - **same side effect across sessions**: two or more sessions of the
//!   project ran the same side effect (same tool, same parameters: the
//!   same recipient, the same order) within `across_sessions_window`;
//! - **loop**: the session's calls repeat a cycle of up to
//!   [`LOOP_MAX_PERIOD`] calls at least [`LOOP_MIN_TURNS`] times *with the
//!   same results* (retries that get somewhere are no loop; one side
//!   effect repeated is a repeated side effect instead);
//! - **burst**: more than `burst.calls` calls of one tool by one agent
//!   within `burst.per` (and, when set, by the whole project);
//! - **runaway**: a session past its steps, tokens, reported cost or wall
//!   time;
//! - **cascading failure**: a failed call followed by `cascade_after`
//!   more failed calls in a row.
//!
//! Plain data and pure functions: time is the steps' own timestamps.
//! Memory is bounded by [`DetectConfig::max_sessions`] and
//! [`DetectConfig::max_keys`]; past a cap the oldest tenth is forgotten.

use std::sync::Arc;
use crate::time::MICROS_PER_SECOND;
use crate::action::{Action, ActionKey, find_cycle, is_side_effect};
use crate::guard::{LOOP_MAX_PERIOD, LOOP_MIN_TURNS};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};

/// Identical-call counts kept per session at most (a session calling
/// 5,000 distinct things keeps its newest 4,096).
const KEYS_PER_SESSION: usize = 4_096;
/// A burst threshold at most (a window keeps that many call times).
const MAX_BURST_CALLS: u32 = 10_000;
/// Rate windows (agent × tool) kept per project before the idle ones are
/// forgotten.
const WINDOWS_PER_PROJECT: usize = 100_000;
/// Sessions named in one incident at most.
pub const MAX_SESSIONS_NAMED: usize = 20;

/// So many calls within so long.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Rate {
    pub calls: u32,
    pub per_seconds: u32,
}

/// The detectors' thresholds: defaults, or a project's own
/// (`PUT /v1/policies/detection`, every field optional).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Successful identical calls of a side-effecting tool, in one
    /// session, that make a repeated side effect.
    pub repeat_side_effect: u32,
    /// The same, for any other tool.
    pub repeat_other: u32,
    /// How far apart two sessions' identical side effects may be and
    /// still be one incident, in seconds.
    pub across_sessions_window_seconds: u32,
    /// Calls of one tool by one agent that make a burst.
    pub burst: Rate,
    /// Calls of one tool by the whole project that make a burst (off: null).
    pub project_burst: Option<Rate>,
    /// A session with this many steps is a runaway (the session list's
    /// runaway badge and the guard's step budget count the same way).
    pub runaway_steps: u64,
    /// …or with more tokens (input + output).
    pub runaway_tokens: Option<u64>,
    /// …or with a higher cost, priced from the price list as cost
    /// queries price it (checked behind ingestion, by flightlog-app's
    /// `detect_behind`).
    /// The server's budgets (`--session-budget`, `--agent-budget`) apply
    /// too; the smallest limit wins.
    pub runaway_cost_usd: Option<f64>,
    /// …or lasting longer, first step to last, in seconds.
    pub runaway_wall_seconds: Option<u64>,
    /// A failed call followed by this many more failed calls in a row.
    pub cascade_after: u32,
    /// Tools with side effects beyond those known by name.
    pub side_effect_tools: Vec<String>,
    /// Side effects of one tool with nearly the same content (distinct
    /// contents) that make a near-duplicate incident (`semantic`).
    pub near_duplicate_count: u32,
    /// How alike two contents must be (cosine of their sentence vectors).
    pub near_duplicate_similarity: f32,
    /// How close in time near-duplicates must be, in seconds.
    pub near_duplicate_window_seconds: u32,
    /// Goal drift: the mean similarity of a session's recent reasonings to
    /// its goal (its first input) below which it has drifted (off: null).
    pub goal_drift_similarity: Option<f32>,
    /// How many recent reasonings that mean is over.
    pub goal_drift_steps: u32,
    /// Sessions followed at most.
    #[serde(skip)]
    pub max_sessions: usize,
    /// Side effects remembered across sessions at most.
    #[serde(skip)]
    pub max_keys: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            repeat_side_effect: 2,
            repeat_other: 5,
            across_sessions_window_seconds: 86_400,
            burst: Rate { calls: 20, per_seconds: 60 },
            project_burst: None,
            runaway_steps: crate::anomaly::RUNAWAY_STEPS,
            runaway_tokens: None,
            runaway_cost_usd: None,
            runaway_wall_seconds: Some(4 * 3_600),
            cascade_after: 3,
            side_effect_tools: Vec::new(),
            near_duplicate_count: 10,
            // Measured with all-MiniLM-L6-v2 on message bodies: one reply
            // template sent to different people (other name, other order)
            // scores 0.87-0.93 against the first; the same reply reworded
            // 0.76-0.79; another reply on the same subject 0.56-0.64.
            near_duplicate_similarity: 0.85,
            near_duplicate_window_seconds: 3_600,
            // On-topic reasoning scores 0.23-0.45 against its goal, other
            // subjects 0.0-0.2 (same model).
            goal_drift_similarity: Some(0.2),
            goal_drift_steps: 3,
            max_sessions: 1_000_000,
            max_keys: 4_000_000,
        }
    }
}

impl DetectConfig {
    /// Refuses thresholds that would fire on every step or never make
    /// sense, naming the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, why: &str| Err((f.to_string(), why.to_string()));
        if self.repeat_side_effect < 2 {
            return bad("repeat_side_effect", "must be at least 2");
        }
        if self.repeat_other < 2 {
            return bad("repeat_other", "must be at least 2");
        }
        for (name, rate) in [("burst", Some(self.burst)), ("project_burst", self.project_burst)] {
            if let Some(r) = rate
                && (r.calls == 0 || r.calls > MAX_BURST_CALLS || r.per_seconds == 0 || r.per_seconds > 86_400)
            {
                return bad(name, "calls must be between 1 and 10000 and per_seconds between 1 and 86400");
            }
        }
        if self.runaway_steps < 2 {
            return bad("runaway_steps", "must be at least 2");
        }
        if self.runaway_tokens == Some(0) {
            return bad("runaway_tokens", "must be at least 1 (null: no limit)");
        }
        if self.runaway_wall_seconds.is_some_and(|s| s < 60) {
            return bad("runaway_wall_seconds", "must be at least 60 (null: no limit)");
        }
        if self.runaway_cost_usd.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("runaway_cost_usd", "must be a positive number");
        }
        if self.cascade_after == 0 {
            return bad("cascade_after", "must be at least 1");
        }
        if self.near_duplicate_count < 2 || self.near_duplicate_count > 1_000_000 {
            return bad("near_duplicate_count", "must be between 2 and 1000000");
        }
        if !(0.5..=1.0).contains(&self.near_duplicate_similarity) {
            return bad("near_duplicate_similarity", "must be between 0.5 and 1");
        }
        if self.near_duplicate_window_seconds == 0 || self.near_duplicate_window_seconds > 7 * 86_400 {
            return bad("near_duplicate_window_seconds", "must be between 1 and 604800");
        }
        if self.goal_drift_similarity.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
            return bad("goal_drift_similarity", "must be between -1 and 1 (null: off)");
        }
        if self.goal_drift_steps == 0 || self.goal_drift_steps > 100 {
            return bad("goal_drift_steps", "must be between 1 and 100");
        }
        if self.side_effect_tools.len() > 1_000 || self.side_effect_tools.iter().any(|t| t.is_empty() || t.len() > 256) {
            return bad("side_effect_tools", "at most 1000 names of 1 to 256 bytes");
        }
        Ok(())
    }
}

/// What kind of pattern an incident is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    RepeatedSideEffect,
    SideEffectAcrossSessions,
    Loop,
    Burst,
    Runaway,
    CascadingFailure,
    NearDuplicateSideEffects,
    GoalDrift,
}

impl IncidentKind {
    pub const ALL: [Self; 8] = [
        Self::RepeatedSideEffect,
        Self::SideEffectAcrossSessions,
        Self::Loop,
        Self::Burst,
        Self::Runaway,
        Self::CascadingFailure,
        Self::NearDuplicateSideEffects,
        Self::GoalDrift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RepeatedSideEffect => "repeated_side_effect",
            Self::SideEffectAcrossSessions => "side_effect_across_sessions",
            Self::Loop => "loop",
            Self::Burst => "burst",
            Self::Runaway => "runaway",
            Self::CascadingFailure => "cascading_failure",
            Self::NearDuplicateSideEffects => "near_duplicate_side_effects",
            Self::GoalDrift => "goal_drift",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// For a person: "repeated side effect".
    pub fn title(self) -> &'static str {
        match self {
            Self::RepeatedSideEffect => "repeated side effect",
            Self::SideEffectAcrossSessions => "same side effect in several sessions",
            Self::Loop => "loop",
            Self::Burst => "burst of calls",
            Self::Runaway => "runaway session",
            Self::CascadingFailure => "cascading failure",
            Self::NearDuplicateSideEffects => "near-duplicate side effects",
            Self::GoalDrift => "goal drift",
        }
    }
}

/// A step, as an incident names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepRef {
    pub session_id: String,
    pub step: u64,
    pub timestamp_us: i64,
}

impl StepRef {
    fn of(a: &Action) -> Self {
        Self { session_id: a.session_id.clone(), step: a.step, timestamp_us: a.timestamp_us }
    }
}

/// One incident, in its current state.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// Stable: the same pattern found again (after a restart) has the same id.
    pub id: String,
    pub kind: IncidentKind,
    pub project: String,
    /// The sessions involved, first seen first (at most [`MAX_SESSIONS_NAMED`]).
    pub sessions: Vec<String>,
    pub agent: String,
    pub user_id: String,
    /// Empty for patterns of no one tool (runaway, most loops).
    pub tool: String,
    pub first: StepRef,
    pub last: StepRef,
    /// How many times the pattern happened so far (calls, turns, steps).
    pub count: u64,
    /// What was found, in a sentence.
    pub message: String,
}

pub(crate) fn incident_id(project: &str, kind: IncidentKind, scope: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(project.as_bytes());
    h.update([0]);
    h.update(kind.as_str().as_bytes());
    for part in scope {
        h.update([0]);
        h.update(part);
    }
    format!("inc_{}", hex::encode(&h.finalize()[..10]))
}

#[derive(Debug, Default)]
struct SessionTrack {
    steps: u64,
    tokens: u64,
    first_us: i64,
    last_us: i64,
    agent: String,
    user: String,
    /// Successful calls by action: (times, first occurrence).
    identical: HashMap<ActionKey, (u64, StepRef)>,
    /// Insertion order of `identical`, to forget the oldest.
    identical_order: VecDeque<ActionKey>,
    /// Recent calls as (call and result, where), for loops.
    recent: VecDeque<(ActionKey, StepRef)>,
    /// The loop going on: (where it started, its period, its calls so far).
    open_loop: Option<(StepRef, usize, u64)>,
    /// Failed calls in a row, and the first of them.
    failures: u64,
    first_failure: Option<StepRef>,
    runaway: Option<StepRef>,
}

#[derive(Debug)]
struct AcrossSessions {
    first: StepRef,
    last: StepRef,
    sessions: Vec<String>,
    count: u64,
    id: String,
}

#[derive(Debug, Default)]
struct Window {
    /// The calls' times and sessions, in time order (a call's session is
    /// shared by its agent's window and the project's).
    calls: VecDeque<(i64, Arc<str>)>,
    /// The burst going on.
    open: Option<Burst>,
}

#[derive(Debug)]
struct Burst {
    id: String,
    first: StepRef,
    calls: u64,
    /// The sessions that called, first seen first.
    sessions: Vec<String>,
}

/// Whose calls a rate window counts: one agent's, or the whole project's
/// (kept apart: an agent may have no name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    Agent(String),
    Project,
}

#[derive(Debug, Default)]
struct Project {
    sessions: HashMap<String, SessionTrack>,
    across: HashMap<ActionKey, AcrossSessions>,
    /// (whose calls, tool) → their times.
    windows: HashMap<(Caller, String), Window>,
}

/// The detectors' memory.
#[derive(Debug, Default)]
pub struct Detectors {
    default: DetectConfig,
    own: HashMap<String, DetectConfig>,
    projects: HashMap<String, Project>,
    sessions: usize,
    keys: usize,
}

impl Detectors {
    pub fn new(default: DetectConfig) -> Self {
        Self { default, ..Self::default() }
    }

    /// Sets (Some) or clears (None) a project's own thresholds.
    pub fn set_project_config(&mut self, project: &str, config: Option<DetectConfig>) {
        match config {
            Some(c) => self.own.insert(project.to_string(), c),
            None => self.own.remove(project),
        };
    }

    /// The projects with their own thresholds, and those thresholds.
    pub fn own_configs(&self) -> Vec<(String, DetectConfig)> {
        self.own.iter().map(|(p, c)| (p.clone(), c.clone())).collect()
    }

    pub fn config_of(&self, project: &str) -> &DetectConfig {
        self.own.get(project).unwrap_or(&self.default)
    }

    /// Sessions followed and side effects remembered across sessions.
    pub fn sizes(&self) -> (usize, usize) {
        (self.sessions, self.keys)
    }

    /// Takes in one stored step's action; returns the incidents it opened
    /// or grew, in their new state.
    pub fn observe(&mut self, project: &str, a: &Action) -> Vec<Incident> {
        // Borrowed, not cloned: this runs for every accepted step.
        let config = self.own.get(project).unwrap_or(&self.default);
        if !self.projects.contains_key(project) {
            self.projects.insert(project.to_string(), Project::default());
        }
        let p = self.projects.get_mut(project).expect("inserted");
        if !p.sessions.contains_key(&a.session_id) {
            p.sessions.insert(a.session_id.clone(), SessionTrack { first_us: a.timestamp_us, ..SessionTrack::default() });
            self.sessions += 1;
        }
        let mut out = Vec::new();
        let side_effect = !a.tool.is_empty() && is_side_effect(&a.tool, &config.side_effect_tools);
        let track = p.sessions.get_mut(&a.session_id).expect("inserted");
        session_counters(project, config, track, a, &mut out);
        if !a.tool.is_empty() {
            repeated(project, config, track, a, side_effect, &mut out);
            looping(project, track, a, side_effect, &mut out);
            cascade(project, config, track, a, &mut out);
            bursts(project, config, &mut p.windows, a, &mut out);
            if side_effect && a.succeeded() {
                self.keys += across_sessions(project, config, &mut p.across, a, &mut out);
            }
        }
        let caps = (config.max_sessions, config.max_keys);
        if self.sessions > caps.0 || self.keys > caps.1 {
            self.forget_oldest(caps);
        }
        out
    }

    /// Forgets the tenth of sessions (or remembered side effects) seen
    /// longest ago, whichever is over its cap.
    fn forget_oldest(&mut self, (max_sessions, max_keys): (usize, usize)) {
        if self.sessions > max_sessions {
            let mut times: Vec<i64> = self.projects.values().flat_map(|p| p.sessions.values().map(|t| t.last_us)).collect();
            let tenth = times.len() / 10;
            let cut = *times.select_nth_unstable(tenth).1;
            for p in self.projects.values_mut() {
                p.sessions.retain(|_, t| t.last_us > cut);
            }
        }
        if self.keys > max_keys {
            let mut times: Vec<i64> = self.projects.values().flat_map(|p| p.across.values().map(|s| s.last.timestamp_us)).collect();
            let tenth = times.len() / 10;
            let cut = *times.select_nth_unstable(tenth).1;
            for p in self.projects.values_mut() {
                p.across.retain(|_, s| s.last.timestamp_us > cut);
            }
        }
        self.sessions = self.projects.values().map(|p| p.sessions.len()).sum();
        self.keys = self.projects.values().map(|p| p.across.len()).sum();
    }
}

fn session_counters(project: &str, config: &DetectConfig, t: &mut SessionTrack, a: &Action, out: &mut Vec<Incident>) {
    t.steps += 1;
    t.tokens = t.tokens.saturating_add(a.tokens);
    t.first_us = t.first_us.min(a.timestamp_us);
    t.last_us = t.last_us.max(a.timestamp_us);
    if t.agent.is_empty() {
        t.agent = a.agent.clone();
    }
    if t.user.is_empty() {
        t.user = a.user_id.clone();
    }
    let wall_s = ((t.last_us - t.first_us) / MICROS_PER_SECOND) as u64;
    let mut over = Vec::new();
    if t.steps >= config.runaway_steps {
        over.push(format!("{} steps (limit {})", t.steps, config.runaway_steps));
    }
    if let Some(max) = config.runaway_tokens.filter(|m| t.tokens > *m) {
        over.push(format!("{} tokens (limit {max})", t.tokens));
    }
    if let Some(max) = config.runaway_wall_seconds.filter(|m| wall_s > *m) {
        over.push(format!("{wall_s} s long (limit {max} s)"));
    }
    if over.is_empty() {
        return;
    }
    let first = t.runaway.get_or_insert_with(|| StepRef::of(a)).clone();
    out.push(Incident {
        id: incident_id(project, IncidentKind::Runaway, &[a.session_id.as_bytes()]),
        kind: IncidentKind::Runaway,
        project: project.to_string(),
        sessions: vec![a.session_id.clone()],
        agent: t.agent.clone(),
        user_id: t.user.clone(),
        tool: String::new(),
        first,
        last: StepRef::of(a),
        count: t.steps,
        message: format!("session {:?} is a runaway: {}", a.session_id, over.join(", ")),
    });
}

/// A session whose cost, priced from the price list, is past `limit`
/// (found behind ingestion, where prices are): one incident per session,
/// apart from its steps/tokens/wall-time runaway, counting its steps.
#[allow(clippy::too_many_arguments)]
pub fn priced_runaway(project: &str, agent: &str, user_id: &str, first: StepRef, last: StepRef, steps: u64, cost: f64, limit: f64) -> Incident {
    Incident {
        id: incident_id(project, IncidentKind::Runaway, &[last.session_id.as_bytes(), b"priced cost"]),
        kind: IncidentKind::Runaway,
        project: project.to_string(),
        sessions: vec![last.session_id.clone()],
        agent: agent.to_string(),
        user_id: user_id.to_string(),
        tool: String::new(),
        message: format!("session {:?} is a runaway: it cost ${cost:.4} priced (limit ${limit:.4})", last.session_id),
        first,
        last,
        count: steps,
    }
}

fn repeated(project: &str, config: &DetectConfig, t: &mut SessionTrack, a: &Action, side_effect: bool, out: &mut Vec<Incident>) {
    if !a.succeeded() {
        return;
    }
    if !t.identical.contains_key(&a.key) {
        if t.identical.len() >= KEYS_PER_SESSION
            && let Some(oldest) = t.identical_order.pop_front()
        {
            t.identical.remove(&oldest);
        }
        t.identical_order.push_back(a.key);
    }
    let entry = t.identical.entry(a.key).or_insert_with(|| (0, StepRef::of(a)));
    entry.0 += 1;
    let threshold = if side_effect { config.repeat_side_effect } else { config.repeat_other } as u64;
    if entry.0 < threshold {
        return;
    }
    let (times, first) = (entry.0, entry.1.clone());
    out.push(Incident {
        id: incident_id(project, IncidentKind::RepeatedSideEffect, &[a.session_id.as_bytes(), &a.key.0.to_be_bytes()]),
        kind: IncidentKind::RepeatedSideEffect,
        project: project.to_string(),
        sessions: vec![a.session_id.clone()],
        agent: a.agent.clone(),
        user_id: a.user_id.clone(),
        tool: a.tool.clone(),
        message: format!(
            "{} succeeded {times} times with identical parameters in session {:?} (first at step {})",
            a.tool, a.session_id, first.step
        ),
        first,
        last: StepRef::of(a),
        count: times,
    });
}

/// A call and its result as one value: a loop repeats both.
fn call_and_result(a: &Action) -> ActionKey {
    ActionKey(a.key.0 ^ a.result.rotate_left(17) ^ u64::from(a.failed))
}

fn looping(project: &str, t: &mut SessionTrack, a: &Action, side_effect: bool, out: &mut Vec<Incident>) {
    t.recent.push_back((call_and_result(a), StepRef::of(a)));
    if t.recent.len() > LOOP_MAX_PERIOD * (LOOP_MIN_TURNS + 1) {
        t.recent.pop_front();
    }
    let calls: Vec<ActionKey> = t.recent.iter().map(|(both, _)| *both).collect();
    let Some((period, turns)) = find_cycle(&calls, LOOP_MAX_PERIOD, LOOP_MIN_TURNS) else {
        t.open_loop = None;
        return;
    };
    // One side effect done again and again is a repeated side effect
    // (reported from its second time), not also a loop.
    if period == 1 && side_effect {
        return;
    }
    // Started `period × turns` calls ago; when it goes on, it keeps the
    // start it had (and so its id).
    let (start, steps) = match &t.open_loop {
        Some((start, p, calls)) if *p == period => (start.clone(), calls + 1),
        _ => (t.recent[t.recent.len() - period * turns].1.clone(), (period * turns) as u64),
    };
    t.open_loop = Some((start.clone(), period, steps));
    let tool = if period == 1 { a.tool.clone() } else { String::new() };
    let message = if period == 1 {
        format!("session {:?} called {} with the same parameters and the same result {steps} times in a row", a.session_id, a.tool)
    } else {
        format!("session {:?} repeats a cycle of {period} calls with the same results (steps {} to {})", a.session_id, start.step, a.step)
    };
    out.push(Incident {
        id: incident_id(project, IncidentKind::Loop, &[a.session_id.as_bytes(), &start.step.to_be_bytes()]),
        kind: IncidentKind::Loop,
        project: project.to_string(),
        sessions: vec![a.session_id.clone()],
        agent: a.agent.clone(),
        user_id: a.user_id.clone(),
        tool,
        first: start,
        last: StepRef::of(a),
        count: steps,
        message,
    });
}

fn cascade(project: &str, config: &DetectConfig, t: &mut SessionTrack, a: &Action, out: &mut Vec<Incident>) {
    if !a.failed {
        t.failures = 0;
        t.first_failure = None;
        return;
    }
    t.failures += 1;
    let first = t.first_failure.get_or_insert_with(|| StepRef::of(a)).clone();
    if t.failures <= config.cascade_after as u64 {
        return;
    }
    out.push(Incident {
        id: incident_id(project, IncidentKind::CascadingFailure, &[a.session_id.as_bytes(), &first.step.to_be_bytes()]),
        kind: IncidentKind::CascadingFailure,
        project: project.to_string(),
        sessions: vec![a.session_id.clone()],
        agent: a.agent.clone(),
        user_id: a.user_id.clone(),
        tool: String::new(),
        message: format!("session {:?}: {} failed calls in a row since step {}", a.session_id, t.failures, first.step),
        first,
        last: StepRef::of(a),
        count: t.failures,
    });
}

fn bursts(project: &str, config: &DetectConfig, windows: &mut HashMap<(Caller, String), Window>, a: &Action, out: &mut Vec<Incident>) {
    if windows.len() > WINDOWS_PER_PROJECT {
        // Idle windows hold nothing a later call needs (a day is the
        // longest rate there is).
        let since = a.timestamp_us - 86_400 * MICROS_PER_SECOND;
        windows.retain(|_, w| w.open.is_some() || w.calls.back().is_some_and(|(t, _)| *t > since));
    }
    let session: Arc<str> = Arc::from(a.session_id.as_str());
    for (caller, rate) in [(Caller::Agent(a.agent.clone()), Some(config.burst)), (Caller::Project, config.project_burst)] {
        let Some(rate) = rate else { continue };
        let (agent, who, scope) = match &caller {
            Caller::Agent(name) => (name.clone(), format!("agent {name:?}"), format!("agent:{name}")),
            Caller::Project => (String::new(), "the project".to_string(), "project".to_string()),
        };
        let w = windows.entry((caller, a.tool.clone())).or_default();
        let newest = w.calls.back().map_or(a.timestamp_us, |(t, _)| *t).max(a.timestamp_us);
        let since = newest - i64::from(rate.per_seconds) * MICROS_PER_SECOND;
        // In time order, whatever order steps arrive in.
        let at = w.calls.partition_point(|(t, _)| *t <= a.timestamp_us);
        w.calls.insert(at, (a.timestamp_us, session.clone()));
        while w.calls.front().is_some_and(|(t, _)| *t <= since) {
            w.calls.pop_front();
        }
        if w.calls.len() <= rate.calls as usize {
            w.open = None;
            continue;
        }
        let calls = &w.calls;
        let burst = w.open.get_or_insert_with(|| {
            // The sessions of every call in the window that opens it, not
            // only the call that crossed the limit.
            let mut sessions: Vec<String> = Vec::new();
            for (_, s) in calls {
                if !sessions.iter().any(|named| named.as_str() == &**s) && sessions.len() < MAX_SESSIONS_NAMED {
                    sessions.push(s.to_string());
                }
            }
            Burst {
                id: incident_id(project, IncidentKind::Burst, &[scope.as_bytes(), a.tool.as_bytes(), &a.timestamp_us.to_be_bytes()]),
                first: StepRef::of(a),
                calls: rate.calls as u64,
                sessions,
            }
        });
        burst.calls += 1;
        if !burst.sessions.contains(&a.session_id) && burst.sessions.len() < MAX_SESSIONS_NAMED {
            burst.sessions.push(a.session_id.clone());
        }
        out.push(Incident {
            id: burst.id.clone(),
            kind: IncidentKind::Burst,
            project: project.to_string(),
            sessions: burst.sessions.clone(),
            agent: agent.to_string(),
            user_id: String::new(),
            tool: a.tool.clone(),
            first: burst.first.clone(),
            last: StepRef::of(a),
            count: burst.calls,
            message: format!(
                "{who} called {} {} times within {} s (limit {}); {} calls in this burst so far",
                a.tool,
                w.calls.len(),
                rate.per_seconds,
                rate.calls,
                burst.calls
            ),
        });
        // A burst remembers only the limit's worth of calls.
        while w.calls.len() > rate.calls as usize + 1 {
            w.calls.pop_front();
        }
    }
}

/// Returns how many side effects it newly remembers.
fn across_sessions(
    project: &str,
    config: &DetectConfig,
    across: &mut HashMap<ActionKey, AcrossSessions>,
    a: &Action,
    out: &mut Vec<Incident>,
) -> usize {
    let window = i64::from(config.across_sessions_window_seconds) * MICROS_PER_SECOND;
    let fresh = |a: &Action| AcrossSessions {
        first: StepRef::of(a),
        last: StepRef::of(a),
        sessions: vec![a.session_id.clone()],
        count: 1,
        id: incident_id(project, IncidentKind::SideEffectAcrossSessions, &[&a.key.0.to_be_bytes(), &a.timestamp_us.to_be_bytes()]),
    };
    let Some(seen) = across.get_mut(&a.key) else {
        across.insert(a.key, fresh(a));
        return 1;
    };
    if a.timestamp_us - seen.last.timestamp_us > window {
        *seen = fresh(a);
        return 0;
    }
    seen.count += 1;
    seen.last = StepRef::of(a);
    if !seen.sessions.contains(&a.session_id) && seen.sessions.len() < MAX_SESSIONS_NAMED {
        seen.sessions.push(a.session_id.clone());
    }
    if seen.sessions.len() < 2 {
        return 0;
    }
    out.push(Incident {
        id: seen.id.clone(),
        kind: IncidentKind::SideEffectAcrossSessions,
        project: project.to_string(),
        sessions: seen.sessions.clone(),
        agent: a.agent.clone(),
        user_id: a.user_id.clone(),
        tool: a.tool.clone(),
        first: seen.first.clone(),
        last: seen.last.clone(),
        count: seen.count,
        message: format!(
            "{} with identical parameters succeeded {} times in {} sessions (first in session {:?}, step {})",
            a.tool,
            seen.count,
            seen.sessions.len(),
            seen.first.session_id,
            seen.first.step
        ),
    });
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::result_hash;

    const S: i64 = MICROS_PER_SECOND;
    const T0: i64 = 1_800_000_000 * S;

    fn act(session: &str, step: u64, at: i64, tool: &str, params: &str, result: &str) -> Action {
        Action {
            session_id: session.into(),
            step,
            timestamp_us: at,
            agent: "support".into(),
            user_id: "u1".into(),
            tool: tool.into(),
            key: ActionKey::of(tool, params),
            failed: false,
            tokens: 100,
            result: result_hash(result),
        }
    }

    fn kinds(found: &[Incident]) -> Vec<IncidentKind> {
        found.iter().map(|i| i.kind).collect()
    }

    #[test]
    fn the_second_identical_email_is_an_incident_that_grows() {
        let mut d = Detectors::new(DetectConfig::default());
        assert!(d.observe("p", &act("s1", 0, T0, "send_email", r#"{"to":"a"}"#, "ok")).is_empty());
        assert!(d.observe("p", &act("s1", 1, T0 + S, "lookup", "{}", "x")).is_empty());
        let second = d.observe("p", &act("s1", 2, T0 + 2 * S, "send_email", r#"{"to":"a"}"#, "ok"));
        assert_eq!(kinds(&second), [IncidentKind::RepeatedSideEffect]);
        assert_eq!((second[0].first.step, second[0].last.step, second[0].count), (0, 2, 2));
        let third = d.observe("p", &act("s1", 3, T0 + 3 * S, "send_email", r#"{"to":"a"}"#, "ok"));
        assert_eq!(third[0].id, second[0].id, "one incident, grown");
        assert_eq!(third[0].count, 3);
        assert!(d.observe("p", &act("s1", 4, T0 + 4 * S, "send_email", r#"{"to":"b"}"#, "ok")).is_empty(), "another recipient");
    }

    #[test]
    fn read_only_tools_repeat_five_times_before_an_incident() {
        let mut d = Detectors::new(DetectConfig::default());
        for i in 0..4 {
            let found = d.observe("p", &act("s1", i * 2, T0, "get_order", r#"{"id":1}"#, &i.to_string()));
            assert!(found.is_empty(), "{i}: {found:?}");
            d.observe("p", &act("s1", i * 2 + 1, T0, "think", "{}", &i.to_string()));
        }
        assert_eq!(kinds(&d.observe("p", &act("s1", 9, T0, "get_order", r#"{"id":1}"#, "9"))), [IncidentKind::RepeatedSideEffect]);
    }

    #[test]
    fn failed_calls_do_not_repeat_a_side_effect() {
        let mut d = Detectors::new(DetectConfig::default());
        let mut failed = act("s1", 0, T0, "send_email", "{}", "");
        failed.failed = true;
        d.observe("p", &failed);
        assert!(d.observe("p", &act("s1", 1, T0, "send_email", "{}", "ok")).is_empty());
    }

    #[test]
    fn two_sessions_refunding_one_order_are_one_incident() {
        let mut d = Detectors::new(DetectConfig::default());
        assert!(d.observe("p", &act("s1", 4, T0, "refund", r#"{"order":991}"#, "ok")).is_empty());
        let found = d.observe("p", &act("s2", 1, T0 + 60 * S, "refund", r#"{"order":991}"#, "ok"));
        assert_eq!(kinds(&found), [IncidentKind::SideEffectAcrossSessions]);
        assert_eq!(found[0].sessions, ["s1", "s2"]);
        assert_eq!((found[0].first.step, found[0].count), (4, 2));
        assert!(d.observe("p", &act("s3", 1, T0 + 3 * 86_400 * S, "refund", r#"{"order":991}"#, "ok")).is_empty(), "days later");
        assert!(d.observe("q", &act("s9", 1, T0 + 61 * S, "refund", r#"{"order":991}"#, "ok")).is_empty(), "another project");
    }

    #[test]
    fn a_cycle_with_the_same_results_is_a_loop_and_progress_is_not() {
        let mut d = Detectors::new(DetectConfig::default());
        let mut fired = Vec::new();
        for i in 0..8u64 {
            let tool = if i % 2 == 0 { "get_a" } else { "get_b" };
            let found = d.observe("p", &act("s1", i, T0 + i as i64 * S, tool, "{}", "same"));
            fired.push(found.iter().any(|f| f.kind == IncidentKind::Loop));
        }
        assert_eq!(fired, [false, false, false, false, false, true, true, true], "the 3rd turn of A→B");
        let mut d = Detectors::new(DetectConfig::default());
        let mut last = Vec::new();
        for (i, step) in [10u64, 12, 13, 20, 21, 22].into_iter().enumerate() {
            let tool = if i % 2 == 0 { "get_a" } else { "get_b" };
            last = d.observe("p", &act("s1", step, T0 + step as i64 * S, tool, "{}", "same"));
        }
        let looped = last.iter().find(|f| f.kind == IncidentKind::Loop).unwrap();
        assert_eq!((looped.first.step, looped.first.timestamp_us, looped.count), (10, T0 + 10 * S, 6), "where it started, gaps and all");
        let mut d = Detectors::new(DetectConfig::default());
        for i in 0..12u64 {
            let tool = if i % 2 == 0 { "get_a" } else { "get_b" };
            let found = d.observe("p", &act("s2", i, T0, tool, "{}", &format!("page {i}")));
            assert!(found.iter().all(|f| f.kind != IncidentKind::Loop), "new results each turn");
        }
    }

    #[test]
    fn one_side_effect_repeated_is_not_also_a_loop() {
        let mut d = Detectors::new(DetectConfig::default());
        for i in 0..4u64 {
            let found = d.observe("p", &act("s1", i, T0, "send_email", "{}", "sent"));
            assert!(found.iter().all(|f| f.kind == IncidentKind::RepeatedSideEffect), "{found:?}");
        }
        for i in 4..7u64 {
            let found = d.observe("p", &act("s1", i, T0, "poll_status", "{}", "pending"));
            assert_eq!(found.iter().any(|f| f.kind == IncidentKind::Loop), i == 6, "polling with no new result, 3rd time");
        }
    }

    #[test]
    fn the_twenty_first_search_in_a_minute_is_a_burst_across_sessions() {
        let mut d = Detectors::new(DetectConfig::default());
        let mut first_fired = None;
        for i in 0..30u64 {
            let found = d.observe("p", &act(&format!("s{}", i % 3), i, T0 + i as i64 * S, "search_web", &format!("{{\"q\":{i}}}"), &i.to_string()));
            if first_fired.is_none() && found.iter().any(|f| f.kind == IncidentKind::Burst) {
                first_fired = Some(i);
            }
        }
        assert_eq!(first_fired, Some(20), "the 21st call");
        let last = d.observe("p", &act("s1", 99, T0 + 31 * S, "search_web", "{}", "x"));
        let burst = last.iter().find(|f| f.kind == IncidentKind::Burst).unwrap();
        assert_eq!(burst.sessions, ["s0", "s1", "s2"], "every session that called in the burst, the window's first call's first");
        // Twenty-one calls from twenty-one sessions: the burst names them
        // all (it named the 21st alone).
        let mut spread = Detectors::new(DetectConfig::default());
        let opened: Vec<Incident> = (0..21u64)
            .flat_map(|i| spread.observe("p", &act(&format!("b{i}"), 0, T0 + i as i64 * S, "search_web", &i.to_string(), "x")))
            .filter(|f| f.kind == IncidentKind::Burst)
            .collect();
        let names: Vec<String> = (0..21).map(|i| format!("b{i}")).collect();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].sessions, names[..MAX_SESSIONS_NAMED.min(21)]);
        let mut late = Detectors::new(DetectConfig::default());
        late.observe("p", &act("s", 0, T0 + 3_600 * S, "search_web", "future", "x"));
        for i in 0..30u64 {
            let found = late.observe("p", &act("s", i + 1, T0 + i as i64 * 4 * S, "search_web", &i.to_string(), &i.to_string()));
            assert!(found.is_empty(), "a step stamped in the future does not make slow calls a burst");
        }
        let mut slow = Detectors::new(DetectConfig::default());
        for i in 0..100u64 {
            let found = slow.observe("p", &act("s", i, T0 + i as i64 * 4 * S, "search_web", &i.to_string(), &i.to_string()));
            assert!(found.is_empty(), "15 a minute is no burst");
        }
    }

    #[test]
    fn a_failure_followed_by_three_more_is_a_cascade() {
        let mut d = Detectors::new(DetectConfig::default());
        let mut fired = Vec::new();
        for i in 0..6u64 {
            let mut a = act("s1", i, T0, &format!("tool_{i}"), "{}", "");
            a.failed = i != 0;
            fired.push(d.observe("p", &a).iter().any(|f| f.kind == IncidentKind::CascadingFailure));
        }
        assert_eq!(fired, [false, false, false, false, true, true]);
    }

    #[test]
    fn runaways_past_steps_tokens_or_wall_time() {
        let config = DetectConfig { runaway_steps: 3, runaway_tokens: Some(10_000), ..DetectConfig::default() };
        let mut d = Detectors::new(config);
        let fired = |d: &mut Detectors, a: Action| d.observe("p", &a).iter().any(|f| f.kind == IncidentKind::Runaway);
        for i in 0..2 {
            assert!(!fired(&mut d, act("s1", i, T0, "", "", "")));
        }
        assert!(fired(&mut d, act("s1", 2, T0, "", "", "")), "the 3rd step: as many as the limit");
        let mut big = act("s2", 0, T0, "", "", "");
        big.tokens = 20_000;
        assert!(fired(&mut d, big));
        assert!(!fired(&mut d, act("s4", 0, T0, "", "", "")));
        assert!(fired(&mut d, act("s4", 1, T0 + 5 * 3_600 * S, "", "", "")), "five hours long");
    }

    #[test]
    fn a_project_sets_its_own_thresholds() {
        let mut d = Detectors::new(DetectConfig::default());
        d.set_project_config("strict", Some(DetectConfig { side_effect_tools: vec!["ship".into()], ..DetectConfig::default() }));
        for p in ["strict", "lax"] {
            d.observe(p, &act("s1", 0, T0, "ship", "{}", "ok"));
        }
        assert_eq!(kinds(&d.observe("strict", &act("s1", 1, T0, "ship", "{}", "ok"))), [IncidentKind::RepeatedSideEffect]);
        assert!(d.observe("lax", &act("s1", 1, T0, "ship", "{}", "ok")).is_empty());
        assert!(DetectConfig { repeat_side_effect: 1, ..DetectConfig::default() }.check().is_err());
        let parsed: DetectConfig = serde_json::from_str(r#"{"burst": {"calls": 5, "per_seconds": 10}}"#).unwrap();
        assert_eq!(parsed.burst, Rate { calls: 5, per_seconds: 10 });
        assert_eq!(parsed.repeat_side_effect, 2, "the rest are the defaults");
        assert!(serde_json::from_str::<DetectConfig>(r#"{"bogus": 1}"#).is_err());
    }

    #[test]
    fn memory_stays_within_its_caps() {
        let mut d = Detectors::new(DetectConfig { max_sessions: 100, max_keys: 100, ..DetectConfig::default() });
        for i in 0..1_000u64 {
            d.observe("p", &act(&format!("s{i}"), 0, T0 + i as i64 * S, "send_email", &i.to_string(), "ok"));
        }
        let (sessions, keys) = d.sizes();
        assert!(sessions <= 110 && keys <= 110, "{sessions} {keys}");
    }
}
