//! Incidents: the detectors (`flightlog_model::detect`) run on every
//! accepted step, on the ingest path, from memory; what they find is
//! written to `incidents` by a task off that path, and listed, filtered
//! and acknowledged here.
//!
//! The detectors' memory is fed with the guard's (one feed: [`Guard`]
//! hands each stored action to both, and its rebuild at start-up rebuilds
//! both), so a pattern that spans a restart is still one incident: ids are
//! stable, and an incident found again is written again with the same id
//! (`ReplacingMergeTree(count)` keeps its largest state).
//!
//! Written after the steps are acknowledged, not with them: an incident of
//! the last moments before a crash is found again by the rebuild, which
//! replays the stored steps through the same detectors.
//!
//! [`Guard`]: crate::guard::Guard

use crate::params;
use crate::{AppError, AppState};
use backon::BackoffBuilder;
use flightlog_model::action::Action;
use flightlog_model::detect::{DetectConfig, Detectors, Incident, IncidentKind};
use flightlog_model::time::{format_timestamp, now_us};
use flightlog_store::{IncidentFilter, IncidentRow, PolicyKind, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// A failed write of incidents is retried, 0.2 s apart and doubling up to
/// 10 s, for as long as it takes: the incidents stay pending meanwhile.
const WRITE_RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(200))
    .with_max_delay(Duration::from_secs(10))
    .without_max_times();
/// Incidents listed per page at most.
pub const MAX_PAGE: u32 = 500;

/// What people did with an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub const ALL: [Self; 3] = [Self::Open, Self::Acknowledged, Self::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A step an incident names.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentStep {
    pub session_id: String,
    pub step: u64,
    /// RFC 3339.
    pub timestamp: String,
}

/// One incident, as answered.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub kind: IncidentKind,
    /// The kind, for a person.
    pub title: &'static str,
    pub state: IncidentState,
    pub sessions: Vec<String>,
    pub agent: String,
    pub user_id: String,
    pub tool: String,
    pub first: IncidentStep,
    pub last: IncidentStep,
    /// How many times the pattern happened so far (calls, turns, steps).
    pub count: u64,
    pub message: String,
    /// RFC 3339: when it last grew.
    pub updated: String,
}

impl IncidentView {
    pub fn of(r: IncidentRow) -> Option<Self> {
        let kind = IncidentKind::parse(&r.kind)?;
        Some(Self {
            title: kind.title(),
            kind,
            state: IncidentState::parse(&r.state).unwrap_or(IncidentState::Open),
            first: IncidentStep { session_id: r.first_session, step: r.first_step, timestamp: format_timestamp(r.first_us) },
            last: IncidentStep { session_id: r.last_session, step: r.last_step, timestamp: format_timestamp(r.last_us) },
            id: r.id,
            sessions: r.sessions,
            agent: r.agent_name,
            user_id: r.user_id,
            tool: r.tool_name,
            count: r.count,
            message: r.message,
            updated: format_timestamp(r.updated_us),
        })
    }
}

/// One page of incidents.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /v1/incidents`'s filters and page, as received (query string or form).
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentParams {
    /// repeated_side_effect, side_effect_across_sessions, loop, burst,
    /// runaway, cascading_failure, near_duplicate_side_effects or goal_drift.
    pub kind: Option<String>,
    /// Incidents involving this session.
    pub session_id: Option<String>,
    /// Incidents of this agent.
    pub agent: Option<String>,
    /// open, acknowledged or resolved.
    pub state: Option<String>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// Incidents per page (default 50, at most 500).
    #[param(schema_with = crate::param_schemas::incidents_page_size)]
    pub limit: Option<String>,
}

/// The filters, parsed.
#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    pub kind: Option<IncidentKind>,
    pub session: String,
    pub agent: String,
    pub state: Option<IncidentState>,
    pub cursor: Option<(i64, String)>,
    pub limit: u32,
}

