//! The redactor over whole steps: policies, paths, pseudonyms and reports.

use flightlog_redact::{
    BuiltinKind, CustomPattern, Kind, Policy, PolicyError, PseudonymSecret, Redaction, Redactor,
    Replacement,
};
use serde_json::{Value, json};

fn redactor(policy: Policy) -> Redactor {
    Redactor::new(&policy).unwrap()
}

fn pseudonymous(secret: &str) -> Policy {
    Policy {
        replacement: Replacement::Pseudonym {
            secret: PseudonymSecret(secret.to_owned()),
        },
        ..Policy::default()
    }
}

fn step() -> Value {
    json!({
        "reasoning": "Refund jane@example.com on card 4111 1111 1111 1111, then mail jane@example.com.",
        "tool": {"name": "send_mail", "params": {"to": "Jane@Example.com", "cc": ["ops@example.org", "no one"]}},
        "messages": [
            {"role": "user", "content": "my key is sk-proj-4fT9xQ2mZ8vL1nR7bK3wY6hJ0pD5sA"},
            {"role": "assistant", "content": "I will not repeat it."}
        ],
        "metadata": {"client_ip": "203.0.113.9", "attempt": 3, "ok": true, "card_as_number": 4111111111111111u64}
    })
}

fn redaction(path: &str, kind: Kind, count: usize) -> Redaction {
    Redaction {
        path: path.to_owned(),
        kind,
        count,
    }
}

#[test]
fn every_string_at_any_depth_is_redacted_and_reported_by_path() {
    let mut value = step();
    let report = redactor(Policy::default()).redact(&mut value);

    assert_eq!(
        value["reasoning"],
        "Refund [EMAIL] on card [CARD], then mail [EMAIL]."
    );
    assert_eq!(value["tool"]["params"]["to"], "[EMAIL]");
    assert_eq!(value["tool"]["params"]["cc"], json!(["[EMAIL]", "no one"]));
    assert_eq!(value["messages"][0]["content"], "my key is [SECRET]");
    assert_eq!(value["messages"][1]["content"], "I will not repeat it.");
    assert_eq!(value["metadata"]["client_ip"], "[IP]");
    assert_eq!(value["metadata"]["card_as_number"], "[CARD]");
    assert_eq!(value["metadata"]["attempt"], 3);

    let email = Kind::Builtin(BuiltinKind::Email);
    let mut redactions = report.redactions.clone();
    redactions.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        redactions,
        vec![
            redaction("/messages/0/content", Kind::Builtin(BuiltinKind::Secret), 1),
            redaction(
                "/metadata/card_as_number",
                Kind::Builtin(BuiltinKind::Card),
                1
            ),
            redaction("/metadata/client_ip", Kind::Builtin(BuiltinKind::Ip), 1),
            redaction("/reasoning", email.clone(), 2),
            redaction("/reasoning", Kind::Builtin(BuiltinKind::Card), 1),
            redaction("/tool/params/cc/0", email.clone(), 1),
            redaction("/tool/params/to", email.clone(), 1),
        ]
    );
    assert_eq!(report.totals()[&email], 4);
    assert_eq!(report.total(), 8);
}

