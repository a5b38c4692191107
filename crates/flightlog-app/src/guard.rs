//! The guard: an agent asks before it executes a side effect, and is told
//! whether it already happened (where, when), whether the tool is over its
//! rate, or whether the session is over budget or in a loop
//! (`flightlog_model::guard` holds the rules).
//!
//! It answers from memory: every accepted step is fed to it on the ingest
//! path ([`Guard::observe`], no I/O), and at start-up the memory is rebuilt
//! from the steps stored within the window ([`Guard::rebuild`]), so an
//! answer survives a restart. Steps that a commit which failed stored after
//! all are taken in once the writer has recovered
//! ([`Guard::catch_up`]). The memory is the writer's: the front ends
//! forward questions to the writer lease's holder, like steps.
//!
//! Every answer is recorded in `guard_answers`, in batches, by a task off
//! the answer's path: an answer is not held up by a ClickHouse insert
//! (an fsynced insert takes longer than the whole answer's budget), so
//! the answers of the last moments before a crash (those still queued,
//! at most one batch, normally well under a second) can be lost, and when
//! the queue is full an answer is not recorded (counted and logged).
//!
//! The parameters a question sends are canonicalised exactly as a step's
//! `tool_execution.params` is stored: the question is dressed as a step,
//! redacted with the project's redactor and validated like one, and its
//! action key taken from that step ([`Action::of`]), so a question matches
//! the step the agent reports afterwards.

use crate::incidents::Incidents;
use crate::redaction::redact_record;
use crate::{AppError, AppState};
use flightlog_model::action::{Action, ActionKey};
use flightlog_model::guard::{Answer, GuardConfig, GuardState, Question};
use flightlog_model::time::{format_timestamp, now_us};
use flightlog_model::{FieldError, Limits, step_from_json};
use flightlog_ingest::Ingestor;
use flightlog_ingest::lease::WriterLease;
use backon::BackoffBuilder;
use flightlog_store::Store;
use flightlog_store::guard::{ActionRow, GuardAnswerRow};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Answers queued for the recorder at most; beyond, an answer is not recorded.
const QUEUE_DEPTH: usize = 65_536;
/// Answers written by one insert at most.
const MAX_GROUP: usize = 5_000;
/// A failed insert of answers is tried four more times, 0.2 s apart and
/// doubling, before the group is given up.
const RECORD_RETRY: backon::ExponentialBuilder =
    backon::ExponentialBuilder::new().with_min_delay(Duration::from_millis(200)).with_max_times(4);
/// Log positions read per page when rebuilding.
const REBUILD_PAGE: u64 = 50_000;
/// The fields a question may have.
const FIELDS: [&str; 5] = ["session_id", "user_id", "agent", "tool", "params"];

/// What an agent asks (`POST /v1/guard`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, utoipa::ToSchema)]
pub struct GuardQuestion {
    /// The session about to act.
    pub session_id: String,
    /// The user (customer) it acts for.
    #[serde(default)]
    pub user_id: String,
    /// The agent's name, as its steps give `agent.name`.
    #[serde(default)]
    pub agent: String,
    /// The tool about to be called, as its step gives `tool_execution.name`.
    pub tool: String,
    /// The parameters, as its step gives `tool_execution.params`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Option<Value>,
}

/// An earlier success of the same action.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PreviousAction {
    pub session_id: String,
    pub step: u64,
    /// RFC 3339, the step's timestamp.
    pub timestamp: String,
    pub user_id: String,
}

/// The guard's answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GuardAnswer {
    pub allowed: bool,
    /// Why it is denied: `already_done`, `in_a_loop`, `over_budget` or
    /// `rate_limited`; null when allowed.
    #[schema(value_type = Option<String>, example = "already_done")]
    pub reason: Option<&'static str>,
    /// What was found, for a person.
    pub message: String,
    /// Earlier successes of this action, most recent first (at most 10);
    /// empty unless `reason` is `already_done`.
    pub previous: Vec<PreviousAction>,
}

impl From<Answer> for GuardAnswer {
    fn from(a: Answer) -> Self {
        Self {
            allowed: a.allowed,
            reason: a.reason.map(|r| r.as_str()),
            message: a.message,
            previous: a
                .previous
                .into_iter()
                .map(|p| PreviousAction {
                    session_id: p.session_id,
                    step: p.step,
                    timestamp: format_timestamp(p.timestamp_us),
                    user_id: p.user_id,
                })
                .collect(),
        }
    }
}

