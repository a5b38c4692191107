//! Property-based fuzzing of every decoder: what a client can send, from
//! near-valid steps to random bytes, never panics; every refusal is a typed
//! error that names the problem; every accepted record is idempotent (its
//! canonical form re-validates to the same step hash); limits hold.
//!
//! Inputs are structure-aware: mostly step-shaped JSON (or CSV rows, or OTLP
//! spans) with random values, types, nesting, sizes, unicode, control
//! characters, duplicate keys and numbers no f64 or u64 holds exactly, then
//! mutated byte by byte; some are plain random bytes. Some runs use tiny
//! [`Limits`] so that every limit path is taken.
//!
//! Cases per property: `FLIGHTLOG_FUZZ_CASES` (default 10,000). A longer run:
//! `FLIGHTLOG_FUZZ_CASES=1000000 cargo nextest run -p flightlog-decode --test fuzz_decoders`.
//! Failures are not persisted to `proptest-regressions/` (a CI run on a clean
//! clone must not write into the source tree): a failure prints the minimal
//! input, which belongs in a unit test next to the decoder it breaks.

use flate2::Compression;
use flate2::write::GzEncoder;
use flightlog_decode::otlp::{self, Encoding, SpanOutcome};
use flightlog_decode::{BodyError, csv_steps, decode_body};
use flightlog_model::{FieldError, Limits, Step, step_from_json};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp::ExportTraceServiceRequest;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use prost::Message;
use serde_json::Value;
use std::io::Write;

fn config() -> ProptestConfig {
    let cases = std::env::var("FLIGHTLOG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    ProptestConfig { cases, failure_persistence: None, max_shrink_iters: 4096, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------- JSON text

/// A JSON document as text is written: objects keep duplicate keys, numbers
/// keep their literal (huge, long, exponent), so the decoder sees exactly
/// what a client could send.
#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn obj(fields: Vec<(&str, Json)>) -> Self {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn render(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

/// Number literals, including the ones that lose precision as f64 or
/// overflow u64/i64.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u64..1_000_000).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        1 => (0.0f64..1.0).prop_map(|f| f.to_string()),
        2 => prop::sample::select(vec![
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "1.000000000000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "-1e400",
            "1e-400",
            "-0",
            "0.0",
            "1E2",
            "2.5e-3",
            "0.1",
            "1.0",
            "-1",
        ])
        .prop_map(str::to_string),
        1 => "-?[1-9][0-9]{0,80}",
        1 => "-?[0-9]{1,5}\\.[0-9]{1,60}([eE][+-]?[0-9]{1,4})?",
    ]
}

/// Strings: identifiers, unicode, control characters, and long ones.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_.-]{1,12}",
        1 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f\"\\\\a]{0,6}",
        1 => "\\PC{0,40}",
        1 => ("[a-zé€😀]", 0usize..600).prop_map(|(c, n)| c.repeat(n)),
        1 => Just(String::new()),
    ]
}

/// Any JSON value, nested a few levels, with duplicate keys now and then.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number_literal().prop_map(Json::Num),
        any_string().prop_map(Json::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Arr),
            prop::collection::vec((prop_oneof![3 => "[a-z_]{1,8}", 1 => any_string()], inner), 0..4)
                .prop_map(duplicate_some_key),
        ]
    })
}

/// Repeats the first key with the last value when there are two or more
/// fields and the last key starts with 'd' (about a sixth of the objects).
fn duplicate_some_key(mut fields: Vec<(String, Json)>) -> Json {
    if fields.len() >= 2 && fields.last().is_some_and(|(k, _)| k.starts_with(['d', 'e'])) {
        let key = fields[0].0.clone();
        let value = fields.last().unwrap().1.clone();
        fields.push((key, value));
    }
    Json::Obj(fields)
}

