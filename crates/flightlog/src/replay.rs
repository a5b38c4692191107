//! `flightlog replay`: serves an OpenAI-compatible `/v1/chat/completions`
//! that answers with a session's recorded completions, in order. An agent
//! pointed at it re-runs deterministically, and the first request that
//! differs from the recording (model, settings or messages) is reported:
//! on stderr, in an `x-flightlog-divergence` header, and at
//! `GET /replay/divergence`.

use crate::client::{Client, ServerArgs};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reqwest::Method;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ReplayArgs {
    #[arg(long)]
    session: String,
    #[arg(long, default_value = "127.0.0.1:4319")]
    listen: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
}

/// A recorded model call, and what the request for it must look like.
struct Recorded {
    step: u64,
    model: Value,
    /// The messages as the model saw them: the system prompt first.
    messages: Value,
    completion: Value,
}

/// The recorded calls, read from the server a page of the recipe at a
/// time as the re-run reaches them: a session of 500,000 steps, read whole
/// first, took 53 s and 5.1 GB before the replay listened. The recipe is
/// therefore what the session holds as the re-run reaches each page: steps
/// the session gains meanwhile are replayed too.
struct Recording {
    client: Client,
    /// The recipe's address, without its cursor.
    path: String,
    /// Calls read and not yet served, in order.
    ahead: VecDeque<Recorded>,
    /// Where the next page starts; None once the last page was read.
    next_page: Option<String>,
    /// Calls read so far.
    read: usize,
    served: usize,
    first_divergence: Option<Value>,
}

impl Recording {
    /// Reads the next page of the recipe and keeps its model calls. Where
    /// it starts moves on only once the page is read, so a read that fails
    /// (or a request given up on meanwhile) is made again by the next call.
    async fn read_page(&mut self) -> anyhow::Result<()> {
        let Some(after) = &self.next_page else { return Ok(()) };
        let path = format!("{}{after}", self.path);
        let read = self.client.request(Method::GET, &path, None);
        let page = tokio::time::timeout(PAGE_WAIT, read).await.map_err(|_| anyhow::anyhow!("no page of the recipe in {PAGE_WAIT:?}"))??;
        let calls: Vec<Recorded> = page["steps"].as_array().into_iter().flatten().filter_map(recorded_call).collect();
        self.read += calls.len();
        self.ahead.extend(calls);
        self.next_page = page["next_after"].as_u64().map(|next| format!("?after={next}"));
        Ok(())
    }

    /// The next recorded call, reading pages as needed; None past the last.
    async fn next_call(&mut self) -> anyhow::Result<Option<Recorded>> {
        while self.ahead.is_empty() && self.next_page.is_some() {
            self.read_page().await?;
        }
        Ok(self.ahead.pop_front())
    }
}

/// A step of the recipe as a model call to replay; None for a step that
/// made none (no completion and no model).
fn recorded_call(s: &Value) -> Option<Recorded> {
    if s["completion"].is_null() && s["model"]["name"].is_null() {
        return None;
    }
    let mut messages = Vec::new();
    if let Some(system) = s["prompt"]["system"].as_str().filter(|t| !t.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(s["prompt"]["messages"].as_array().cloned().unwrap_or_default());
    Some(Recorded { step: s["step"].as_u64().unwrap_or(0), model: s["model"].clone(), messages: Value::Array(messages), completion: s["completion"].clone() })
}

/// How long a page of the recipe may take: the calls wait for it.
const PAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone)]
struct Replay(Arc<tokio::sync::Mutex<Recording>>);

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let path = format!("/v1/sessions/{}/reproduction", crate::client::encode(&args.session));
    let mut recording = Recording {
        client: Client::new(&args.server)?,
        path,
        ahead: VecDeque::new(),
        next_page: Some(String::new()),
        read: 0,
        served: 0,
        first_divergence: None,
    };
    // The first page before listening: a session that is not there is
    // said at once.
    recording.read_page().await?;
    if recording.ahead.is_empty() && recording.next_page.is_none() {
        eprintln!("warning: session {} has no recorded model call yet: each request is answered 410 until it has", args.session);
    }
    // Listening before saying so: a port in use is the only thing said.
    let listener = anyhow::Context::with_context(tokio::net::TcpListener::bind(args.listen).await, || format!("cannot listen on {}", args.listen))?;
    eprintln!("replaying the recorded model calls of session {} on http://{} (read a page of the recipe at a time)", args.session, args.listen);
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(complete))
        .route("/replay/divergence", get(divergence))
        .with_state(Replay(Arc::new(tokio::sync::Mutex::new(recording))));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn divergence(State(state): State<Replay>) -> Json<Value> {
    let r = state.0.lock().await;
    Json(json!({"served": r.served, "recorded_read": r.read, "all_read": r.next_page.is_none(), "first_divergence": r.first_divergence}))
}

