//! The detectors that compare meanings, not bytes: they take sentence
//! vectors (computed elsewhere, by the embedder) and report incidents the
//! same way [`crate::detect`] does.
//!
//! - **near-duplicate side effects**: side effects of one tool whose
//!   content differs only slightly (95 of 100 support replies saying the
//!   same thing to different people), compared by their content (long
//!   text values: [`side_effect_text`]). Each tool keeps clusters: a side
//!   effect joins the cluster whose first member it is closest to, at
//!   cosine `near_duplicate_similarity` or more, else starts its own. When
//!   `near_duplicate_count` distinct members fall within
//!   `near_duplicate_window_seconds` of each other, the cluster is an
//!   incident, which then grows with every member that joins (its count is
//!   all of them); a cluster with no member for a window is forgotten.
//!   Byte-identical repeats are the exact detectors' business and are
//!   counted once here.
//! - **goal drift**: a session's goal is its first input; when the mean
//!   cosine between the goal and its last `goal_drift_steps` reasonings
//!   falls below `goal_drift_similarity`, the session has drifted. One
//!   incident per session; its count is the reasoning steps seen adrift.
//!
//! Plain data and pure functions; memory is bounded per tool and per
//! project.

use crate::action::ActionKey;
use crate::detect::{DetectConfig, Incident, IncidentKind, StepRef, incident_id};
use crate::time::MICROS_PER_SECOND;
use crate::validate::cut_chars;
use std::collections::{HashMap, HashSet, VecDeque};

/// Clusters kept per (project, tool); past it the least recently joined goes.
const CLUSTERS_PER_TOOL: usize = 512;
/// Clusters kept over all projects and tools (a vector of 1.5 KB each and
/// their contents); past it the idlest tenth goes.
const CLUSTERS: usize = 20_000;
/// Distinct contents remembered per cluster (to count identical ones
/// once); past it every new content counts.
const CONTENTS_PER_CLUSTER: usize = 10_000;
/// Sessions followed for goal drift, over all projects (a goal vector of
/// 1.5 KB each); past it the idlest tenth goes.
const DRIFT_SESSIONS: usize = 50_000;
/// Characters of a goal or a side effect's content that are embedded (the
/// model reads 256 tokens: more is never seen).
pub const TEXT_CHARS: usize = 2_000;

/// Cosine similarity of two vectors (unit length or not).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let n = norm(a) * norm(b);
    if n > 0.0 { dot / n } else { 0.0 }
}

/// A parameter value is content (a message's body, a post, a comment)
/// from this many characters; shorter ones are identifiers and amounts.
pub const CONTENT_CHARS: usize = 40;

/// The content of a side effect: its parameters' text values of
/// [`CONTENT_CHARS`] or more, in order. None when it has none: a side
/// effect of ids and amounts only (`{"order": 991, "amount": 20}`) is the
/// exact detectors' business; two of them always look alike in a model.
pub fn side_effect_text(canonical_params: &str) -> Option<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.chars().count() >= CONTENT_CHARS => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(fields) => fields.values().for_each(|f| walk(f, out)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(canonical_params).ok()?;
    let mut parts = Vec::new();
    walk(&value, &mut parts);
    (!parts.is_empty()).then(|| cut_chars(&parts.join("\n"), TEXT_CHARS).to_string())
}

/// A session's goal: the first user message of its first step's prompt
/// (a string, or the text parts of a list), else that step's reasoning.
/// None when both are blank.
pub fn goal_text(prompt_messages: &str, reasoning: &str) -> Option<String> {
    let from_messages = serde_json::from_str::<serde_json::Value>(prompt_messages).ok().and_then(|v| {
        let messages = v.as_array()?.clone();
        let user = messages.iter().find(|m| m.get("role").and_then(|r| r.as_str()) == Some("user"))?;
        match user.get("content")? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(parts) => {
                Some(parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join("\n"))
            }
            _ => None,
        }
    });
    [from_messages.unwrap_or_default(), reasoning.to_string()]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .map(|t| cut_chars(&t, TEXT_CHARS).to_string())
}