/// A field's value: mostly of the right shape, sometimes anything at all.
fn field(valid: BoxedStrategy<Json>) -> BoxedStrategy<Option<Json>> {
    prop_oneof![
        6 => valid.prop_map(Some),
        1 => any_json().prop_map(Some),
        2 => Just(None),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<Json> {
    any_string().prop_map(Json::Str).boxed()
}

fn id() -> BoxedStrategy<Json> {
    prop_oneof![4 => "[a-zA-Z0-9_.:-]{1,20}", 1 => any_string()].prop_map(Json::Str).boxed()
}

fn num() -> BoxedStrategy<Json> {
    number_literal().prop_map(Json::Num).boxed()
}

fn unit_interval() -> BoxedStrategy<Json> {
    prop_oneof![4 => (0.0f64..=1.0).prop_map(|f| f.to_string()), 1 => number_literal()].prop_map(Json::Num).boxed()
}

fn id_list() -> BoxedStrategy<Json> {
    prop::collection::vec(id(), 0..6).prop_map(Json::Arr).boxed()
}

fn timestamp() -> BoxedStrategy<Json> {
    prop_oneof![
        4 => (2000u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60)
            .prop_map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")),
        1 => prop::sample::select(vec![
            "2026-01-15T10:30:00.123456789+02:00",
            "2026-01-15T10:30:00.1234567890123Z",
            "2026-02-30T10:30:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-01-15 10:30:00",
            "2026-01-15T10:30:00",
            "",
        ])
        .prop_map(str::to_string),
        1 => any_string(),
    ]
    .prop_map(Json::Str)
    .boxed()
}

fn step_number() -> BoxedStrategy<Json> {
    prop_oneof![
        4 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "-1", "1.5", "1.0", "1e3", "18446744073709551615", "18446744073709551616",
            "123456789012345678901234567890", "1.000000000000000000001", "-0",
        ])
        .prop_map(str::to_string),
        1 => number_literal(),
    ]
    .prop_map(Json::Num)
    .boxed()
}

/// A sub-object whose fields may be absent, mistyped or duplicated.
fn section(fields: Vec<(&'static str, BoxedStrategy<Json>)>) -> BoxedStrategy<Option<Json>> {
    let (names, strategies): (Vec<_>, Vec<_>) = fields.into_iter().map(|(n, s)| (n, field(s))).unzip();
    let object = (strategies, any::<u8>()).prop_map(move |(values, dup)| {
        let mut out: Vec<(String, Json)> =
            names.iter().zip(values).filter_map(|(n, v)| Some((n.to_string(), v?))).collect();
        if dup % 11 == 0 && !out.is_empty() {
            let i = dup as usize % out.len();
            out.push((out[i].0.clone(), Json::Str("duplicate".into())));
        }
        Json::Obj(out)
    });
    prop_oneof![5 => object.prop_map(Some), 1 => any_json().prop_map(Some), 2 => Just(None)].boxed()
}

/// A step-shaped record: the template of the API's step, each value random.
fn step_record() -> BoxedStrategy<Json> {
    let top = (field(id()), field(step_number()), field(timestamp()), field(id()), field(id_list()), field(any_json().boxed()));
    let sections = (
        section(vec![("name", id()), ("version", id())]),
        section(vec![
            ("reasoning", text()),
            ("considered_tools", id_list()),
            ("chosen_tool", id()),
            ("confidence", unit_interval()),
        ]),
        section(vec![
            ("name", id()),
            ("params", any_json().boxed()),
            ("result", any_json().boxed()),
            ("status", id()),
            ("error", text()),
            ("duration_ms", num()),
        ]),
        section(vec![
            ("provider", id()),
            ("name", id()),
            ("version", id()),
            ("temperature", num()),
            ("top_p", unit_interval()),
            ("seed", num()),
            ("max_tokens", num()),
        ]),
        section(vec![("system", text()), ("messages", any_json().boxed()), ("completion", text())]),
        section(vec![
            ("input_tokens", num()),
            ("output_tokens", num()),
            ("cache_read_tokens", num()),
            ("cache_write_tokens", num()),
            ("reasoning_tokens", num()),
            ("estimated_cost", num()),
        ]),
    );
    (top, sections, any::<u8>())
        .prop_map(|((session, step, ts, user, tags, metadata), (agent, thoughts, tool, model, prompt, cost), dup)| {
            let named = [
                ("session_id", session),
                ("step", step),
                ("timestamp", ts),
                ("agent", agent),
                ("agent_thoughts", thoughts),
                ("tool_execution", tool),
                ("model", model),
                ("prompt", prompt),
                ("cost", cost),
                ("user_id", user),
                ("tags", tags),
                ("metadata", metadata),
            ];
            let mut fields: Vec<(String, Json)> =
                named.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect();
            // Duplicate top-level keys: the same step number twice, or a
            // second session id.
            match dup % 13 {
                0 => fields.push(("step".into(), Json::Num("7".into()))),
                1 => fields.push(("session_id".into(), Json::Str("other-session".into()))),
                _ => {}
            }
            Json::Obj(fields)
        })
        .boxed()
}

// -------------------------------------------------------------- bodies

/// How records are put into one body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    One,
    Array,
    Ndjson,
    NdjsonCrlfBlankLines,
    Pretty,
}