#[test]
fn the_report_never_holds_the_original_text() {
    let mut value = step();
    let report = redactor(Policy::default()).redact(&mut value);
    let json = serde_json::to_string(&report).unwrap();
    for original in ["jane@example.com", "4111", "sk-proj", "203.0.113.9"] {
        assert!(!json.contains(original), "{original} in {json}");
    }
    assert!(json.contains(r#""kind":"email""#), "{json}");
}

#[test]
fn clean_steps_come_back_unchanged_with_an_empty_report() {
    let clean = json!({"reasoning": "Order 1234567 shipped at 2024-05-17T12:30:45Z for $1,299.00", "n": [1, 2.5, null]});
    let mut value = clean.clone();
    let report = redactor(Policy::default()).redact(&mut value);
    assert_eq!(value, clean);
    assert!(report.is_empty());
}

#[test]
fn clean_text_is_borrowed_not_copied() {
    let redactor = redactor(Policy::default());
    let (text, report) = redactor.redact_text("nothing to see at 12:30:45, build 1.2.3");
    assert!(matches!(text, std::borrow::Cow::Borrowed(_)));
    assert!(report.is_empty());
}

#[test]
fn a_value_maps_to_one_pseudonym_per_secret() {
    let first = redactor(pseudonymous("project-one-secret-0001"));
    let again = redactor(pseudonymous("project-one-secret-0001"));
    let other = redactor(pseudonymous("project-two-secret-0002"));
    let token = |r: &Redactor, text: &str| r.redact_text(text).0.into_owned();

    let a = token(&first, "jane@example.com");
    assert!(
        a.starts_with("[EMAIL:") && a.len() == "[EMAIL:7f3a2c]".len(),
        "{a}"
    );
    assert!(
        a["[EMAIL:".len()..a.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit()),
        "{a}"
    );
    assert_eq!(
        a,
        token(&again, "jane@example.com"),
        "same secret, same token"
    );
    assert_eq!(
        a,
        token(&first, "JANE@example.COM"),
        "addresses are compared in lower case"
    );
    assert_ne!(
        a,
        token(&first, "john@example.com"),
        "another address, another token"
    );
    assert_ne!(
        a,
        token(&other, "jane@example.com"),
        "another project, another token"
    );

    let mut value = step();
    redactor(pseudonymous("project-one-secret-0001")).redact(&mut value);
    assert_eq!(
        value["tool"]["params"]["to"],
        Value::String(a),
        "the same address in a field"
    );
}

#[test]
fn drop_paths_replace_the_whole_value_and_keep_paths_are_not_scanned() {
    let policy = Policy {
        drop_paths: vec!["/tool/params".into(), "/messages/*/role".into()],
        keep_paths: vec![
            "/metadata/client_ip".into(),
            "/reasoning".into(),
            "/tool/params/to".into(),
        ],
        ..Policy::default()
    };
    let mut value = step();
    let report = redactor(policy).redact(&mut value);

    assert_eq!(
        value["tool"]["params"], "[DROPPED]",
        "a drop path wins over a keep path below it"
    );
    assert_eq!(value["messages"][0]["role"], "[DROPPED]");
    assert_eq!(value["messages"][1]["role"], "[DROPPED]");
    assert_eq!(value["metadata"]["client_ip"], "203.0.113.9");
    assert_eq!(value["reasoning"], step()["reasoning"]);
    assert_eq!(
        value["messages"][0]["content"], "my key is [SECRET]",
        "other fields are still scanned"
    );
    assert_eq!(report.totals()[&Kind::Dropped], 3);
    assert!(
        report
            .redactions
            .iter()
            .any(|r| r.path == "/messages/1/role" && r.kind == Kind::Dropped)
    );
}

#[test]
fn kinds_switched_off_are_left_alone() {
    let policy = Policy {
        kinds: [BuiltinKind::Secret].into_iter().collect(),
        ..Policy::default()
    };
    let mut value = step();
    redactor(policy).redact(&mut value);
    assert_eq!(value["tool"]["params"]["to"], "Jane@Example.com");
    assert_eq!(value["messages"][0]["content"], "my key is [SECRET]");
}

#[test]
fn custom_patterns_are_masked_under_their_name() {
    let policy = Policy {
        custom: vec![CustomPattern {
            name: "employee_id".into(),
            regex: r"\bEMP-[0-9]{5}\b".into(),
        }],
        ..Policy::default()
    };
    let mut value =
        json!({"note": "EMP-01234 asked about EMP-99999 and mail a@example.com", "other": "EMP-1"});
    let report = redactor(policy).redact(&mut value);
    assert_eq!(
        value["note"],
        "[CUSTOM:employee_id] asked about [CUSTOM:employee_id] and mail [EMAIL]"
    );
    assert_eq!(value["other"], "EMP-1");
    assert_eq!(report.totals()[&Kind::Custom("employee_id".into())], 2);
}

#[test]
fn bad_policies_are_refused_naming_the_culprit() {
    let with_pattern = |name: &str, regex: &str| Policy {
        custom: vec![CustomPattern {
            name: name.into(),
            regex: regex.into(),
        }],
        ..Policy::default()
    };
    let error = |policy: Policy| {
        Redactor::new(&policy)
            .err()
            .expect("the policy should be refused")
    };

    let invalid = error(with_pattern("ticket", "TICKET-("));
    assert!(
        matches!(&invalid, PolicyError::InvalidPattern { name, .. } if name == "ticket"),
        "{invalid:?}"
    );
    assert!(invalid.to_string().contains("`ticket`"), "{invalid}");

    let long = "a".repeat(513);
    assert!(matches!(
        error(with_pattern("big", &long)),
        PolicyError::PatternTooLong { len: 513, .. }
    ));
    assert!(
        matches!(error(with_pattern("huge", r"\w{1000}\w{1000}")), PolicyError::InvalidPattern { name, .. } if name == "huge")
    );
    assert!(
        matches!(error(with_pattern("empty", "x*")), PolicyError::PatternMatchesEmpty { name } if name == "empty")
    );
    assert!(matches!(
        error(with_pattern("Bad Name", "x")),
        PolicyError::BadPatternName { .. }
    ));

    let many = Policy {
        custom: (0..33)
            .map(|i| CustomPattern {
                name: format!("p{i}"),
                regex: format!("x{i}y"),
            })
            .collect(),
        ..Policy::default()
    };
    assert!(matches!(
        error(many),
        PolicyError::TooManyPatterns { count: 33 }
    ));

    let twice = Policy {
        custom: vec![
            CustomPattern {
                name: "same".into(),
                regex: "a1".into(),
            },
            CustomPattern {
                name: "same".into(),
                regex: "b2".into(),
            },
        ],
        ..Policy::default()
    };
    assert!(matches!(
        error(twice),
        PolicyError::DuplicatePatternName { .. }
    ));

    let bad_path = Policy {
        drop_paths: vec!["tool/params".into()],
        ..Policy::default()
    };
    assert!(
        error(bad_path)
            .to_string()
            .contains("drop path `tool/params`")
    );
    assert!(matches!(
        error(pseudonymous("short")),
        PolicyError::SecretTooShort { len: 5 }
    ));
}

#[test]
fn the_policy_round_trips_through_json_and_defaults_to_everything_on() {
    let policy: Policy = serde_json::from_str("{}").unwrap();
    assert_eq!(policy, Policy::default());
    assert_eq!(policy.kinds.len(), BuiltinKind::ALL.len());

    let stored = json!({
        "kinds": ["email", "card"],
        "custom": [{"name": "order_ref", "regex": "REF-[0-9]+"}],
        "drop_paths": ["/prompt"],
        "keep_paths": ["/metadata/*"],
        "replacement": {"mode": "pseudonym", "secret": "0123456789abcdef0123"}
    });
    let policy: Policy = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(serde_json::to_value(&policy).unwrap(), stored);
    assert!(
        !format!("{policy:?}").contains("0123456789abcdef"),
        "Debug hides the secret"
    );
    assert!(serde_json::from_value::<Policy>(json!({"kinds": ["ssn"]})).is_err());
}

/// A batch whose records repeat long texts (an agent's conversation so far
/// in each LLM call), redacted with one shared `CleanTexts`, comes out as
/// the texts redacted one by one without any memory (`redact_text`): a
/// remembered clean text is left as is, a long text with an address in it
/// (one as long as the clean one, too) is redacted every time it comes, a
/// drop path still drops, a keep path is still not scanned.
#[test]
fn remembering_clean_texts_across_a_batch_changes_nothing() {
    let long_clean = "The customer asked about the balance of the savings account. ".repeat(8);
    let long_dirty = format!("{long_clean} Write to jane@example.com with the statement.");
    // As long as the clean text: a memory keyed on anything short of the
    // whole text would take one for the other.
    let same_length_dirty = format!("jane@example.com {}", &long_clean[17..]);
    assert_eq!(same_length_dirty.len(), long_clean.len());
    assert!(long_clean.len() >= flightlog_redact::CleanTexts::MIN_LEN);
    let policy = Policy {
        drop_paths: vec!["/dropped".into()],
        keep_paths: vec!["/kept".into()],
        ..pseudonymous("a-secret-long-enough-for-pseudonyms-0123456789")
    };
    let redactor = redactor(policy);
    let by_itself = |text: &str| redactor.redact_text(text).0.into_owned();
    let mut clean = flightlog_redact::CleanTexts::default();
    for k in 0..6usize {
        let texts: Vec<&str> = (0..k).map(|i| [&long_clean, &long_dirty, &same_length_dirty][i % 3].as_str()).collect();
        let messages: Vec<Value> = texts.iter().map(|t| json!({"role": "user", "content": t})).collect();
        let mut record = json!({"step": k, "messages": messages, "dropped": long_clean, "kept": long_dirty, "again": same_length_dirty});
        let report = redactor.redact_remembering(&mut record, &mut clean);
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(record["messages"][i]["content"], by_itself(text), "step {k}, message {i}");
        }
        assert_eq!(by_itself(&long_clean), long_clean);
        assert_ne!(by_itself(&same_length_dirty), same_length_dirty);
        assert_eq!(record["again"], by_itself(&same_length_dirty), "a text with an address is redacted every time");
        assert_eq!(record["dropped"], "[DROPPED]", "a text remembered clean elsewhere is still dropped at a drop path");
        assert_eq!(record["kept"], long_dirty, "a keep path is still not scanned");
        let dirty = texts.iter().filter(|t| **t != long_clean).count() + 1;
        assert_eq!(report.totals()[&Kind::Builtin(BuiltinKind::Email)], dirty, "every address is counted, step {k}");
    }
}
