//! How a span becomes a step: the GenAI semantic conventions (`gen_ai.*`),
//! OpenInference (`llm.*`, `openinference.span.kind`, `input.value`...) and
//! the Langfuse SDK's attributes (`langfuse.observation.*`). The README's
//! "OpenTelemetry" section has the table.
//!
//! Deterministic, so that re-sending spans is idempotent: the same span
//! always gives the same step, with the same number. Steps are numbered by
//! start time (microseconds × 1,000 plus three digits from the span id, so
//! that spans starting in the same microsecond mostly differ), which orders
//! a session's steps by start time whichever export batch brought them.
//! Two spans of a session that still get the same number are told apart
//! when they are stored: the later takes the next number free or its own
//! (flightlog-app's `spans`).
//! Spans with no GenAI attributes are skipped (not stored): HTTP, database
//! and framework plumbing would bury the agent's decisions.

use super::attributes::{Attributes, read_f64, read_i64, read_u64, replaced_json};
use flightlog_model::Limits;
use flightlog_model::validate::{MAX_DURATION_MS, TEMPERATURE_RANGE, TOP_P_RANGE};
use super::ExportTraceServiceRequest;
use flightlog_model::step::MAX_STEP;
use flightlog_model::time::format_timestamp;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What became of one span.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanOutcome {
    /// A step record in the API's format, to validate and store.
    Step(Value),
    /// Not a GenAI span.
    Skipped,
    /// Unusable; the reason names the field.
    Rejected(String),
}

#[derive(Debug, Clone)]
pub struct MappedSpan {
    /// `trace_id/span_id` in hex, for messages.
    pub reference: String,
    pub outcome: SpanOutcome,
}

/// Every span of an export request, in order.
pub fn map_request(req: &ExportTraceServiceRequest) -> Vec<MappedSpan> {
    map_where(req, |_| true)
}

/// The spans at these positions of an export request (counted in the
/// order of [`map_request`]), mapped again.
pub fn map_spans_at(req: &ExportTraceServiceRequest, positions: &std::collections::BTreeSet<usize>) -> Vec<MappedSpan> {
    map_where(req, |position| positions.contains(&position))
}

fn map_where(req: &ExportTraceServiceRequest, wanted: impl Fn(usize) -> bool) -> Vec<MappedSpan> {
    let mut out = Vec::new();
    let mut position = 0;
    for rs in &req.resource_spans {
        // A resource whose attributes cannot be kept refuses its spans.
        let resource = Attributes::from_otlp(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes)).map_err(|why| format!("resource {why}"));
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.as_str()).unwrap_or("");
            for span in &ss.spans {
                position += 1;
                if !wanted(position - 1) {
                    continue;
                }
                out.push(MappedSpan {
                    reference: format!("{}/{}", hex::encode(&span.trace_id), hex::encode(&span.span_id)),
                    outcome: match &resource {
                        Ok(resource) => map_span(resource, scope, span),
                        Err(_) if !is_genai_span(span) => SpanOutcome::Skipped,
                        Err(why) => SpanOutcome::Rejected(why.clone()),
                    },
                });
            }
        }
    }
    out
}

/// Whether an attribute key belongs to one of the GenAI conventions: a span
/// with one is a step.
pub fn is_genai_key(key: &str) -> bool {
    ["gen_ai.", "llm.", "langfuse."].iter().any(|p| key.starts_with(p)) || key == "openinference.span.kind"
}

/// Whether a span is a step: read from its attributes' keys alone, so that
/// a span that is not one is skipped whatever its values hold.
fn is_genai_span(span: &Span) -> bool {
    span.attributes.iter().any(|kv| is_genai_key(&kv.key))
}

/// The step number of a span starting at `start_us` (see the module
/// comment), or None past the largest ([`MAX_STEP`]).
pub fn step_number(start_us: u64, span_id: &[u8]) -> Option<u64> {
    let tie = span_id.iter().fold(0u64, |acc, b| (acc * 256 + *b as u64) % 1000);
    start_us.checked_mul(1000)?.checked_add(tie).filter(|n| *n <= MAX_STEP)
}