fn frame(records: &[Json], framing: Framing) -> Vec<u8> {
    let texts: Vec<String> = records.iter().map(Json::text).collect();
    match framing {
        Framing::One => texts.first().cloned().unwrap_or_default().into_bytes(),
        Framing::Array => format!("[{}]", texts.join(",")).into_bytes(),
        Framing::Ndjson => texts.join("\n").into_bytes(),
        Framing::NdjsonCrlfBlankLines => format!("\r\n{}\r\n\r\n", texts.join("\r\n\n")).into_bytes(),
        Framing::Pretty => match serde_json::from_str::<Value>(&texts.first().cloned().unwrap_or_default()) {
            Ok(v) => serde_json::to_vec_pretty(&v).unwrap(),
            Err(_) => texts.join("\n").into_bytes(),
        },
    }
}

/// A byte-level change: what a flaky proxy or a buggy client does.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index, usize),
    Splice(prop::sample::Index, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec!["\"", "{", "}", "[", "]", ",", ":", "\\", "\\u", "\\ud800", "\n", "\0", "123456789012345678901234567890", "\u{feff}", "\u{2028}"])
        )
            .prop_map(|(i, s)| Mutation::Splice(i, s)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            Mutation::Flip(i, x) if len > 0 => bytes[i.index(len)] ^= x,
            Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
            Mutation::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Splice(i, s) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, s.bytes());
            }
            _ => {}
        }
    }
    bytes
}

/// Default limits most of the time, tiny ones otherwise, so that each limit
/// (body, decoded body, records, record, field, id, list) is reached.
fn limits() -> impl Strategy<Value = Limits> {
    let small = (64usize..4096, 32usize..8192, 0usize..6, 16usize..2048, 1usize..128, 1usize..32, 0usize..5).prop_map(
        |(body, decoded, records, record, field, id, list)| Limits {
            max_body_bytes: body,
            max_decoded_bytes: decoded,
            max_records: records,
            max_record_bytes: record,
            max_field_bytes: field,
            max_id_bytes: id,
            max_list_items: list,
            ..Limits::default()
        },
    );
    prop_oneof![3 => Just(Limits::default()), 1 => small]
}

