//! Ingestion, whatever the decoder: records (native JSON, NDJSON, CSV,
//! OTLP spans mapped to steps) are validated into steps, encoded with
//! their hashes, and submitted to the single writer, which answers once
//! they are durable. One path for every front end and for the demo data,
//! and each record is redacted on it first (crate::redaction).

use crate::redaction::redact_record;
use crate::{AppError, AppState};
use flightlog_redact::{CleanTexts, Redactor};
use std::collections::BTreeMap;
use flightlog_ingest::Outcome;
use flightlog_model::action::Action;
use flightlog_model::validate::cut_chars;
use flightlog_model::{FieldError, Limits, admit, step_from_json};
use flightlog_store::{BatchMessages, EncodedStep};
use serde_json::Value;

/// Why a record was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RejectionCode {
    /// The record is not a valid step (the field and reason say why).
    Invalid,
    /// A step with its session and number is stored with other content.
    Conflict,
}

/// A record that was refused, by its position in the request.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    pub code: RejectionCode,
    pub field: String,
    pub reason: String,
}

/// Records validated and encoded, ready for the writer.
pub struct Prepared {
    /// (record index, step, values replaced in it by kind: crate::redaction,
    /// what it did: for the guard once it is stored)
    pub(crate) steps: Vec<(usize, EncodedStep, BTreeMap<String, u64>, Action)>,
    rejected: Vec<Rejection>,
}

impl Prepared {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What became of a request's records.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// Personal data and secrets replaced in this request's valid steps
    /// (those stored now, and duplicates of ones stored before); each step
    /// lists them under `redacted`.
    pub redacted: u64,
    /// In record order.
    pub rejected: Vec<Rejection>,
}

/// Validates and encodes decoded records (CPU work: call it off the async
/// threads, together with the decoding).
/// Each record is redacted first (`redactor`; None: redaction is off).
pub fn prepare(
    records: impl IntoIterator<Item = Result<Value, FieldError>>,
    limits: &Limits,
    project: &str,
    redactor: Option<&Redactor>,
) -> Prepared {
    let mut out = Prepared { steps: Vec::new(), rejected: Vec::new() };
    // The steps of one batch repeat each other's texts (each LLM call
    // carries the conversation so far): each is scanned once.
    let mut clean = CleanTexts::default();
    // And each message is hashed and kept once.
    let mut messages = BatchMessages::default();
    for (index, record) in records.into_iter().enumerate() {
        let (session_id, step) = record.as_ref().ok().map(identify).unwrap_or_default();
        let mut replaced = BTreeMap::new();
        let checked = record.and_then(|mut value| {
            for (kind, n) in redact_record(redactor, &mut value, Some(&mut clean))?.totals() {
                replaced.insert(kind.to_string(), n as u64);
            }
            step_from_json(value, limits).and_then(|step| admit(&step, limits).map(|()| step))
        });
        match checked {
            Ok(s) => out.steps.push((index, EncodedStep::in_batch(project, &s, &mut messages), replaced, Action::of(&s))),
            Err(FieldError { field, reason }) => {
                out.rejected.push(Rejection { index, session_id, step, code: RejectionCode::Invalid, field, reason })
            }
        }
    }
    out
}

/// The record's session and step, as far as they can be read, for naming
/// it in a rejection.
fn identify(v: &Value) -> (Option<String>, Option<u64>) {
    let session = v.get("session_id").and_then(|s| s.as_str()).map(|s| cut_chars(s, 256).to_string());
    (session, v.get("step").and_then(|s| s.as_u64()))
}