pub fn map_span(resource: &Attributes, scope: &str, span: &Span) -> SpanOutcome {
    if !is_genai_span(span) {
        return SpanOutcome::Skipped;
    }
    let a = match Attributes::from_otlp(&span.attributes) {
        Ok(a) => a,
        Err(why) => return SpanOutcome::Rejected(why),
    };
    if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
        return SpanOutcome::Rejected("traceId must be 16 bytes, not all zero".into());
    }
    if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
        return SpanOutcome::Rejected("spanId must be 8 bytes, not all zero".into());
    }
    if span.start_time_unix_nano == 0 {
        return SpanOutcome::Rejected("startTimeUnixNano is required".into());
    }
    let start_us = span.start_time_unix_nano / 1000;
    // The step number holds the start time: a start too late for it is
    // refused as the start time.
    let Some(number) = step_number(start_us, &span.span_id) else {
        return SpanOutcome::Rejected(format!("startTimeUnixNano {} is out of range", span.start_time_unix_nano));
    };
    // Named as the span names it: the step's `timestamp`, which it becomes,
    // would be refused under that name.
    if start_us >= flightlog_model::time::END_OF_TIME_US as u64 {
        return SpanOutcome::Rejected(format!("startTimeUnixNano {} is at or after 2200-01-01, the end of the times a step may carry", span.start_time_unix_nano));
    }
    const SESSION_KEYS: [&str; 3] = ["gen_ai.conversation.id", "session.id", "langfuse.session.id"];
    // A list or a map names no one session: read as none, its span went to
    // the trace's session without a word (a hostile probe).
    if let Some((key, value)) = SESSION_KEYS.iter().find_map(|k| Some((*k, a.get(k)?))).filter(|(_, v)| v.is_array() || v.is_object()) {
        return SpanOutcome::Rejected(format!("attribute {key}: must be a string naming the session, got {value}"));
    }
    let session = a.str(&SESSION_KEYS).unwrap_or_else(|| hex::encode(&span.trace_id));

    // Token counts and costs must be numbers: one present that is not is
    // refused, naming it, as `POST /v1/steps` refuses the same value (costs
    // would otherwise count the step as free).
    let cost = match cost(&a) {
        Ok(cost) => cost,
        Err(why) => return SpanOutcome::Rejected(why),
    };
    let model = model(&a);
    let mut step = Map::new();
    step.insert("session_id".into(), json!(session));
    step.insert("step".into(), json!(number));
    step.insert("timestamp".into(), json!(format_timestamp(start_us as i64)));
    insert_some(&mut step, "agent", agent(&a, resource));
    let answer = Answer::of(&a);
    insert_some(&mut step, "agent_thoughts", thoughts(&a, &answer));
    let is_tool = is_tool_span(&a);
    step.insert("tool_execution".into(), execution(&a, span, is_tool));
    insert_some(&mut step, "model", model);
    if !is_tool {
        // A tool's input and output are its params and result, not a prompt.
        insert_some(&mut step, "prompt", prompt(&a, &answer));
    }
    insert_some(&mut step, "cost", cost);
    // gen_ai.user: what OpenLLMetry records of the OpenAI `user` argument.
    if let Some(user) = a.str(&["user.id", "enduser.id", "langfuse.user.id", "gen_ai.user"]) {
        step.insert("user_id".into(), json!(user));
    }
    if let Some(Value::Array(tags)) = a.json(&["langfuse.trace.tags", "tag.tags"]) {
        let tags: Vec<Value> = tags.into_iter().filter(Value::is_string).collect();
        if !tags.is_empty() {
            step.insert("tags".into(), Value::Array(tags));
        }
    }
    // The span as received, beside the mapped fields: nothing is lost.
    // Every read of the attributes is done: they move into it.
    let Attributes { by_key, replaced } = a;
    let mut otel = Map::new();
    otel.insert("trace_id".into(), json!(hex::encode(&span.trace_id)));
    otel.insert("span_id".into(), json!(hex::encode(&span.span_id)));
    otel.insert("parent_span_id".into(), json!(hex::encode(&span.parent_span_id)));
    otel.insert("name".into(), json!(span.name));
    otel.insert("kind".into(), json!(span.kind));
    otel.insert("scope".into(), json!(scope));
    otel.insert("start_time_unix_nano".into(), json!(span.start_time_unix_nano.to_string()));
    otel.insert("end_time_unix_nano".into(), json!(span.end_time_unix_nano.to_string()));
    otel.insert("attributes".into(), Value::Object(by_key.into_iter().collect()));
    otel.insert("resource".into(), resource.to_object());
    // Values of a key sent again, replaced by its last: kept, not lost.
    if let Some(replaced) = replaced_json(&replaced) {
        otel.insert("replaced_attributes".into(), replaced);
    }
    if let Some(replaced) = replaced_json(&resource.replaced) {
        otel.insert("replaced_resource_attributes".into(), replaced);
    }
    step.insert("otel".into(), Value::Object(otel));
    SpanOutcome::Step(Value::Object(step))
}