impl IncidentParams {
    /// The one reading of the parameters, for every front end.
    pub fn query(&self) -> Result<IncidentQuery, AppError> {
        let kind = match params::non_empty(&self.kind) {
            Some(k) => Some(IncidentKind::parse(k).ok_or_else(|| {
                let kinds: Vec<&str> = IncidentKind::ALL.iter().map(|k| k.as_str()).collect();
                AppError::invalid("kind", format!("must be one of {}, got {k:?}", kinds.join(", ")))
            })?),
            None => None,
        };
        let state = match params::non_empty(&self.state) {
            Some(s) => Some(
                IncidentState::parse(s)
                    .ok_or_else(|| AppError::invalid("state", format!("must be open, acknowledged or resolved, got {s:?}")))?,
            ),
            None => None,
        };
        let cursor = match params::non_empty(&self.cursor) {
            Some(c) => Some(parse_cursor(c).ok_or_else(|| AppError::invalid("cursor", "is not a next_cursor this server gave"))?),
            None => None,
        };
        Ok(IncidentQuery {
            kind,
            session: params::filter_id("session_id", "session's id", &self.session_id)?,
            agent: params::filter_id("agent", "agent's name", &self.agent)?,
            state,
            cursor,
            limit: params::page_size(params::non_empty(&self.limit), 50, MAX_PAGE)?,
        })
    }
}

/// An incident id: `inc_` and 20 hex digits.
fn check_id(id: &str) -> Result<(), AppError> {
    let hex = id.strip_prefix("inc_").unwrap_or_default();
    if hex.len() != 20 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::invalid("id", "is not an incident id (inc_ and 20 hex digits)"));
    }
    Ok(())
}

fn parse_cursor(c: &str) -> Option<(i64, String)> {
    let (us, id) = c.split_once('_').filter(|(_, id)| id.starts_with("inc_") && id.len() <= 64)?;
    Some((us.parse().ok()?, id.to_string()))
}

fn row_of(i: &Incident, at_us: i64) -> IncidentRow {
    IncidentRow {
        project: i.project.clone(),
        id: i.id.clone(),
        kind: i.kind.as_str().to_string(),
        sessions: i.sessions.clone(),
        agent_name: i.agent.clone(),
        user_id: i.user_id.clone(),
        tool_name: i.tool.clone(),
        first_session: i.first.session_id.clone(),
        first_step: i.first.step,
        first_us: i.first.timestamp_us,
        last_session: i.last.session_id.clone(),
        last_step: i.last.step,
        last_us: i.last.timestamp_us,
        count: i.count,
        message: i.message.clone(),
        updated_us: at_us,
        state: String::new(),
    }
}

/// The detectors' memory and the incidents waiting to be written.
pub struct Incidents {
    detectors: Mutex<Detectors>,
    default: DetectConfig,
    /// By id: only an incident's newest state is written.
    pending: Mutex<HashMap<String, Pending>>,
    wake: Notify,
    enabled: bool,
    /// Replaying stored steps (a rebuild): what is found then is dated by
    /// its last step, not now, so a rule set since does not send it.
    replaying: std::sync::atomic::AtomicBool,
    /// The detectors behind ingestion (`detect_behind`), for /healthz.
    pub behind: crate::detect_behind::BehindStatus,
    /// Tickets: each hand-over of incidents gets the next; `written`
    /// says up to which ticket everything handed over is durable.
    queued: std::sync::atomic::AtomicU64,
    written: tokio::sync::watch::Sender<u64>,
    /// Counts this process's changes of alert rules: the alerts' deliverer
    /// re-reads them, before it routes anything else, until it has read
    /// the latest count's (it would otherwise drop, until its next rescan,
    /// an incident whose project it thinks has no rules).
    alert_rules: tokio::sync::watch::Sender<u64>,
}