/// Near-valid bodies of step records, sometimes mutated, sometimes random.
fn steps_body() -> impl Strategy<Value = Vec<u8>> {
    let framing = prop::sample::select(vec![
        Framing::One,
        Framing::Array,
        Framing::Ndjson,
        Framing::NdjsonCrlfBlankLines,
        Framing::Pretty,
    ]);
    let records = prop::collection::vec(prop_oneof![8 => step_record(), 1 => any_json()], 1..4);
    prop_oneof![
        5 => (records.clone(), framing.clone()).prop_map(|(r, f)| frame(&r, f)),
        3 => (records, framing, prop::collection::vec(mutation(), 1..4)).prop_map(|(r, f, m)| mutate(frame(&r, f), &m)),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

// -------------------------------------------------------------- properties

/// A refused record names a field and says what is wrong with it.
fn assert_names_the_problem(e: &FieldError) {
    assert!(!e.field.trim().is_empty(), "a rejection without a field: {e:?}");
    assert!(!e.reason.trim().is_empty(), "a rejection without a reason: {e:?}");
}

/// A refused body says why, and size refusals are true.
fn assert_body_error_is_true(e: &BodyError, body: &[u8], limits: &Limits) {
    let message = e.to_string();
    assert!(!message.trim().is_empty(), "a body error without a message: {e:?}");
    match e {
        BodyError::TooLarge { size, limit } => assert!(size > limit && *size == body.len(), "{message}"),
        BodyError::TooManyRecords { count, limit } => assert!(count > limit && *limit == limits.max_records, "{message}"),
        BodyError::DecodedTooLarge { limit } => assert_eq!(*limit, limits.max_decoded_bytes, "{message}"),
        _ => {}
    }
}

/// A step that was accepted is within every limit, and its canonical form
/// validates again to the very same step: what makes retries idempotent.
fn assert_accepted_step_is_idempotent(step: &Step, limits: &Limits) {
    assert!(step.raw.len() <= limits.max_record_bytes, "record of {} bytes accepted", step.raw.len());
    assert!(!step.session_id.is_empty() && step.session_id.len() <= limits.max_id_bytes);
    for id in [&step.agent_name, &step.agent_version, &step.chosen_tool, &step.tool_name, &step.model_name, &step.user_id] {
        assert!(id.len() <= limits.max_id_bytes, "id {id:?} over the limit accepted");
    }
    for text in [&step.reasoning, &step.tool_params, &step.tool_result, &step.prompt_messages, &step.completion, &step.metadata] {
        assert!(text.len() <= limits.max_field_bytes, "text of {} bytes over the limit accepted", text.len());
    }
    assert!(step.tags.len() <= limits.max_list_items && step.considered_tools.len() <= limits.max_list_items);

    let again: Value = serde_json::from_str(&step.raw).unwrap_or_else(|e| panic!("canonical form does not re-parse ({e}): {}", step.raw));
    let revalidated = step_from_json(again, limits).unwrap_or_else(|e| panic!("canonical form is refused ({e}): {}", step.raw));
    assert_eq!(revalidated.step_hash, step.step_hash, "canonical form hashes differently: {}", step.raw);
    assert_eq!(revalidated.raw, step.raw, "canonical form is not a fixed point");
    // What is stored (the rest and the columns) reads back as that same form.
    // Span attributes stored by reference are put back as reads do.
    let column = |c: &str| flightlog_model::stored::column_of(step, c);
    let stored = flightlog_model::stored::rebuild(&step.raw_rest, column, &step.attributes_by_reference)
        .unwrap_or_else(|e| panic!("the stored rest does not parse ({e}): {}", step.raw_rest));
    assert_eq!(stored, step.raw, "the stored form does not read back as the canonical form");
    let one_pass = flightlog_model::integrity::canonical_form(&serde_json::from_str(&step.raw).unwrap()).rest;
    assert_eq!(one_pass, flightlog_model::stored::rest_of(serde_json::from_str::<Value>(&step.raw).unwrap().as_object().unwrap()));
    assert_eq!(one_pass, step.raw_rest);
}

/// One decoded record through validation.
fn check_record(value: Value, limits: &Limits) {
    match step_from_json(value, limits) {
        Ok(step) => assert_accepted_step_is_idempotent(&step, limits),
        Err(e) => assert_names_the_problem(&e),
    }
}

/// A whole body through `decode_body` and validation, as `POST /v1/steps`.
fn check_body(body: &[u8], encoding: Option<&str>, limits: &Limits) -> Result<usize, BodyError> {
    match decode_body(body, encoding, flightlog_decode::Framing::Guessed, limits) {
        Err(e) => {
            assert_body_error_is_true(&e, body, limits);
            Err(e)
        }
        Ok(records) => {
            assert!(body.len() <= limits.max_body_bytes);
            assert!(records.len() <= limits.max_records, "{} records accepted", records.len());
            let n = records.len();
            for record in records {
                match record {
                    Ok(value) => check_record(value, limits),
                    Err(e) => assert_names_the_problem(&e),
                }
            }
            Ok(n)
        }
    }
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(level));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Limits that let a body through whatever its compressed size.
fn without_body_limit(limits: &Limits) -> Limits {
    Limits { max_body_bytes: usize::MAX, ..limits.clone() }
}

// ------------------------------------------------------------------- CSV

fn csv_column_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = csv_steps::columns().map(|f| f.flat.to_string()).collect();
    prop_oneof![
        6 => prop::sample::select(known),
        1 => prop::sample::select(vec!["region", "agent", "cost", "tool_execution", "model.name", "", " step", "Session_ID", "otel"])
            .prop_map(str::to_string),
        1 => any_string(),
    ]
}

fn csv_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9_-]{1,10}",
        2 => number_literal(),
        2 => any_json().prop_map(|j| j.text()),
        1 => "[a-z]{1,5}(;[a-z ]{0,5}){0,4}",
        1 => timestamp().prop_map(|j| match j { Json::Str(s) => s, _ => unreachable!() }),
        1 => any_string(),
        1 => prop::sample::select(vec!["", " ", "\"", "a,b", "line\nbreak", "\"quoted\"", "[", "[\"x\",", "{\"a\":1,\"a\":2}"]).prop_map(str::to_string),
    ]
}

