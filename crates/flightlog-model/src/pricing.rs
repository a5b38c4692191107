//! The model key a price is looked up by.
//!
//! Clients name one model many ways: `openai/gpt-4o`, `gpt-4o-2024-08-06`,
//! `GPT-4o`, `anthropic.claude-3-5-sonnet-20240620-v1:0`,
//! `models/gemini-2.5-pro`, `claude-sonnet-4@20250514`. A price list keyed by
//! exact names shows most of them as free. `model_key` reduces a name to the
//! key the price list uses: lower case, no provider or path prefix, no date
//! or revision suffix. It is computed once, at ingestion, into its own
//! column; costs are computed at query time from it.

/// The price-list key of a model name.
pub fn model_key(name: &str) -> String {
    let mut key = name.trim().to_ascii_lowercase();
    // Path-style prefixes: "openai/gpt-4o", "models/gemini-2.5-pro",
    // "accounts/x/models/y".
    if let Some((_, last)) = key.rsplit_once('/') {
        key = last.to_string();
    }
    // Bedrock-style "anthropic.claude-…-v1:0" and Vertex "…@20250514".
    for prefix in ["anthropic.", "meta.", "amazon.", "cohere.", "mistral.", "ai21."] {
        if let Some(rest) = key.strip_prefix(prefix) {
            key = rest.to_string();
        }
    }
    if let Some((base, _)) = key.split_once('@') {
        key = base.to_string();
    }
    if let Some((base, _)) = key.split_once(':') {
        key = base.to_string();
    }
    loop {
        let before = key.len();
        for suffix in ["-latest", "-preview", "-v1", "-v2"] {
            if let Some(base) = key.strip_suffix(suffix) {
                key = base.to_string();
            }
        }
        key = strip_date(&key);
        if key.len() == before {
            return key;
        }
    }
}

/// Removes a trailing date: -2024-08-06, -20240806, -0613 (OpenAI's MMDD),
/// or -2506 (YYMM).
fn strip_date(key: &str) -> String {
    let parts: Vec<&str> = key.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let n = parts.len();
    if n >= 4 && digits(parts[n - 3], 4) && digits(parts[n - 2], 2) && digits(parts[n - 1], 2) {
        return parts[..n - 3].join("-");
    }
    if n >= 2 && (digits(parts[n - 1], 8) || digits(parts[n - 1], 4)) {
        return parts[..n - 1].join("-");
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_one_model_share_a_key() {
        for name in ["gpt-4o", "GPT-4o", "openai/gpt-4o", "gpt-4o-2024-08-06", " gpt-4o-latest "] {
            assert_eq!(model_key(name), "gpt-4o", "{name}");
        }
        for name in ["claude-sonnet-4-20250514", "anthropic/claude-sonnet-4", "claude-sonnet-4@20250514", "anthropic.claude-sonnet-4-20250514-v1:0"] {
            assert_eq!(model_key(name), "claude-sonnet-4", "{name}");
        }
        assert_eq!(model_key("models/gemini-2.5-pro"), "gemini-2.5-pro");
        assert_eq!(model_key("gpt-4-0613"), "gpt-4");
        assert_eq!(model_key("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
    }

    #[test]
    fn version_numbers_that_are_part_of_the_name_stay() {
        assert_eq!(model_key("gpt-4.1-mini"), "gpt-4.1-mini");
        assert_eq!(model_key("claude-3-5-haiku-20241022"), "claude-3-5-haiku");
        assert_eq!(model_key("o3"), "o3");
        assert_eq!(model_key("llama-3-70b"), "llama-3-70b");
    }
}
