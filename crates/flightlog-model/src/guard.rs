//! The guard's rules: should an agent execute this action now?
//!
//! An agent asks *before* a side effect. [`GuardState`] remembers what
//! steps did ([`GuardState::observe`], fed every accepted step) and
//! answers a [`Question`] ([`GuardState::ask`]) with an [`Answer`]:
//!
//! - **already done**: a side-effecting tool ([`is_side_effect`]) with the
//!   same canonical parameters already succeeded in this project, within
//!   the window: denied, with where and when (most recent first);
//! - **in a loop**: the session's recent calls with this one appended
//!   repeat a cycle ([`find_cycle`]: period up to 4, at least 3 turns);
//! - **over budget**: the session has used its steps or tokens;
//! - **rate limited**: this agent called this tool `limit` times within
//!   the last `per` (calls that were allowed by the guard count at once,
//!   and the step reported for them later is not counted again).
//!
//! Plain data and pure functions: time is passed in, nothing is read or
//! written. Memory is bounded ([`GuardConfig`]'s caps): at most
//! [`MAX_PREVIOUS`] occurrences per action, and when a cap is passed the
//! oldest entries are forgotten first ([`GuardState::sweep`]).

use crate::time::MICROS_PER_SECOND;
use crate::action::{Action, ActionKey, find_cycle, is_side_effect};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Occurrences kept (and answered) per action at most, most recent first.
pub const MAX_PREVIOUS: usize = 10;
/// Loops: cycles of up to this many calls…
pub const LOOP_MAX_PERIOD: usize = 4;
/// …repeated at least this many times.
pub const LOOP_MIN_TURNS: usize = 3;
const RECENT_CALLS: usize = LOOP_MAX_PERIOD * LOOP_MIN_TURNS;

/// The guard's limits, from the server's flags.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardConfig {
    /// Calls of one tool by one agent allowed within `rate_per_us`.
    pub rate_limit: u32,
    pub rate_per_us: i64,
    /// How far back "already done" looks (and what is rebuilt at start-up).
    pub window_us: i64,
    /// A session with this many steps is over budget.
    pub max_session_steps: u64,
    /// A session with this many tokens (input + output) is over budget.
    pub max_session_tokens: Option<u64>,
    /// Tools with side effects beyond those known by name.
    pub side_effect_tools: Vec<String>,
    /// Distinct actions remembered as done, over all projects.
    pub max_actions: usize,
    /// Sessions followed (recent calls, steps, tokens), over all projects.
    pub max_sessions: usize,
    /// Rate windows (one per agent and tool), over all projects.
    pub max_rate_windows: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            rate_limit: 20,
            rate_per_us: 60 * MICROS_PER_SECOND,
            window_us: 30 * 86_400 * MICROS_PER_SECOND,
            max_session_steps: crate::anomaly::RUNAWAY_STEPS,
            max_session_tokens: None,
            side_effect_tools: Vec::new(),
            max_actions: 4_000_000,
            max_sessions: 1_000_000,
            max_rate_windows: 1_000_000,
        }
    }
}

/// Parses `N/SECONDS` (`20/60`), as given on the command line.
pub fn parse_rate(s: &str) -> Result<(u32, i64), String> {
    let bad = || format!("{s:?}: expected CALLS/SECONDS, e.g. 20/60");
    let (n, secs) = s.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    let secs: i64 = secs.trim().parse().map_err(|_| bad())?;
    if n == 0 || !(1..=86_400 * 365).contains(&secs) {
        return Err(bad());
    }
    Ok((n, secs * MICROS_PER_SECOND))
}

/// What an agent asks before it acts.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub session_id: String,
    pub user_id: String,
    pub agent: String,
    pub tool: String,
    /// Tool and canonical parameters, as a step stores them.
    pub key: ActionKey,
}

/// Why an action is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// This side effect, with these parameters, already succeeded.
    AlreadyDone,
    /// The session repeats a cycle of calls.
    InALoop,
    /// The session has used its steps or tokens.
    OverBudget,
    /// This agent called this tool too often lately.
    RateLimited,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyDone => "already_done",
            Self::InALoop => "in_a_loop",
            Self::OverBudget => "over_budget",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// One earlier success of the same action.
