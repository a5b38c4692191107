//! OTLP attribute values as JSON, and typed reads of attribute maps.

use flightlog_model::validate::EXACT_IN_A_DOUBLE;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One OTLP value as JSON: strings, booleans, numbers, arrays and maps as
/// themselves; bytes as base64. A value JSON cannot hold is refused, never
/// changed: a double that is NaN or infinite, a map with a key twice.
pub fn to_json(v: &AnyValue) -> Result<Value, String> {
    Ok(match &v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => json!(s),
        Some(V::BoolValue(b)) => json!(b),
        Some(V::IntValue(i)) => json!(i),
        Some(V::DoubleValue(d)) if d.is_finite() => json!(d),
        Some(V::DoubleValue(d)) => return Err(format!("is {d}, which a step cannot hold (JSON has no NaN or infinity)")),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect::<Result<_, _>>()?),
        Some(V::KvlistValue(kv)) => {
            let map = pairs(&kv.values)?;
            if let Some((key, _)) = map.replaced.first() {
                return Err(format!("holds key {key} twice, which a JSON object cannot"));
            }
            Value::Object(map.by_key.into_iter().collect())
        }
        Some(V::BytesValue(b)) => {
            use base64::Engine;
            json!(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // An index into a profile's string table: no meaning in a trace.
        Some(V::StringValueStrindex(i)) => json!(i),
    })
}

/// Each key with its last value as JSON, and the values a later one of
/// the same key replaced, in the order given (OTLP says keys are unique,
/// but some SDKs send a key again when it is set again: the last is the
/// value in force, the earlier are kept apart rather than lost).
fn pairs(kvs: &[KeyValue]) -> Result<Attributes, String> {
    let mut out = BTreeMap::new();
    let mut replaced = Vec::new();
    for kv in kvs {
        let value = kv.value.as_ref().map_or(Ok(Value::Null), to_json).map_err(|why| format!("attribute {}: {why}", kv.key))?;
        if let Some(earlier) = out.insert(kv.key.clone(), value) {
            replaced.push((kv.key.clone(), earlier));
        }
    }
    Ok(Attributes { by_key: out, replaced })
}

/// A span's (or resource's) attributes by key, sorted: the same spans always
/// give the same JSON.
#[derive(Debug, Default, Clone)]
pub struct Attributes {
    /// Each key's value (its last, when the key came more than once).
    pub by_key: BTreeMap<String, Value>,
    /// Values of a key that came again, replaced by a later one, in order.
    pub replaced: Vec<(String, Value)>,
}

impl Attributes {
    /// The attributes, or why they cannot be kept exactly (naming the key).
    pub fn from_otlp(kvs: &[KeyValue]) -> Result<Self, String> {
        pairs(kvs)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.by_key.get(key).filter(|v| !v.is_null())
    }

    /// The first of `keys` present as a non-empty string (numbers are
    /// written out).
    pub fn str(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.get(k)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    }

    /// The first of `keys` present, as a number (or a string holding one);
    /// one present that is not a number is refused, naming it.
    pub fn f64(&self, keys: &[&str]) -> Result<Option<f64>, String> {
        self.first_present(keys, read_f64, "must be a number a double holds exactly")
    }

    /// The first of `keys` present, as an unsigned integer exactly (see
    /// [`read_u64`]); one present that is not one is refused, naming it.
    pub fn u64(&self, keys: &[&str]) -> Result<Option<u64>, String> {
        self.first_present(keys, read_u64, "must be a whole number >= 0")
    }

    fn first_present<T>(&self, keys: &[&str], read: fn(&Value) -> Option<T>, rule: &str) -> Result<Option<T>, String> {
        let Some((key, value)) = keys.iter().find_map(|k| Some((*k, self.get(k)?))) else { return Ok(None) };
        read(value).map(Some).ok_or_else(|| format!("attribute {key}: {rule}, got {value}"))
    }

    /// A value that instrumentations send either as JSON text or as a
    /// structured value: parsed when it is text holding JSON that can be
    /// kept exactly (see `crate::json`), else kept as the text itself.
    pub fn json(&self, keys: &[&str]) -> Option<Value> {
        keys.iter().find_map(|k| match self.get(k)? {
            Value::String(s) => Some(json_or_text(s)),
            other => Some(other.clone()),
        })
    }

