//! Limits on everything a client controls. Defaults are generous for real
//! agents and small enough that one request cannot exhaust the process.

#[derive(Clone, Debug)]
pub struct Limits {
    /// Request body as sent (possibly gzip-compressed).
    pub max_body_bytes: usize,
    /// Request body after decompression: guards against gzip bombs.
    pub max_decoded_bytes: usize,
    /// Records in one request.
    pub max_records: usize,
    /// One record's JSON.
    pub max_record_bytes: usize,
    /// One text field (reasoning, prompt, completion, params, result, ...).
    pub max_field_bytes: usize,
    /// Identifiers: session id, user id, names, versions, tool names.
    pub max_id_bytes: usize,
    /// Items in a list field (tags, considered tools).
    pub max_list_items: usize,
    /// Tokens of one kind in one step: far above any model's context, and
    /// small enough that sums over billions of steps never overflow.
    pub max_tokens: u64,
    /// A step's reported cost, in USD: sums stay finite.
    pub max_estimated_cost: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 128 << 20,
            max_records: 10_000,
            max_record_bytes: 4 << 20,
            max_field_bytes: 1 << 20,
            max_id_bytes: 256,
            max_list_items: 256,
            max_tokens: 1_000_000_000,
            max_estimated_cost: 1_000_000.0,
        }
    }
}
