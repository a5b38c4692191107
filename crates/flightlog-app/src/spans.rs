//! OTLP spans in, steps stored: what OTLP/HTTP (`POST /v1/traces`) and the
//! OTLP/gRPC TraceService both do once they hold an export request.
//! Each GenAI span becomes one step (flightlog-decode's mapping) and goes
//! through the same validation and the same single writer as
//! `POST /v1/steps`, so an answer means durable, a re-sent span is a
//! duplicate, and spans that cannot be stored are counted with the reasons.
//!
//! A span's step number comes from its start time and its id
//! (flightlog-decode's mapping), so two spans of one session can be given
//! the same number (one pair in 1,000 of those starting in the same
//! microsecond). The writer then refuses the later as a conflict; here it
//! is told apart from a span sent again changed by the span ids the stored
//! step holds, and numbered one further, until it finds a number free or
//! its own (a retry of it then finds it there, a duplicate).

use crate::ingest::{self, RejectionCode};
use crate::{AppError, AppState};
use flightlog_decode::body::{BodyError, gunzip};
use flightlog_decode::otlp::{Encoding, ExportTraceServiceRequest, SpanOutcome, decode_request, encode_request, items, map_request, map_spans_at};
/// Why an export could not be read: the front ends tell its kinds apart.
pub use flightlog_decode::otlp::OtlpError;
use flightlog_model::Limits;
use flightlog_model::step::MAX_STEP;
use flightlog_store::spans::Origin;
use flightlog_model::validate::FieldError;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Reasons quoted in a partial success's message, at most.
const MAX_REASONS: usize = 5;

/// Numbers tried past its own for a span whose number another span of its
/// session holds; then it is refused as a conflict.
const MAX_RENUMBERINGS: usize = 16;

/// An export as it was received: kept, rather than the spans it decodes
/// to, to map a span again with another number (a body is smaller, gzip
/// much smaller, and it is moved here, not copied).
pub struct ReceivedExport {
    pub body: Vec<u8>,
    pub gzip: bool,
    pub encoding: Encoding,
}

/// Why an export cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error(transparent)]
    TooManySpans(#[from] TooManySpans),
}

impl ReceivedExport {
    /// An export that came decoded (OTLP/gRPC), kept as protobuf.
    fn of_request(request: &ExportTraceServiceRequest) -> Self {
        ReceivedExport { body: encode_request(request), gzip: false, encoding: Encoding::Protobuf }
    }

    fn decode(&self, limits: &Limits) -> Result<ExportTraceServiceRequest, ExportError> {
        Ok(match self.gzip {
            true => decode_request(&gunzip(&self.body, limits.max_decoded_bytes)?, self.encoding)?,
            false => decode_request(&self.body, self.encoding)?,
        })
    }
}

/// The spans of one export, mapped and validated, ready for the writer.
pub struct PreparedSpans {
    export: ReceivedExport,
    steps: ingest::Prepared,
    /// Span reference (trace/span) of each record given to `steps`.
    references: Vec<String>,
    /// Why spans were refused before they became records, by span position.
    refused: Vec<(usize, String)>,
    /// Span position of each record given to `steps`.
    positions: Vec<usize>,
    skipped: usize,
}

impl PreparedSpans {
    /// How many of the export's spans became steps for the writer.
    pub fn steps(&self) -> usize {
        self.references.len()
    }
}

/// More spans in one export than a request may carry.
#[derive(Debug, thiserror::Error)]
#[error("{spans} spans in one request; the limit is {limit}: export smaller batches")]
pub struct TooManySpans {
    pub spans: usize,
    pub limit: usize,
}

/// What became of an export's spans.
#[derive(Debug, Default)]
pub struct SpanReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// Spans that are not GenAI steps (HTTP, database…), left out.
    pub skipped: usize,
    /// Why each refused span was refused, in span order, conflicts last.
    pub rejected: Vec<String>,
}

impl SpanReport {
    /// The partial success's message: the first reasons, and how many more.
    pub fn message(&self) -> String {
        let mut m = self.rejected.iter().take(MAX_REASONS).cloned().collect::<Vec<_>>().join("; ");
        if self.rejected.len() > MAX_REASONS {
            m.push_str(&format!("; and {} more", self.rejected.len() - MAX_REASONS));
        }
        m
    }
}