/// A CSV file: a generated header (known, unknown and repeated columns) and
/// rows of random cells, written with proper quoting or mutated after.
fn csv_file() -> impl Strategy<Value = Vec<u8>> {
    let table = prop::collection::vec(csv_column_name(), 1..12).prop_flat_map(|header| {
        let width = header.len();
        let row = prop::collection::vec(csv_cell(), width..=width);
        let ragged = prop::collection::vec(csv_cell(), 0..width + 2);
        (Just(header), prop::collection::vec(prop_oneof![6 => row, 1 => ragged], 0..5))
    });
    let written = table.prop_map(|(header, rows)| {
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        w.write_record(&header).unwrap();
        for row in rows {
            w.write_record(&row).unwrap();
        }
        w.into_inner().unwrap()
    })
    .boxed();
    prop_oneof![
        6 => written.clone(),
        2 => (written, prop::collection::vec(mutation(), 1..4)).prop_map(|(b, m)| mutate(b, &m)),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

/// Each CSV row as `flightlog import` reads it, then as the server does.
fn check_csv(file: &[u8], limits: &Limits) {
    let mut reader = csv::Reader::from_reader(file);
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return assert!(!e.to_string().is_empty()),
    };
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        match csv_steps::row_to_json(&header, &row) {
            Err(e) => assert_names_the_problem(&e),
            Ok(value) => {
                assert!(value.is_object(), "a CSV row becomes a JSON object: {value}");
                let line = serde_json::to_vec(&value).unwrap();
                let _ = check_body(&line, None, &without_body_limit(limits));
            }
        }
    }
}

// ------------------------------------------------------------------ OTLP

const GENAI_KEYS: &[&str] = &[
    "gen_ai.system",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.conversation.id",
    "gen_ai.agent.name",
    "gen_ai.agent.version",
    "gen_ai.operation.name",
    "gen_ai.tool.name",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.request.seed",
    "gen_ai.request.max_tokens",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.cost",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.user",
    "llm.model_name",
    "llm.provider",
    "llm.invocation_parameters",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.cost.total",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.content",
    "openinference.span.kind",
    "input.value",
    "output.value",
    "tool.name",
    "session.id",
    "user.id",
    "tag.tags",
    "langfuse.session.id",
    "langfuse.trace.tags",
    "langfuse.observation.type",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "service.name",
    "http.method",
];

fn any_value(finite: bool) -> impl Strategy<Value = AnyValue> {
    let double = if finite {
        any::<f64>().prop_filter("finite", |f| f.is_finite()).boxed()
    } else {
        prop_oneof![4 => any::<f64>(), 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)].boxed()
    };
    let leaf = prop_oneof![
        3 => any_string().prop_map(any_value::Value::StringValue),
        2 => any_json().prop_map(|j| any_value::Value::StringValue(j.text())),
        2 => any::<i64>().prop_map(any_value::Value::IntValue),
        1 => (-10i64..1_000_000).prop_map(any_value::Value::IntValue),
        2 => double.prop_map(any_value::Value::DoubleValue),
        1 => any::<bool>().prop_map(any_value::Value::BoolValue),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(any_value::Value::BytesValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) });
    prop_oneof![6 => leaf, 1 => Just(AnyValue { value: None })].prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|values| AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values })) }),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|kvs| AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: kvs.into_iter().map(|(key, v)| KeyValue { key, value: Some(v), ..KeyValue::default() }).collect(),
                })),
            }),
        ]
    })
}

