//! Reading steps out for exports, a page at a time.
//!
//! The columns are [`flightlog_model::columns::exported`] (the step's flat
//! form, then the record), each read as the export writes it: arrays as
//! JSON text, hashes as hex, times as microseconds under [`micros_key`]
//! (the caller formats them as RFC 3339).

use crate::content::Refs;
use crate::backend::{Params, StoreError, rows};
use crate::Store;
use flightlog_model::columns::{self, Column};
use std::sync::LazyLock;

static EXPORT_STEPS: LazyLock<String> = LazyLock::new(|| {
    let select: Vec<String> = columns::exported().map(select_expr).collect();
    include_str!("queries/export_steps.sql").replace("{columns}", &select.join(", "))
});

/// The key under which an exported time column's microseconds come:
/// `timestamp` → `timestamp_us`, `received_at` → `received_us`.
pub fn micros_key(export_name: &str) -> String {
    format!("{}_us", export_name.strip_suffix("_at").unwrap_or(export_name))
}

/// How the export reads a stored column, by its type.
fn select_expr(c: &Column) -> String {
    let (name, out) = (c.name, c.export_name());
    if c.is_time() {
        format!("toUnixTimestamp64Micro({name}) AS {}", micros_key(out))
    } else if c.clickhouse_type.starts_with("Array(") {
        format!("toJSONString({name}) AS {out}")
    } else if c.clickhouse_type.starts_with("FixedString(") {
        format!("lower(hex({name})) AS {out}")
    } else if name != out {
        format!("{name} AS {out}")
    } else {
        name.to_string()
    }
}

impl Store {
    /// Up to `limit` steps of `project` in [from_us, to_us) after the
    /// (session, step) cursor (`None`: from the start), as JSON rows.
    pub async fn export_steps_page(
        &self,
        project: &str,
        from_us: i64,
        to_us: i64,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        // An empty session id sorts before every real one, and step -1
        // before every step: together, "from the start".
        // Step numbers are at most i64::MAX (flightlog-model limits).
        let (session, step) = after.map_or(("", -1), |(s, n)| (s, i64::try_from(n).unwrap_or(i64::MAX)));
        let params = Params::new()
            .text("project", project)
            .number("from_us", from_us)
            .number("to_us", to_us)
            .text("after_session", session)
            .number("after_step", step)
            .number("limit", limit);
        let mut found: Vec<serde_json::Map<String, serde_json::Value>> = rows(&self.ch.query(&EXPORT_STEPS, params).await?)?;
        // What each row refers to, taken out of the exported columns.
        let refs: Vec<(String, Refs)> = found
            .iter_mut()
            .map(|row| {
                let session = row.get("session_id").and_then(|s| s.as_str()).unwrap_or_default().to_string();
                let texts = |v: &serde_json::Value| v.as_str().map(str::to_string);
                let messages = match row.remove("message_refs") {
                    Some(serde_json::Value::Array(refs)) => refs.iter().filter_map(texts).collect(),
                    _ => Vec::new(),
                };
                let whole = match row.remove("text_refs") {
                    Some(serde_json::Value::Object(refs)) => refs.iter().filter_map(|(place, key)| Some((place.clone(), texts(key)?))).collect(),
                    _ => Vec::new(),
                };
                (session, Refs::new(messages, whole))
            })
            .collect();
        let wanted: Vec<(&str, &[String])> = refs.iter().flat_map(|(s, r)| r.keys().map(move |keys| (s.as_str(), keys))).collect();
        let messages = self.stored_messages(project, wanted).await?;
        for (row, (session, refs)) in found.iter_mut().zip(&refs) {
            // An export carries columns, not span attributes: only the
            // columns are put back.
            refs.put_back(session, &messages, |name, text| {
                if let Some(serde_json::Value::String(column)) = row.get_mut(name) {
                    *column = text;
                }
            });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_select_reads_the_exported_columns_as_before() {
        // The list export_steps.sql held before it was derived.
        let before = "session_id, step, toUnixTimestamp64Micro(ts) AS timestamp_us, \
            agent_name, agent_version, reasoning, toJSONString(considered_tools) AS considered_tools, chosen_tool, confidence, \
            tool_name, tool_params, tool_result, tool_status, tool_error, tool_duration_ms, \
            model_provider, model_name, model_version, temperature, top_p, seed, max_tokens, \
            prompt_system, prompt_messages, completion, \
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost, \
            user_id, toJSONString(tags) AS tags, metadata, \
            log_index, lower(hex(step_hash)) AS step_hash, toUnixTimestamp64Micro(received_at) AS received_us";
        assert!(EXPORT_STEPS.contains(&format!("SELECT {before},\n")), "{}", *EXPORT_STEPS);
    }
}