/// Decodes an export and maps and validates its spans (CPU work: call it
/// off the async threads).
pub fn prepare_spans(
    export: ReceivedExport,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, ExportError> {
    let request = export.decode(limits)?;
    Ok(prepare_request(export, &request, limits, project, redactor)?)
}

/// Maps and validates the spans of an export that came decoded (OTLP/gRPC:
/// tonic decodes the message, within its size limit), from the request as
/// it came: decoding its protobuf again, as an export received as bytes
/// is, would only repeat the work. It is kept as protobuf (a fraction of
/// the decoded spans) to map a span again should its number be taken, and
/// its messages are counted as an export's over HTTP are: one that would
/// not decode again cannot be mapped again.
pub fn prepare_decoded_spans(
    request: &ExportTraceServiceRequest,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, ExportError> {
    let export = ReceivedExport::of_request(request);
    if let items::Count::TooMany = items::count(&export.body, Encoding::Protobuf) {
        return Err(OtlpError::TooManyItems.into());
    }
    Ok(prepare_request(export, request, limits, project, redactor)?)
}

/// `request` mapped and validated; `export` is what it was decoded from.
fn prepare_request(
    export: ReceivedExport,
    request: &ExportTraceServiceRequest,
    limits: &Limits,
    project: &str,
    redactor: Option<&flightlog_redact::Redactor>,
) -> Result<PreparedSpans, TooManySpans> {
    let spans = map_request(request);
    if spans.len() > limits.max_records {
        return Err(TooManySpans { spans: spans.len(), limit: limits.max_records });
    }
    let (mut records, mut references, mut positions, mut refused, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
    for (position, span) in spans.into_iter().enumerate() {
        match span.outcome {
            SpanOutcome::Skipped => skipped += 1,
            SpanOutcome::Rejected(reason) => refused.push((position, format!("span {}: {reason}", span.reference))),
            SpanOutcome::Step(value) => {
                records.push(Ok(value));
                references.push(span.reference);
                positions.push(position);
            }
        }
    }
    Ok(PreparedSpans { export, steps: ingest::prepare(records, limits, project, redactor), references, refused, positions, skipped })
}

impl AppState {
    /// Stores the prepared spans; returns once they are durable.
    pub async fn export_spans(&self, project: &str, prepared: PreparedSpans) -> Result<SpanReport, AppError> {
        let PreparedSpans { export, mut steps, references, mut refused, positions, skipped } = prepared;
        let mut report = SpanReport { skipped, ..SpanReport::default() };
        let mut conflicts = Vec::new();
        // The span record (an index into `references`) of each record of
        // this round, in order.
        let mut round: Vec<usize> = (0..references.len()).collect();
        for renumbering in 0..=MAX_RENUMBERINGS {
            let submitted = self.submit(project, steps).await?;
            (report.accepted, report.duplicates) = (report.accepted + submitted.accepted, report.duplicates + submitted.duplicates);
            // Conflicts by session: (span record, the number it was refused at).
            let mut held: BTreeMap<String, Vec<(usize, u64)>> = BTreeMap::new();
            for r in submitted.rejected {
                let record = round[r.index];
                let reference = &references[record];
                match (r.code, r.session_id, r.step) {
                    (RejectionCode::Invalid, ..) => refused.push((positions[record], format!("span {reference}: {}: {}", r.field, r.reason))),
                    (RejectionCode::Conflict, Some(session), Some(step)) => held.entry(session).or_default().push((record, step)),
                    (RejectionCode::Conflict, session, step) => conflicts.push(conflict(reference, step, session)),
                }
            }
            let mut renumbered = BTreeMap::new();
            for (session, records) in held {
                let numbers: Vec<u64> = records.iter().map(|(_, step)| *step).collect();
                let stored = self.store.spans_of_steps(project, &session, &numbers).await?;
                for (record, step) in records {
                    let reference = &references[record];
                    let next = step.checked_add(1).filter(|n| *n <= MAX_STEP);
                    match (held_by_another(stored.get(&step), reference), next) {
                        (true, Some(next)) if renumbering < MAX_RENUMBERINGS => {
                            renumbered.insert(positions[record], (record, next));
                        }
                        (true, _) => conflicts.push(format!(
                            "span {reference}: step {step} of session {session:?} and the {renumbering} before it are held by other spans of the session"
                        )),
                        (false, _) => conflicts.push(conflict(reference, Some(step), Some(session.clone()))),
                    }
                }
            }
            if renumbered.is_empty() {
                break;
            }
            let request = export.decode(&self.limits).map_err(|e| AppError::unavailable("an export decoded once no longer decodes", e))?;
            let wanted: BTreeSet<usize> = renumbered.keys().copied().collect();
            let records = map_spans_at(&request, &wanted).into_iter().zip(renumbered.values()).map(|(span, (_, step))| match span.outcome {
                SpanOutcome::Step(mut value) => {
                    value["step"] = json!(step);
                    Ok(value)
                }
                _ => Err(FieldError { field: "span".into(), reason: "mapped differently a second time".into() }),
            });
            let records: Vec<Result<Value, FieldError>> = records.collect();
            drop(request);
            let redactor = self.redactor(project).await?;
            steps = ingest::prepare(records, &self.limits, project, redactor.as_deref());
            round = renumbered.into_values().map(|(record, _)| record).collect();
        }
        refused.sort_by_key(|(position, _)| *position);
        report.rejected = refused.into_iter().map(|(_, m)| m).chain(conflicts).collect();
        Ok(report)
    }
}

/// Whether the stored step that holds a span's number is another's: a
/// step sent natively, or another span's by its ids. Ids that are not
/// plain hex (a step stored before they were kept from redaction) prove
/// nothing, nor does a step not read: the span is then refused as a
/// conflict rather than stored again under another number.
fn held_by_another(stored: Option<&Origin>, reference: &str) -> bool {
    let hex = |id: &str, len: usize| id.len() == len && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match stored {
        Some(Origin::Native) => true,
        Some(Origin::Span { trace_id, span_id }) => {
            hex(trace_id, 32) && hex(span_id, 16) && Some((trace_id.as_str(), span_id.as_str())) != reference.split_once('/')
        }
        None => false,
    }
}

fn conflict(reference: &str, step: Option<u64>, session: Option<String>) -> String {
    format!(
        "span {reference}: step {} of session {:?} is already stored with different content",
        step.unwrap_or_default(),
        session.unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_decode::otlp::decode_request;

    /// A chat span, an HTTP span (not a step) and a span whose session id
    /// is a list (refused), as OTLP/JSON.
    const EXPORT: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"07070707070707070707070707070707","spanId":"0000000000000001","name":"chat","startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601000000000",
         "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}}]},
        {"traceId":"07070707070707070707070707070707","spanId":"0000000000000002","name":"GET /","startTimeUnixNano":"1767225600000000000",
         "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}}]},
        {"traceId":"07070707070707070707070707070707","spanId":"0000000000000003","name":"chat","startTimeUnixNano":"1767225602000000000",
         "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"session.id","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}]}
    ]}]}]}"#;

    /// What prepared spans hold, to compare: each step's record index,
    /// session, number and hash, the spans' references and positions, the
    /// refusals and the count of spans that are not steps.
    type Summary<'a> = (Vec<(usize, String, u64, [u8; 32])>, &'a [String], &'a [usize], &'a [(usize, String)], usize);

    fn summary(p: &PreparedSpans) -> Summary<'_> {
        let steps = p.steps.steps.iter().map(|(index, step, ..)| (*index, step.session_id.clone(), step.step, step.step_hash)).collect();
        (steps, &p.references, &p.positions, &p.refused, p.skipped)
    }

    /// OTLP/gRPC's export, mapped as it came, becomes what the same export
    /// sent as bytes does, and keeps its protobuf to map a span again.
    #[test]
    fn an_export_prepared_as_it_came_is_prepared_as_its_bytes_are() {
        let limits = Limits::default();
        let request = decode_request(EXPORT.as_bytes(), Encoding::Json).expect("the export decodes");
        let as_bytes = ReceivedExport { body: EXPORT.as_bytes().to_vec(), gzip: false, encoding: Encoding::Json };
        let from_bytes = prepare_spans(as_bytes, &limits, "p", None).expect("prepared from bytes");
        let as_it_came = prepare_decoded_spans(&request, &limits, "p", None).expect("prepared as it came");
        assert_eq!(summary(&as_it_came), summary(&from_bytes));
        let (steps, _, positions, refused, skipped) = summary(&as_it_came);
        assert_eq!((steps.len(), positions, skipped), (1, &[0][..], 1));
        assert!(refused.len() == 1 && refused[0].0 == 2 && refused[0].1.contains("session.id"), "{refused:?}");
        assert_eq!(as_it_came.export.decode(&limits).expect("kept as protobuf"), request);
    }

    /// An export over gRPC of more messages than an export over HTTP may
    /// hold is refused as that one is: kept as protobuf, it would not decode
    /// again to map a span whose number was taken (a 503, retried forever).
    #[test]
    fn an_export_of_too_many_messages_is_refused_as_it_came() {
        use prost::Message;
        fn field(number: u8, inner: &[u8]) -> Vec<u8> {
            let mut out = vec![number << 3 | 2];
            prost::encoding::encode_varint(inner.len() as u64, &mut out);
            out.extend_from_slice(inner);
            out
        }
        // One span of 2,000,001 empty events (field 11), in its scope, its
        // resource and the request.
        let span = [0x5A, 0x00].repeat(2_000_001);
        let body = field(1, &field(2, &field(2, &span)));
        let request = ExportTraceServiceRequest::decode(&body[..]).expect("protobuf");
        match prepare_decoded_spans(&request, &Limits::default(), "p", None) {
            Err(ExportError::Otlp(OtlpError::TooManyItems)) => {}
            other => panic!("too many messages expected: {:?}", other.err()),
        }
        let export = ReceivedExport { body, gzip: false, encoding: Encoding::Protobuf };
        assert!(matches!(prepare_spans(export, &Limits::default(), "p", None), Err(ExportError::Otlp(OtlpError::TooManyItems))), "as over HTTP");
    }

    #[test]
    fn more_spans_than_a_request_may_carry_are_refused_as_they_came() {
        let limits = Limits { max_records: 2, ..Limits::default() };
        let request = decode_request(EXPORT.as_bytes(), Encoding::Json).expect("the export decodes");
        match prepare_decoded_spans(&request, &limits, "p", None) {
            Err(ExportError::TooManySpans(refused)) => assert_eq!((refused.spans, refused.limit), (3, 2)),
            other => panic!("three spans, two allowed: {:?}", other.err()),
        }
    }
}
