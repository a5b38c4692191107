//! What a step did, as the detectors and the guard see it: one tool call
//! with its canonical parameters, by an agent, for a user, in a session,
//! and whether it succeeded. Defined once here, with the rules both use:
//! which tools have side effects, what makes two actions the same, and
//! when a sequence of calls is a loop.

use crate::Step;
use sha2::{Digest, Sha256};

/// Name parts that mark a tool as having side effects in the world (an
/// email sent, a record changed, money moved). Matched against the words
/// of the tool's name (`send_email`, `createTicket`, `stripe.refund`).
pub const SIDE_EFFECT_WORDS: [&str; 18] = [
    "send", "create", "update", "delete", "remove", "deploy", "pay", "refund", "post", "publish", "write", "insert",
    "charge", "transfer", "cancel", "notify", "reply", "submit",
];

/// One step's action, as the detectors and the guard keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub session_id: String,
    pub step: u64,
    pub timestamp_us: i64,
    pub agent: String,
    pub user_id: String,
    /// Empty: the step called no tool.
    pub tool: String,
    /// Same tool and same canonical parameters: the same action.
    pub key: ActionKey,
    pub failed: bool,
    /// The step's tokens (input + output), for runaway budgets.
    pub tokens: u64,
    /// What the call returned, hashed ([`result_hash`]): a loop is a cycle
    /// of calls that keep getting the same results.
    pub result: u64,
}