/// The guard's memory and its recorder.
pub struct Guard {
    state: Mutex<GuardState>,
    config: GuardConfig,
    answers: mpsc::Sender<GuardAnswerRow>,
    /// Answers recorded, and not, since start (shared with the recorder).
    counts: Arc<AnswerCounts>,
    store: Store,
    lease: WriterLease,
    /// The writing tenure the memory was last rebuilt in.
    rebuilt_in: tokio::sync::Mutex<Option<u64>>,
    /// The detectors: fed the same actions, rebuilt with this memory.
    incidents: std::sync::Arc<Incidents>,
}

impl Guard {
    /// An empty guard, with its recorder task started (call within tokio).
    /// Every action it takes in is handed to `incidents` as well.
    pub fn start(store: Store, config: GuardConfig, lease: WriterLease, incidents: std::sync::Arc<Incidents>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let counts = Arc::new(AnswerCounts::default());
        tokio::spawn(record(store.clone(), rx, counts.clone()));
        Self {
            state: Mutex::new(GuardState::new(config.clone())),
            config,
            answers: tx,
            counts,
            store,
            lease,
            rebuilt_in: tokio::sync::Mutex::new(None),
            incidents,
        }
    }

    /// This process's writing tenure, when it writes the log (and so keeps
    /// this memory).
    pub fn tenure(&self) -> Option<u64> {
        self.lease.writable()
    }

    /// Whether a rebuild is due (this process writes the log and has not
    /// rebuilt in this tenure).
    pub async fn needs_rebuild(&self) -> bool {
        match self.lease.writable() {
            Some(tenure) => *self.rebuilt_in.lock().await != Some(tenure),
            None => false,
        }
    }

    /// Brings the memory up to date when this process writes the log:
    /// rebuilt when it has not been in this tenure (at start-up, and when
    /// it takes the writer lease over from another process, whose memory it
    /// was); otherwise the steps that commits which failed stored after all
    /// are taken in (the writer completes their log when it recovers). No
    /// one was told of those, so they were never taken in, and a retry finds
    /// them as duplicates, which are not taken in either. Only those: memory
    /// keeps what it has, the allowed answers given while storage was out
    /// among it (their records may have failed too). A rebuild reads them
    /// with the rest. A second caller waits until the memory is up to date.
    pub async fn catch_up(&self, ingestor: &Ingestor) -> Result<(), AppError> {
        let Some(tenure) = self.lease.writable() else { return Ok(()) };
        let mut rebuilt = self.rebuilt_in.lock().await;
        let stored = ingestor.take_stored_unacknowledged();
        if *rebuilt != Some(tenure) {
            self.rebuild().await?;
            *rebuilt = Some(tenure);
            return Ok(());
        }
        let since = now_us().saturating_sub(self.config.window_us);
        let mut batch: Vec<ActionRow> = Vec::new();
        for range in &stored {
            if let Err(e) = self.store.for_each_action_in(range.clone(), since, REBUILD_PAGE, |row| batch.push(row)).await {
                // Nothing of them is taken in yet: all again, later.
                ingestor.put_back_stored_unacknowledged(stored);
                return Err(e.into());
            }
        }
        self.observe_rows(&mut batch);
        Ok(())
    }

    /// A project's own side-effecting tools (its detection policy's).
    pub(crate) fn set_side_effect_tools(&self, project: &str, tools: Vec<String>) {
        self.lock().set_side_effect_tools(project, tools);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes in the actions of newly stored steps, in order of acceptance.
    pub fn observe<'a>(&self, project: &str, actions: impl IntoIterator<Item = &'a Action> + Clone) {
        {
            let mut state = self.lock();
            for a in actions.clone() {
                state.observe(project, a);
            }
        }
        self.incidents.observe(project, actions);
    }

    /// Forgets everything, then reads back the steps stored within the
    /// window, in log order. Steps stored meanwhile are taken in live as
    /// well; one seen both ways is one occurrence. Returns how many.
    async fn rebuild(&self) -> Result<u64, AppError> {
        let started = Instant::now();
        self.lock().forget();
        self.incidents.reset();
        self.incidents.replaying(true);
        // The allowed answers of the last rate period first: each counted a
        // call its step (if it came) then takes the place of.
        let rate_since = now_us().saturating_sub(self.config.rate_per_us);
        let answers = self.store.allowed_answers_since(rate_since).await?;
        {
            let mut state = self.lock();
            for a in answers {
                let q = Question { session_id: a.session_id, user_id: a.user_id, agent: a.agent_name, tool: a.tool_name, key: ActionKey(a.action_key) };
                state.count_allowed_answer(&a.project, &q, a.at_us);
            }
        }
        let since = now_us().saturating_sub(self.config.window_us);
        let mut batch: Vec<ActionRow> = Vec::new();
        let read = self
            .store
            .for_each_action_since(since, REBUILD_PAGE, |row| {
                batch.push(row);
                if batch.len() >= 10_000 {
                    self.observe_rows(&mut batch);
                }
            })
            .await;
        self.observe_rows(&mut batch);
        self.incidents.replaying(false);
        let n = read?;
        let (actions, sessions) = self.lock().sizes();
        tracing::info!(steps = n, actions, sessions, elapsed_ms = started.elapsed().as_millis() as u64, "guard memory rebuilt");
        Ok(n)
    }

