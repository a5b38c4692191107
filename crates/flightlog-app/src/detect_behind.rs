//! The detectors that cannot run on the ingest path, run behind it:
//!
//! - near-duplicate side effects and goal drift compare meanings, so they
//!   need the sentence model (tens of milliseconds a text, far too slow for
//!   a step's acknowledgement): `flightlog_model::semantic`;
//! - a runaway by *priced* cost needs the price list, overrides and tiers,
//!   which live in the store: the cost query prices the touched sessions,
//!   exactly as the cost pages do, against the budgets and the project's
//!   `runaway_cost_usd`.
//!
//! Like the similar-failure indexer, it follows the steps by log position
//! from a mark saved in the store (`indexer_marks`), only while this process
//! writes the log, and never slows ingestion: it only reads. What it finds
//! goes to the same incident writer as the other detectors' findings.
//!
//! After a restart or a lease takeover it starts again from the first step
//! of the near-duplicate window (or its mark, if older) so its clusters are
//! rebuilt; steps below the mark are replayed for side effects only (their
//! reasonings were compared before). Ids are stable, so what it finds again
//! is the same incident.

use crate::AppState;
use crate::background::LowPriorityThread;
use flightlog_embed::{Embedder, Reader};
use flightlog_index::cache::{VectorCache, text_hash};
use flightlog_model::action::{ActionKey, is_side_effect};
use flightlog_model::detect::{DetectConfig, Incident, IncidentKind, StepRef, priced_runaway};
use flightlog_model::semantic::{SemanticDetectors, SideEffect, StoredCluster, goal_text, side_effect_text};
use flightlog_store::IncidentFilter;
use flightlog_model::time::{MICROS_PER_SECOND, now_us};
use flightlog_store::FollowedStep;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where its mark is kept in `indexer_marks`.
const MARK: &str = "detectors behind ingestion";
/// Steps read per round.
const BATCH: u32 = 512;
/// Timestamps later than now by more than this are taken as now plus
/// this: a clock far ahead must not hold every window open.
const FUTURE_SKEW_US: i64 = 300 * MICROS_PER_SECOND;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Waits between retries while the store or the model fails.
const RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(Duration::from_secs(30))
    .without_max_times();

