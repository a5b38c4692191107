//! Redaction tokens in stored step content, shown for what they are.
//!
//! Personal data was replaced at ingestion by tokens such as
//! `[EMAIL:7f3a2c]`, `[CARD]`, `[CUSTOM:order_ref]` or `[DROPPED]`
//! (flightlog-redact's `replace.rs`). A reader should see at a glance that
//! a value was removed by Flightlog, not typed by the agent, so pages print
//! step content through [`marked`]:
//! `{{ text|crate::redacted::marked(recorded) }}`, where `recorded` holds
//! the kinds the step's own `redacted` list records in that field
//! ([`Recorded`]): a look-alike in a field where nothing of its kind was
//! replaced is left as written. (One beside a real replacement of its kind
//! in the same field is marked too: the list records kinds and counts per
//! field, not each token.)
//! It escapes the whole text exactly as askama's `{{ text }}` would, and
//! only then wraps each token in `<mark class="redacted">`. The wrapping
//! adds nothing taken from the text but the token itself, whose grammar
//! (below) allows no character HTML gives a meaning to.
//!
//! Also [`listed`]: what a stored step says was replaced in it, and where.

use askama::filters::{Html, Safe, escape};
use flightlog_redact::{BuiltinKind, Kind};
use regex::{Captures, Regex};
use serde_json::Value;
use std::sync::LazyLock;

/// The token grammar: a built-in kind's label (flightlog-redact's, so a
/// new kind is marked too) or `CUSTOM:<pattern name>` (1 to 32 of
/// `a-z0-9_-`, as flightlog-redact allows), then a pseudonym's 6
/// lower-case hex digits or nothing; or `[DROPPED]` for a dropped field.
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    let labels: Vec<&str> = BuiltinKind::ALL.iter().map(|k| k.mask_label()).collect();
    Regex::new(&format!(r"\[(?:({})|CUSTOM:([a-z0-9_-]{{1,32}}))(:[0-9a-f]{{6}})?\]|\[DROPPED\]", labels.join("|")))
        .expect("the token pattern compiles")
});

/// The kinds of token Flightlog itself put into one field of a step: the step's
/// `redacted` list under the field's JSON pointer. Only those are marked,
/// so text an agent wrote to look like a token (`[IBAN:1a2b3c]`, or a
/// page it read) is shown as written, not as something Flightlog removed.
#[derive(Clone, Debug, Default)]
pub struct Recorded(Vec<Kind>);

impl Recorded {
    /// What the stored `step` says was replaced at `pointer` or inside it.
    pub fn under(step: &Value, pointer: &str) -> Self {
        let kinds = listed(step)
            .into_iter()
            .filter(|r| r.path == pointer || r.path.strip_prefix(pointer).is_some_and(|rest| rest.starts_with('/')))
            .filter_map(|r| r.kind.parse::<Kind>().ok());
        let mut kinds: Vec<Kind> = kinds.collect();
        kinds.sort();
        kinds.dedup();
        Self(kinds)
    }

    fn holds(&self, kind: &Kind) -> bool {
        self.0.contains(kind)
    }
}

/// What was redacted at ingestion in each field a step's card or its
/// decision page shows.
pub struct FieldMarks {
    pub(crate) reasoning: Recorded,
    pub(crate) params: Recorded,
    pub(crate) result: Recorded,
    pub(crate) error: Recorded,
}

impl FieldMarks {
    pub fn of(step: &Value) -> Self {
        Self {
            reasoning: Recorded::under(step, "/agent_thoughts/reasoning"),
            params: Recorded::under(step, "/tool_execution/params"),
            result: Recorded::under(step, "/tool_execution/result"),
            error: Recorded::under(step, "/tool_execution/error"),
        }
    }
}

/// The askama filter: `text` escaped, the redaction tokens Flightlog
/// recorded putting there marked.
#[askama::filter_fn]
pub fn marked(text: impl std::fmt::Display, _: &dyn askama::Values, recorded: &Recorded) -> askama::Result<Safe<String>> {
    Ok(Safe(mark(&text.to_string(), recorded)))
}

