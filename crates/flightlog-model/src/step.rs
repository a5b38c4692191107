//! One step of an agent, typed. Free-form JSON parts (tool params, results,
//! messages, metadata) are kept as canonical JSON text.

/// The largest step number: 2^63 − 1. Step numbers are unsigned, but every
/// reader (ClickHouse's signed cursors, JSON clients, exports) can then
/// hold any of them; OTLP numbering (start time in µs × 1000) fits until
/// the year 2262.
pub const MAX_STEP: u64 = i64::MAX as u64;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    pub session_id: String,
    pub step: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub timestamp_us: i64,

    pub agent_name: String,
    pub agent_version: String,

    pub reasoning: String,
    pub considered_tools: Vec<String>,
    pub chosen_tool: String,
    pub confidence: Option<f64>,

    pub tool_name: String,
    pub tool_params: String,
    pub tool_result: String,
    pub tool_status: String,
    pub tool_error: String,
    pub tool_duration_ms: Option<u64>,

    pub model_provider: String,
    pub model_name: String,
    pub model_version: String,
    /// `model_name` as the price list keys it (see `pricing`).
    pub model_key: String,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub max_tokens: Option<u64>,

    pub prompt_system: String,
    pub prompt_messages: String,
    pub completion: String,

    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub estimated_cost: Option<f64>,

    pub user_id: String,
    pub tags: Vec<String>,
    pub metadata: String,

    /// The whole step as received, in canonical form: unknown fields live here.
    pub raw: String,
    /// What the `raw` column stores: `raw` without the content its typed
    /// columns hold exactly (see `stored`).
    pub raw_rest: String,
    /// The span attributes `raw_rest` leaves out, stored by reference:
    /// (key, text), in key order (`stored::write_otel_rest`).
    pub attributes_by_reference: Vec<(String, String)>,
    /// The step hash (see `integrity`): equal hashes mean an identical
    /// re-send. It is also the step's leaf in the Merkle log.
    pub step_hash: [u8; 32],
}

impl Step {
    /// A step failed when its tool says so or an error was reported.
    pub fn failed(&self) -> bool {
        is_failure_status(&self.tool_status) || !self.tool_error.is_empty()
    }
}

/// Tool statuses that mean the call did not succeed. Agents spell these in
/// many ways; anything else (ok, success, done, empty) counts as success.
pub fn is_failure_status(status: &str) -> bool {
    const FAILURES: [&str; 7] = ["error", "failed", "failure", "fail", "timeout", "timed_out", "cancelled"];
    FAILURES.iter().any(|f| status.eq_ignore_ascii_case(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_fails_on_error_status_or_error_text() {
        let ok = Step { tool_status: "ok".into(), ..Default::default() };
        assert!(!ok.failed());
        assert!(Step { tool_status: "ERROR".into(), ..Default::default() }.failed());
        assert!(Step { tool_status: "timeout".into(), ..Default::default() }.failed());
        assert!(Step { tool_status: "ok".into(), tool_error: "429".into(), ..Default::default() }.failed());
    }
}