async fn complete(State(state): State<Replay>, request: Result<Json<Value>, axum::extract::rejection::JsonRejection>) -> Response {
    // Refused as the API it stands in for refuses, in JSON a client reads.
    let request = match request {
        Ok(Json(request)) => request,
        Err(e) => {
            let error = json!({"error": {"message": e.body_text(), "type": "invalid_request_error"}});
            return (e.status(), Json(error)).into_response();
        }
    };
    let mut r = state.0.lock().await;
    let n = r.served;
    let call = match r.next_call().await {
        Ok(Some(call)) => call,
        Ok(None) => {
            let error = json!({"error": {"message": format!("the recording has {} model calls; this is call {}", r.read, n + 1),
                                         "type": "replay_exhausted"}});
            return (StatusCode::GONE, Json(error)).into_response();
        }
        Err(e) => {
            let error = json!({"error": {"message": format!("cannot read the recording from the server: {e:#}"), "type": "replay_unavailable"}});
            return (StatusCode::BAD_GATEWAY, Json(error)).into_response();
        }
    };
    r.served += 1;
    let difference = first_difference(&call, &request);
    if let Some((field, expected, got)) = &difference {
        let d = json!({"request": n + 1, "step": call.step, "field": field, "expected": expected, "got": got});
        if r.first_divergence.is_none() {
            eprintln!("replay diverged at request {} (recorded step {}): {field} expected {expected}, got {got}", n + 1, call.step);
            r.first_divergence = Some(d);
        }
    }
    drop(r);
    let content = match &call.completion {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let body = json!({
        "id": format!("flightlog-replay-{}", n + 1),
        "object": "chat.completion",
        "created": 0,
        "model": call.model["name"].as_str().unwrap_or(""),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    });
    let mut headers = HeaderMap::new();
    if let Some((field, _, _)) = difference {
        headers.insert("x-flightlog-divergence", HeaderValue::from_str(&field).unwrap_or(HeaderValue::from_static("request")));
    }
    (headers, Json(body)).into_response()
}

/// Whether two JSON values are the same number, exactly: a seed of
/// 9007199254740993 is not 9007199254740992 (as doubles they are one), and
/// a temperature of 1 is 1.0.
fn same_number(a: &Value, b: &Value) -> bool {
    #[derive(PartialEq)]
    enum Exact {
        Integer(i128),
        Float(f64),
    }
    // A float is an integer written another way as the guard takes it
    // (flightlog_model::action::whole).
    let exact = |v: &Value| match (v.as_i64(), v.as_u64(), v.as_f64()) {
        (Some(i), _, _) => Some(Exact::Integer(i.into())),
        (_, Some(u), _) => Some(Exact::Integer(u.into())),
        (_, _, Some(f)) => Some(flightlog_model::action::whole(f).map_or(Exact::Float(f), |i| Exact::Integer(i.into()))),
        _ => None,
    };
    matches!((exact(a), exact(b)), (Some(x), Some(y)) if x == y)
}

/// The first field in which the request differs from the recording, with
/// both values. Settings that were not recorded are not compared.
fn first_difference(call: &Recorded, request: &Value) -> Option<(String, Value, Value)> {
    let recorded_model = &call.model["name"];
    if !recorded_model.is_null() && request["model"] != *recorded_model {
        return Some(("model".into(), recorded_model.clone(), request["model"].clone()));
    }
    for setting in ["temperature", "top_p", "seed", "max_tokens"] {
        let want = &call.model[setting];
        let got = request.get(setting).or_else(|| (setting == "max_tokens").then(|| &request["max_completion_tokens"]));
        let got = got.cloned().unwrap_or(Value::Null);
        if !want.is_null() && !same_number(want, &got) {
            return Some((setting.into(), want.clone(), got));
        }
    }
    // Messages compare by role and content: clients add fields of their own.
    let simplify = |v: &Value| -> Vec<(Value, Value)> {
        v.as_array().into_iter().flatten().map(|m| (m["role"].clone(), m["content"].clone())).collect()
    };
    let (want, got) = (simplify(&call.messages), simplify(&request["messages"]));
    if !call.messages.as_array().is_some_and(Vec::is_empty) && want != got {
        let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
        return Some((
            format!("messages[{at}]"),
            want.get(at).map_or(Value::Null, |(r, c)| json!({"role": r, "content": c})),
            got.get(at).map_or(Value::Null, |(r, c)| json!({"role": r, "content": c})),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Recorded {
        Recorded {
            step: 4,
            model: json!({"name": "gpt-4o", "temperature": 0.2, "seed": null}),
            messages: json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]),
            completion: json!("c"),
        }
    }

    #[test]
    fn the_first_difference_is_named() {
        let same = json!({"model": "gpt-4o", "temperature": 0.2, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u", "name": "x"}]});
        assert_eq!(first_difference(&call(), &same), None, "extra client fields and unrecorded settings are ignored");
        let other_model = json!({"model": "gpt-4o-mini", "temperature": 0.2, "messages": same["messages"]});
        assert_eq!(first_difference(&call(), &other_model).unwrap().0, "model");
        let other_message = json!({"model": "gpt-4o", "temperature": 0.2, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "v"}]});
        let (field, expected, got) = first_difference(&call(), &other_message).unwrap();
        assert_eq!((field.as_str(), expected["content"].as_str(), got["content"].as_str()), ("messages[1]", Some("u"), Some("v")));
        let fewer = json!({"model": "gpt-4o", "temperature": 0.2, "messages": [{"role": "system", "content": "s"}]});
        assert_eq!(first_difference(&call(), &fewer).unwrap().0, "messages[1]");
    }

    #[test]
    fn settings_are_compared_as_exact_numbers() {
        let mut recorded = call();
        recorded.model = json!({"name": "gpt-4o", "temperature": 1, "seed": 9007199254740993u64, "max_tokens": 1024});
        let asked = |temperature: Value, seed: Value| {
            json!({"model": "gpt-4o", "temperature": temperature, "seed": seed, "max_tokens": 1024, "messages": recorded.messages})
        };
        assert_eq!(first_difference(&recorded, &asked(json!(1.0), json!(9007199254740993u64))), None, "1 is 1.0");
        let differs = first_difference(&recorded, &asked(json!(1), json!(9007199254740992u64))).expect("one apart");
        assert_eq!((differs.0.as_str(), differs.2), ("seed", json!(9007199254740992u64)), "equal as doubles, not as seeds");
        assert_eq!(first_difference(&recorded, &asked(json!(1.5), json!(9007199254740993u64))).unwrap().0, "temperature");
        assert_eq!(first_difference(&recorded, &asked(json!("1"), json!(9007199254740993u64))).unwrap().0, "temperature", "a string is no number");
        assert!(same_number(&json!(0.2), &json!(0.2)) && !same_number(&json!(0.2), &json!(0.20000000000000004)));
        assert!(same_number(&json!(-3), &json!(-3.0)) && same_number(&json!(u64::MAX), &json!(u64::MAX)));
    }
}