    fn observe_rows(&self, rows: &mut Vec<ActionRow>) {
        let mut state = self.lock();
        for r in rows.drain(..) {
            // An erased step's parameters and result are blank: what it
            // did was kept apart before the erasure.
            let erased = r.erased_action_key != 0;
            let mut action = Action {
                result: if erased { r.erased_result } else { u64::from_str_radix(&r.result_hex, 16).unwrap_or_default() },
                key: if erased { ActionKey(r.erased_action_key) } else { ActionKey::of(&r.tool_name, &r.tool_params) },
                session_id: r.session_id,
                step: r.step,
                timestamp_us: r.ts_us,
                agent: r.agent_name,
                user_id: r.user_id,
                tool: r.tool_name,
                failed: r.failed,
                tokens: r.tokens,
            };
            action.no_later_than(r.received_us);
            state.observe(&r.project, &action);
            self.incidents.observe(&r.project, [&action]);
        }
    }

    /// Answers recorded in `guard_answers`, and answers not recorded (the
    /// queue was full, or their insert failed every try), since start.
    pub fn answer_counts(&self) -> (u64, u64) {
        (self.counts.recorded.load(Ordering::Relaxed), self.counts.unrecorded.load(Ordering::Relaxed))
    }

    /// Answers `q` (already canonical) now, from memory; queues its record.
    pub fn ask(&self, project: &str, q: &Question, key_id: &str) -> GuardAnswer {
        let at_us = now_us();
        let answer = self.lock().ask(project, q, at_us);
        let row = GuardAnswerRow {
            project: project.to_string(),
            at_us,
            key_id: key_id.to_string(),
            session_id: q.session_id.clone(),
            user_id: q.user_id.clone(),
            agent_name: q.agent.clone(),
            tool_name: q.tool.clone(),
            action_key: q.key.0,
            allowed: answer.allowed,
            reason: answer.reason.map(|r| r.as_str()).unwrap_or_default().to_string(),
            message: answer.message.clone(),
            previous: Value::Array(
                answer
                    .previous
                    .iter()
                    .map(|p| json!({"session_id": p.session_id, "step": p.step, "timestamp": format_timestamp(p.timestamp_us)}))
                    .collect(),
            )
            .to_string(),
        };
        if self.answers.try_send(row).is_err() {
            let n = self.counts.unrecorded.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(unrecorded = n, "the guard's answer recorder is behind; answers are not recorded");
            }
        }
        answer.into()
    }
}

/// What became of the answers given since start.
#[derive(Default)]
struct AnswerCounts {
    recorded: AtomicU64,
    unrecorded: AtomicU64,
}

/// Writes queued answers in groups of up to [`MAX_GROUP`]; a failed insert
/// is retried ([`RECORD_RETRY`]) before the group is given up.
async fn record(store: Store, mut rx: mpsc::Receiver<GuardAnswerRow>, counts: Arc<AnswerCounts>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut delays = RECORD_RETRY.build();
        loop {
            match store.record_guard_answers(&group).await {
                Ok(()) => {
                    counts.recorded.fetch_add(group.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(e) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(error = %e, answers = group.len(), "could not record the guard's answers; retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::error!(error = %e, answers = group.len(), "the guard's answers were not recorded");
                        counts.unrecorded.fetch_add(group.len() as u64, Ordering::Relaxed);
                        break;
                    }
                },
            }
        }
        group.clear();
    }
}