/// One stored side effect, as the near-duplicate detector sees it.
#[derive(Clone, Debug)]
pub struct SideEffect {
    pub at: StepRef,
    pub agent: String,
    pub user_id: String,
    pub tool: String,
    /// Same tool and canonical parameters: the same content.
    pub key: ActionKey,
}

#[derive(Debug)]
struct Cluster {
    id: String,
    anchor: Vec<f32>,
    first: StepRef,
    last_us: i64,
    contents: HashSet<ActionKey>,
    /// Distinct contents counted: the incident's count.
    count: u64,
    /// Resumed from a stored incident (see [`SemanticDetectors::resume_cluster`]).
    resumed: bool,
    /// The members' times within the window of the newest, in time order.
    recent: VecDeque<i64>,
    /// Reported: every later member grows the incident.
    open: bool,
    sessions: Vec<String>,
    agent: String,
    user_id: String,
}

#[derive(Debug, Default)]
struct Drift {
    goal: Option<Vec<f32>>,
    /// The last reasonings' similarities to the goal.
    recent: VecDeque<f32>,
    adrift: u64,
    first: Option<StepRef>,
    agent: String,
    user_id: String,
    last_us: i64,
}

/// The two detectors' memory.
#[derive(Debug, Default)]
pub struct SemanticDetectors {
    clusters: HashMap<(String, String), VecDeque<Cluster>>,
    cluster_count: usize,
    drifts: HashMap<(String, String), Drift>,
}

/// A stored near-duplicate incident, to go on with after a restart.
#[derive(Clone, Debug)]
pub struct StoredCluster {
    pub id: String,
    pub tool: String,
    pub first: StepRef,
    pub last_us: i64,
    pub count: u64,
    pub sessions: Vec<String>,
    pub agent: String,
    pub user_id: String,
}

impl SemanticDetectors {
    /// Goes on with a near-duplicate incident found before a restart:
    /// its id, first member (`anchor`: its content's vector) and count are
    /// kept, so members that join it later grow that incident, however old
    /// its first member is. Side effects replayed from before the restart
    /// join it without counting again ([`Self::side_effect`]'s `replay`).
    pub fn resume_cluster(&mut self, project: &str, stored: StoredCluster, anchor: Vec<f32>) {
        let clusters = self.clusters.entry((project.to_string(), stored.tool.clone())).or_default();
        let before = clusters.len();
        clusters.retain(|c| c.id != stored.id);
        self.cluster_count = self.cluster_count.saturating_sub(before - clusters.len());
        clusters.push_back(Cluster {
            id: stored.id,
            anchor,
            first: stored.first,
            last_us: stored.last_us,
            contents: HashSet::new(),
            count: stored.count,
            resumed: true,
            recent: VecDeque::new(),
            open: true,
            sessions: stored.sessions,
            agent: stored.agent,
            user_id: stored.user_id,
        });
        self.cluster_count += 1;
    }