#[derive(Clone, Debug, PartialEq)]
pub struct Previous {
    pub session_id: String,
    pub step: u64,
    pub timestamp_us: i64,
    pub user_id: String,
}

/// The guard's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub allowed: bool,
    /// None when allowed.
    pub reason: Option<Reason>,
    /// For a person: what was found, in a sentence.
    pub message: String,
    /// Earlier successes of this action, most recent first (at most
    /// [`MAX_PREVIOUS`]); empty unless denied as already done.
    pub previous: Vec<Previous>,
}

impl Answer {
    fn allow() -> Self {
        Self { allowed: true, reason: None, message: "allowed".into(), previous: Vec::new() }
    }

    fn deny(reason: Reason, message: String) -> Self {
        Self { allowed: false, reason: Some(reason), message, previous: Vec::new() }
    }
}

#[derive(Clone, Debug)]
struct Occurrence {
    session: Arc<str>,
    step: u64,
    ts_us: i64,
    user: Arc<str>,
}

/// One call in a rate window. `asked`: counted for an allowed question,
/// whose step has not been seen yet (the step then takes its place).
#[derive(Clone, Copy, Debug)]
struct Call {
    ts_us: i64,
    session: u64,
    key: ActionKey,
    asked: bool,
}

#[derive(Debug, Default)]
struct SessionTrack {
    recent: VecDeque<ActionKey>,
    steps: u64,
    tokens: u64,
    last_us: i64,
}

#[derive(Debug, Default)]
struct Project {
    done: HashMap<ActionKey, Vec<Occurrence>>,
    /// agent → tool → recent calls (at most `rate_limit + 1` kept).
    rates: HashMap<Arc<str>, HashMap<Arc<str>, VecDeque<Call>>>,
    sessions: HashMap<Arc<str>, SessionTrack>,
    users: HashSet<Arc<str>>,
}

/// The guard's memory: plain data, fed by [`observe`](Self::observe).
#[derive(Debug, Default)]
pub struct GuardState {
    config: GuardConfig,
    /// Projects' own side-effecting tools (their detection policy's
    /// `side_effect_tools`), beyond the server's.
    own_tools: HashMap<String, Vec<String>>,
    projects: HashMap<Arc<str>, Project>,
    actions: usize,
    sessions: usize,
    windows: usize,
}

fn session_hash(session: &str) -> u64 {
    let mut h = DefaultHasher::new();
    session.hash(&mut h);
    h.finish()
}

fn intern(set: &mut HashSet<Arc<str>>, s: &str) -> Arc<str> {
    match set.get(s) {
        Some(a) => a.clone(),
        None => {
            let a: Arc<str> = Arc::from(s);
            set.insert(a.clone());
            a
        }
    }
}

impl GuardState {
    pub fn new(config: GuardConfig) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Forgets every step observed, keeping the limits and the projects'
    /// own side-effecting tools (before a rebuild).
    pub fn forget(&mut self) {
        *self = Self { config: self.config.clone(), own_tools: std::mem::take(&mut self.own_tools), ..Self::default() };
    }

    /// Sets a project's own side-effecting tools (empty: none beyond the
    /// server's). They count for the steps observed from then on.
    pub fn set_side_effect_tools(&mut self, project: &str, tools: Vec<String>) {
        match tools.is_empty() {
            true => self.own_tools.remove(project),
            false => self.own_tools.insert(project.to_string(), tools),
        };
    }

    /// Whether `tool` has side effects in `project`.
    fn side_effect(config: &GuardConfig, own: &HashMap<String, Vec<String>>, project: &str, tool: &str) -> bool {
        is_side_effect(tool, &config.side_effect_tools) || own.get(project).is_some_and(|extra| is_side_effect(tool, extra))
    }

    /// Distinct actions remembered as done, and sessions followed.
    pub fn sizes(&self) -> (usize, usize) {
        (self.actions, self.sessions)
    }

    /// Takes in a stored step's action (in order of acceptance).
    pub fn observe(&mut self, project: &str, a: &Action) {
        self.take_in(project, a);
        // Steps that call no tool count too: a session is followed for its
        // budget whatever its steps do.
        if self.actions > self.config.max_actions || self.sessions > self.config.max_sessions {
            let now = self.projects.values().flat_map(|p| p.sessions.values()).map(|t| t.last_us).max().unwrap_or(0);
            self.sweep(now);
        }
    }