/// `text` as HTML: escaped, then every redaction token of a recorded kind
/// wrapped in a `<mark>` whose title says what was there.
pub fn mark(text: &str, recorded: &Recorded) -> String {
    let escaped = escape(text, Html).map(|s| s.to_string()).unwrap_or_else(|never| match never {});
    // Escaping only turns `<>&"'` into entities (`&#60;`): neither those
    // characters nor `&`, `#` and `;` can be inside a token, so the tokens
    // of the escaped text are exactly those of the text.
    TOKEN
        .replace_all(&escaped, |c: &Captures| match recorded.holds(&kind(c)) {
            true => format!("<mark class=\"redacted\" title=\"{}\">{}</mark>", title(c), &c[0]),
            false => c[0].to_string(),
        })
        .into_owned()
}

/// A token's kind, read from its label.
fn kind(c: &Captures) -> Kind {
    match (c.get(1), c.get(2)) {
        // The grammar admits built-in labels only.
        (Some(label), _) => BuiltinKind::ALL.into_iter().find(|k| k.mask_label() == label.as_str()).map_or(Kind::Dropped, Kind::Builtin),
        (None, Some(name)) => Kind::Custom(name.as_str().to_string()),
        (None, None) => Kind::Dropped,
    }
}

/// What the reader is told on hovering a token. Built from the token's
/// parts only, which the grammar limits to letters, digits, `_` and `-`.
fn title(c: &Captures) -> String {
    let how = if c.get(3).is_some() { " (a pseudonym: the same value gives the same token in this project)" } else { "" };
    if let Some(label) = c.get(1) {
        format!("{} redacted at ingestion{how}", words(label.as_str()))
    } else if let Some(name) = c.get(2) {
        format!("matched the project's pattern {}, redacted at ingestion{how}", name.as_str())
    } else {
        "field dropped at ingestion (a drop path of the project's redaction policy)".to_string()
    }
}

fn words(label: &str) -> &'static str {
    match BuiltinKind::ALL.into_iter().find(|k| k.mask_label() == label) {
        Some(BuiltinKind::Email) => "email address",
        Some(BuiltinKind::Phone) => "phone number",
        Some(BuiltinKind::Card) => "card number",
        Some(BuiltinKind::Iban) => "IBAN",
        Some(BuiltinKind::Ip) => "IP address",
        Some(BuiltinKind::Secret) => "secret",
        Some(BuiltinKind::NationalId) => "national id number",
        // The grammar admits built-in labels only.
        None => "value",
    }
}

/// One entry of a stored step's `redacted` list: values of `kind`
/// replaced `count` times under the field at `path`.
pub struct Listed {
    pub path: String,
    pub kind: String,
    pub count: u64,
}