fn attributes(finite: bool) -> impl Strategy<Value = Vec<KeyValue>> {
    let key = prop_oneof![8 => prop::sample::select(GENAI_KEYS).prop_map(str::to_string), 1 => any_string()];
    // Repeated keys are allowed on the wire: the generator repeats them.
    prop::collection::vec((key, any_value(finite)), 0..10)
        .prop_map(|kvs| kvs.into_iter().map(|(key, v)| KeyValue { key, value: Some(v), ..KeyValue::default() }).collect())
}

fn id_bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), len..=len),
        1 => Just(vec![0; len]),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn span(finite: bool) -> impl Strategy<Value = Span> {
    let times = prop_oneof![
        6 => 1_600_000_000_000_000_000u64..1_900_000_000_000_000_000,
        1 => Just(0u64),
        1 => any::<u64>(),
    ];
    (id_bytes(16), id_bytes(8), id_bytes(8), any_string(), 0i32..6, times.clone(), times, attributes(finite)).prop_map(
        |(trace_id, span_id, parent_span_id, name, kind, start, end, attributes)| Span {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            ..Span::default()
        },
    )
}

fn export_request(finite: bool) -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans = (any_string(), prop::collection::vec(span(finite), 0..4)).prop_map(|(name, spans)| ScopeSpans {
        scope: Some(InstrumentationScope { name, ..InstrumentationScope::default() }),
        spans,
        ..ScopeSpans::default()
    });
    let resource_spans = (attributes(finite), prop::collection::vec(scope_spans, 0..3)).prop_map(|(attributes, scope_spans)| {
        ResourceSpans { resource: Some(Resource { attributes, ..Resource::default() }), scope_spans, ..ResourceSpans::default() }
    });
    prop::collection::vec(resource_spans, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// OTLP JSON written by hand: the mapping's shape with random values and
/// types, duplicate keys and 64-bit integers past every limit.
fn otlp_json_text() -> impl Strategy<Value = Json> {
    let hex = |n: usize| prop_oneof![6 => prop::collection::vec(any::<u8>(), n..=n).prop_map(hex::encode), 1 => any_string()];
    let int_text = prop_oneof![
        number_literal().prop_map(Json::Num),
        number_literal().prop_map(Json::Str),
    ];
    let value = prop_oneof![
        any_string().prop_map(|s| Json::obj(vec![("stringValue", Json::Str(s))])),
        int_text.clone().prop_map(|n| Json::obj(vec![("intValue", n)])),
        number_literal().prop_map(|n| Json::obj(vec![("doubleValue", Json::Num(n))])),
        any_json().prop_map(|j| Json::obj(vec![("stringValue", Json::Str(j.text()))])),
        any_json(),
    ];
    let attribute = (prop::sample::select(GENAI_KEYS), value).prop_map(|(k, v)| Json::obj(vec![("key", Json::Str(k.into())), ("value", v)]));
    let attrs = prop::collection::vec(attribute, 0..8).prop_map(Json::Arr);
    let span = (hex(16), hex(8), any_string(), int_text, attrs, any::<bool>()).prop_map(|(t, s, name, start, attrs, dup)| {
        let mut fields = vec![
            ("traceId", Json::Str(t)),
            ("spanId", Json::Str(s)),
            ("name", Json::Str(name)),
            ("startTimeUnixNano", start),
            ("attributes", attrs),
        ];
        if dup {
            fields.push(("spanId", Json::Str("0102030405060708".into())));
        }
        Json::obj(fields)
    });
    prop::collection::vec(span, 0..4).prop_map(|spans| {
        Json::obj(vec![(
            "resourceSpans",
            Json::Arr(vec![Json::obj(vec![("scopeSpans", Json::Arr(vec![Json::obj(vec![("spans", Json::Arr(spans))])]))])]),
        )])
    })
}

/// A decoded export through the span mapping and validation, as the
/// `/v1/traces` handler does.
fn check_export(body: &[u8], encoding: Encoding, limits: &Limits) -> Option<ExportTraceServiceRequest> {
    let request = match otlp::decode_request(body, encoding) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().trim().is_empty());
            return None;
        }
    };
    let mapped = otlp::map_request(&request);
    let again = otlp::map_request(&request);
    for (span, same) in mapped.iter().zip(&again) {
        assert_eq!(span.outcome, same.outcome, "mapping {} is not deterministic", span.reference);
        match &span.outcome {
            SpanOutcome::Skipped => {}
            SpanOutcome::Rejected(reason) => assert!(!reason.trim().is_empty(), "span {} rejected without a reason", span.reference),
            SpanOutcome::Step(value) => {
                assert!(value.get("otel").is_some(), "the span as received is kept beside the step");
                check_record(value.clone(), limits);
            }
        }
    }
    Some(request)
}