    fn take_in(&mut self, project: &str, a: &Action) {
        if !self.projects.contains_key(project) {
            self.projects.insert(Arc::from(project), Project::default());
        }
        let p = self.projects.get_mut(project).expect("inserted");
        if !p.sessions.contains_key(a.session_id.as_str()) {
            p.sessions.insert(Arc::from(a.session_id.as_str()), SessionTrack::default());
            self.sessions += 1;
        }
        let session = p.sessions.get_key_value(a.session_id.as_str()).expect("inserted").0.clone();
        let track = p.sessions.get_mut(&session).expect("present");
        track.steps += 1;
        track.tokens = track.tokens.saturating_add(a.tokens);
        track.last_us = track.last_us.max(a.timestamp_us);
        if a.tool.is_empty() {
            return;
        }
        track.recent.push_back(a.key);
        if track.recent.len() > RECENT_CALLS {
            track.recent.pop_front();
        }
        // The rate window: this call, unless an allowed question already counted it.
        let limit = self.config.rate_limit as usize;
        let window = rate_window(&mut p.rates, &a.agent, &a.tool, &mut self.windows);
        let s = session_hash(&a.session_id);
        match window.iter_mut().find(|c| c.asked && c.session == s && c.key == a.key) {
            Some(c) => c.asked = false,
            None => {
                window.push_back(Call { ts_us: a.timestamp_us, session: s, key: a.key, asked: false });
                if window.len() > limit + 1 {
                    window.pop_front();
                }
            }
        }
        if a.succeeded() && Self::side_effect(&self.config, &self.own_tools, project, &a.tool) {
            let user = intern(&mut p.users, &a.user_id);
            let occurrences = p.done.entry(a.key).or_insert_with(|| {
                self.actions += 1;
                Vec::with_capacity(1)
            });
            // Kept in time order, the most recent last; the oldest dropped.
            // A step seen twice (live and by a rebuild) is one occurrence.
            if !occurrences.iter().any(|o| o.step == a.step && o.session == session) {
                let at = occurrences.partition_point(|o| o.ts_us <= a.timestamp_us);
                occurrences.insert(at, Occurrence { session, step: a.step, ts_us: a.timestamp_us, user });
                if occurrences.len() > MAX_PREVIOUS {
                    occurrences.remove(0);
                }
            }
        }
        if self.windows > self.config.max_rate_windows {
            self.sweep_rates(a.timestamp_us);
        }
    }

    /// Answers a question at `now_us`. An allowed question counts as a
    /// call in the tool's rate window (its step, when it comes, is not
    /// counted again).
    pub fn ask(&mut self, project: &str, q: &Question, now_us: i64) -> Answer {
        let config = &self.config;
        let Some(p) = self.projects.get_mut(project) else {
            let answer = Answer::allow();
            self.count_call(project, q, now_us);
            return answer;
        };
        if Self::side_effect(config, &self.own_tools, project, &q.tool)
            && let Some(occurrences) = p.done.get(&q.key)
        {
            let since = now_us.saturating_sub(config.window_us);
            let previous: Vec<Previous> = occurrences
                .iter()
                .rev()
                .filter(|o| o.ts_us >= since)
                .map(|o| Previous { session_id: o.session.to_string(), step: o.step, timestamp_us: o.ts_us, user_id: o.user.to_string() })
                .collect();
            if let Some(last) = previous.first() {
                let times = if previous.len() >= MAX_PREVIOUS { format!("{MAX_PREVIOUS} or more times") } else if previous.len() == 1 { "once".to_string() } else { format!("{} times", previous.len()) };
                let message = format!(
                    "{} with these parameters already succeeded {times}, most recently at step {} of session {:?}",
                    q.tool, last.step, last.session_id
                );
                let mut answer = Answer::deny(Reason::AlreadyDone, message);
                answer.previous = previous;
                return answer;
            }
        }
        if let Some(track) = p.sessions.get(q.session_id.as_str()) {
            let mut calls: Vec<ActionKey> = track.recent.iter().copied().collect();
            calls.push(q.key);
            if let Some((period, turns)) = find_cycle(&calls, LOOP_MAX_PERIOD, LOOP_MIN_TURNS) {
                let message = if period == 1 {
                    format!("session {:?} would call {} with the same parameters {turns} times in a row", q.session_id, q.tool)
                } else {
                    format!("session {:?} would repeat a cycle of {period} calls {turns} times", q.session_id)
                };
                return Answer::deny(Reason::InALoop, message);
            }
            if track.steps >= config.max_session_steps {
                let message = format!("session {:?} has {} steps; its budget is {}", q.session_id, track.steps, config.max_session_steps);
                return Answer::deny(Reason::OverBudget, message);
            }
            if let Some(max) = config.max_session_tokens
                && track.tokens >= max
            {
                let message = format!("session {:?} has used {} tokens; its budget is {max}", q.session_id, track.tokens);
                return Answer::deny(Reason::OverBudget, message);
            }
        }
        let since = now_us.saturating_sub(config.rate_per_us);
        let recent = p
            .rates
            .get(q.agent.as_str())
            .and_then(|tools| tools.get(q.tool.as_str()))
            .map(|w| w.iter().filter(|c| c.ts_us > since).count())
            .unwrap_or(0);
        if recent >= config.rate_limit as usize {
            let message = format!(
                "agent {:?} called {} {recent} times in the last {} s; the limit is {}",
                q.agent,
                q.tool,
                config.rate_per_us / MICROS_PER_SECOND,
                config.rate_limit
            );
            return Answer::deny(Reason::RateLimited, message);
        }
        self.count_call(project, q, now_us);
        Answer::allow()
    }

