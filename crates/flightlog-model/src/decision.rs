//! Key decisions: the steps worth finding again by meaning.
//!
//! A step is a key decision when the agent chose a tool and said why, or
//! when it failed. That rule is defined once, in SQL, as the `key_decision`
//! column of the steps table (schema/0010_key_decision.sql), so that the
//! indexer's queries and every page agree on it, for old steps as for new:
//! read the column, do not re-decide here. This module says how a decision
//! is embedded: its text for the embedding model is the reasoning, the
//! chosen tool with a short summary of its parameters, and the error.
//!
//! A failed decision also has an error text, embedded on its own and
//! weighted in ([`ERROR_WEIGHT`]): the reasoning says what the agent meant
//! to do, which varies from case to case, while the error says what went
//! wrong, which is what "has this failure happened before?" asks about. On
//! the labelled set of crates/flightlog-index/tests (six failure classes,
//! paraphrased), the nearest other decision is of the same class for 53%
//! of them with the whole text alone, and 83% with the error weighted 0.7.
//! Which model reads each of the two texts is flightlog-index's rule
//! (`WHOLE_TEXT`, `ERROR_TEXT`).

use crate::validate::cut_chars;

/// The fields of a step that decide whether and how it is embedded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub reasoning: String,
    pub chosen_tool: String,
    pub tool_name: String,
    pub tool_params: String,
    pub tool_error: String,
    pub failed: bool,
}

/// Characters kept of the whole text; the model cuts at 256 tokens anyway
/// (about 1,000 characters of English), so more only costs tokenizing time.
pub const MAX_TEXT_CHARS: usize = 1_200;
/// Characters kept of one parameter value in the summary.
const MAX_PARAM_VALUE_CHARS: usize = 60;
/// Parameters kept in the summary.
const MAX_PARAMS: usize = 8;
/// The share of the error text's vector in a failed decision's vector.
pub const ERROR_WEIGHT: f32 = 0.7;

impl Decision {
    /// The tool the decision is about: the chosen one, else the one run.
    pub fn tool(&self) -> &str {
        if self.chosen_tool.is_empty() { &self.tool_name } else { &self.chosen_tool }
    }

    /// The error, as embedded on its own for a failed decision.
    pub fn error_text(&self) -> Option<String> {
        let error = self.tool_error.trim();
        (self.failed && !error.is_empty()).then(|| format!("Error: {}", cut_chars(error, MAX_TEXT_CHARS)))
    }

    /// The text embedded for this decision (see the module comment).
    pub fn text(&self) -> String {
        let mut parts = Vec::with_capacity(3);
        let reasoning = self.reasoning.trim();
        if !reasoning.is_empty() {
            parts.push(reasoning.to_string());
        }
        let tool = self.tool().trim();
        if !tool.is_empty() {
            let params = params_summary(&self.tool_params);
            parts.push(if params.is_empty() { format!("Tool: {tool}") } else { format!("Tool: {tool}({params})") });
        }
        let error = self.tool_error.trim();
        if !error.is_empty() {
            parts.push(format!("Error: {error}"));
        }
        cut_chars(&parts.join("\n"), MAX_TEXT_CHARS).to_string()
    }
}

/// `key=value, ...` from a JSON object of parameters, values shortened;
/// anything that is not a JSON object is shortened as it is.
pub fn params_summary(params: &str) -> String {
    let params = params.trim();
    if params.is_empty() || params == "{}" || params == "null" {
        return String::new();
    }
    match serde_json::from_str::<serde_json::Value>(params) {
        // Sorted by key: the same parameters always give the same text,
        // whatever order the agent wrote them in.
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .take(MAX_PARAMS)
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{k}={}", cut_chars(&v, MAX_PARAM_VALUE_CHARS))
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => cut_chars(params, MAX_PARAM_VALUE_CHARS * 2).to_string(),
    }
}

/// A failed decision's vector: its whole text's and its error's, mixed by
/// [`ERROR_WEIGHT`], at unit length.
pub fn mix_vectors(whole: &[f32], error: &[f32]) -> Vec<f32> {
    let v: Vec<f32> = whole.iter().zip(error).map(|(w, e)| ERROR_WEIGHT * e + (1.0 - ERROR_WEIGHT) * w).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn decision(reasoning: &str, chosen: &str, error: &str, failed: bool) -> Decision {
        Decision {
            reasoning: reasoning.into(),
            chosen_tool: chosen.into(),
            tool_error: error.into(),
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn text_puts_reasoning_then_tool_with_params_then_error() {
        let d = Decision {
            reasoning: "The customer asked for a refund".into(),
            chosen_tool: "send_email".into(),
            tool_params: r#"{"to":"a@b.c","subject":"Refund","n":3}"#.into(),
            tool_error: "SMTP 550 mailbox full".into(),
            failed: true,
            ..Default::default()
        };
        assert_eq!(
            d.text(),
            "The customer asked for a refund\nTool: send_email(n=3, subject=Refund, to=a@b.c)\nError: SMTP 550 mailbox full"
        );
    }

    #[test]
    fn failures_have_an_error_text_and_mixed_vectors_are_unit_length() {
        let failed = decision("r", "t", "HTTP 429", true);
        assert_eq!(failed.error_text().as_deref(), Some("Error: HTTP 429"));
        assert_eq!(decision("r", "t", "", true).error_text(), None);
        assert_eq!(decision("r", "t", "warning only", false).error_text(), None);
        let v = mix_vectors(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((v[0] * v[0] + v[1] * v[1] - 1.0).abs() < 1e-6);
        assert!(v[1] > v[0], "the error weighs more");
    }

    #[test]
    fn the_tool_run_stands_in_for_an_unset_choice() {
        let d = Decision { tool_name: "http_get".into(), tool_error: "timeout".into(), failed: true, ..Default::default() };
        assert_eq!(d.text(), "Tool: http_get\nError: timeout");
    }

    #[test]
    fn long_values_are_cut_on_character_boundaries() {
        let long = "é".repeat(5_000);
        let d = decision(&long, "t", "", false);
        assert_eq!(d.text().chars().count(), MAX_TEXT_CHARS);
        let summary = params_summary(&format!(r#"{{"body":"{}"}}"#, "ü".repeat(500)));
        assert_eq!(summary.chars().count(), "body=".len() + 60);
        assert_eq!(params_summary("not json at all"), "not json at all");
        assert_eq!(params_summary("{}"), "");
    }
}
