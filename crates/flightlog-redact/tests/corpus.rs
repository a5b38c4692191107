//! Redaction quality on a labelled corpus of agent-step texts
//! (tests/corpus/steps.jsonl, written by tests/corpus/generate.py): tool
//! parameters, reasoning, support emails in five languages, logs, code,
//! stack traces, tool results and prompts, with every built-in kind
//! embedded and many look-alikes that must survive (order ids, timestamps,
//! UUIDs, hashes, amounts, versions, invalid cards and IBANs…).
//!
//! - recall of a kind: the share of its labelled values that no longer
//!   appear anywhere in the redacted text;
//! - precision of a kind: of the redactions reported under that kind, the
//!   share that a label accounts for (per text, by count);
//! - false positives on negatives: the share of look-alikes that were not
//!   left verbatim.

use std::collections::BTreeMap;

use flightlog_redact::{BuiltinKind, Kind, Policy, Redactor};
use serde::Deserialize;

const CORPUS: &str = include_str!("corpus/steps.jsonl");

/// The bar set by issue 13.
const MIN_RECALL: f64 = 0.99;
const MIN_PRECISION: f64 = 0.99;
const MAX_NEGATIVES_TOUCHED: f64 = 0.01;

#[derive(Deserialize)]
struct Line {
    id: String,
    text: String,
    pii: Vec<Labelled>,
    keep: Vec<String>,
}

#[derive(Deserialize)]
struct Labelled {
    kind: BuiltinKind,
    value: String,
}

#[derive(Default)]
struct Tally {
    labelled: usize,
    gone: usize,
    reported: usize,
    accounted: usize,
}

#[test]
fn corpus_meets_the_recall_and_precision_bar() {
    let redactor = Redactor::new(&Policy::default()).unwrap();
    let mut tallies: BTreeMap<BuiltinKind, Tally> = BuiltinKind::ALL
        .into_iter()
        .map(|k| (k, Tally::default()))
        .collect();
    let (mut negatives, mut negatives_touched) = (0, 0);
    let mut problems = Vec::new();
    let mut lines = 0;

    for raw in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let line: Line = serde_json::from_str(raw).unwrap();
        lines += 1;
        let (redacted, report) = redactor.redact_text(&line.text);
        let totals = report.totals();

        let mut labelled_here: BTreeMap<BuiltinKind, usize> = BTreeMap::new();
        for pii in &line.pii {
            *labelled_here.entry(pii.kind).or_default() += 1;
            let tally = tallies.get_mut(&pii.kind).unwrap();
            tally.labelled += 1;
            if redacted.contains(&pii.value) {
                problems.push(format!(
                    "{}: missed {:?} `{}`",
                    line.id, pii.kind, pii.value
                ));
            } else {
                tally.gone += 1;
            }
        }
        for (kind, tally) in tallies.iter_mut() {
            let reported = totals.get(&Kind::Builtin(*kind)).copied().unwrap_or(0);
            let labelled = labelled_here.get(kind).copied().unwrap_or(0);
            tally.reported += reported;
            tally.accounted += reported.min(labelled);
            if reported > labelled {
                problems.push(format!(
                    "{}: {} extra {kind:?} in `{redacted}`",
                    line.id,
                    reported - labelled
                ));
            }
        }
        for value in &line.keep {
            negatives += 1;
            if !redacted.contains(value.as_str()) {
                negatives_touched += 1;
                problems.push(format!(
                    "{}: touched negative `{value}` in `{redacted}`",
                    line.id
                ));
            }
        }
    }

    println!("corpus: {lines} texts, {negatives} look-alikes");
    println!(
        "{:<12} {:>8} {:>8} {:>10} {:>10}",
        "kind", "labelled", "reported", "recall", "precision"
    );
    let mut below_bar = Vec::new();
    for (kind, tally) in &tallies {
        let recall = tally.gone as f64 / tally.labelled.max(1) as f64;
        let precision = if tally.reported == 0 {
            1.0
        } else {
            tally.accounted as f64 / tally.reported as f64
        };
        println!(
            "{:<12} {:>8} {:>8} {:>10.4} {:>10.4}",
            kind.name(),
            tally.labelled,
            tally.reported,
            recall,
            precision
        );
        assert!(
            tally.labelled >= 20,
            "{kind:?} needs more examples in the corpus"
        );
        if recall < MIN_RECALL || precision < MIN_PRECISION {
            below_bar.push(format!(
                "{kind:?}: recall {recall:.4}, precision {precision:.4}"
            ));
        }
    }
    let touched = negatives_touched as f64 / negatives as f64;
    println!(
        "look-alikes touched: {negatives_touched} of {negatives} ({:.2}%)",
        touched * 100.0
    );
    for problem in &problems {
        println!("  {problem}");
    }
    assert!(below_bar.is_empty(), "below the bar: {below_bar:?}");
    assert!(
        touched <= MAX_NEGATIVES_TOUCHED,
        "{touched:.4} of the look-alikes were touched"
    );
}