fn insert_some(step: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        step.insert(key.into(), v);
    }
}

/// A JSON object of the present fields, or None when none is.
fn object(fields: Vec<(&str, Option<Value>)>) -> Option<Value> {
    let map: Map<String, Value> = fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

fn agent(a: &Attributes, resource: &Attributes) -> Option<Value> {
    let name = a.str(&["gen_ai.agent.name", "agent.name"]).or_else(|| resource.str(&["service.name"]));
    let version = a.str(&["gen_ai.agent.version"]).or_else(|| resource.str(&["service.version"]));
    object(vec![("name", name.map(Value::from)), ("version", version.map(Value::from))])
}

/// Invocation parameters as one JSON object (OpenInference, Langfuse).
fn parameters(a: &Attributes) -> Map<String, Value> {
    match a.json(&["llm.invocation_parameters", "langfuse.observation.model.parameters"]) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The first of `keys` present in a JSON object of parameters, read by
/// `read` (flightlog-decode attributes); one that is not what `rule` says
/// is refused, naming where it was.
fn param<T>(map: &Map<String, Value>, at: &str, keys: &[&str], read: fn(&Value) -> Option<T>, rule: &str) -> Result<Option<T>, String> {
    let Some((key, value)) = keys.iter().find_map(|k| Some((*k, map.get(*k).filter(|v| !v.is_null())?))) else { return Ok(None) };
    read(value).map(Some).ok_or_else(|| format!("attribute {at}: {key} {rule}, got {value}"))
}

/// The model and how it was asked. Its parameters are mapped when they are
/// usable numbers; one that is not (LangChain's `max_tokens: -1` or a
/// wrapper's `"Infinity"` for "no limit", a temperature of `"hot"`) is left
/// out of the mapped fields, and kept as sent with the whole span under
/// `otel`: nothing is changed, and no cost depends on it.
fn model(a: &Attributes) -> Option<Value> {
    let p = parameters(a);
    let first = |keys: &[&str], params: &[&str]| -> Option<&Value> {
        keys.iter().find_map(|k| a.get(k)).or_else(|| params.iter().find_map(|k| p.get(*k).filter(|v| !v.is_null())))
    };
    object(vec![
        (
            "provider",
            a.str(&["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"]).map(Value::from),
        ),
        (
            "name",
            a.str(&["gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "langfuse.observation.model.name"])
                .map(Value::from),
        ),
        ("temperature", first(&["gen_ai.request.temperature"], &["temperature"]).and_then(read_f64).filter(|v| TEMPERATURE_RANGE.contains(v)).map(Value::from)),
        ("top_p", first(&["gen_ai.request.top_p"], &["top_p"]).and_then(read_f64).filter(|v| TOP_P_RANGE.contains(v)).map(Value::from)),
        ("seed", first(&["gen_ai.request.seed"], &["seed"]).and_then(read_i64).map(Value::from)),
        (
            "max_tokens",
            // Past a step's limit (an "unlimited" 2^32 − 1), left out as an
            // odd temperature is: the span keeps it under `otel`.
            first(&["gen_ai.request.max_tokens"], &["max_tokens", "max_completion_tokens", "max_output_tokens"])
                .and_then(read_u64)
                .filter(|n| *n <= Limits::default().max_tokens)
                .map(Value::from),
        ),
    ])
}

/// A JSON object of counts or amounts sent as one attribute (Langfuse's
/// usage and cost details), empty when the attribute is absent. Text that
/// is not such an object is refused, naming the attribute: read as no
/// object, its span's tokens were lost and the step cost nothing.
fn counts_object(a: &Attributes, key: &str) -> Result<Map<String, Value>, String> {
    match a.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(text)) => match crate::json::parse_record(text.as_bytes()) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(format!("attribute {key}: must be a JSON object, got {other}")),
            // The attribute is the record here: only a field within it is named.
            Err(e) if e.field == "(record)" => Err(format!("attribute {key}: {}", e.reason)),
            Err(e) => Err(format!("attribute {key}: {e}")),
        },
        Some(other) => Err(format!("attribute {key}: must be a JSON object, got {other}")),
    }
}

/// Token counts. OTel's and OpenInference's input counts include cached
/// tokens, and their output counts reasoning tokens, as Flightlog's do;
/// Langfuse's usage buckets are apart (`input` without its cached counts,
/// `output` without `output_reasoning_tokens`), so those are added back.
fn cost(a: &Attributes) -> Result<Option<Value>, String> {
    const USAGE: &str = "langfuse.observation.usage_details";
    let usage = counts_object(a, USAGE)?;
    let lf = |keys: &[&str]| param(&usage, USAGE, keys, read_u64, "must be a whole number >= 0");
    let lf_cache_read = lf(&["input_cached_tokens", "cache_read_input_tokens", "input_cache_read"])?;
    let lf_cache_write = lf(&["cache_creation_input_tokens", "input_cache_creation"])?;
    let or = |first: Option<u64>, then: Result<Option<u64>, String>| -> Result<Option<u64>, String> {
        match first {
            Some(v) => Ok(Some(v)),
            None => then,
        }
    };
    let input = or(
        a.u64(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"])?,
        lf(&["input", "prompt_tokens", "input_tokens"])
            .map(|i| i.map(|i| i.saturating_add(lf_cache_read.unwrap_or(0)).saturating_add(lf_cache_write.unwrap_or(0)))),
    )?;
    let lf_reasoning = lf(&["output_reasoning_tokens"])?;
    // OpenAI's own usage, as Langfuse's OpenAI integration sends it
    // (Chat Completions: prompt_tokens, completion_tokens and their
    // *_details; Responses: input_tokens, output_tokens and theirs). Its
    // totals count the cached and reasoning tokens in already.
    let openai_detail = |objects: [&str; 2], key: &str| -> Result<Option<u64>, String> {
        for name in objects {
            match usage.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Object(detail)) => {
                    if let Some(n) = param(detail, &format!("{USAGE}.{name}"), &[key], read_u64, "must be a whole number >= 0")? {
                        return Ok(Some(n));
                    }
                }
                Some(other) => return Err(format!("attribute {USAGE}: {name} must be an object of token counts, got {other}")),
            }
        }
        Ok(None)
    };
    let openai_cached = openai_detail(["prompt_tokens_details", "input_tokens_details"], "cached_tokens")?;
    let openai_reasoning = openai_detail(["completion_tokens_details", "output_tokens_details"], "reasoning_tokens")?;
    let output = or(
        a.u64(&["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"])?,
        lf(&["output", "completion_tokens", "output_tokens"]).map(|o| o.map(|o| o.saturating_add(lf_reasoning.unwrap_or(0)))),
    )?;
    let cache_read = a
        .u64(&["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read"])?
        .or(lf_cache_read)
        .or(openai_cached);
    let cache_write = a
        .u64(&[
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ])?
        .or(lf_cache_write);
    let reasoning = or(
        a.u64(&[
            "gen_ai.usage.reasoning.output_tokens",
            "llm.token_count.completion_details.reasoning",
            // OpenLLMetry's name for it.
            "gen_ai.usage.reasoning_tokens",
        ])?,
        or(lf_reasoning, lf(&["reasoning_tokens"])),
    )?
    .or(openai_reasoning);
    const COST_DETAILS: &str = "langfuse.observation.cost_details";
    let estimated = param(&counts_object(a, COST_DETAILS)?, COST_DETAILS, &["total"], read_f64, "must be a number a double holds exactly")?;
    let estimated = match estimated {
        Some(v) => Some(v),
        None => a.f64(&["llm.cost.total", "gen_ai.usage.cost"])?,
    };
    Ok(object(vec![
        ("input_tokens", input.map(Value::from)),
        ("output_tokens", output.map(Value::from)),
        ("cache_read_tokens", cache_read.map(Value::from)),
        ("cache_write_tokens", cache_write.map(Value::from)),
        ("reasoning_tokens", reasoning.map(Value::from)),
        ("estimated_cost", estimated.map(Value::from)),
    ]))
}

