//! Redaction throughput over agent steps, with the default policy (every
//! built-in kind on, masks).
//!
//! cargo run --release -p flightlog-redact --example throughput
//!
//! Prints MB/s and steps/s for (a) clean steps of about 1.3 KB, the common
//! case, and (b) the same steps carrying an email, a phone number, a card,
//! an IBAN, an IP address and an API key. For scale it also prints how fast
//! serde_json parses the same steps, which ingestion does anyway.

use std::hint::black_box;
use std::time::{Duration, Instant};

use flightlog_redact::{BuiltinKind, Policy, Redactor};
use serde_json::{Value, json};

const BATCH: usize = 2_000;
const MIN_TIME: Duration = Duration::from_secs(1);

fn clean_step(i: usize) -> Value {
    json!({
        "session_id": format!("6f1c2a7e-3b4d-4e5f-9a8b-{i:012}"),
        "step": i,
        "kind": "tool_call",
        "started_at": "2024-05-17T12:30:45.123Z",
        "ended_at": "2024-05-17T12:30:46.987Z",
        "model": "claude-3-5-sonnet-20241022",
        "reasoning": format!(
            "The user asked for the status of order ORD-{i:08}. I looked it up in the orders \
             service: it was placed on 2024-05-14 for $1,299.00, shipped at 09:12:44 with \
             tracking id 1Z999AA1{i:010}, and the carrier reports it out for delivery. The \
             previous attempt (step {}) timed out after 30000 ms because the inventory \
             service at version 2.31.4 was being redeployed; I retried once, which is within \
             the retry budget of 3. Next I will summarise this for the user and ask whether \
             they want delivery notifications.", i.saturating_sub(1)
        ),
        "tool": {
            "name": "orders.lookup",
            "params": {"order_id": format!("ORD-{i:08}"), "include": ["shipping", "items"], "limit": 20},
            "result": {
                "status": "out_for_delivery",
                "items": [{"sku": "SKU-4471-BLK", "qty": 1, "price": "1299.00"}],
                "commit": "3f2c1a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39",
                "updated_at": 1715949164123u64
            }
        },
        "usage": {"input_tokens": 1834, "output_tokens": 212, "cost_usd": 0.00871},
        "metadata": {
            "region": "eu-west-1", "host": "worker-7", "sdk": "flightlog-py 0.4.2",
            "parent_span": "a3f9c2e17b4d8e05", "retry_of": null, "tags": ["orders", "support", "tier-2"],
            "note": "customer-facing; summarise in plain language"
        }
    })
}

fn step_with_pii(i: usize) -> Value {
    let mut step = clean_step(i);
    step["reasoning"] = json!(format!(
        "{} The customer jane.doe{i}@example.com (phone +31 6 1234 5678) asked to refund card \
         4111 1111 1111 1111 to IBAN DE89 3704 0044 0532 0130 00.",
        step["reasoning"].as_str().unwrap()
    ));
    step["tool"]["params"]["client_ip"] = json!("203.0.113.42");
    step["metadata"]["api_key"] = json!("sk-proj-4fT9xQ2mZ8vL1nR7bK3wY6hJ0pD5sA");
    step
}

fn measure(label: &str, steps: &[Value], mut work: impl FnMut(&mut Value)) {
    let bytes_per_batch: usize = steps
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap().len())
        .sum();
    let mut elapsed = Duration::ZERO;
    let mut batches = 0;
    while elapsed < MIN_TIME {
        let mut batch = steps.to_vec();
        let start = Instant::now();
        for step in &mut batch {
            work(step);
        }
        elapsed += start.elapsed();
        batches += 1;
        black_box(batch);
    }
    let seconds = elapsed.as_secs_f64();
    let total_steps = (steps.len() * batches) as f64;
    println!(
        "{label:<34} {:>6} B/step {:>9.1} MB/s {:>11.0} steps/s",
        bytes_per_batch / steps.len(),
        (bytes_per_batch * batches) as f64 / seconds / 1e6,
        total_steps / seconds,
    );
}

fn main() {
    let redactor = Redactor::new(&Policy::default()).unwrap();
    let clean: Vec<Value> = (0..BATCH).map(clean_step).collect();
    let with_pii: Vec<Value> = (0..BATCH).map(step_with_pii).collect();

    let mut check = with_pii[0].clone();
    let report = redactor.redact(&mut check);
    assert_eq!(report.total(), 6, "{report:?}");
    assert!(redactor.redact(&mut clean[0].clone()).is_empty());

    measure("redact, clean steps", &clean, |step| {
        black_box(redactor.redact(step));
    });
    measure("redact, steps with 6 PII values", &with_pii, |step| {
        black_box(redactor.redact(step));
    });
    // What each kind costs on its own over clean steps, to see where the
    // time goes.
    for kind in BuiltinKind::ALL {
        let alone = Redactor::new(&Policy {
            kinds: [kind].into_iter().collect(),
            ..Policy::default()
        })
        .unwrap();
        measure(&format!("  clean, {} only", kind.name()), &clean, |step| {
            black_box(alone.redact(step));
        });
    }
    let texts: Vec<String> = clean
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
    let mut next = 0;
    measure("(reference) serde_json parse, clean", &clean, |_| {
        black_box(serde_json::from_str::<Value>(&texts[next % texts.len()]).unwrap());
        next += 1;
    });
}
