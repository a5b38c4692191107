//! Repeated actions on a session's timeline: a step that calls a tool
//! with the same canonical parameters as an earlier step whose call
//! succeeded is marked "same action as step 0, 5th time".
//!
//! "The same action" is what the detectors and the guard call it (tool
//! name and stored, canonical parameters; `flightlog_model::action`); a
//! repeat is counted from the first time the action *succeeded*, because
//! a failed call that is retried did nothing the retry repeats. Every
//! later identical call counts, failed or not: the 3rd attempt to send an
//! email already sent twice is worth seeing even when it failed.
//!
//! Pure: the page hands in the calls it read, in step order.

use std::collections::HashMap;

/// One step's call, as far as repeats go.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub step: u64,
    /// Empty: the step called no tool (never a repeat).
    pub tool: &'a str,
    /// The stored, canonical JSON of the parameters ("" when none).
    pub params: &'a str,
    pub succeeded: bool,
}

/// A step that repeats an earlier action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeat {
    /// The step where the action first succeeded.
    pub first: u64,
    /// Which time this is, the first success being the 1st (so at least 2).
    pub nth: u64,
}

impl Repeat {
    /// "same action as step 0, 5th time".
    pub fn label(&self) -> String {
        format!("same action as step {}, {} time", self.first, ordinal(self.nth))
    }
}

/// For each call, in the order given, the action it repeats (None for a
/// first time, a call before any success, or a step without a tool).
pub fn repeats(calls: &[Call<'_>]) -> Vec<Option<Repeat>> {
    // (tool, params) → (step of the first success, times since then).
    let mut seen: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
    calls
        .iter()
        .map(|c| {
            if c.tool.is_empty() {
                return None;
            }
            match seen.get_mut(&(c.tool, c.params)) {
                Some((first, times)) => {
                    *times += 1;
                    Some(Repeat { first: *first, nth: *times })
                }
                None => {
                    if c.succeeded {
                        seen.insert((c.tool, c.params), (c.step, 1));
                    }
                    None
                }
            }
        })
        .collect()
}

/// 1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st, 22nd.
pub fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(step: u64, tool: &'static str, params: &'static str, succeeded: bool) -> Call<'static> {
        Call { step, tool, params, succeeded }
    }

    #[test]
    fn the_same_email_sent_again_is_marked_with_its_first_step_and_count() {
        let calls = [
            call(0, "send_email", r#"{"to":"a"}"#, true),
            call(1, "lookup", "{}", true),
            call(2, "send_email", r#"{"to":"a"}"#, true),
            call(3, "send_email", r#"{"to":"b"}"#, true),
            call(4, "send_email", r#"{"to":"a"}"#, true),
        ];
        let found = repeats(&calls);
        assert_eq!(found, [None, None, Some(Repeat { first: 0, nth: 2 }), None, Some(Repeat { first: 0, nth: 3 })]);
        assert_eq!(found[4].unwrap().label(), "same action as step 0, 3rd time");
    }

    #[test]
    fn repeats_count_from_the_first_success_and_include_later_failures() {
        let calls = [
            call(0, "send_email", "{}", false),
            call(1, "send_email", "{}", false),
            call(2, "send_email", "{}", true),
            call(3, "send_email", "{}", false),
            call(4, "send_email", "{}", true),
        ];
        let found = repeats(&calls);
        assert_eq!(found, [None, None, None, Some(Repeat { first: 2, nth: 2 }), Some(Repeat { first: 2, nth: 3 })]);
    }

    #[test]
    fn steps_without_a_tool_or_with_other_params_are_no_repeat() {
        let calls = [call(0, "", "", true), call(1, "", "", true), call(2, "search", r#"{"q":1}"#, true), call(3, "search", r#"{"q":2}"#, true)];
        assert!(repeats(&calls).iter().all(Option::is_none));
        let same_params_other_tool = [call(0, "a", "{}", true), call(1, "b", "{}", true)];
        assert!(repeats(&same_params_other_tool).iter().all(Option::is_none));
    }

    #[test]
    fn ordinals_read_as_english() {
        let words: Vec<String> = [1, 2, 3, 4, 5, 11, 12, 13, 21, 22, 23, 101, 111, 112].into_iter().map(ordinal).collect();
        assert_eq!(words, ["1st", "2nd", "3rd", "4th", "5th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th"]);
    }
}