/// The hash of a stored tool result: the first 8 bytes of its SHA-256, big
/// endian (SQL: `hex(substring(SHA256(tool_result), 1, 8))`, so a memory
/// rebuilt from storage reads it without reading the results themselves).
pub fn result_hash(tool_result: &str) -> u64 {
    let digest = Sha256::digest(tool_result.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The action key and result hash of a step's content (its JSON value), as
/// [`Action::of`] makes them from the step: taken before an erasure blanks
/// the parameters and the result, so that what the step did is still known.
pub fn action_of_content(content: &serde_json::Value) -> (ActionKey, u64) {
    let text = |pointer: &str| content.pointer(pointer).filter(|v| !v.is_null()).map(crate::canonical::to_canonical_json).unwrap_or_default();
    let tool = content.pointer("/tool_execution/name").and_then(serde_json::Value::as_str).unwrap_or_default();
    (ActionKey::of(tool, &text("/tool_execution/params")), result_hash(&text("/tool_execution/result")))
}

/// An action's identity: a hash of the tool name and its canonical
/// parameters (the stored form, so actions rebuilt from storage match live
/// ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionKey(pub u64);

impl ActionKey {
    pub fn of(tool: &str, canonical_params: &str) -> Self {
        let params = comparable(canonical_params);
        let digest = Sha256::new().chain_update(tool.as_bytes()).chain_update([0]).chain_update(params.as_bytes()).finalize();
        Self(u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")))
    }
}

/// Parameters as actions are compared: an equal number is the same however
/// it was written (`100`, `100.0`, `1e2`; an agent in JavaScript sends
/// `100` for the `100.0` a Python recorder wrote), so a float with a whole
/// value below 2^53 counts as that integer. The stored step keeps what was
/// sent; only the comparison changes.
fn comparable(canonical_params: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // Only a float can be written as another number, and a float's
    // canonical form has a digit then a '.' or an exponent: text without
    // one has none (most parameters), and is not parsed.
    if !canonical_params.as_bytes().windows(2).any(|w| w[0].is_ascii_digit() && matches!(w[1], b'.' | b'e' | b'E')) {
        return Cow::Borrowed(canonical_params);
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(canonical_params) else { return Cow::Borrowed(canonical_params) };
    match whole_floats_as_integers(&mut v) {
        true => Cow::Owned(crate::canonical::to_canonical_json(&v)),
        false => Cow::Borrowed(canonical_params),
    }
}

/// The integer a float equals, when it has a whole value below 2^53: the
/// same number written another way (`100.0` for `100`). Past 2^53 a double
/// no longer holds every integer, so a whole-looking float may stand for
/// another one, and stays a float.
pub fn whole(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
}

/// Turns every float with a whole value ([`whole`]) into that integer;
/// whether any was.
fn whole_floats_as_integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64().and_then(whole) {
            Some(i) => {
                *v = Value::from(i);
                true
            }
            None => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, x| whole_floats_as_integers(x) | changed),
        Value::Object(fields) => fields.values_mut().fold(false, |changed, x| whole_floats_as_integers(x) | changed),
        _ => false,
    }
}

impl Action {
    /// An action's time, for the guard and the detectors, is its step's
    /// but no later than when the step was stored (`stored_us`). A step
    /// dated in the future (a wrong clock, or on purpose) otherwise stayed
    /// in every window it fell in (a tool rate-limited for as long), and
    /// moved the "now" of the guard's sweeps, which forgot every project's
    /// actions.
    pub fn no_later_than(&mut self, stored_us: i64) {
        self.timestamp_us = self.timestamp_us.min(stored_us);
    }

    pub fn of(step: &Step) -> Self {
        Self {
            session_id: step.session_id.clone(),
            step: step.step,
            timestamp_us: step.timestamp_us,
            agent: step.agent_name.clone(),
            user_id: step.user_id.clone(),
            tool: step.tool_name.clone(),
            key: ActionKey::of(&step.tool_name, &step.tool_params),
            failed: step.failed(),
            tokens: step.input_tokens + step.output_tokens,
            result: result_hash(&step.tool_result),
        }
    }

    /// A tool was called and did not fail.
    pub fn succeeded(&self) -> bool {
        !self.tool.is_empty() && !self.failed
    }
}

/// Whether `tool` changes the world: a word of its name is a side-effect
/// word, or the project lists it (`extra`, exact names).
pub fn is_side_effect(tool: &str, extra: &[String]) -> bool {
    if extra.iter().any(|t| t == tool) {
        return true;
    }
    words(tool).any(|w| SIDE_EFFECT_WORDS.contains(&w.as_str()))
}

/// The lower-case words of a tool name: split at `_`, `-`, `.`, `/`, ` `
/// and lower→upper case changes (`sendEmail` → send, email).
fn words(tool: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in tool.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out.into_iter()
}

/// A loop: the last `period × turns` calls repeat one cycle of `period`
/// distinct-or-not calls (A→B→A→B…), for at least `min_turns` turns.
/// Returns (period, turns) of the shortest such cycle ending at the last
/// call, for periods 1..=`max_period`. Calls are compared by action key
/// (tool and parameters), so a retry with new parameters is no loop.
pub fn find_cycle(calls: &[ActionKey], max_period: usize, min_turns: usize) -> Option<(usize, usize)> {
    for period in 1..=max_period {
        if calls.len() < period * min_turns {
            continue;
        }
        let cycle = &calls[calls.len() - period..];
        let turns = calls.rchunks_exact(period).take_while(|chunk| *chunk == cycle).count();
        if turns >= min_turns {
            return Some((period, turns));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_effects_are_known_by_the_words_of_a_tool_name() {
        for tool in ["send_email", "sendEmail", "stripe.refund", "CreateTicket", "db-delete-row", "deploy"] {
            assert!(is_side_effect(tool, &[]), "{tool}");
        }
        for tool in ["search_web", "get_order", "lookup", "sender_info", "read_file", "calendar.list"] {
            assert!(!is_side_effect(tool, &[]), "{tool}");
        }
        assert!(is_side_effect("ship_it", &["ship_it".to_string()]));
    }

    #[test]
    fn the_same_tool_and_parameters_are_the_same_action() {
        assert_eq!(ActionKey::of("send_email", r#"{"to":"a"}"#), ActionKey::of("send_email", r#"{"to":"a"}"#));
        assert_ne!(ActionKey::of("send_email", r#"{"to":"a"}"#), ActionKey::of("send_email", r#"{"to":"b"}"#));
        assert_ne!(ActionKey::of("a", "bc"), ActionKey::of("ab", "c"), "the separator keeps tool and params apart");
        // An equal number however it was written; a different one is not.
        let invoice = |params: &str| ActionKey::of("send_invoice", params);
        assert_eq!(invoice(r#"{"amount":100.0,"items":[2.0,"x.y"]}"#), invoice(r#"{"amount":100,"items":[2,"x.y"]}"#));
        assert_eq!(invoice(r#"{"amount":-0.0}"#), invoice(r#"{"amount":0}"#));
        assert_ne!(invoice(r#"{"amount":100.5}"#), invoice(r#"{"amount":100}"#));
        assert_ne!(invoice(r#"{"amount":"100.0"}"#), invoice(r#"{"amount":"100"}"#), "text is compared as written");
        assert_ne!(invoice(r#"{"n":9007199254740992.0}"#), invoice(r#"{"n":9007199254740993}"#));
        let step = Step { tool_name: "send_email".into(), tool_params: "{}".into(), tool_status: "error".into(), ..Default::default() };
        let action = Action::of(&step);
        assert!(action.failed && !action.succeeded());
    }

    #[test]
    fn the_action_of_a_steps_content_is_the_steps_own() {
        let limits = crate::Limits::default();
        for tool_execution in [
            serde_json::json!({"name": "refund", "params": {"order": 42, "amount": 10.0}, "result": {"ok": true}, "status": "ok"}),
            serde_json::json!({"name": "lookup"}),
            serde_json::json!({"name": "send", "params": null, "result": "sent"}),
        ] {
            let v = serde_json::json!({"session_id": "s", "step": 0, "timestamp": "2026-01-01T00:00:00Z", "tool_execution": tool_execution});
            let step = crate::step_from_json(v.clone(), &limits).unwrap();
            let action = Action::of(&step);
            assert_eq!(action_of_content(&v), (action.key, action.result), "{v}");
        }
    }

    #[test]
    fn cycles_of_up_to_four_calls_repeated_three_times_are_loops() {
        let k = |n: u64| ActionKey(n);
        let abab: Vec<ActionKey> = [1, 2, 1, 2, 1, 2].into_iter().map(k).collect();
        assert_eq!(find_cycle(&abab, 4, 3), Some((2, 3)));
        assert_eq!(find_cycle(&abab[..5], 4, 3), None, "two and a half turns");
        let same: Vec<ActionKey> = [9, 7, 7, 7].into_iter().map(k).collect();
        assert_eq!(find_cycle(&same, 4, 3), Some((1, 3)));
        let abcd: Vec<ActionKey> = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4].into_iter().map(k).collect();
        assert_eq!(find_cycle(&abcd, 4, 3), Some((4, 3)));
        assert_eq!(find_cycle(&abcd, 3, 3), None, "period 4 is beyond 3");
        let progress: Vec<ActionKey> = (0..12).map(k).collect();
        assert_eq!(find_cycle(&progress, 4, 3), None);
    }
}
