//! The content columns a stored step's `raw` leaves out, and the step's
//! canonical JSON rebuilt from them (`flightlog_model::stored`).

use flightlog_model::stored::{rebuild, rebuild_value};

/// Every column of `flightlog_model::stored::REBUILT`, as a query selects
/// them next to `raw` (a test checks the two lists agree).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Content {
    reasoning: String,
    tool_params: String,
    tool_result: String,
    tool_error: String,
    prompt_system: String,
    prompt_messages: String,
    completion: String,
    metadata: String,
}

impl Content {
    pub(crate) fn column(&self, name: &str) -> &str {
        match name {
            "reasoning" => &self.reasoning,
            "tool_params" => &self.tool_params,
            "tool_result" => &self.tool_result,
            "tool_error" => &self.tool_error,
            "prompt_system" => &self.prompt_system,
            "prompt_messages" => &self.prompt_messages,
            "completion" => &self.completion,
            "metadata" => &self.metadata,
            _ => "",
        }
    }

    /// The canonical JSON of a step stored as `raw` and these columns; an
    /// error (as a stored `raw` that was not JSON always was for readers)
    /// when `raw`, or a JSON column put back, is not JSON any more.
    /// Verification reads rows its own way and reports which.
    pub(crate) fn rebuild(&self, raw: &str) -> Result<String, String> {
        rebuild(raw, |c| self.column(c)).map_err(not_json)
    }

    /// [`Content::rebuild`] as a JSON value, for a reader that edits it.
    pub(crate) fn rebuild_value(&self, raw: &str) -> Result<serde_json::Value, String> {
        rebuild_value(raw, |c| self.column(c)).map_err(not_json)
    }
}

fn not_json(e: serde_json::Error) -> String {
    format!("a stored step is not JSON any more: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlog_model::stored::REBUILT;

    #[test]
    fn every_rebuilt_column_is_read() {
        let content: Content = serde_json::from_value(serde_json::Value::Object(
            REBUILT.iter().map(|r| (r.column.to_string(), serde_json::Value::String(format!("<{}>", r.column)))).collect(),
        ))
        .unwrap();
        for r in REBUILT {
            assert_eq!(content.column(r.column), format!("<{}>", r.column));
        }
    }
}