    /// An allowed answer given at `at_us` before a restart: counted in its
    /// tool's rate window as when it was given (before the steps are read
    /// back, so that its step takes its place rather than counting twice).
    pub fn count_allowed_answer(&mut self, project: &str, q: &Question, at_us: i64) {
        self.count_call(project, q, at_us);
    }

    fn count_call(&mut self, project: &str, q: &Question, now_us: i64) {
        if !self.projects.contains_key(project) {
            self.projects.insert(Arc::from(project), Project::default());
        }
        let limit = self.config.rate_limit as usize;
        let p = self.projects.get_mut(project).expect("inserted");
        let window = rate_window(&mut p.rates, &q.agent, &q.tool, &mut self.windows);
        window.push_back(Call { ts_us: now_us, session: session_hash(&q.session_id), key: q.key, asked: true });
        if window.len() > limit + 1 {
            window.pop_front();
        }
        if self.windows > self.config.max_rate_windows {
            self.sweep_rates(now_us);
        }
    }

    /// Forgets rate windows whose calls all left the window, then, while
    /// over the cap, the tenth whose last call is oldest.
    fn sweep_rates(&mut self, now_us: i64) {
        let since = now_us.saturating_sub(self.config.rate_per_us);
        let last = |w: &VecDeque<Call>| w.iter().map(|c| c.ts_us).max().unwrap_or(i64::MIN);
        let mut cut = since;
        for pass in 0..2 {
            for p in self.projects.values_mut() {
                for tools in p.rates.values_mut() {
                    tools.retain(|_, w| last(w) > cut);
                }
                p.rates.retain(|_, tools| !tools.is_empty());
            }
            self.count();
            if pass == 1 || self.windows <= self.config.max_rate_windows {
                break;
            }
            let mut times: Vec<i64> =
                self.projects.values().flat_map(|p| p.rates.values()).flat_map(|t| t.values()).map(last).collect();
            let tenth = times.len() / 10;
            cut = *times.select_nth_unstable(tenth).1;
        }
    }

    /// Forgets what is older than the window, then, while over a cap, the
    /// oldest tenth of what is left. Runs when a cap is passed, so memory
    /// stays within the caps (plus a tenth).
    pub fn sweep(&mut self, now_us: i64) {
        let since = now_us.saturating_sub(self.config.window_us);
        self.forget_before(since);
        if self.actions > self.config.max_actions {
            let mut times: Vec<i64> =
                self.projects.values().flat_map(|p| p.done.values()).filter_map(|o| o.last().map(|o| o.ts_us)).collect();
            let tenth = times.len() / 10;
            let (_, cut, _) = times.select_nth_unstable(tenth);
            let cut = *cut;
            self.forget_before(cut.max(since));
        }
        if self.sessions > self.config.max_sessions {
            let mut times: Vec<i64> = self.projects.values().flat_map(|p| p.sessions.values()).map(|t| t.last_us).collect();
            let tenth = times.len() / 10;
            let (_, cut, _) = times.select_nth_unstable(tenth);
            let cut = *cut;
            for p in self.projects.values_mut() {
                p.sessions.retain(|_, t| t.last_us > cut);
            }
            self.count();
        }
    }