/// What it is doing, for /healthz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BehindState {
    /// Not running: detectors off, or no sentence model.
    #[default]
    Off,
    Starting,
    CatchingUp,
    UpToDate,
    /// Another process writes the log and runs them.
    Standby,
    Failing,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BehindSnapshot {
    pub state: BehindState,
    /// Every step below it has been compared.
    pub next_log_index: u64,
    /// Whether near-duplicates and goal drift run (the sentence model is
    /// loaded); without it only priced runaways are found here.
    pub semantic: bool,
    /// Texts embedded since start.
    pub embedded: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub struct BehindStatus(Mutex<BehindSnapshot>);

impl BehindStatus {
    pub fn snapshot(&self) -> BehindSnapshot {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut BehindSnapshot)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Whether this process may run them now (the writer lease).
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

struct Runner {
    state: AppState,
    /// None without the sentence model: only priced runaways are found.
    embedder: Option<SentenceModel>,
    gate: Option<Gate>,
    memory: SemanticDetectors,
    cache: VectorCache,
    /// Where each priced runaway started: (project, session) → first step over.
    over: HashMap<(String, String), StepRef>,
    next: u64,
    /// Steps below it were compared before this tenure: replayed for side effects only.
    compared_before: u64,
    /// The mark as last saved.
    saved: u64,
}

/// The detectors' sentence model and the low-priority thread it runs on,
/// so that it yields the cores to requests.
struct SentenceModel {
    embedder: Arc<Mutex<Embedder>>,
    thread: Arc<LowPriorityThread>,
}

impl AppState {
    /// Starts the detectors behind ingestion, with this sentence model
    /// (without one, only priced runaways are found), running while `gate`
    /// is open (always, without one).
    pub fn spawn_detectors_behind(self, embedder: Option<Embedder>, gate: Option<Gate>) -> tokio::task::JoinHandle<()> {
        let embedder = embedder.and_then(|e| {
            let thread = LowPriorityThread::start("detectors-behind")
                .inspect_err(|e| tracing::warn!(error = %e, "cannot start the detectors' thread; near-duplicate and goal drift detectors off"))
                .ok()?;
            Some(SentenceModel { embedder: Arc::new(Mutex::new(e)), thread: Arc::new(thread) })
        });
        let runner = Runner {
            state: self,
            embedder,
            gate,
            memory: SemanticDetectors::default(),
            cache: VectorCache::new(20_000),
            over: HashMap::new(),
            next: 0,
            compared_before: 0,
            saved: 0,
        };
        tokio::spawn(runner.run())
    }
}

impl Runner {
    fn status(&self) -> &BehindStatus {
        &self.state.incidents.behind
    }

    fn may_run(&self) -> bool {
        self.gate.as_ref().is_none_or(|open| open())
    }

    async fn run(mut self) {
        use backon::BackoffBuilder;
        self.status().update(|s| s.state = BehindState::Starting);
        loop {
            while !self.may_run() {
                self.status().update(|s| s.state = BehindState::Standby);
                tokio::time::sleep(IDLE_POLL).await;
            }
            // The writer reads the log's head once it holds the lease.
            while self.may_run() && self.state.ingestor.acknowledged_size().is_none() {
                tokio::time::sleep(IDLE_POLL).await;
            }
            let mut delays = RETRY.build();
            while let Err(e) = self.resume().await {
                self.failing(&e);
                tokio::time::sleep(delays.next().expect("retries forever")).await;
            }
            delays = RETRY.build();
            while self.may_run() {
                match self.round().await {
                    Ok(0) => {
                        delays = RETRY.build();
                        self.status().update(|s| {
                            s.state = BehindState::UpToDate;
                            s.last_error = None;
                        });
                        tokio::time::sleep(IDLE_POLL).await;
                    }
                    Ok(_) => {
                        delays = RETRY.build();
                        self.status().update(|s| {
                            s.state = BehindState::CatchingUp;
                            s.last_error = None;
                        });
                    }
                    Err(e) => {
                        self.failing(&e);
                        tokio::time::sleep(delays.next().expect("retries forever")).await;
                    }
                }
            }
        }
    }

    fn failing(&self, e: &str) {
        tracing::warn!(error = %e, "the detectors behind ingestion cannot proceed; will retry");
        self.status().update(|s| {
            s.state = BehindState::Failing;
            s.last_error = Some(e.to_string());
        });
    }

    /// Where to start: the first step of the longest near-duplicate
    /// window. Steps in it below the saved mark were compared before this
    /// tenure and are replayed for side effects only, into clusters
    /// resumed from the near-duplicate incidents still alive (so those go
    /// on with their ids and counts). Steps older than the window and not
    /// yet compared (the detectors were off, or the mark is old) are left:
    /// a drift or runaway of a session long over is no news.
    async fn resume(&mut self) -> Result<(), String> {
        let store = &self.state.store;
        let saved = store.indexer_mark(MARK).await.map_err(|e| format!("reading the mark: {e}"))?;
        let window_us = i64::from(self.state.incidents.longest_near_duplicate_window()) * MICROS_PER_SECOND;
        let end = self.state.ingestor.acknowledged_size().ok_or("the log's head is not read under this lease yet")?;
        let now = now_us();
        let rewind = store
            .first_log_index_since(now - window_us, now + FUTURE_SKEW_US, end)
            .await
            .map_err(|e| format!("finding the window's start: {e}"))?;
        let mark = saved.map_or(rewind, |m| m.next_log_index);
        self.memory = SemanticDetectors::default();
        self.over.clear();
        self.resume_clusters(now - window_us).await?;
        self.next = rewind;
        self.compared_before = mark.max(rewind);
        self.saved = mark;
        tracing::info!(mark, from = self.next, "detectors behind ingestion started");
        let semantic = self.embedder.is_some();
        self.status().update(|s| {
            s.next_log_index = mark;
            s.semantic = semantic;
        });
        Ok(())
    }

    /// Takes the near-duplicate incidents whose last member is within the
    /// window back into memory, anchored on their first member's content.
    async fn resume_clusters(&mut self, since_us: i64) -> Result<(), String> {
        if self.embedder.is_none() {
            return Ok(());
        }
        let store = &self.state.store;
        let alive = store
            .incidents_of_kind_since(IncidentKind::NearDuplicateSideEffects.as_str(), since_us)
            .await
            .map_err(|e| format!("reading near-duplicate incidents: {e}"))?;
        let mut anchors = Vec::new();
        for i in alive {
            let first = store.decision_of_step(&i.project, &i.first_session, i.first_step).await.map_err(|e| format!("reading a step: {e}"))?;
            if let Some(text) = first.and_then(|row| side_effect_text(&row.tool_params)) {
                anchors.push((i, text));
            }
        }
        let vectors = self.embed(anchors.iter().map(|(_, t)| t.clone()).collect()).await?;
        for (i, text) in anchors {
            let stored = StoredCluster {
                id: i.id,
                tool: i.tool_name,
                first: StepRef { session_id: i.first_session, step: i.first_step, timestamp_us: i.first_us },
                last_us: i.last_us,
                count: i.count,
                sessions: i.sessions,
                agent: i.agent_name,
                user_id: i.user_id,
            };
            self.memory.resume_cluster(&i.project, stored, vectors[&text].as_ref().clone());
        }
        Ok(())
    }

    /// Whether any detector here has something to do: with no model, no
    /// budget and no project's cost limit, the steps are not even read.
    fn anything_to_do(&self) -> bool {
        self.embedder.is_some() || !self.state.budgets.is_empty() || self.state.incidents.any_cost_limit()
    }

    /// Compares the next batch of stored steps; returns how many it read.
    ///
    /// Everything that reads the store or the model comes first; memory
    /// changes only once nothing can fail, so a round that fails is simply
    /// done again. The mark moves only once what the round found is durable.
    async fn round(&mut self) -> Result<usize, String> {
        if self.saved < self.compared_before {
            // A save that failed before: what it covers is durable already.
            self.save(self.compared_before).await?;
        }
        // Only acknowledged steps: their commit has written the views the
        // cost and summary reads below use (a steps part is visible before).
        // Without the head read under this tenure, nothing yet.
        let Some(end) = self.state.ingestor.acknowledged_size() else {
            return Ok(0);
        };
        if !self.anything_to_do() {
            if end > self.next {
                self.next = end;
                self.compared_before = end;
                self.save(end).await?;
                self.status().update(|s| s.next_log_index = end);
            }
            return Ok(0);
        }
        let mut rows = self.state.store.followed_steps_from(self.next, end, BATCH).await.map_err(|e| format!("reading steps: {e}"))?;
        let Some(last) = rows.last().map(|r| r.log_index) else {
            return Ok(0);
        };
        // A clock far ahead must not hold every window open.
        let latest = now_us() + FUTURE_SKEW_US;
        for r in &mut rows {
            r.ts_us = r.ts_us.min(latest);
        }
        let mut configs: HashMap<String, DetectConfig> = HashMap::new();
        for r in &rows {
            if !configs.contains_key(&r.project) {
                configs.insert(r.project.clone(), self.state.incidents.config_of(&r.project));
            }
        }
        let before = self.compared_before;
        let fresh = move |r: &FollowedStep| r.log_index >= before;
        let fresh_rows: Vec<&FollowedStep> = rows.iter().filter(|r| fresh(r)).collect();
        let (over, mut found) = self.priced_runaways(&fresh_rows, &configs).await?;
        let goals = self.goals_needed(&rows, &configs, &fresh).await?;
        // Every text this batch compares, embedded once.
        let semantic = self.embedder.is_some();
        let effect_text = |r: &FollowedStep, c: &DetectConfig| {
            (semantic && !r.failed && !r.tool_name.is_empty() && is_side_effect(&r.tool_name, &c.side_effect_tools))
                .then(|| side_effect_text(&r.tool_params))
                .flatten()
        };
        let reasoning = |r: &FollowedStep, c: &DetectConfig| {
            (semantic && fresh(r) && c.goal_drift_similarity.is_some() && !r.reasoning.trim().is_empty()).then(|| r.reasoning.clone())
        };
        let mut texts: Vec<String> = goals.iter().map(|(_, _, g)| g.clone()).collect();
        for r in &rows {
            let c = &configs[&r.project];
            texts.extend(effect_text(r, c));
            texts.extend(reasoning(r, c));
        }
        let vectors = self.embed(texts).await?;

        // Nothing can fail from here until the hand-over.
        if self.over.len() > 100_000 {
            // A runaway forgotten here keeps its id; only its first step may move.
            self.over.clear();
        }
        for (key, first) in over {
            self.over.entry(key).or_insert(first);
        }
        for (project, session, goal) in goals {
            self.memory.goal(&project, &session, vectors[&goal].as_ref().clone());
        }
        let (mut drifts, mut replayed) = (Vec::new(), Vec::new());
        for r in &rows {
            let c = &configs[&r.project];
            let at = StepRef { session_id: r.session_id.clone(), step: r.step, timestamp_us: r.ts_us };
            if let Some(text) = effect_text(r, c) {
                let effect = SideEffect {
                    at: at.clone(),
                    agent: r.agent_name.clone(),
                    user_id: r.user_id.clone(),
                    tool: r.tool_name.clone(),
                    key: ActionKey::of(&r.tool_name, &r.tool_params),
                };
                let grown = self.memory.side_effect(&r.project, c, &effect, &vectors[&text], !fresh(r));
                match fresh(r) {
                    true => found.extend(grown),
                    false => replayed.extend(grown),
                }
            }
            if let Some(text) = reasoning(r, c) {
                drifts.extend(self.memory.reasoning(&r.project, c, &at, &r.agent_name, &r.user_id, &vectors[&text]));
            }
        }
        for mut d in drifts {
            if d.count == 1 {
                self.resume_drift(&mut d).await;
            }
            found.push(d);
        }
        // Found again from steps seen before: dated by their last step, so
        // an alert rule set since does not send them as news.
        self.state.incidents.found(replayed, true);
        let ticket = self.state.incidents.found(found, false);
        self.next = last + 1;
        self.compared_before = self.compared_before.max(self.next);
        let compared = self.compared_before;
        // The mark moves past these steps only once what they showed is
        // durable: a kill -9 before then finds it again. /healthz says so
        // only then too, so "caught up" means the incidents can be read.
        self.state.incidents.written_through(ticket).await;
        self.status().update(|s| s.next_log_index = compared);
        if self.saved < compared {
            self.save(compared).await?;
        }
        Ok(rows.len())
    }

    /// A drift seen for the first time in this process may go on from one
    /// stored before a restart (or before its session was forgotten): same
    /// id, so it continues from that incident's count and first step. When
    /// the store cannot say, it starts again from 1 (the stored, larger
    /// count stands until this one passes it).
    async fn resume_drift(&mut self, incident: &mut Incident) {
        let filter = IncidentFilter { id: incident.id.clone(), limit: 1, ..IncidentFilter::default() };
        match self.state.store.incidents(&incident.project, &filter).await {
            Ok(stored) => {
                if let Some(s) = stored.into_iter().next() {
                    let first = StepRef { session_id: s.first_session, step: s.first_step, timestamp_us: s.first_us };
                    self.memory.resume_drift(incident, s.count, first);
                }
            }
            Err(e) => tracing::warn!(error = %e, id = %incident.id, "cannot read a stored goal drift; its count starts again"),
        }
    }

    async fn save(&mut self, next: u64) -> Result<(), String> {
        let mark = flightlog_store::IndexerMark { next_log_index: next, model: String::new(), dimension: 0 };
        self.state.store.save_indexer_mark(MARK, &mark, now_us()).await.map_err(|e| format!("saving the mark: {e}"))?;
        self.saved = next;
        Ok(())
    }

    /// The goals (project, session, text) of sessions whose reasoning this
    /// batch compares and whose goal is not known yet.
    async fn goals_needed(
        &self,
        rows: &[FollowedStep],
        configs: &HashMap<String, DetectConfig>,
        fresh: &(dyn Fn(&FollowedStep) -> bool + Sync),
    ) -> Result<Vec<(String, String, String)>, String> {
        let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for r in rows {
            let on = self.embedder.is_some() && configs[&r.project].goal_drift_similarity.is_some();
            if on && fresh(r) && !r.reasoning.trim().is_empty() && !self.memory.knows_goal(&r.project, &r.session_id) {
                let sessions = wanted.entry(&r.project).or_default();
                if !sessions.contains(&r.session_id) {
                    sessions.push(r.session_id.clone());
                }
            }
        }
        let mut goals = Vec::new();
        for (project, sessions) in wanted {
            let rows = self.state.store.session_goals(project, &sessions).await.map_err(|e| format!("reading goals: {e}"))?;
            for g in rows {
                if let Some(text) = goal_text(&g.prompt_messages, &g.reasoning) {
                    goals.push((project.to_string(), g.session_id, text));
                }
            }
        }
        Ok(goals)
    }

    /// Vectors of these texts, by text: from the cache, else embedded on
    /// the low-priority thread (each distinct text once).
    async fn embed(&mut self, texts: Vec<String>) -> Result<HashMap<String, Arc<Vec<f32>>>, String> {
        let mut out: HashMap<String, Arc<Vec<f32>>> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for t in texts {
            if out.contains_key(&t) || missing.contains(&t) {
                continue;
            }
            match self.cache.get(&text_hash(Reader::Sentence, &t)) {
                Some(v) => {
                    out.insert(t, v);
                }
                None => missing.push(t),
            }
        }
        let Some(SentenceModel { embedder, thread }) = self.embedder.as_ref().filter(|_| !missing.is_empty()) else {
            return Ok(out);
        };
        let (embedder, inputs) = (embedder.clone(), missing.clone());
        let vectors = thread
            .run(move || {
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                embedder.lock().unwrap_or_else(|p| p.into_inner()).embed(&refs)
            })
            .await?
            .map_err(|e| e.to_string())?;
        self.status().update(|s| s.embedded += vectors.len() as u64);
        for (t, v) in missing.into_iter().zip(vectors) {
            let v = Arc::new(v);
            self.cache.put(text_hash(Reader::Sentence, &t), v.clone());
            out.insert(t, v);
        }
        Ok(out)
    }

    /// The touched sessions whose priced cost is past the smallest limit
    /// that applies: the budgets, or the project's `runaway_cost_usd`.
    /// Returns where newly found runaways started (for memory, once the
    /// round cannot fail) and the incidents.
    async fn priced_runaways(
        &self,
        rows: &[&FollowedStep],
        configs: &HashMap<String, DetectConfig>,
    ) -> Result<(Vec<((String, String), StepRef)>, Vec<Incident>), String> {
        let budgets = self.state.budgets.clone();
        let mut touched: BTreeMap<&str, BTreeMap<&str, &FollowedStep>> = BTreeMap::new();
        for r in rows {
            if budgets.is_empty() && configs[&r.project].runaway_cost_usd.is_none() {
                continue;
            }
            // The latest step of each session in this batch.
            touched.entry(&r.project).or_default().insert(&r.session_id, r);
        }
        let (mut started, mut found) = (Vec::new(), Vec::new());
        for (project, sessions) in touched {
            let ids: Vec<&str> = sessions.keys().copied().collect();
            let summaries = self.state.store.summaries_of(project, &ids).await.map_err(|e| format!("reading sessions: {e}"))?;
            let with_agents: Vec<(String, Vec<String>)> = summaries.iter().map(|s| (s.session_id.clone(), s.agents.clone())).collect();
            let costs = self.state.session_costs(project, &with_agents).await.map_err(|e| format!("pricing sessions: {e}"))?;
            let own = configs[project].runaway_cost_usd;
            for s in &summaries {
                let limit = budgets.limit_for(s.agents.iter().map(String::as_str)).into_iter().chain(own).reduce(f64::min);
                let (Some(limit), Some((cost, _))) = (limit, costs.get(&s.session_id)) else { continue };
                if cost.usd <= limit {
                    continue;
                }
                let r = sessions[s.session_id.as_str()];
                let at = StepRef { session_id: r.session_id.clone(), step: r.step, timestamp_us: r.ts_us };
                let key = (project.to_string(), r.session_id.clone());
                let first = match self.over.get(&key) {
                    Some(first) => first.clone(),
                    None => {
                        started.push((key, at.clone()));
                        at.clone()
                    }
                };
                found.push(priced_runaway(project, &r.agent_name, &r.user_id, first, at, s.steps, cost.usd, limit));
            }
        }
        Ok((started, found))
    }
}