impl AppState {
    /// Submits prepared steps to the writer; returns once they are durable.
    /// The steps newly stored are taken into the guard's memory.
    pub async fn submit(&self, project: &str, prepared: Prepared) -> Result<IngestReport, AppError> {
        let Prepared { steps, mut rejected } = prepared;
        let mut report = IngestReport::default();
        if !steps.is_empty() {
            let mut indexes = Vec::with_capacity(steps.len());
            let mut encoded = Vec::with_capacity(steps.len());
            let mut replaced = Vec::with_capacity(steps.len());
            let mut actions = Vec::with_capacity(steps.len());
            for (index, step, kinds, action) in steps {
                actions.push(action);
                report.redacted += kinds.values().sum::<u64>();
                indexes.push(index);
                encoded.push(step);
                replaced.push(kinds);
            }
            let keys: Vec<(String, u64)> = encoded.iter().map(|s| (s.session_id.clone(), s.step)).collect();
            // Queued here, where a client that goes away while the queue is
            // full withdraws its steps; the wait for the commit and what
            // follows it run as a task of their own. A client that went away
            // (or a gRPC deadline) dropped this future mid-commit, and the
            // steps stored then were never taken in: the guard allowed their
            // side effects again (a retry is a duplicate, not taken in
            // either), and their redactions went uncounted.
            let queued = self.ingestor.enqueue(project.to_string(), encoded).await?;
            let (guard, redaction, owner) = (self.guard.clone(), self.redaction.clone(), project.to_string());
            let committed = tokio::spawn(async move {
                // Clamped to the time the steps are stored with, as a
                // rebuild from the store after a restart clamps them.
                let (outcomes, stored_us) = queued.committed().await?;
                let mut stored = Vec::new();
                for ((mut action, kinds), outcome) in actions.into_iter().zip(&replaced).zip(&outcomes) {
                    if matches!(outcome, Outcome::Accepted) {
                        action.no_later_than(stored_us);
                        stored.push(action);
                        // Counted once stored; a duplicate was counted before.
                        redaction.count(kinds);
                    }
                }
                guard.observe(&owner, &stored);
                Ok::<_, AppError>(outcomes)
            });
            let outcomes = committed.await.map_err(|e| AppError::unavailable("the commit did not finish", e))??;
            for ((index, (session_id, step)), outcome) in indexes.into_iter().zip(keys).zip(outcomes) {
                match outcome {
                    Outcome::Accepted => report.accepted += 1,
                    Outcome::Duplicate => report.duplicates += 1,
                    Outcome::Conflict => rejected.push(Rejection {
                        index,
                        reason: format!(
                            "step {step} of session {session_id:?} is already stored with different content; \
                             the stored version is kept"
                        ),
                        session_id: Some(session_id),
                        step: Some(step),
                        code: RejectionCode::Conflict,
                        field: "(record)".into(),
                    }),
                }
            }
        }
        rejected.sort_by_key(|r| r.index);
        report.rejected = rejected;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_step_and_refusal_keeps_its_record_index() {
        let records: Vec<Result<Value, FieldError>> = (0..1000u64)
            .map(|n| match n % 50 {
                3 => Err(FieldError::new("(record)", "is not valid JSON")),
                4 => Ok(json!({"session_id": "s", "step": n})),
                _ => Ok(json!({"session_id": format!("s{}", n % 7), "step": n, "timestamp": "2026-01-15T10:30:00Z"})),
            })
            .collect();
        let prepared = prepare(records, &Limits::default(), "p", None);
        let indexes: Vec<usize> = prepared.steps.iter().map(|(i, ..)| *i).collect();
        let expected: Vec<usize> = (0..1000).filter(|n| !matches!(n % 50, 3 | 4)).collect();
        assert_eq!(indexes, expected);
        for (index, step, ..) in &prepared.steps {
            assert_eq!(step.step, *index as u64, "each step is the record at its index");
            assert_eq!(step.session_id, format!("s{}", index % 7));
        }
        let rejected: Vec<(usize, &str)> = prepared.rejected.iter().map(|r| (r.index, r.field.as_str())).collect();
        let expected: Vec<(usize, &str)> =
            (0..1000).filter_map(|n| match n % 50 { 3 => Some((n, "(record)")), 4 => Some((n, "timestamp")), _ => None }).collect();
        assert_eq!(rejected, expected);
        assert_eq!(prepared.rejected[1].step, Some(4), "a refused step is named by its number");
    }
}