// ------------------------------------------------------------- the tests

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_array_and_ndjson_bodies_never_panic_and_every_refusal_names_the_problem(body in steps_body(), limits in limits()) {
        let _ = check_body(&body, None, &limits);
    }

    #[test]
    fn a_gzipped_body_decodes_exactly_like_the_plain_one(
        body in steps_body(),
        level in 0u32..10,
        split in any::<prop::sample::Index>(),
        concatenated in any::<bool>(),
        limits in limits(),
    ) {
        let compressed = if concatenated {
            // Two gzip members, as `cat a.gz b.gz` makes.
            let at = split.index(body.len() + 1);
            [gzip(&body[..at], level), gzip(&body[at..], level)].concat()
        } else {
            gzip(&body, level)
        };
        let got = check_body(&compressed, Some("gzip"), &limits);
        if compressed.len() > limits.max_body_bytes {
            prop_assert!(matches!(got, Err(BodyError::TooLarge { .. })), "{got:?}");
        } else if body.len() > limits.max_decoded_bytes {
            prop_assert_eq!(got, Err(BodyError::DecodedTooLarge { limit: limits.max_decoded_bytes }));
        } else {
            let got = decode_body(&compressed, Some("gzip"), flightlog_decode::Framing::Guessed, &limits);
            let plain = decode_body(&body, None, flightlog_decode::Framing::Guessed, &without_body_limit(&limits));
            prop_assert_eq!(got, plain);
        }
    }

    #[test]
    fn truncated_or_corrupted_gzip_is_refused_or_decoded_never_a_panic(
        body in steps_body(),
        mutations in prop::collection::vec(mutation(), 1..4),
        encoding in prop::sample::select(vec!["gzip", "GZIP", " gzip ", "identity", "br", "deflate", ""]),
        limits in limits(),
    ) {
        let corrupted = mutate(gzip(&body, 6), &mutations);
        let _ = check_body(&corrupted, Some(encoding), &limits);
    }

    #[test]
    fn csv_rows_with_any_header_and_cells_become_steps_or_named_rejections(file in csv_file(), limits in limits()) {
        check_csv(&file, &limits);
    }

    #[test]
    fn otlp_protobuf_exports_decode_map_and_validate_without_panics(
        request in export_request(false),
        mutations in prop::collection::vec(mutation(), 0..4),
        random in prop::option::weighted(0.1, prop::collection::vec(any::<u8>(), 0..512)),
        limits in limits(),
    ) {
        let encoded = request.encode_to_vec();
        if mutations.is_empty() && random.is_none() {
            // Compared re-encoded: NaN attribute values are not equal to themselves.
            let decoded = check_export(&encoded, Encoding::Protobuf, &limits);
            prop_assert_eq!(decoded.map(|d| d.encode_to_vec()), Some(encoded), "a valid export decodes to itself");
        } else {
            let body = random.unwrap_or_else(|| mutate(encoded, &mutations));
            check_export(&body, Encoding::Protobuf, &limits);
        }
    }

    #[test]
    fn otlp_json_exports_decode_map_and_validate_without_panics(
        request in export_request(true),
        written in otlp_json_text(),
        by_hand in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 0..4),
        limits in limits(),
    ) {
        let text = if by_hand { written.text().into_bytes() } else { serde_json::to_vec(&request).unwrap() };
        if mutations.is_empty() && !by_hand {
            let decoded = check_export(&text, Encoding::Json, &limits);
            prop_assert!(decoded.is_some(), "the JSON mapping of a valid export is accepted: {}", String::from_utf8_lossy(&text));
        } else {
            check_export(&mutate(text, &mutations), Encoding::Json, &limits);
        }
    }
}

