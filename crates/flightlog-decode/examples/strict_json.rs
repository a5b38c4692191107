//! What strict JSON (repeated keys and inexact numbers refused, see
//! `flightlog_decode::json`) costs per record, against a plain serde_json
//! parse of the same bodies: batches of 1,000 steps of about 1.3 KB, like
//! `flightlog-bench ingest` sends.
//!
//!     cargo run --release -p flightlog-decode --example strict_json

use flightlog_model::Limits;
use std::time::Instant;

fn step(n: u64) -> String {
    format!(
        r#"{{"session_id":"bench-{s}","step":{n},"timestamp":"2026-03-01T10:00:00.{us:06}Z","agent":{{"name":"researcher","version":"1.4.2"}},"agent_thoughts":{{"reasoning":"{r}","considered_tools":["web_search","read_page","ask_human"],"chosen_tool":"web_search","confidence":0.82}},"tool_execution":{{"name":"web_search","params":{{"query":"quarterly revenue {n}","limit":10,"filters":{{"lang":"en","safe":true}}}},"result":{{"hits":[{{"url":"https://example.com/{n}","score":0.91}},{{"url":"https://example.org/{n}","score":0.77}}]}},"status":"ok","duration_ms":812}},"model":{{"provider":"openai","name":"gpt-4o","version":"2024-08-06","temperature":0.2,"top_p":1.0,"seed":42,"max_tokens":1024}},"cost":{{"input_tokens":1250,"output_tokens":340,"cache_read_tokens":256,"estimated_cost":0.00652}},"user_id":"customer-{u}","tags":["prod","eu"]}}"#,
        s = n / 40,
        us = n % 1_000_000,
        r = "The user asked for last quarter's revenue; searching filings first, then news. ".repeat(6),
        u = n % 500,
    )
}

fn main() {
    let batches: Vec<Vec<u8>> =
        (0..50).map(|b| (0..1000).map(|i| step(b * 1000 + i)).collect::<Vec<_>>().join("\n").into_bytes()).collect();
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let records = 50_000.0;
    let limits = Limits::default();
    for round in 0..3 {
        let t = Instant::now();
        let mut n = 0;
        for body in &batches {
            // What decode_body did before: every record of the batch parsed
            // and held, then handed on.
            let records: Vec<serde_json::Value> =
                body.split(|&b| b == b'\n').map(|line| serde_json::from_slice(line).unwrap()).collect();
            n += records.len();
        }
        let plain = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for body in &batches {
            n += flightlog_decode::decode_body(body, None, flightlog_decode::Framing::Guessed, &limits).unwrap().into_iter().filter(|r| r.is_ok()).count();
        }
        let strict = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.0} bytes/record; plain serde_json {:.2} µs/record ({:.0} MB/s); strict {:.2} µs/record ({:.0} MB/s): +{:.2} µs/record [{n}]",
            bytes as f64 / records,
            plain * 1e6 / records,
            bytes as f64 / plain / 1e6,
            strict * 1e6 / records,
            bytes as f64 / strict / 1e6,
            (strict - plain) * 1e6 / records,
        );
    }
}