    fn forget_before(&mut self, since: i64) {
        for p in self.projects.values_mut() {
            p.done.retain(|_, occurrences| {
                occurrences.retain(|o| o.ts_us >= since);
                !occurrences.is_empty()
            });
            p.sessions.retain(|_, t| t.last_us >= since);
            p.users.retain(|u| Arc::strong_count(u) > 1);
        }
        self.projects.retain(|_, p| !p.done.is_empty() || !p.sessions.is_empty() || !p.rates.is_empty());
        self.count();
    }

    fn count(&mut self) {
        self.actions = self.projects.values().map(|p| p.done.len()).sum();
        self.sessions = self.projects.values().map(|p| p.sessions.len()).sum();
        self.windows = self.projects.values().flat_map(|p| p.rates.values()).map(HashMap::len).sum();
    }
}

fn rate_window<'a>(
    rates: &'a mut HashMap<Arc<str>, HashMap<Arc<str>, VecDeque<Call>>>,
    agent: &str,
    tool: &str,
    windows: &mut usize,
) -> &'a mut VecDeque<Call> {
    if !rates.contains_key(agent) {
        rates.insert(Arc::from(agent), HashMap::new());
    }
    let tools = rates.get_mut(agent).expect("inserted");
    if !tools.contains_key(tool) {
        tools.insert(Arc::from(tool), VecDeque::new());
        *windows += 1;
    }
    tools.get_mut(tool).expect("inserted")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = MICROS_PER_SECOND;
    const T0: i64 = 1_800_000_000 * S;

    fn action(session: &str, step: u64, at: i64, tool: &str, params: &str) -> Action {
        Action {
            session_id: session.into(),
            step,
            timestamp_us: at,
            agent: "mailer".into(),
            user_id: "u1".into(),
            tool: tool.into(),
            key: ActionKey::of(tool, params),
            failed: false,
            tokens: 10,
            result: 0,
        }
    }

    fn question(session: &str, tool: &str, params: &str) -> Question {
        Question {
            session_id: session.into(),
            user_id: "u1".into(),
            agent: "mailer".into(),
            tool: tool.into(),
            key: ActionKey::of(tool, params),
        }
    }

    #[test]
    fn a_side_effect_that_succeeded_is_denied_with_where_and_when() {
        let mut g = GuardState::new(GuardConfig::default());
        assert!(g.ask("p", &question("s1", "send_email", r#"{"to":"a"}"#), T0).allowed);
        g.observe("p", &action("s1", 3, T0 + S, "send_email", r#"{"to":"a"}"#));
        g.observe("p", &action("s2", 7, T0 + 2 * S, "send_email", r#"{"to":"a"}"#));
        g.observe("p", &action("s2", 7, T0 + 2 * S, "send_email", r#"{"to":"a"}"#));
        let answer = g.ask("p", &question("s3", "send_email", r#"{"to":"a"}"#), T0 + 3 * S);
        assert!(!answer.allowed);
        assert_eq!(answer.reason, Some(Reason::AlreadyDone));
        let where_: Vec<(&str, u64)> = answer.previous.iter().map(|p| (p.session_id.as_str(), p.step)).collect();
        assert_eq!(where_, [("s2", 7), ("s1", 3)], "most recent first, a step seen twice once");
        assert!(g.ask("p", &question("s3", "send_email", r#"{"to":"b"}"#), T0 + 3 * S).allowed, "other parameters");
        assert!(g.ask("other", &question("s3", "send_email", r#"{"to":"a"}"#), T0 + 3 * S).allowed, "another project");
    }

    #[test]
    fn a_projects_own_side_effecting_tools_count_there_only_and_survive_forgetting() {
        let mut g = GuardState::new(GuardConfig::default());
        g.set_side_effect_tools("strict", vec!["ship_it".into()]);
        for p in ["strict", "lax"] {
            g.observe(p, &action("s1", 0, T0, "ship_it", "{}"));
        }
        assert_eq!(g.ask("strict", &question("s2", "ship_it", "{}"), T0 + S).reason, Some(Reason::AlreadyDone));
        assert!(g.ask("lax", &question("s2", "ship_it", "{}"), T0 + S).allowed, "not listed there");
        g.forget();
        assert!(g.ask("strict", &question("s2", "ship_it", "{}"), T0 + S).allowed, "forgotten");
        g.observe("strict", &action("s1", 0, T0, "ship_it", "{}"));
        assert!(!g.ask("strict", &question("s2", "ship_it", "{}"), T0 + S).allowed, "the list outlives a rebuild");
        g.set_side_effect_tools("strict", Vec::new());
        assert!(g.ask("strict", &question("s3", "ship_it", "{}"), T0 + S).allowed, "cleared");
    }

    #[test]
    fn failures_and_read_only_tools_do_not_count_as_done() {
        let mut g = GuardState::new(GuardConfig::default());
        let mut failed = action("s1", 0, T0, "send_email", "{}");
        failed.failed = true;
        g.observe("p", &failed);
        assert!(g.ask("p", &question("s1", "send_email", "{}"), T0 + S).allowed);
        g.observe("p", &action("s1", 1, T0, "get_order", "{}"));
        assert!(g.ask("p", &question("s1", "get_order", "{}"), T0 + S).allowed);
    }

    #[test]
    fn only_the_window_and_the_last_ten_are_kept() {
        let config = GuardConfig { window_us: 100 * S, ..GuardConfig::default() };
        let mut g = GuardState::new(config);
        for i in 0..15 {
            g.observe("p", &action(&format!("s{i}"), 0, T0 + i * S, "send_email", "{}"));
        }
        let answer = g.ask("p", &question("x", "send_email", "{}"), T0 + 20 * S);
        assert_eq!(answer.previous.len(), MAX_PREVIOUS);
        assert_eq!(answer.previous[0].session_id, "s14");
        assert!(g.ask("p", &question("x", "send_email", "{}"), T0 + 200 * S).allowed, "older than the window");
    }

    #[test]
    fn the_twenty_first_call_in_a_minute_is_rate_limited() {
        let mut g = GuardState::new(GuardConfig::default());
        for i in 0..20 {
            let at = T0 + i * S;
            let q = question("s1", "search_web", &format!("{{\"q\":{i}}}"));
            assert!(g.ask("p", &q, at).allowed, "call {i}");
            // The step reported for an allowed call is not counted again.
            g.observe("p", &action("s1", i as u64, at, "search_web", &format!("{{\"q\":{i}}}")));
        }
        let answer = g.ask("p", &question("s1", "search_web", r#"{"q":"more"}"#), T0 + 20 * S);
        assert_eq!(answer.reason, Some(Reason::RateLimited), "{answer:?}");
        assert!(g.ask("p", &question("s1", "search_web", r#"{"q":"later"}"#), T0 + 61 * S).allowed, "the first call left the window");
    }

    #[test]
    fn a_session_repeating_a_cycle_is_in_a_loop() {
        let mut g = GuardState::new(GuardConfig::default());
        for (i, tool) in ["get_a", "get_b", "get_a", "get_b", "get_a"].into_iter().enumerate() {
            g.observe("p", &action("s1", i as u64, T0, tool, "{}"));
        }
        let answer = g.ask("p", &question("s1", "get_b", "{}"), T0 + S);
        assert_eq!(answer.reason, Some(Reason::InALoop));
        assert!(g.ask("p", &question("s1", "get_c", "{}"), T0 + S).allowed);
        assert!(g.ask("p", &question("s2", "get_b", "{}"), T0 + S).allowed, "another session");
    }

    #[test]
    fn a_session_past_its_steps_or_tokens_is_over_budget() {
        let mut g = GuardState::new(GuardConfig { max_session_steps: 3, max_session_tokens: Some(1000), ..GuardConfig::default() });
        for i in 0..3 {
            g.observe("p", &action("s1", i, T0, &format!("tool_{i}"), "{}"));
        }
        assert_eq!(g.ask("p", &question("s1", "get_x", "{}"), T0).reason, Some(Reason::OverBudget));
        let mut big = action("s2", 0, T0, "think", "{}");
        big.tokens = 5000;
        g.observe("p", &big);
        assert_eq!(g.ask("p", &question("s2", "get_x", "{}"), T0).reason, Some(Reason::OverBudget));
    }

    #[test]
    fn memory_stays_within_its_caps() {
        let mut g = GuardState::new(GuardConfig { max_actions: 100, max_sessions: 50, ..GuardConfig::default() });
        for i in 0..1000 {
            g.observe("p", &action(&format!("s{i}"), 0, T0 + i * S, "send_email", &i.to_string()));
        }
        let (actions, sessions) = g.sizes();
        assert!(actions <= 110 && sessions <= 55, "{actions} {sessions}");
        assert!(!g.ask("p", &question("x", "send_email", "999"), T0 + 1000 * S).allowed, "the newest are kept");
    }

    #[test]
    fn sessions_whose_steps_call_no_tool_stay_within_the_cap_too() {
        let mut g = GuardState::new(GuardConfig { max_sessions: 50, ..GuardConfig::default() });
        for i in 0..1000 {
            g.observe("p", &action(&format!("s{i}"), 0, T0 + i * S, "", "{}"));
        }
        assert!(g.sizes().1 <= 55, "{:?}", g.sizes());
    }

    #[test]
    fn a_step_dated_in_the_future_counts_from_when_it_was_stored() {
        let mut g = GuardState::new(GuardConfig { rate_limit: 3, ..GuardConfig::default() });
        let stored = T0;
        let done = |g: &mut GuardState, project: &str, session: &str, at: i64, tool: &str| {
            let mut a = action(session, 0, at, tool, "{\"order\":77}");
            a.no_later_than(stored);
            g.observe(project, &a);
        };
        done(&mut g, "a", "s-a", T0, "refund_payment");
        // Another project's step dated 2199 moves no one's "now": the
        // refund is still remembered when the caps make the guard sweep.
        let far = 7_200_000_000 * S;
        g.config.max_sessions = 2;
        for i in 0..3 {
            done(&mut g, "b", &format!("s-b{i}"), far, "search_web");
        }
        assert_eq!(g.ask("a", &question("s-a2", "refund_payment", "{\"order\":77}"), T0 + S).reason, Some(Reason::AlreadyDone));
        // Three calls dated 2199 leave the rate window a period after they
        // were stored, not in 2199.
        for i in 0..3 {
            done(&mut g, "c", &format!("s-c{i}"), far, "lookup_order");
        }
        let mut q = question("s-c9", "lookup_order", "{}");
        q.agent = "mailer".into();
        assert_eq!(g.ask("c", &q, T0 + S).reason, Some(Reason::RateLimited));
        assert!(g.ask("c", &q, T0 + g.config.rate_per_us + S).allowed, "{:?}", g.ask("c", &q, T0 + g.config.rate_per_us + S));
    }

    #[test]
    fn rate_windows_of_many_agents_stay_within_their_cap() {
        let mut g = GuardState::new(GuardConfig { max_rate_windows: 100, ..GuardConfig::default() });
        for i in 0..1000 {
            let mut q = question("s", "search_web", "{}");
            q.agent = format!("agent-{i}");
            assert!(g.ask("p", &q, T0 + i * S).allowed);
        }
        assert!(g.windows <= 110, "{}", g.windows);
        let mut q = question("s", "search_web", "{}");
        q.agent = "agent-999".into();
        for _ in 0..19 {
            assert!(g.ask("p", &q, T0 + 1000 * S).allowed);
        }
        assert_eq!(g.ask("p", &q, T0 + 1000 * S).reason, Some(Reason::RateLimited), "a recent window is kept");
    }

    #[test]
    fn rates_parse_as_calls_per_seconds() {
        assert_eq!(parse_rate("20/60"), Ok((20, 60 * S)));
        assert!(parse_rate("0/60").is_err() && parse_rate("20").is_err() && parse_rate("a/b").is_err());
    }
}
