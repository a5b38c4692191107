//! The detectors behind ingestion (issue 14): near-duplicate side effects
//! and goal drift, with the real sentence model, and runaways by priced
//! cost. Each fires on its injected pattern and not on a labelled set of
//! normal sessions (generated: varied goals, reasoning that stays on them,
//! replies written for each case); a near-duplicate incident found before
//! a kill -9 is the same incident after it, and goes on growing.

use flightlog_model::time::{format_timestamp, now_us};
use flightlog_tests::*;
use reqwest::Method;
use std::time::{Duration, Instant};

const S: i64 = 1_000_000;

/// A step with a goal (step 0's user message), a reasoning, and maybe a call.
fn step(session: &str, n: u64, at_us: i64, agent: &str, goal: Option<&str>, reasoning: &str, tool: Option<(&str, Value)>) -> Value {
    let mut v = json!({"session_id": session, "step": n, "timestamp": format_timestamp(at_us), "agent": {"name": agent},
                       "agent_thoughts": {"reasoning": reasoning}});
    if let Some(goal) = goal {
        v["prompt"] = json!({"system": "You are a helpful agent.", "messages": [{"role": "user", "content": goal}]});
    }
    if let Some((name, params)) = tool {
        v["agent_thoughts"]["chosen_tool"] = json!(name);
        v["tool_execution"] = json!({"name": name, "params": params, "result": "done", "status": "ok"});
    }
    v
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const CITIES: [&str; 10] = ["Paris", "Tokyo", "Lisbon", "Nairobi", "Toronto", "Seoul", "Lima", "Oslo", "Cairo", "Denver"];
const PRODUCTS: [&str; 8] = ["espresso machine", "winter jacket", "laptop stand", "bicycle helmet", "blender", "desk lamp", "tent", "keyboard"];
const TOPICS: [&str; 8] = [
    "battery recycling", "coral reef bleaching", "protein folding", "urban heat islands", "soil carbon", "quantum error correction",
    "malaria vaccines", "wind turbine noise",
];
const JOBS: [&str; 6] = ["billing export", "search reindex", "invoice mailer", "backup", "analytics rollup", "image resize"];
const REGIONS: [&str; 6] = ["Nordic", "Iberian", "Benelux", "Andean", "Gulf", "Pacific Northwest"];

/// One labelled normal session: its goal, reasoning that stays on it, and
/// a reply written for its own case. Five kinds of task, entities varied.
fn normal_session(rng: &mut Rng, i: usize) -> (String, Vec<String>, String, String) {
    let city = |rng: &mut Rng| rng.pick(&CITIES).to_string();
    match i % 5 {
        0 => {
            let (from, to) = (city(rng), city(rng));
            let month = rng.pick(&["March", "July", "October", "December"]);
            (
                format!("Find the cheapest flight from {from} to {to} in {month} for {} adults and book it", 1 + rng.below(4)),
                vec![
                    format!("I should search flights from {from} to {to} departing in {month}"),
                    format!("The cheapest fare from {from} to {to} has one stop; I will compare it with the direct flight"),
                    format!("The direct flight to {to} costs only a little more and saves six hours, so I'll book that one"),
                ],
                "book_flight".into(),
                format!("Booked: {from} to {to} in {month}, direct flight, seats together, total charged to the card on file."),
            )
        }
        1 => {
            let product = rng.pick(&PRODUCTS);
            let order = 10_000 + rng.below(90_000);
            let issue = rng.pick(&["arrived broken", "never arrived", "is the wrong size", "stopped working after a week"]);
            (
                format!("Customer says the {product} from order {order} {issue} and wants their money back"),
                vec![
                    format!("Look up order {order} to confirm when the {product} was bought and shipped"),
                    format!("Order {order} is within the 30-day window, so a refund for the {product} is allowed"),
                    format!("I will refund order {order} and explain to the customer how long the refund takes"),
                ],
                "send_reply".into(),
                format!("We are sorry the {product} {issue}. Order {order} is refunded in full; expect the money in 3 to 5 business days."),
            )
        }
        2 => {
            let topic = rng.pick(&TOPICS);
            let audience = rng.pick(&["policy makers", "engineers", "a grant proposal", "students", "the board"]);
            let since = 2019 + rng.below(6);
            (
                format!("Summarise the research since {since} on {topic} for {audience}"),
                vec![
                    format!("Search for papers on {topic} published since {since}"),
                    format!("The most cited {topic} papers include a survey; I'll read it with {audience} in mind"),
                    format!("I'll write the {topic} summary for {audience}, grouped by method, with a citation for each claim"),
                ],
                "create_document".into(),
                format!("Review of {topic} research since {since} for {audience}: studies compared by method, sample size and finding."),
            )
        }
        3 => {
            let job = rng.pick(&JOBS);
            let day = rng.pick(&["Monday", "Tuesday", "Saturday"]);
            (
                format!("Find out why the nightly {job} job failed on {day} and fix it"),
                vec![
                    format!("Read the logs of the {job} job from {day} night"),
                    format!("The {job} job timed out waiting for the database connection pool"),
                    format!("Raise the {job} job's pool size and rerun it to confirm the fix"),
                ],
                "post_message".into(),
                format!("The {job} failure on {day} was a database pool exhaustion; pool raised from 10 to 25 and the rerun passed."),
            )
        }
        _ => {
            let region = rng.pick(&REGIONS);
            let q = 1 + rng.below(4);
            (
                format!("Build a report of {region} sales for Q{q} broken down by product line"),
                vec![
                    format!("Query the sales table for the {region} region in quarter {q}"),
                    format!("Group the {region} Q{q} sales by product line and compute totals and growth"),
                    format!("Chart the Q{q} product line totals for {region} and write the commentary"),
                ],
                "publish_report".into(),
                format!("{region} Q{q} sales report: totals and growth per product line, with a chart and three observations."),
            )
        }
    }
}

/// `count` normal sessions, one starting every 20 s from `start_us` (180
/// an hour: 36 of each kind of task, each with a side effect, within every
/// near-duplicate window).
fn normal_sessions(count: usize, start_us: i64) -> Vec<Value> {
    let mut rng = Rng(0x5eed_0000_1234_9876);
    let mut out = Vec::new();
    for i in 0..count {
        let (goal, reasonings, tool, body) = normal_session(&mut rng, i);
        let session = format!("normal-{i:04}");
        let at = start_us + i as i64 * 20 * S;
        out.push(step(&session, 0, at, "assistant", Some(&goal), &format!("Plan: {goal}"), None));
        for (n, r) in reasonings.iter().enumerate() {
            out.push(step(&session, n as u64 + 1, at + (n as i64 + 1) * 5 * S, "assistant", None, r, None));
        }
        let params = json!({"to": format!("requester-{i}@example.com"), "body": body});
        out.push(step(&session, 4, at + 30 * S, "assistant", None, "Done: tell the requester", Some((&tool, params))));
    }
    out
}

/// The same support reply, to `count` customers, from `first` on, one a minute.
fn templated_replies(first: usize, count: usize, start_us: i64) -> Vec<Value> {
    let names = ["Anna", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lea", "Mia", "Noor"];
    (first..first + count)
        .map(|i| {
            let body = format!(
                "Hi {}, thanks for reaching out. We have refunded your order {}; the money will arrive within 3-5 business days. Best, the support team",
                names[i % names.len()],
                900 + i
            );
            let params = json!({"to": format!("{}@example.com", names[i % names.len()].to_lowercase()), "body": body});
            step(&format!("mass-{i:02}"), 0, start_us + i as i64 * 60 * S, "support-bot", Some("Answer the customer"), "Reply", Some(("send_reply", params)))
        })
        .collect()
}

/// A session that starts on its goal and wanders off it: three reasonings
/// on the flight, then three on other things.
fn drifting(session: &str, start_us: i64) -> Vec<Value> {
    let goal = "Find the cheapest flight from Paris to Tokyo in March and book it for two adults";
    let reasonings = [
        "I should search for flights from CDG to NRT and HND in March for 2 passengers",
        "The results show ANA at 820 EUR; I will compare it with Air France before booking",
        "Both adults need passport numbers for the booking form",
        "I will now write a poem about the ocean and the moon",
        "Let me look up the current stock price of Apple and Microsoft",
        "The recipe needs 200 g of flour and three eggs; I should preheat the oven",
        "Next I will compare football league standings from last season",
    ];
    let mut out = vec![step(session, 0, start_us, "travel-agent", Some(goal), "Plan the trip", None)];
    for (n, r) in reasonings.iter().enumerate() {
        out.push(step(session, n as u64 + 1, start_us + (n as i64 + 1) * 10 * S, "travel-agent", None, r, None));
    }
    out
}

async fn post_all(s: &Server, steps: &[Value]) {
    for chunk in steps.chunks(1_000) {
        let (status, body) = s.post_steps(ADMIN_KEY, ndjson(chunk), &[("content-type", "application/x-ndjson")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"].as_u64(), Some(chunk.len() as u64), "{body}");
    }
}

async fn incidents(s: &Server, kind: &str) -> Vec<Value> {
    let (status, page) = s.get(ADMIN_KEY, &format!("/v1/incidents?kind={kind}&limit=500")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["incidents"].as_array().unwrap().clone()
}

/// Waits for the incidents of `kind` until `done` says they are complete.
async fn incidents_when(s: &Server, kind: &str, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let found = incidents(s, kind).await;
        if done(&found) || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn near_duplicates_and_goal_drift_are_found_and_normal_sessions_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY), ("FLIGHTLOG_NO_SEARCH", "false")];
    let s = Server::start_in(dir.path(), &env).await;
    // A near-duplicate window of 10 minutes, so the incident below is older
    // than its window at the restart, and must be resumed, not rebuilt.
    let (status, set) = s.send_json(Method::PUT, ADMIN_KEY, "/v1/policies/detection", json!({"near_duplicate_window_seconds": 600})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    // 200 in CI; FLIGHTLOG_NORMAL_SESSIONS=2000 measures the false-positive
    // rate on more (the issue's note gives the figure).
    let count: usize = std::env::var("FLIGHTLOG_NORMAL_SESSIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let start = now_us() - (count as i64 * 20 + 3_600) * S;
    let normal = normal_sessions(count, start);
    post_all(&s, &normal).await;
    let mass_start = now_us() - 20 * 60 * S;
    post_all(&s, &templated_replies(0, 12, mass_start)).await;
    post_all(&s, &drifting("drift-1", now_us() - 10 * 60 * S)).await;
    post_all(&s, &drifting("drift-2", now_us() - 5 * 60 * S)).await;
    let caught_up = s.wait_detectors_behind(Duration::from_secs(240)).await;
    assert!(caught_up["embedded"].as_u64().unwrap() as usize > 2 * count, "every goal, reasoning and reply embedded: {caught_up}");

    let near = incidents_when(&s, "near_duplicate_side_effects", Duration::from_secs(10), |f| !f.is_empty()).await;
    assert_eq!(near.len(), 1, "one incident for twelve near-identical replies, none among the normal sessions: {near:#?}");
    let n = &near[0];
    assert_eq!(n["count"], 12, "{n}");
    assert_eq!(n["tool"], "send_reply");
    assert_eq!((n["first"]["session_id"].as_str(), n["last"]["session_id"].as_str()), (Some("mass-00"), Some("mass-11")));
    assert_eq!(n["sessions"].as_array().unwrap().len(), 12);

    let drift = incidents(&s, "goal_drift").await;
    let mut drifted: Vec<&str> = drift.iter().map(|i| i["sessions"][0].as_str().unwrap()).collect();
    drifted.sort();
    assert_eq!(drifted, ["drift-1", "drift-2"], "the two drifting sessions, and no normal one: {drift:#?}");
    for i in &drift {
        // Reasonings 1-3 are on the flight; 4-7 are not.
        let (first, last) = (i["first"]["step"].as_u64().unwrap(), i["last"]["step"].as_u64().unwrap());
        assert!((5..=7).contains(&first) && last == 7, "found once the recent reasonings are off the goal: {i}");
    }
    // The session names its incident.
    let (_, session) = s.get(ADMIN_KEY, "/v1/sessions/drift-1").await;
    assert!(session["anomalies"].as_array().unwrap().iter().any(|a| a["incident"] == "goal_drift"), "{session}");

    // kill -9, then two more of the same reply, and three more asides in a
    // drifting session: the replies are older than the window's start, so
    // the cluster comes back from its stored incident; both incidents go
    // on, with their ids, first steps and counts. (A drift's recent
    // reasonings are not replayed: after a restart it takes three new ones
    // to judge it again.)
    let id = n["id"].clone();
    let drift_1 = drift.iter().find(|i| i["sessions"][0] == "drift-1").unwrap().clone();
    let mut s = s;
    s.kill9();
    let s = Server::start_in(dir.path(), &env).await;
    post_all(&s, &templated_replies(12, 2, mass_start)).await;
    let asides = [
        (8, "Let me list the tallest mountains in South America"),
        (9, "Now I will translate a cake recipe into French"),
        (10, "I should check tomorrow's weather in Reykjavik"),
    ];
    let more: Vec<Value> =
        asides.iter().map(|(n, r)| step("drift-1", *n, now_us() - 5 * 60 * S + *n as i64 * S, "travel-agent", None, r, None)).collect();
    post_all(&s, &more).await;
    s.wait_detectors_behind(Duration::from_secs(120)).await;
    let near = incidents_when(&s, "near_duplicate_side_effects", Duration::from_secs(10), |f| f.iter().any(|i| i["count"] == 14)).await;
    assert_eq!(near.len(), 1, "{near:#?}");
    assert_eq!((&near[0]["id"], &near[0]["count"], &near[0]["first"]["session_id"]), (&id, &json!(14), &json!("mass-00")));
    let drift = incidents_when(&s, "goal_drift", Duration::from_secs(10), |f| f.iter().any(|i| i["last"]["step"] == 10)).await;
    assert_eq!(drift.len(), 2, "the drifts are not found twice: {drift:#?}");
    let again = drift.iter().find(|i| i["sessions"][0] == "drift-1").unwrap();
    assert_eq!((&again["id"], &again["first"]), (&drift_1["id"], &drift_1["first"]), "{again}");
    assert_eq!(again["count"].as_u64().unwrap(), drift_1["count"].as_u64().unwrap() + 1, "{again}");
}

#[tokio::test]
async fn a_session_past_its_budget_by_priced_cost_is_a_runaway() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("FLIGHTLOG_BOOTSTRAP_KEY", ADMIN_KEY)], &["--session-budget", "0.05"]).await;
    let at = now_us() - 60 * S;
    // gpt-4o: $2.50 per 1M input tokens. 8,000 tokens a step = $0.02;
    // the agent reports no cost at all, so only pricing finds it.
    let priced = |session: &str, n: u64| {
        json!({"session_id": session, "step": n, "timestamp": format_timestamp(at + n as i64 * S), "agent": {"name": "bot"},
               "model": {"provider": "openai", "name": "gpt-4o"},
               "cost": {"input_tokens": 8_000, "output_tokens": 0, "estimated_cost": 0.0}})
    };
    post_all(&s, &[priced("cheap", 0), priced("cheap", 1), priced("dear", 0), priced("dear", 1)]).await;
    s.wait_detectors_behind(Duration::from_secs(60)).await;
    assert!(incidents(&s, "runaway").await.is_empty(), "$0.05 is the limit, not past it");
    post_all(&s, &[priced("dear", 2)]).await;
    let found = incidents_when(&s, "runaway", Duration::from_secs(30), |f| !f.is_empty()).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let r = &found[0];
    assert_eq!(r["sessions"], json!(["dear"]));
    assert_eq!((r["first"]["step"].as_u64(), r["count"].as_u64()), (Some(2), Some(3)));
    assert!(r["message"].as_str().unwrap().contains("$0.0600 priced (limit $0.0500)"), "{r}");
    // It grows with the session, as one incident.
    post_all(&s, &[priced("dear", 3)]).await;
    let grown = incidents_when(&s, "runaway", Duration::from_secs(30), |f| f.iter().any(|i| i["count"] == 4)).await;
    assert_eq!((grown.len(), &grown[0]["id"], &grown[0]["first"]["step"]), (1, &r["id"], &json!(2)));
}