/// GenAI messages (`gen_ai.input.messages` / `output.messages`): arrays of
/// `{role, parts: [{type, content | name, arguments}]}`.
fn genai_messages(a: &Attributes, key: &str) -> Option<Vec<Value>> {
    match a.json(&[key])? {
        Value::Array(m) => Some(m),
        _ => None,
    }
}

fn parts(message: &Value) -> impl Iterator<Item = &Value> {
    message["parts"].as_array().into_iter().flatten()
}

/// Text of the parts of `kind` in these messages, joined.
fn parts_text(messages: &[Value], kind: &str) -> Option<String> {
    let text: Vec<String> = messages
        .iter()
        .flat_map(parts)
        .filter(|p| p["type"] == kind)
        .filter_map(|p| match &p["content"] {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect();
    (!text.is_empty()).then(|| text.join("\n"))
}

/// What the model answered, in either convention, read once for the
/// fields made from it (the thoughts and the completion).
struct Answer {
    /// `gen_ai.output.messages`, parsed.
    genai: Vec<Value>,
    /// OpenInference's `llm.output_messages.N.*`.
    openinference: Vec<BTreeMap<String, Value>>,
}

impl Answer {
    fn of(a: &Attributes) -> Self {
        Answer { genai: genai_messages(a, "gen_ai.output.messages").unwrap_or_default(), openinference: a.indexed("llm.output_messages") }
    }

    /// The name of the first tool the model called.
    fn first_tool_call(&self) -> Option<String> {
        if let Some(call) = self.genai.iter().flat_map(parts).find(|p| p["type"] == "tool_call") {
            return call["name"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        }
        self.openinference
            .iter()
            .find_map(|m| m.get("message.tool_calls.0.tool_call.function.name").and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_string)
    }
}

/// Names of the tools offered to the model.
fn considered_tools(a: &Attributes) -> Vec<String> {
    let name_of = |t: &Value| {
        t["name"].as_str().or_else(|| t["function"]["name"].as_str()).filter(|s| !s.is_empty()).map(str::to_string)
    };
    if let Some(Value::Array(defs)) = a.json(&["gen_ai.tool.definitions"]) {
        return defs.iter().filter_map(name_of).collect();
    }
    a.indexed("llm.tools")
        .iter()
        .filter_map(|t| t.get("tool.json_schema"))
        .filter_map(|s| match s {
            Value::String(s) => Some(super::attributes::json_or_text(s)).filter(Value::is_object),
            other => Some(other.clone()),
        })
        .filter_map(|t| name_of(&t))
        .collect()
}

fn thoughts(a: &Attributes, answer: &Answer) -> Option<Value> {
    let reasoning = parts_text(&answer.genai, "reasoning").or_else(|| {
        let texts: Vec<String> = answer
            .openinference
            .iter()
            .flat_map(|m| {
                m.iter()
                    .filter(|(k, v)| k.starts_with("message.contents.") && k.ends_with(".message_content.type") && *v == "reasoning")
                    .filter_map(|(k, _)| {
                        let text_key = k.replace(".message_content.type", ".message_content.text");
                        m.get(&text_key).and_then(Value::as_str).map(str::to_string)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n"))
    });
    let chosen = answer.first_tool_call();
    let considered = considered_tools(a);
    object(vec![
        ("reasoning", reasoning.map(Value::from)),
        ("chosen_tool", chosen.map(Value::from)),
        ("considered_tools", (!considered.is_empty()).then(|| json!(considered))),
    ])
}

/// The tool run of a tool span, and the status and error of any span.
fn execution(a: &Attributes, span: &Span, is_tool: bool) -> Value {
    let (name, params, result) = if is_tool {
        (
            a.str(&["gen_ai.tool.name", "tool.name"]).unwrap_or_else(|| span.name.clone()),
            a.json(&["gen_ai.tool.call.arguments", "tool.parameters", "input.value", "langfuse.observation.input"]),
            a.json(&["gen_ai.tool.call.result", "output.value", "langfuse.observation.output"]),
        )
    } else {
        (String::new(), None, None)
    };
    let failed_by_status = span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32);
    let failed_by_level = a.str(&["langfuse.observation.level"]).is_some_and(|l| l.eq_ignore_ascii_case("ERROR"));
    let error = if failed_by_status || failed_by_level { Some(error_text(a, span)) } else { None };
    let duration_ms = span.end_time_unix_nano.checked_sub(span.start_time_unix_nano).map(|ns| ns / 1_000_000);
    let mut out = Map::new();
    if !name.is_empty() {
        out.insert("name".into(), json!(name));
    }
    if let Some(p) = params {
        out.insert("params".into(), p);
    }
    if let Some(r) = result {
        out.insert("result".into(), r);
    }
    out.insert("status".into(), json!(if error.is_some() { "error" } else { "ok" }));
    if let Some(e) = error {
        out.insert("error".into(), json!(e));
    }
    // A duration past a step's limit (an end time garbled) is left out:
    // the span's times stay under `otel`.
    if let Some(d) = duration_ms.filter(|d| span.end_time_unix_nano > 0 && *d <= MAX_DURATION_MS) {
        out.insert("duration_ms".into(), json!(d));
    }
    Value::Object(out)
}

/// Why a span failed: the status message, else its exception event, else
/// `error.type`, else a plain "error".
fn error_text(a: &Attributes, span: &Span) -> String {
    if let Some(m) = span.status.as_ref().map(|s| s.message.trim()).filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    for event in span.events.iter().filter(|e| e.name == "exception") {
        // Only its text is read, and the event is not kept: attributes that
        // cannot be are read as none.
        let ea = Attributes::from_otlp(&event.attributes).unwrap_or_default();
        let text = [ea.str(&["exception.type"]), ea.str(&["exception.message"])].into_iter().flatten().collect::<Vec<_>>();
        if !text.is_empty() {
            return text.join(": ");
        }
    }
    a.str(&["langfuse.observation.status_message", "error.type"]).unwrap_or_else(|| "error".into())
}

/// Whether the span is a tool's run, in any of the conventions.
fn is_tool_span(a: &Attributes) -> bool {
    a.str(&["gen_ai.operation.name"]).as_deref() == Some("execute_tool")
        || a.str(&["openinference.span.kind"]).is_some_and(|k| k.eq_ignore_ascii_case("TOOL"))
        || a.str(&["langfuse.observation.type"]).as_deref() == Some("tool")
}

fn prompt(a: &Attributes, answer: &Answer) -> Option<Value> {
    let system = a.json(&["gen_ai.system_instructions"]).map(|v| match v {
        Value::Array(parts) => parts.iter().filter_map(|p| p["content"].as_str()).collect::<Vec<_>>().join("\n"),
        Value::String(s) => s,
        other => other.to_string(),
    });
    let oi_in: Vec<Value> = a
        .indexed("llm.input_messages")
        .into_iter()
        .map(|m| json!({"role": m.get("message.role").cloned().unwrap_or(Value::Null), "content": m.get("message.content").cloned().unwrap_or(Value::Null)}))
        .collect();
    let messages = genai_messages(a, "gen_ai.input.messages")
        .map(Value::Array)
        .or_else(|| (!oi_in.is_empty()).then_some(Value::Array(oi_in)))
        .or_else(|| a.json(&["input.value", "langfuse.observation.input"]));
    let oi_out: Vec<&str> = answer.openinference.iter().filter_map(|m| m.get("message.content").and_then(Value::as_str)).collect();
    let completion = parts_text(&answer.genai, "text")
        .or_else(|| (!oi_out.is_empty()).then(|| oi_out.join("\n")))
        .or_else(|| a.str(&["output.value", "langfuse.observation.output"]));
    object(vec![
        ("system", system.map(Value::from)),
        ("messages", messages),
        ("completion", completion.map(Value::from)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};

    fn span(start_time_unix_nano: u64, span_id: u64, attributes: &[(&str, &str)]) -> Span {
        let text = |(k, v): &(&str, &str)| KeyValue {
            key: k.to_string(),
            value: Some(AnyValue { value: Some(V::StringValue(v.to_string())) }),
            ..Default::default()
        };
        Span {
            trace_id: vec![7; 16],
            span_id: span_id.to_be_bytes().to_vec(),
            start_time_unix_nano,
            attributes: attributes.iter().map(text).collect(),
            ..Default::default()
        }
    }

    fn step_of(span: &Span) -> Value {
        match map_span(&Attributes::default(), "test", span) {
            SpanOutcome::Step(step) => step,
            other => panic!("not a step: {other:?}"),
        }
    }

    /// A max_tokens or a duration past a step's limits is left out, as an
    /// odd temperature is, not a cause to refuse the span: the span keeps
    /// both under `otel`.
    #[test]
    fn a_max_tokens_or_a_duration_past_the_limits_is_left_out() {
        let mut long = span(1_767_225_600_000_000_000, 1, &[("gen_ai.operation.name", "execute_tool"), ("gen_ai.request.max_tokens", "4294967295")]);
        long.end_time_unix_nano = long.start_time_unix_nano + (MAX_DURATION_MS + 1) * 1_000_000;
        let step = step_of(&long);
        assert!(step["model"].get("max_tokens").is_none() && step["tool_execution"].get("duration_ms").is_none(), "{step:#}");
        assert_eq!(step["otel"]["attributes"]["gen_ai.request.max_tokens"], "4294967295");
        long.end_time_unix_nano -= 1_000_000;
        assert_eq!(step_of(&long)["tool_execution"]["duration_ms"], MAX_DURATION_MS, "at the limit");
    }

    #[test]
    fn a_tool_span_of_any_convention_has_params_and_a_result_but_no_prompt() {
        for kind in [("gen_ai.operation.name", "execute_tool"), ("openinference.span.kind", "TOOL"), ("langfuse.observation.type", "tool")] {
            let step = step_of(&span(1_767_225_600_000_000_000, 1, &[kind, ("input.value", "{\"a\": 1}"), ("output.value", "2")]));
            assert_eq!(step["tool_execution"]["params"], json!({"a": 1}), "{kind:?}");
            assert_eq!(step["tool_execution"]["result"], json!(2), "{kind:?}");
            assert!(step.get("prompt").is_none(), "{kind:?}: {step:#}");
        }
        let chat = step_of(&span(1_767_225_600_000_000_000, 1, &[("langfuse.observation.type", "generation"), ("input.value", "hi")]));
        assert_eq!(chat["prompt"]["messages"], "hi");
    }

    /// Langfuse's usage buckets are apart: its `output` leaves out the
    /// reasoning tokens it lists as `output_reasoning_tokens`, as its
    /// `input` leaves out the cached ones. The step counts both in, as
    /// every other convention does (the reasoning was billed at 10% before:
    /// found by a hostile probe of the costs).
    #[test]
    fn langfuse_usage_counts_its_reasoning_and_cached_tokens_in() {
        let usage = r#"{"input":600000,"input_cached_tokens":400000,"output":100000,"output_reasoning_tokens":900000}"#;
        let step = step_of(&span(1_767_225_600_000_000_000, 1, &[("langfuse.observation.type", "generation"), ("langfuse.observation.usage_details", usage)]));
        assert_eq!(
            step["cost"],
            json!({"input_tokens": 1_000_000, "output_tokens": 1_000_000, "cache_read_tokens": 400_000, "reasoning_tokens": 900_000}),
            "{step:#}"
        );
        let flat = step_of(&span(1, 1, &[("langfuse.observation.usage_details", r#"{"output":10,"reasoning_tokens":4}"#)]));
        assert_eq!(flat["cost"], json!({"output_tokens": 10, "reasoning_tokens": 4}), "a name of no bucket of Langfuse's is not added");
    }

    /// Langfuse's OpenAI integration sends OpenAI's usage as it came, its
    /// cached and reasoning counts nested in *_details (langfuse.openai's
    /// `_parse_usage`): they are read, so cached tokens get their price
    /// (they were billed as input), and the Responses API's input_tokens
    /// and output_tokens are read at all (its calls had no tokens).
    #[test]
    fn langfuse_usage_in_openai_shape_reads_its_nested_cached_and_reasoning_counts() {
        let chat = r#"{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,
                       "prompt_tokens_details":{"cached_tokens":800,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":300}}"#;
        let responses = r#"{"input_tokens":1000,"output_tokens":500,"total_tokens":1500,
                            "input_tokens_details":{"cached_tokens":800},"output_tokens_details":{"reasoning_tokens":300}}"#;
        for usage in [chat, responses] {
            let step = step_of(&span(1, 1, &[("langfuse.observation.type", "generation"), ("langfuse.observation.usage_details", usage)]));
            assert_eq!(
                step["cost"],
                json!({"input_tokens": 1000, "output_tokens": 500, "cache_read_tokens": 800, "reasoning_tokens": 300}),
                "{usage}: {step:#}"
            );
        }
        let bad = r#"{"prompt_tokens":10,"prompt_tokens_details":{"cached_tokens":-1}}"#;
        let refused = map_span(&Attributes::default(), "test", &span(1, 1, &[("langfuse.observation.usage_details", bad)]));
        assert!(matches!(&refused, SpanOutcome::Rejected(why) if why.contains("prompt_tokens_details") && why.contains("cached_tokens")), "{refused:?}");
    }

    /// Langfuse's usage or cost details that cannot be read whole refuse
    /// their span, naming the attribute: read as no details, the step's
    /// tokens were lost and it cost nothing (found by a hostile probe).
    #[test]
    fn langfuse_details_that_cannot_be_read_refuse_the_span() {
        let usage = "langfuse.observation.usage_details";
        let cost = "langfuse.observation.cost_details";
        for (key, text, says) in [
            (usage, r#"{"input":1000000,"input":1000000,"output":500000}"#, "more than once"),
            (usage, r#"{"input":1000000,"output":1e400}"#, "number out of range"),
            (usage, "not json", "not valid JSON"),
            (usage, "[1,2]", "must be a JSON object"),
            (usage, r#"{"input":10,"prompt_tokens_details":5}"#, "prompt_tokens_details must be an object"),
            (cost, r#"{"total":12.50000000000000000001}"#, "total"),
            (cost, r#"{"total":1,"total":2}"#, "more than once"),
        ] {
            let refused = map_span(&Attributes::default(), "test", &span(1, 1, &[("langfuse.observation.type", "generation"), (key, text)]));
            assert!(matches!(&refused, SpanOutcome::Rejected(why) if why.contains(key) && why.contains(says)), "{text}: {refused:?}");
        }
        // As an OTLP map rather than text, and with nothing in it, they are read as before.
        let step = step_of(&span(1, 1, &[("langfuse.observation.type", "generation"), (usage, "{}"), (cost, r#"{"total":0.5}"#)]));
        assert_eq!(step["cost"], json!({"estimated_cost": 0.5}), "{step:#}");
    }

    #[test]
    fn a_session_id_that_is_a_list_or_a_map_refuses_the_span() {
        use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
        let text = |s: &str| AnyValue { value: Some(V::StringValue(s.into())) };
        let list = V::ArrayValue(ArrayValue { values: vec![text("sess-A"), text("sess-B")] });
        let map = V::KvlistValue(KeyValueList { values: vec![KeyValue { key: "id".into(), value: Some(text("a")), ..Default::default() }] });
        for (key, value) in [("gen_ai.conversation.id", list), ("session.id", map)] {
            let mut with = span(1, 1, &[("gen_ai.operation.name", "chat"), (key, "")]);
            with.attributes[1].value = Some(AnyValue { value: Some(value) });
            let refused = map_span(&Attributes::default(), "test", &with);
            assert!(matches!(&refused, SpanOutcome::Rejected(why) if why.contains(key) && why.contains("must be a string")), "{refused:?}");
        }
        // A string names it, as before.
        let step = step_of(&span(1, 1, &[("gen_ai.operation.name", "chat"), ("session.id", "s-1")]));
        assert_eq!(step["session_id"], "s-1");
    }

    #[test]
    fn a_start_whose_step_number_would_pass_i64_max_is_refused_as_the_start_time() {
        let last_start = (i64::MAX as u64 / 1000) * 1000;
        // Span id 999 would number the step i64::MAX - 807 + 999.
        let refused = map_span(&Attributes::default(), "test", &span(last_start + 999, 999, &[("gen_ai.operation.name", "chat")]));
        assert_eq!(refused, SpanOutcome::Rejected(format!("startTimeUnixNano {} is out of range", last_start + 999)));
        // The last start a step number holds is past the end of time too.
        let late = map_span(&Attributes::default(), "test", &span(last_start, 807, &[("gen_ai.operation.name", "chat")]));
        assert!(matches!(&late, SpanOutcome::Rejected(why) if why.contains("2200-01-01")), "{late:?}");
    }

    /// A start after the last time a step may carry is refused naming the
    /// span's field; it named the step's `timestamp` (a hostile probe).
    #[test]
    fn a_start_after_the_end_of_time_is_refused_as_the_start_time() {
        let end_ns = flightlog_model::time::END_OF_TIME_US as u64 * 1000;
        let refused = map_span(&Attributes::default(), "test", &span(end_ns, 1, &[("gen_ai.operation.name", "chat")]));
        assert!(matches!(&refused, SpanOutcome::Rejected(why) if why.starts_with(&format!("startTimeUnixNano {end_ns} "))), "{refused:?}");
        let last = step_of(&span(end_ns - 1000, 1, &[("gen_ai.operation.name", "chat")]));
        assert_eq!(last["timestamp"], "2199-12-31T23:59:59.999999Z");
    }
}