    /// Takes in one successful side effect and its content's vector;
    /// returns the near-duplicate incident it opened or grew. `replay`: a
    /// side effect seen before a restart (a resumed incident counted it).
    pub fn side_effect(&mut self, project: &str, config: &DetectConfig, e: &SideEffect, vector: &[f32], replay: bool) -> Option<Incident> {
        let window = i64::from(config.near_duplicate_window_seconds) * MICROS_PER_SECOND;
        if self.cluster_count > CLUSTERS {
            self.forget_idlest_clusters();
        }
        let clusters = self.clusters.entry((project.to_string(), e.tool.clone())).or_default();
        let before = clusters.len();
        clusters.retain(|c| c.last_us > e.at.timestamp_us - window);
        self.cluster_count = self.cluster_count.saturating_sub(before - clusters.len());
        let best = clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (i, cosine(&c.anchor, vector)))
            .filter(|(_, s)| *s >= config.near_duplicate_similarity)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, similarity)) = best else {
            if clusters.len() >= CLUSTERS_PER_TOOL {
                let idlest = clusters.iter().enumerate().min_by_key(|(_, c)| c.last_us).map(|(i, _)| i);
                if idlest.and_then(|i| clusters.remove(i)).is_some() {
                    self.cluster_count = self.cluster_count.saturating_sub(1);
                }
            }
            self.cluster_count += 1;
            clusters.push_back(Cluster {
                id: incident_id(project, IncidentKind::NearDuplicateSideEffects, &[
                    e.tool.as_bytes(),
                    e.at.session_id.as_bytes(),
                    &e.at.step.to_be_bytes(),
                ]),
                anchor: vector.to_vec(),
                first: e.at.clone(),
                last_us: e.at.timestamp_us,
                contents: HashSet::from([e.key]),
                count: 1,
                resumed: false,
                recent: VecDeque::from([e.at.timestamp_us]),
                open: false,
                sessions: vec![e.at.session_id.clone()],
                agent: e.agent.clone(),
                user_id: e.user_id.clone(),
            });
            return None;
        };
        let c = &mut clusters[i];
        c.last_us = c.last_us.max(e.at.timestamp_us);
        if c.contents.contains(&e.key) {
            return None;
        }
        if c.contents.len() < CONTENTS_PER_CLUSTER {
            c.contents.insert(e.key);
        }
        if replay && c.resumed {
            return None;
        }
        c.count += 1;
        let at = c.recent.partition_point(|t| *t <= e.at.timestamp_us);
        c.recent.insert(at, e.at.timestamp_us);
        let newest = c.recent.back().copied().unwrap_or(e.at.timestamp_us);
        while c.recent.front().is_some_and(|t| *t <= newest - window) {
            c.recent.pop_front();
        }
        c.open |= c.recent.len() >= config.near_duplicate_count as usize;
        if !c.sessions.contains(&e.at.session_id) && c.sessions.len() < crate::detect::MAX_SESSIONS_NAMED {
            c.sessions.push(e.at.session_id.clone());
        }
        if c.agent != e.agent {
            c.agent.clear();
        }
        if c.user_id != e.user_id {
            c.user_id.clear();
        }
        let count = c.count;
        c.open.then(|| Incident {
            id: c.id.clone(),
            kind: IncidentKind::NearDuplicateSideEffects,
            project: project.to_string(),
            sessions: c.sessions.clone(),
            agent: c.agent.clone(),
            user_id: c.user_id.clone(),
            tool: e.tool.clone(),
            first: c.first.clone(),
            last: e.at.clone(),
            count,
            message: format!(
                "{count} {} calls with nearly the same content (this one {:.2} similar to session {:?} step {})",
                e.tool, similarity, c.first.session_id, c.first.step
            ),
        })
    }

    /// Forgets the tenth of clusters joined longest ago.
    fn forget_idlest_clusters(&mut self) {
        let mut times: Vec<i64> = self.clusters.values().flatten().map(|c| c.last_us).collect();
        if times.is_empty() {
            return;
        }
        let tenth = times.len() / 10;
        let cut = *times.select_nth_unstable(tenth).1;
        for clusters in self.clusters.values_mut() {
            clusters.retain(|c| c.last_us > cut);
        }
        self.clusters.retain(|_, c| !c.is_empty());
        self.cluster_count = self.clusters.values().map(VecDeque::len).sum();
    }

    /// Whether the session's goal is known (else look it up and call [`Self::goal`]).
    pub fn knows_goal(&self, project: &str, session: &str) -> bool {
        self.drifts.get(&(project.to_string(), session.to_string())).is_some_and(|d| d.goal.is_some())
    }

    /// Sets a session's goal vector.
    pub fn goal(&mut self, project: &str, session: &str, vector: Vec<f32>) {
        let key = (project.to_string(), session.to_string());
        if self.drifts.len() >= DRIFT_SESSIONS && !self.drifts.contains_key(&key) {
            let mut times: Vec<i64> = self.drifts.values().map(|d| d.last_us).collect();
            let tenth = times.len() / 10;
            let cut = *times.select_nth_unstable(tenth).1;
            self.drifts.retain(|_, d| d.last_us > cut);
        }
        self.drifts.entry(key).or_default().goal = Some(vector);
    }

    /// Goes on with a goal drift incident found before a restart (or
    /// before the session was forgotten): its first step and its count so
    /// far, to which the drift now seen (`incident`, just returned by
    /// [`Self::reasoning`] with a count from 1) is added.
    pub fn resume_drift(&mut self, incident: &mut Incident, stored_count: u64, stored_first: StepRef) {
        let key = (incident.project.clone(), incident.last.session_id.clone());
        if let Some(d) = self.drifts.get_mut(&key) {
            d.adrift += stored_count;
            d.first = Some(stored_first.clone());
            incident.count = d.adrift;
            incident.first = stored_first;
        }
    }

    /// Takes in one reasoning (its step and vector); returns the goal
    /// drift incident it opened or grew. Nothing while the goal is unknown.
    pub fn reasoning(&mut self, project: &str, config: &DetectConfig, at: &StepRef, agent: &str, user_id: &str, vector: &[f32]) -> Option<Incident> {
        let threshold = config.goal_drift_similarity?;
        let d = self.drifts.get_mut(&(project.to_string(), at.session_id.clone()))?;
        let similarity = cosine(d.goal.as_deref()?, vector);
        d.last_us = d.last_us.max(at.timestamp_us);
        if d.agent.is_empty() {
            d.agent = agent.to_string();
            d.user_id = user_id.to_string();
        }
        d.recent.push_back(similarity);
        let n = config.goal_drift_steps.max(1) as usize;
        while d.recent.len() > n {
            d.recent.pop_front();
        }
        if d.recent.len() < n {
            return None;
        }
        let mean = d.recent.iter().sum::<f32>() / n as f32;
        if mean >= threshold {
            return None;
        }
        d.adrift += 1;
        let first = d.first.get_or_insert_with(|| at.clone()).clone();
        Some(Incident {
            id: incident_id(project, IncidentKind::GoalDrift, &[at.session_id.as_bytes()]),
            kind: IncidentKind::GoalDrift,
            project: project.to_string(),
            sessions: vec![at.session_id.clone()],
            agent: d.agent.clone(),
            user_id: d.user_id.clone(),
            tool: String::new(),
            first,
            last: at.clone(),
            count: d.adrift,
            message: format!(
                "session {:?} drifted from its goal: its last {n} reasonings are {mean:.2} similar to it on average (threshold {threshold:.2})",
                at.session_id
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(session: &str, step: u64, s: i64) -> StepRef {
        StepRef { session_id: session.into(), step, timestamp_us: s * MICROS_PER_SECOND }
    }

    fn effect(session: &str, step: u64, s: i64, content: &str) -> SideEffect {
        SideEffect {
            at: at(session, step, s),
            agent: "support".into(),
            user_id: String::new(),
            tool: "send_reply".into(),
            key: ActionKey::of("send_reply", content),
        }
    }

    /// A unit vector at `degrees` from the x axis, in the x-y plane.
    fn v(degrees: f32) -> Vec<f32> {
        let r = degrees.to_radians();
        vec![r.cos(), r.sin(), 0.0, 0.0]
    }

    /// A unit vector at `degrees` from the z axis, far from the x-y plane.
    fn z(degrees: f32) -> Vec<f32> {
        let r = degrees.to_radians();
        vec![r.sin(), 0.0, r.cos(), 0.0]
    }

    #[test]
    fn near_duplicates_fire_at_the_count_and_grow_one_incident() {
        let config = DetectConfig { near_duplicate_count: 5, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        let mut fired = Vec::new();
        for i in 0..8u64 {
            // Within a few degrees of each other: cosine > 0.99.
            let e = effect(&format!("s{i}"), 0, i as i64, &format!("reply to customer {i}"));
            fired.push(d.side_effect("p", &config, &e, &v(i as f32 * 0.5), false));
        }
        assert!(fired[..4].iter().all(Option::is_none));
        let found: Vec<&Incident> = fired[4..].iter().flatten().collect();
        assert_eq!(found.len(), 4);
        assert!(found.iter().all(|i| i.id == found[0].id && i.kind == IncidentKind::NearDuplicateSideEffects));
        assert_eq!(found.iter().map(|i| i.count).collect::<Vec<_>>(), [5, 6, 7, 8]);
        assert_eq!(found[3].first, at("s0", 0, 0));
        assert_eq!(found[3].last, at("s7", 0, 7));
        assert_eq!(found[3].sessions.len(), 8);
    }

    #[test]
    fn different_contents_identical_repeats_and_old_ones_do_not_count() {
        let config = DetectConfig { near_duplicate_count: 3, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        // Different contents: 60 degrees apart (cosine 0.5).
        for i in 0..6u64 {
            assert!(d.side_effect("p", &config, &effect("a", i, i as i64, &format!("c{i}")), &v(i as f32 * 60.0), false).is_none());
        }
        // The same content five times is one member.
        for i in 0..5u64 {
            assert!(d.side_effect("p", &config, &effect("b", i, 10, "same"), &z(0.0), false).is_none());
        }
        // Another project's or tool's never join.
        let mut other = effect("d", 0, 10, "x");
        other.tool = "post_message".into();
        assert!(d.side_effect("p", &config, &other, &z(0.0), false).is_none());
        assert!(d.side_effect("q", &config, &effect("d", 1, 10, "y"), &z(0.0), false).is_none());
        // A second distinct content near "same" still is not the third.
        assert!(d.side_effect("p", &config, &effect("b", 9, 11, "other"), &z(1.0), false).is_none());
        let third = d.side_effect("p", &config, &effect("b", 10, 12, "third"), &z(2.0), false).expect("the third distinct content");
        assert_eq!((third.count, third.first.step, third.sessions.len()), (3, 0, 1));
        // Near-duplicates further apart than the window never meet.
        let window = config.near_duplicate_window_seconds as i64;
        for i in 0..4u64 {
            let e = effect("c", i, 100 + i as i64 * (window + 1), &format!("late {i}"));
            assert!(d.side_effect("p", &config, &e, &[0.0, 0.0, 0.0, 1.0], false).is_none());
        }

    }

    #[test]
    fn a_slow_trickle_of_near_duplicates_is_no_incident_until_enough_fall_in_one_window() {
        let config = DetectConfig { near_duplicate_count: 3, near_duplicate_window_seconds: 100, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        // One every 90 s: never three within 100 s, though the cluster lives on.
        for i in 0..5u64 {
            assert!(d.side_effect("p", &config, &effect("t", i, i as i64 * 90, &format!("t{i}")), &v(0.0), false).is_none());
        }
        // Then two more close together: three within 100 s (360, 370, 380).
        assert!(d.side_effect("p", &config, &effect("t", 5, 370, "t5"), &v(0.0), false).is_none());
        let found = d.side_effect("p", &config, &effect("t", 6, 380, "t6"), &v(0.0), false).expect("three within the window");
        assert_eq!((found.count, found.first.step), (7, 0), "the count is every member; the first is the cluster's first");
        // Once open, each member grows it, however slowly it comes.
        assert_eq!(d.side_effect("p", &config, &effect("t", 7, 470, "t7"), &v(0.0), false).map(|i| i.count), Some(8));
    }

    #[test]
    fn a_resumed_cluster_keeps_its_id_and_count_and_replayed_members_do_not_count_again() {
        let config = DetectConfig { near_duplicate_count: 3, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        let stored = StoredCluster {
            id: "inc_00000000000000000001".into(),
            tool: "send_reply".into(),
            first: at("old", 0, 0),
            last_us: 500 * MICROS_PER_SECOND,
            count: 12,
            sessions: vec!["old".into()],
            agent: "support".into(),
            user_id: String::new(),
        };
        d.resume_cluster("p", stored, v(0.0));
        // Replayed from before the restart: seen, not counted again.
        for i in 0..3u64 {
            assert!(d.side_effect("p", &config, &effect("r", i, 400 + i as i64, &format!("r{i}")), &v(1.0), true).is_none());
        }
        // New ones grow the stored incident, first member and all.
        let grown = d.side_effect("p", &config, &effect("n", 0, 600, "n0"), &v(2.0), false).expect("grows");
        assert_eq!((grown.id.as_str(), grown.count, grown.first.session_id.as_str()), ("inc_00000000000000000001", 13, "old"));
        // A replayed one again (already seen) does not count either.
        assert!(d.side_effect("p", &config, &effect("r", 0, 400, "r0"), &v(1.0), false).is_none());
    }

    #[test]
    fn a_resumed_drift_goes_on_from_its_stored_count_and_first_step() {
        let config = DetectConfig { goal_drift_similarity: Some(0.5), goal_drift_steps: 1, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        d.goal("p", "s", v(0.0));
        let mut first = d.reasoning("p", &config, &at("s", 20, 20), "a", "u", &v(90.0)).expect("adrift");
        assert_eq!(first.count, 1);
        d.resume_drift(&mut first, 7, at("s", 3, 3));
        assert_eq!((first.count, first.first.step), (8, 3));
        let next = d.reasoning("p", &config, &at("s", 21, 21), "a", "u", &v(90.0)).expect("still adrift");
        assert_eq!((next.count, next.first.step, next.id == first.id), (9, 3, true));
    }

    #[test]
    fn goal_drift_fires_when_recent_reasoning_leaves_the_goal() {
        let config = DetectConfig { goal_drift_similarity: Some(0.5), goal_drift_steps: 3, ..DetectConfig::default() };
        let mut d = SemanticDetectors::default();
        assert!(d.reasoning("p", &config, &at("s", 1, 1), "a", "u", &v(0.0)).is_none(), "no goal yet: nothing");
        assert!(!d.knows_goal("p", "s"));
        d.goal("p", "s", v(0.0));
        assert!(d.knows_goal("p", "s"));
        // On topic (cosine 0.94), then one aside (0.0): the mean holds.
        for step in 1..=4 {
            assert!(d.reasoning("p", &config, &at("s", step, step as i64), "a", "u", &v(20.0)).is_none());
        }
        assert!(d.reasoning("p", &config, &at("s", 5, 5), "a", "u", &v(90.0)).is_none());
        // A second aside: the mean of the last three falls to 0.31.
        let first = d.reasoning("p", &config, &at("s", 6, 6), "a", "u", &v(90.0)).expect("drifted");
        assert_eq!((first.kind, first.count, first.first.step, first.agent.as_str()), (IncidentKind::GoalDrift, 1, 6, "a"));
        let grown = d.reasoning("p", &config, &at("s", 7, 7), "a", "u", &v(80.0)).expect("still adrift");
        assert_eq!((grown.id == first.id, grown.count, grown.first.step, grown.last.step), (true, 2, 6, 7));
        let off = DetectConfig { goal_drift_similarity: None, ..config };
        assert!(d.reasoning("p", &off, &at("s", 9, 9), "a", "u", &v(90.0)).is_none(), "off: nothing");
    }

    #[test]
    fn the_goal_is_the_first_user_message_else_the_reasoning() {
        let m = r#"[{"role":"system","content":"be nice"},{"role":"user","content":"Book a flight to Tokyo"}]"#;
        assert_eq!(goal_text(m, "r").as_deref(), Some("Book a flight to Tokyo"));
        let parts = r#"[{"role":"user","content":[{"type":"text","text":"Find"},{"type":"image"},{"type":"text","text":"hotels"}]}]"#;
        assert_eq!(goal_text(parts, "").as_deref(), Some("Find\nhotels"));
        assert_eq!(goal_text("[]", "Plan the trip").as_deref(), Some("Plan the trip"));
        assert_eq!(goal_text("not json", " \n").as_deref(), None);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        let body = "Hi Anna, we have refunded your order 991 today.";
        let params = format!(r#"{{"body":{body:?},"order":991,"to":"anna@example.com","tags":["a",{body:?}]}}"#);
        assert_eq!(side_effect_text(&params), Some(format!("{body}\n{body}")));
        assert_eq!(side_effect_text(r#"{"order":991,"to":"anna@example.com"}"#), None);
        assert_eq!(side_effect_text("not json"), None);
    }
}