impl GuardQuestion {
    /// Reads a question from a parsed JSON body, naming the field at fault.
    pub fn from_json(body: Value, limits: &Limits) -> Result<Self, FieldError> {
        let Value::Object(mut map) = body else { return Err(FieldError::new("(body)", "must be a JSON object")) };
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(FieldError::new(unknown, format!("is not a field of a question; the fields are {}", FIELDS.join(", "))));
        }
        let mut text = |name: &str, required: bool| -> Result<String, FieldError> {
            match map.remove(name) {
                None | Some(Value::Null) if !required => Ok(String::new()),
                None | Some(Value::Null) => Err(FieldError::new(name, "is required")),
                Some(Value::String(s)) if s.len() > limits.max_id_bytes => {
                    Err(FieldError::new(name, format!("is {} bytes; the limit is {}", s.len(), limits.max_id_bytes)))
                }
                Some(Value::String(s)) if required && s.is_empty() => Err(FieldError::new(name, "must not be empty")),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(FieldError::new(name, "must be a string")),
            }
        };
        let session_id = text("session_id", true)?;
        let user_id = text("user_id", false)?;
        let agent = text("agent", false)?;
        let tool = text("tool", true)?;
        let params = map.remove("params").filter(|p| !p.is_null());
        Ok(Self { session_id, user_id, agent, tool, params })
    }

    /// The question as the guard compares it: the parameters in the
    /// canonical, redacted form a step with them would be stored in.
    fn canonical(self, limits: &Limits, redactor: Option<&flightlog_redact::Redactor>) -> Result<Question, FieldError> {
        let mut tool_execution = Map::new();
        tool_execution.insert("name".into(), Value::String(self.tool.clone()));
        if let Some(params) = self.params {
            tool_execution.insert("params".into(), params);
        }
        let mut record = json!({
            "session_id": self.session_id, "step": 0, "timestamp": "2026-01-01T00:00:00Z",
            "agent": {"name": self.agent}, "tool_execution": Value::Object(tool_execution),
        });
        if !self.user_id.is_empty() {
            record["user_id"] = Value::String(self.user_id.clone());
        }
        redact_record(redactor, &mut record, None)?;
        let step = step_from_json(record, limits).map_err(|e| {
            let field = match e.field.as_str() {
                f if f.starts_with("tool_execution.params") => f.replacen("tool_execution.params", "params", 1),
                "tool_execution.name" => "tool".into(),
                "agent.name" => "agent".into(),
                f => f.to_string(),
            };
            FieldError { field, reason: e.reason }
        })?;
        let action = Action::of(&step);
        Ok(Question { session_id: action.session_id, user_id: action.user_id, agent: action.agent, tool: action.tool, key: action.key })
    }
}

impl AppState {
    /// Answers an agent's question before it acts, from the guard's memory,
    /// and records the answer (asked with key `key_id`).
    pub async fn ask_guard(&self, project: &str, question: GuardQuestion, key_id: &str) -> Result<GuardAnswer, AppError> {
        self.rebuild_memory_if_writer().await?;
        let redactor = self.redactor(project).await?;
        let q = question.canonical(&self.limits, redactor.as_deref()).map_err(|e| AppError::invalid(&e.field, e.reason))?;
        Ok(self.guard.ask(project, &q, key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_names_the_field_at_fault() {
        let limits = Limits::default();
        let field = |v: Value| GuardQuestion::from_json(v, &limits).unwrap_err().field;
        assert_eq!(field(json!({"tool": "x"})), "session_id");
        assert_eq!(field(json!({"session_id": "s"})), "tool");
        assert_eq!(field(json!({"session_id": "s", "tool": 3})), "tool");
        assert_eq!(field(json!({"session_id": "s", "tool": "t", "agent": "a".repeat(300)})), "agent");
        assert_eq!(field(json!({"session_id": "s", "tool": "t", "bogus": 1})), "bogus");
        assert_eq!(field(json!([1])), "(body)");
    }

    #[test]
    fn parameters_are_compared_in_the_form_a_step_stores_them() {
        let limits = Limits::default();
        let q = |params: Value| {
            GuardQuestion::from_json(json!({"session_id": "s", "tool": "send_email", "params": params}), &limits)
                .unwrap()
                .canonical(&limits, None)
                .unwrap()
        };
        let a = q(json!({"to": "a@b.c", "n": 1}));
        assert_eq!(a.key, q(json!({"n": 1, "to": "a@b.c"})).key, "key order does not matter");
        assert_eq!(a.key, ActionKey::of("send_email", r#"{"n":1,"to":"a@b.c"}"#));
        let step = step_from_json(
            json!({"session_id": "s", "step": 3, "timestamp": "2026-05-01T00:00:00Z",
                   "tool_execution": {"name": "send_email", "params": {"to": "a@b.c", "n": 1}}}),
            &limits,
        )
        .unwrap();
        assert_eq!(Action::of(&step).key, a.key);
        let none = GuardQuestion::from_json(json!({"session_id": "s", "tool": "t"}), &limits).unwrap().canonical(&limits, None).unwrap();
        assert_eq!(none.key, ActionKey::of("t", ""));
    }
}