/// The numbers and duplicate keys the generators aim at, written out once:
/// each record is refused, naming the field that would have been bent, in
/// every framing (one object, an array, NDJSON).
#[test]
fn huge_numbers_and_duplicate_keys_are_refused_naming_the_field() {
    let cases = [
        (r#"{"session_id":"s","step":123456789012345678901234567890,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":1.000000000000000000001,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":-1,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":1.5,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":18446744073709551616,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":1,"step":2,"timestamp":"2026-01-15T10:30:00Z"}"#, "step"),
        (r#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","cost":{"input_tokens":1,"input_tokens":2}}"#, "cost.input_tokens"),
        (r#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","tool_execution":{"params":{"n":123456789012345678901234567890}}}"#, "tool_execution.params.n"),
        (r#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","tool_execution":{"params":{"f":1.000000000000000000001}}}"#, "tool_execution.params.f"),
        (r#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","metadata":{"a":1,"a":{"b":2}}}"#, "metadata.a"),
    ];
    let limits = Limits::default();
    for (case, field) in cases {
        for framing in [case.to_string(), format!("[{case}]"), format!("{case}\n{case}")] {
            let records = flightlog_decode::decode_body(framing.as_bytes(), None, flightlog_decode::Framing::Guessed, &limits).expect("the body decodes");
            assert!(!records.is_empty(), "{framing}");
            for record in records {
                let refusal = record.and_then(|v| flightlog_model::step_from_json(v, &limits).map(|_| ())).expect_err(&framing);
                assert_eq!(refusal.field, field, "{framing}: {refusal}");
            }
        }
    }
    // Out of a double's range is refused too (as the JSON it cannot be).
    let body = br#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","cost":{"estimated_cost":1e400}}"#;
    let records: Vec<_> = flightlog_decode::decode_body(body, None, flightlog_decode::Framing::Guessed, &limits).unwrap().into_iter().collect();
    assert!(records[0].as_ref().unwrap_err().reason.contains("out of range"), "{:?}", records[0]);
}

/// Found by the CSV property, kept as its minimal form: a header that
/// repeats an empty column name was refused with an empty `field`, so the
/// import's message ("line 2: column : the column appears ...") named no
/// column.
#[test]
fn a_repeated_empty_column_name_is_refused_naming_where_it_is() {
    let mut reader = csv::Reader::from_reader(&b"session_id,,step,\ns,x,1,y\n"[..]);
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    match csv_steps::row_to_json(&header, &row) {
        Ok(value) => assert!(value.is_object()),
        Err(e) => assert_names_the_problem(&e),
    }
}

/// Found by the body properties, kept as its minimal form: an empty key
/// repeated at the top of a record was refused with an empty `field` (the
/// reason did quote the key).
#[test]
fn a_repeated_empty_key_is_refused_naming_a_field() {
    let records = decode_body(br#"{"session_id":"s","step":1,"timestamp":"2026-01-15T10:30:00Z","":1,"":2}"#, None, flightlog_decode::Framing::Guessed, &Limits::default()).unwrap();
    for record in records {
        match record.and_then(|v| step_from_json(v, &Limits::default())) {
            Ok(step) => assert_accepted_step_is_idempotent(&step, &Limits::default()),
            Err(e) => assert_names_the_problem(&e),
        }
    }
}
