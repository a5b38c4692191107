//! OTLP attribute values as JSON, and typed reads of attribute maps.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as V};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One OTLP value as JSON: strings, booleans, numbers, arrays and maps as
/// themselves; bytes as base64.
pub fn to_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => json!(s),
        Some(V::BoolValue(b)) => json!(b),
        Some(V::IntValue(i)) => json!(i),
        Some(V::DoubleValue(d)) => json!(d),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect()),
        Some(V::KvlistValue(kv)) => {
            Value::Object(kv.values.iter().map(|k| (k.key.clone(), k.value.as_ref().map_or(Value::Null, to_json))).collect())
        }
        Some(V::BytesValue(b)) => {
            use base64::Engine;
            json!(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // An index into a profile's string table: no meaning in a trace.
        Some(V::StringValueStrindex(i)) => json!(i),
    }
}

/// A span's (or resource's) attributes by key, sorted: the same spans always
/// give the same JSON.
#[derive(Debug, Default, Clone)]
pub struct Attributes(pub BTreeMap<String, Value>);

impl Attributes {
    pub fn from_otlp(kvs: &[KeyValue]) -> Self {
        Self(kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, to_json))).collect())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
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

    /// The first of `keys` present as a number (or a string holding one).
    pub fn f64(&self, keys: &[&str]) -> Option<f64> {
        keys.iter().find_map(|k| match self.get(k)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// An unsigned integer, exactly: an `intValue` as sent, a whole
    /// `doubleValue` only below 2^53 (where a double still holds every
    /// integer), a string of digits. Anything else is not one.
    pub fn u64(&self, keys: &[&str]) -> Option<u64> {
        const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0;
        keys.iter().find_map(|k| match self.get(k)? {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64().filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < EXACT_IN_A_DOUBLE).map(|v| v as u64)
            }),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
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

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.0.range(prefix.to_string()..).next().is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// OpenInference flattens lists into `prefix.0.rest`, `prefix.1.rest`...:
    /// the values under `prefix.N.` for N = 0, 1, ..., as maps of `rest`.
    pub fn indexed(&self, prefix: &str) -> Vec<BTreeMap<String, Value>> {
        let mut out: BTreeMap<usize, BTreeMap<String, Value>> = BTreeMap::new();
        let start = format!("{prefix}.");
        for (k, v) in self.0.range(start.clone()..) {
            let Some(rest) = k.strip_prefix(&start) else { break };
            let Some((n, field)) = rest.split_once('.') else { continue };
            if let Ok(n) = n.parse::<usize>() {
                out.entry(n).or_default().insert(field.to_string(), v.clone());
            }
        }
        out.into_values().collect()
    }

    pub fn to_object(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Map<_, _>>())
    }
}

/// JSON text as its value when it parses strictly (no repeated key, no
/// number that would lose digits), else the text unchanged: either way
/// what the span carried is kept exactly.
pub fn json_or_text(s: &str) -> Value {
    crate::json::parse_record(s.as_bytes()).unwrap_or_else(|_| Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: V) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    #[test]
    fn values_become_json_and_reads_are_typed() {
        let attrs = Attributes::from_otlp(&[
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
        assert_eq!(attrs.u64(&["n"]), Some(42));
        assert_eq!(attrs.u64(&["ns"]), Some(7));
        assert_eq!(attrs.f64(&["f"]), Some(0.5));
        assert_eq!(attrs.get("a"), Some(&json!(["t"])));
        assert_eq!(attrs.get("m"), Some(&json!({"k": true})));
        assert_eq!(attrs.json(&["j"]), Some(json!({"temperature": 0.2})));
        assert_eq!(attrs.get("b"), Some(&json!("AQI=")));
    }

    #[test]
    fn integers_are_read_exactly_or_not_at_all() {
        let attrs = Attributes::from_otlp(&[
            kv("big", V::IntValue(9_007_199_254_740_993)),
            kv("max", V::IntValue(i64::MAX)),
            kv("half", V::DoubleValue(1.5)),
            kv("whole", V::DoubleValue(3.0)),
            kv("neg", V::IntValue(-5)),
        ]);
        assert_eq!(attrs.u64(&["big"]), Some(9_007_199_254_740_993), "not rounded through a double");
        assert_eq!(attrs.u64(&["max"]), Some(i64::MAX as u64));
        assert_eq!(attrs.u64(&["half"]), None, "1.5 tokens is not a count");
        assert_eq!(attrs.u64(&["whole"]), Some(3));
        assert_eq!(attrs.u64(&["neg"]), None);
    }

    #[test]
    fn indexed_lists_are_regrouped_in_order() {
        let attrs = Attributes::from_otlp(&[
            kv("llm.output_messages.1.message.content", V::StringValue("second".into())),
            kv("llm.output_messages.0.message.role", V::StringValue("assistant".into())),
            kv("llm.output_messages.0.message.content", V::StringValue("first".into())),
            kv("llm.output_messagesX", V::StringValue("not part of it".into())),
        ]);
        let list = attrs.indexed("llm.output_messages");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["message.content"], "first");
        assert_eq!(list[1]["message.content"], "second");
        assert!(attrs.has_prefix("llm."));
        assert!(!attrs.has_prefix("gen_ai."));
    }
}