/// What a stored step says was redacted from it (its `redacted` field,
/// written by Flightlog at ingestion); empty when nothing was.
pub fn listed(step: &Value) -> Vec<Listed> {
    step["redacted"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Listed {
            path: r["path"].as_str().unwrap_or_default().to_string(),
            kind: r["kind"].as_str().unwrap_or_default().to_string(),
            count: r["count"].as_u64().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind recorded: each token is Flightlog's.
    fn all() -> Recorded {
        let builtin = BuiltinKind::ALL.into_iter().map(Kind::Builtin);
        let others = [Kind::Custom("order_ref".into()), Kind::Custom("order-ref2".into()), Kind::Dropped];
        Recorded(builtin.chain(others).collect())
    }

    #[test]
    fn only_the_kinds_recorded_in_the_field_are_marked() {
        let step = serde_json::json!({"redacted": [
            {"path": "/agent_thoughts/reasoning", "kind": "email", "count": 1},
            {"path": "/tool_execution/params/to", "kind": "custom:order_ref", "count": 1},
            {"path": "/tool_execution/paramsx", "kind": "iban", "count": 1},
        ]});
        let text = "wire to [IBAN:1a2b3c], mail [EMAIL:7f3a2c], ref [CUSTOM:order_ref]";
        let reasoning = mark(text, &Recorded::under(&step, "/agent_thoughts/reasoning"));
        assert_eq!(marks(&reasoning), 1, "{reasoning}");
        assert!(reasoning.contains("\">[EMAIL:7f3a2c]</mark>") && reasoning.contains("wire to [IBAN:1a2b3c],"), "{reasoning}");
        let params = mark(text, &Recorded::under(&step, "/tool_execution/params"));
        assert_eq!(marks(&params), 1, "a path inside the field counts, a longer name does not: {params}");
        assert!(params.contains("\">[CUSTOM:order_ref]</mark>"), "{params}");
        assert_eq!(mark(text, &Recorded::default()), escape(text, Html).unwrap().to_string());
    }

    fn marks(html: &str) -> usize {
        html.matches("<mark class=\"redacted\"").count()
    }

    #[test]
    fn tokens_of_every_kind_are_marked() {
        for token in [
            "[EMAIL:7f3a2c]",
            "[EMAIL]",
            "[PHONE:0a1b2c]",
            "[CARD]",
            "[IBAN:ffffff]",
            "[IP]",
            "[SECRET:123456]",
            "[NATIONAL_ID]",
            "[CUSTOM:order_ref]",
            "[CUSTOM:order-ref2:1a2b3c]",
            "[DROPPED]",
        ] {
            let html = mark(&format!("sent to {token}, done"), &all());
            assert_eq!(marks(&html), 1, "{token}: {html}");
            assert!(html.contains(&format!("\">{token}</mark>")), "{token}: {html}");
            assert!(html.starts_with("sent to <mark") && html.ends_with("</mark>, done"), "{html}");
        }
    }

    #[test]
    fn titles_say_what_was_removed() {
        assert!(mark("[EMAIL:7f3a2c]", &all()).contains("title=\"email address redacted at ingestion (a pseudonym"));
        assert!(mark("[CARD]", &all()).contains("title=\"card number redacted at ingestion\""));
        assert!(mark("[CUSTOM:order_ref]", &all()).contains("title=\"matched the project's pattern order_ref, redacted at ingestion\""));
        assert!(mark("[DROPPED]", &all()).contains("title=\"field dropped at ingestion"));
    }

    #[test]
    fn plain_text_and_look_alikes_are_left_alone() {
        for text in [
            "nothing to see",
            "[NOTE] call back",
            "[email]",
            "[EMAIL:7F3A2C]",
            "[EMAIL:7f3a2]",
            "[EMAIL:7f3a2c9]",
            "[CUSTOM:]",
            "[CUSTOM:Order]",
            "[CUSTOM:this-name-is-far-too-long-to-be-a-pattern]",
            "[ EMAIL ]",
            "EMAIL",
            "[dropped]",
            "[IPV6]",
        ] {
            assert_eq!(mark(text, &all()), text, "{text}");
        }
        assert_eq!(mark("a [[EMAIL]] b", &all()), "a [<mark class=\"redacted\" title=\"email address redacted at ingestion\">[EMAIL]</mark>] b");
    }

    #[test]
    fn the_text_is_escaped_as_askama_does_and_only_tokens_become_markup() {
        let html = mark("<script>alert('[EMAIL:7f3a2c]')</script> & \"x\"", &all());
        assert!(!html.contains("<script>") && !html.contains("</script>"), "{html}");
        assert!(html.starts_with("&#60;script&#62;alert(&#39;<mark"), "{html}");
        assert!(html.ends_with("</mark>&#39;)&#60;/script&#62; &#38; &#34;x&#34;"), "{html}");
        assert_eq!(marks(&html), 1);
        // What `{{ text }}` prints for text without tokens, byte for byte.
        let plain = "<b>\"a\" & 'b'</b>";
        assert_eq!(mark(plain, &all()), escape(plain, Html).unwrap().to_string());
        // A token split by markup the agent sent is not one.
        assert_eq!(marks(&mark("[EMA<b>IL]", &all())), 0);
    }

    #[test]
    fn a_steps_list_of_redactions_is_read_as_stored() {
        let step = serde_json::json!({"redacted": [{"path": "/tool_execution/params/to", "kind": "email", "count": 2}]});
        let listed = listed(&step);
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].path.as_str(), listed[0].kind.as_str(), listed[0].count), ("/tool_execution/params/to", "email", 2));
        assert!(super::listed(&serde_json::json!({"step": 1})).is_empty());
    }
}