impl Incidents {
    /// Starts the writer task (call within tokio). `written` hears of each
    /// incident state once it is durable (the alerts' outbox). Detectors
    /// off (`enabled` false): nothing is observed.
    pub fn start(store: Store, default: DetectConfig, enabled: bool, written: mpsc::UnboundedSender<IncidentRow>) -> std::sync::Arc<Self> {
        let this = std::sync::Arc::new(Self {
            detectors: Mutex::new(Detectors::new(default.clone())),
            default,
            pending: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            enabled,
            replaying: std::sync::atomic::AtomicBool::new(false),
            behind: Default::default(),
            queued: Default::default(),
            written: tokio::sync::watch::channel(0).0,
            alert_rules: tokio::sync::watch::channel(0).0,
        });
        tokio::spawn(write(this.clone(), store, written));
        this
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Detectors> {
        self.detectors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the alerts' deliverer that a project's rules changed.
    pub(crate) fn alert_rules_changed(&self) {
        self.alert_rules.send_modify(|n| *n += 1);
    }

    /// The count of rule changes, for the deliverer to follow.
    pub(crate) fn alert_rule_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.alert_rules.subscribe()
    }

    /// Marks the start (true) and end (false) of a replay of stored steps.
    pub(crate) fn replaying(&self, on: bool) {
        self.replaying.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets everything (before a rebuild), keeping projects' thresholds.
    pub(crate) fn reset(&self) {
        let mut d = self.lock();
        let mut fresh = Detectors::new(self.default.clone());
        for (project, config) in d.own_configs() {
            fresh.set_project_config(&project, Some(config));
        }
        *d = fresh;
    }

    /// Sets projects' own thresholds (those not named keep theirs).
    pub(crate) fn set_configs(&self, configs: impl IntoIterator<Item = (String, Option<DetectConfig>)>) {
        let mut d = self.lock();
        for (project, config) in configs {
            d.set_project_config(&project, config);
        }
    }

    /// Takes in the actions of newly stored steps, in order of acceptance.
    pub(crate) fn observe<'a>(&self, project: &str, actions: impl IntoIterator<Item = &'a Action>) {
        if !self.enabled {
            return;
        }
        let found: Vec<Incident> = {
            let mut d = self.lock();
            actions.into_iter().flat_map(|a| d.observe(project, a)).collect()
        };
        self.found(found, self.replaying.load(std::sync::atomic::Ordering::Relaxed));
    }

    /// Whether the detectors run at all (`--detectors`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A project's thresholds (its own, or the defaults).
    pub(crate) fn config_of(&self, project: &str) -> DetectConfig {
        self.lock().config_of(project).clone()
    }

    /// Whether a project limits its sessions' priced cost.
    pub(crate) fn any_cost_limit(&self) -> bool {
        let d = self.lock();
        self.default.runaway_cost_usd.is_some() || d.own_configs().iter().any(|(_, c)| c.runaway_cost_usd.is_some())
    }

    /// The longest near-duplicate window of any project, in seconds.
    pub(crate) fn longest_near_duplicate_window(&self) -> u32 {
        let d = self.lock();
        d.own_configs().iter().map(|(_, c)| c.near_duplicate_window_seconds).fold(self.default.near_duplicate_window_seconds, u32::max)
    }

    /// Queues incidents found (their newest states) for writing; those of
    /// a replay of stored steps are dated by their last step. Returns a
    /// ticket for [`Self::written_through`].
    pub(crate) fn found(&self, found: Vec<Incident>, replaying: bool) -> u64 {
        use std::sync::atomic::Ordering::SeqCst;
        if found.is_empty() || !self.enabled {
            return self.queued.load(SeqCst);
        }
        let now = now_us();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for i in &found {
            let at = if replaying { i.last.timestamp_us.min(now) } else { now };
            pending.insert(i.id.clone(), Pending { row: row_of(i, at), replayed: replaying });
        }
        let ticket = self.queued.fetch_add(1, SeqCst) + 1;
        drop(pending);
        self.wake.notify_one();
        ticket
    }

    /// How many hand-overs of incidents there have been since start, and up
    /// to which of them everything is durable: when the second reaches what
    /// the first was, every incident the detectors had found by then can be
    /// read (the detectors of side effects, loops and bursts run on each
    /// request's path, before it is answered).
    pub fn handed_over_and_durable(&self) -> (u64, u64) {
        (self.queued.load(std::sync::atomic::Ordering::SeqCst), *self.written.borrow())
    }

    /// Waits until everything handed over up to `ticket` is durable.
    pub(crate) async fn written_through(&self, ticket: u64) {
        let mut written = self.written.subscribe();
        let _ = written.wait_for(|w| *w >= ticket).await;
    }

    /// Sessions followed and side effects remembered across sessions.
    pub fn sizes(&self) -> (usize, usize) {
        self.lock().sizes()
    }
}

/// An incident's newest state, waiting to be written.
struct Pending {
    row: IncidentRow,
    /// Found by a replay of stored steps (dated by its last step), so
    /// perhaps stored already, in this state or a later one.
    replayed: bool,
}

/// Writes pending incidents, all at once, whenever there are some; a
/// failed write keeps them pending (merged with newer states) and retries.
async fn write(incidents: std::sync::Arc<Incidents>, store: Store, written: mpsc::UnboundedSender<IncidentRow>) {
    let mut delays = WRITE_RETRY.build();
    loop {
        let (pending, upto): (Vec<Pending>, u64) = {
            let mut pending = incidents.pending.lock().unwrap_or_else(|p| p.into_inner());
            (pending.drain().map(|(_, p)| p).collect(), incidents.queued.load(std::sync::atomic::Ordering::SeqCst))
        };
        if pending.is_empty() {
            incidents.written.send_if_modified(|w| std::mem::replace(w, upto.max(*w)) < upto);
            incidents.wake.notified().await;
            continue;
        }
        match write_newer_than_stored(&store, pending).await {
            Ok(rows) => {
                delays = WRITE_RETRY.build();
                incidents.written.send_if_modified(|w| std::mem::replace(w, upto.max(*w)) < upto);
                for r in rows {
                    let _ = written.send(r);
                }
            }
            Err((e, failed)) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %e, incidents = failed.len(), "could not write incidents; retrying");
                {
                    let mut pending = incidents.pending.lock().unwrap_or_else(|p| p.into_inner());
                    for p in failed {
                        // A newer state found meanwhile wins.
                        pending.entry(p.row.id.clone()).or_insert(p);
                    }
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Writes the incidents' states and returns the rows written. What a
/// replay found is first compared with what is stored: one stored in the
/// same state (count and last step) is left out, and one that changed keeps
/// the stored time if that is later. A replay dates what it finds by its
/// last step; written over the stored row, that moved an incident back
/// before an alert rule set since, and its alert, not sent before a
/// restart, was never sent (the second hostile probe). What the detectors
/// found live is written as it is, with no read first.
async fn write_newer_than_stored(store: &Store, mut pending: Vec<Pending>) -> Result<Vec<IncidentRow>, (flightlog_store::StoreError, Vec<Pending>)> {
    let replayed: Vec<&str> = pending.iter().filter(|p| p.replayed).map(|p| p.row.id.as_str()).collect();
    if !replayed.is_empty() {
        let stored = match store.incident_versions(&replayed).await {
            Ok(stored) => stored,
            Err(e) => return Err((e, pending)),
        };
        pending.retain_mut(|p| match stored.get(&(p.row.project.clone(), p.row.id.clone())).filter(|_| p.replayed) {
            Some(v) if (v.count, v.last_step, v.last_us) == (p.row.count, p.row.last_step, p.row.last_us) => false,
            Some(v) => {
                p.row.updated_us = p.row.updated_us.max(v.updated_us);
                true
            }
            None => true,
        });
    }
    let rows: Vec<IncidentRow> = pending.iter().map(|p| p.row.clone()).collect();
    match store.record_incidents(&rows).await {
        Ok(()) => Ok(rows),
        Err(e) => Err((e, pending)),
    }
}

impl AppState {
    /// One page of `project`'s incidents, newest first.
    pub async fn incidents(&self, project: &str, q: &IncidentQuery) -> Result<IncidentPage, AppError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let filter = IncidentFilter {
            kind: q.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            session: q.session.clone(),
            agent: q.agent.clone(),
            state: q.state.map(|s| s.as_str().to_string()).unwrap_or_default(),
            id: String::new(),
            cursor: q.cursor.clone(),
            limit: limit + 1,
        };
        let mut rows = self.store.incidents(project, &filter).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|r| format!("{}_{}", r.last_us, r.id)) } else { None };
        Ok(IncidentPage { incidents: rows.into_iter().filter_map(IncidentView::of).collect(), next_cursor })
    }

    /// One incident of `project`.
    pub async fn incident(&self, project: &str, id: &str) -> Result<IncidentView, AppError> {
        check_id(id)?;
        let filter = IncidentFilter { id: id.to_string(), limit: 1, ..IncidentFilter::default() };
        self.store
            .incidents(project, &filter)
            .await?
            .into_iter()
            .find_map(IncidentView::of)
            .ok_or_else(|| AppError::NotFound(format!("no incident {id:?} in this project")))
    }

    /// Acknowledges, resolves or reopens an incident (by key `by`).
    pub async fn set_incident_state(&self, project: &str, id: &str, state: IncidentState, by: &str) -> Result<IncidentView, AppError> {
        self.incident(project, id).await?;
        self.store.set_incident_state(project, id, state.as_str(), now_us(), by).await?;
        self.incident(project, id).await
    }

    /// A project's own detector thresholds, or the defaults.
    pub async fn detection_policy(&self, project: &str) -> Result<DetectConfig, AppError> {
        match self.policy_in_force(project, PolicyKind::Detection).await? {
            Some(r) => serde_json::from_str(&r.body).map_err(|e| AppError::unavailable("the stored detection policy cannot be read", e)),
            None => Ok(self.incidents.default.clone()),
        }
    }

    /// Puts a project's detector thresholds in force.
    pub async fn set_detection_policy(&self, project: &str, config: DetectConfig, by: &str) -> Result<DetectConfig, AppError> {
        config.check().map_err(|(field, why)| AppError::invalid(&field, why))?;
        let body = serde_json::to_string(&config).expect("a policy serialises");
        self.put_policy(project, PolicyKind::Detection, body, by).await?;
        self.incidents.set_configs([(project.to_string(), Some(config.clone()))]);
        self.guard.set_side_effect_tools(project, config.side_effect_tools.clone());
        Ok(config)
    }

    /// Rebuilds the guard's and the detectors' memory when this process
    /// writes the log and has not in this tenure, each project's
    /// thresholds read first (a replay with the defaults would find what a
    /// project's own thresholds do not count); and takes in the steps that
    /// commits which failed stored after all.
    pub async fn rebuild_memory_if_writer(&self) -> Result<(), AppError> {
        if self.guard.needs_rebuild().await {
            self.refresh_detection_policies().await?;
        }
        self.guard.catch_up(&self.ingestor).await
    }

    /// Reads every project's detector thresholds into the detectors.
    pub(crate) async fn refresh_detection_policies(&self) -> Result<(), AppError> {
        let mut configs = Vec::new();
        for row in self.policies_in_force(PolicyKind::Detection).await? {
            match serde_json::from_str::<DetectConfig>(&row.body) {
                Ok(c) => configs.push((row.project, Some(c))),
                Err(e) => tracing::warn!(project = %row.project, error = %e, "a detection policy cannot be read; the defaults apply"),
            }
        }
        for (project, config) in &configs {
            let tools = config.as_ref().map(|c| c.side_effect_tools.clone()).unwrap_or_default();
            self.guard.set_side_effect_tools(project, tools);
        }
        self.incidents.set_configs(configs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        assert_eq!(parse_cursor("1700_inc_ab12"), Some((1700, "inc_ab12".to_string())));
        assert_eq!(parse_cursor("x_inc_ab"), None);
        assert_eq!(parse_cursor("17_ab"), None);
    }
}