    /// OpenInference flattens lists into `prefix.0.rest`, `prefix.1.rest`...:
    /// the values under `prefix.N.` for N = 0, 1, ..., as maps of `rest`.
    pub fn indexed(&self, prefix: &str) -> Vec<BTreeMap<String, Value>> {
        let mut out: BTreeMap<usize, BTreeMap<String, Value>> = BTreeMap::new();
        let start = format!("{prefix}.");
        for (k, v) in self.by_key.range(start.clone()..) {
            let Some(rest) = k.strip_prefix(&start) else { break };
            let Some((n, field)) = rest.split_once('.') else { continue };
            if let Ok(n) = n.parse::<usize>() {
                out.entry(n).or_default().insert(field.to_string(), v.clone());
            }
        }
        out.into_values().collect()
    }

    pub fn to_object(&self) -> Value {
        Value::Object(self.by_key.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Map<_, _>>())
    }
}

/// The values replaced by a later one of the same key, as
/// `[{"key": …, "value": …}]`, when there are any.
pub fn replaced_json(replaced: &[(String, Value)]) -> Option<Value> {
    (!replaced.is_empty()).then(|| Value::Array(replaced.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()))
}

/// A number, or a string holding a printing of a double (OTLP/JSON's rule
/// for its doubles, `json::beyond_a_double`): "0.1000000000000000000001"
/// as a cost was stored as 0.1.
pub fn read_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if crate::json::beyond_a_double(s.trim()).is_none() => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// An unsigned integer, exactly: an `intValue` as sent, a whole
/// `doubleValue` only below 2^53, a string of digits.
pub fn read_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < EXACT_IN_A_DOUBLE).map(|v| v as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed integer, exactly, by the same rule as [`read_u64`].
pub fn read_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|v| v.fract() == 0.0 && v.abs() < EXACT_IN_A_DOUBLE).map(|v| v as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// How deep JSON text read into a step's field may nest. A step is read
/// back with serde_json's limit of 128 levels, and the field itself sits a
/// few levels down (`tool_execution.params`): arguments 127 deep made a
/// step that MCP answered as null and its reproduction as unreadable.
const MAX_TEXT_DEPTH: usize = 100;

/// JSON text as its value when it parses strictly (no repeated key, no
/// number that would lose digits) and nests at most [`MAX_TEXT_DEPTH`],
/// else the text unchanged: either way what the span carried is kept
/// exactly.
pub fn json_or_text(s: &str) -> Value {
    match crate::json::parse_record(s.as_bytes()) {
        Ok(v) if depth(&v) <= MAX_TEXT_DEPTH => v,
        _ => Value::String(s.to_string()),
    }
}

/// How many levels of arrays and objects `v` nests (a scalar: 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    #[test]
    fn a_number_in_a_string_is_read_only_when_a_double_holds_it_exactly() {
        assert_eq!(read_f64(&Value::String("0.1".into())), Some(0.1));
        assert_eq!(read_f64(&Value::String(" 2.5e-3 ".into())), Some(0.0025));
        assert_eq!(read_f64(&Value::String("0.1000000000000000000001".into())), None);
        assert_eq!(read_f64(&Value::String("0.10000000000000001".into())), Some(0.1), "17 digits name one double");
        assert_eq!(read_f64(&Value::String("123456789012345678901234567890".into())), None);
        assert_eq!(read_f64(&Value::String("hot".into())), None);
    }

    #[test]
    fn json_text_nested_deeper_than_a_step_may_be_is_kept_as_text() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(json_or_text(&nested(MAX_TEXT_DEPTH)), serde_json::from_str::<Value>(&nested(MAX_TEXT_DEPTH)).unwrap());
        assert_eq!(json_or_text(&nested(MAX_TEXT_DEPTH + 1)), Value::String(nested(MAX_TEXT_DEPTH + 1)));
        assert_eq!(json_or_text(&nested(127)), Value::String(nested(127)));
    }

    fn attrs(kvs: &[KeyValue]) -> Attributes {
        Attributes::from_otlp(kvs).unwrap()
    }

    fn kv(key: &str, value: V) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    #[test]
    fn values_become_json_and_reads_are_typed() {
        let attrs = attrs(&[
            kv("s", V::StringValue("x".into())),
            kv("n", V::IntValue(42)),
            kv("f", V::DoubleValue(0.5)),
            kv("ns", V::StringValue("7".into())),
            kv("a", V::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(V::StringValue("t".into())) }] })),
            kv("m", V::KvlistValue(KeyValueList { values: vec![kv("k", V::BoolValue(true))] })),
            kv("j", V::StringValue("{\"temperature\": 0.2}".into())),
            kv("b", V::BytesValue(vec![1, 2])),
        ]);
        assert_eq!(attrs.str(&["missing", "s"]).as_deref(), Some("x"));
        assert_eq!(attrs.u64(&["n"]), Ok(Some(42)));
        assert_eq!(attrs.u64(&["ns"]), Ok(Some(7)));
        assert_eq!(attrs.f64(&["f"]), Ok(Some(0.5)));
        assert_eq!(attrs.f64(&["missing"]), Ok(None));
        assert_eq!(attrs.get("a"), Some(&json!(["t"])));
        assert_eq!(attrs.get("m"), Some(&json!({"k": true})));
        assert_eq!(attrs.json(&["j"]), Some(json!({"temperature": 0.2})));
        assert_eq!(attrs.get("b"), Some(&json!("AQI=")));
    }

    #[test]
    fn integers_are_read_exactly_or_refused_naming_the_attribute() {
        let attrs = attrs(&[
            kv("big", V::IntValue(9_007_199_254_740_993)),
            kv("max", V::IntValue(i64::MAX)),
            kv("half", V::DoubleValue(1.5)),
            kv("whole", V::DoubleValue(3.0)),
            kv("neg", V::IntValue(-5)),
        ]);
        assert_eq!(attrs.u64(&["big"]), Ok(Some(9_007_199_254_740_993)), "not rounded through a double");
        assert_eq!(attrs.u64(&["max"]), Ok(Some(i64::MAX as u64)));
        assert_eq!(attrs.u64(&["half"]).unwrap_err(), "attribute half: must be a whole number >= 0, got 1.5", "1.5 tokens is not a count");
        assert_eq!(attrs.u64(&["whole"]), Ok(Some(3)));
        assert!(attrs.u64(&["neg"]).unwrap_err().contains("got -5"));
        assert_eq!(attrs.u64(&["missing", "neg"]).unwrap_err(), attrs.u64(&["neg"]).unwrap_err(), "the first present decides");
        assert_eq!(attrs.get("neg").and_then(read_i64), Some(-5));
    }

    #[test]
    fn values_json_cannot_hold_are_refused_naming_the_key() {
        let nan = Attributes::from_otlp(&[kv("x.v", V::DoubleValue(f64::NAN))]).unwrap_err();
        assert!(nan.contains("attribute x.v") && nan.contains("NaN"), "{nan}");
        let inner = Attributes::from_otlp(&[kv("m", V::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(V::DoubleValue(f64::INFINITY)) }] }))]);
        assert!(inner.unwrap_err().contains("attribute m"));
        let nested = Attributes::from_otlp(&[kv("m", V::KvlistValue(KeyValueList { values: vec![kv("k", V::BoolValue(true)), kv("k", V::BoolValue(false))] }))]);
        assert_eq!(nested.unwrap_err(), "attribute m: holds key k twice, which a JSON object cannot");
    }

    #[test]
    fn a_key_given_again_takes_the_last_value_and_keeps_the_earlier() {
        let twice = attrs(&[kv("user.id", V::StringValue("alice".into())), kv("n", V::IntValue(1)), kv("user.id", V::StringValue("bob".into()))]);
        assert_eq!(twice.get("user.id"), Some(&json!("bob")));
        assert_eq!(replaced_json(&twice.replaced), Some(json!([{"key": "user.id", "value": "alice"}])));
        assert_eq!(replaced_json(&attrs(&[kv("n", V::IntValue(1))]).replaced), None);
    }

    #[test]
    fn indexed_lists_are_regrouped_in_order() {
        let attrs = attrs(&[
            kv("llm.output_messages.1.message.content", V::StringValue("second".into())),
            kv("llm.output_messages.0.message.role", V::StringValue("assistant".into())),
            kv("llm.output_messages.0.message.content", V::StringValue("first".into())),
            kv("llm.output_messagesX", V::StringValue("not part of it".into())),
        ]);
        let list = attrs.indexed("llm.output_messages");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["message.content"], "first");
        assert_eq!(list[1]["message.content"], "second");
        assert!(attrs.by_key.keys().any(|k| crate::otlp::mapping::is_genai_key(k)));
        assert!(!attrs.by_key.keys().any(|k| k.starts_with("gen_ai.")));
    }
}
