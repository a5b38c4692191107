//! The costs page over calendar ranges: explicit from/to dates, finance's
//! presets, the range in its downloads, and what it says when a range has
//! no steps.

use flightlog_tests::*;

/// A gpt-4o call (2.50 / 10.00 USD per 1M tokens since 2024-10-02).
fn call(session: &str, step: u64, ts: &str, input: u64, output: u64) -> Value {
    json!({"session_id": session, "step": step, "timestamp": ts, "model": {"name": "gpt-4o"},
           "cost": {"input_tokens": input, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": output, "reasoning_tokens": 0}})
}

/// March: $2.50 + $1.00 in two steps of session `march`; May: $2.50.
fn steps() -> Vec<Value> {
    vec![
        call("march", 0, "2026-03-03T10:00:00Z", 1_000_000, 0),
        call("march", 1, "2026-03-10T23:30:00Z", 0, 100_000),
        call("may", 0, "2026-05-05T08:00:00Z", 1_000_000, 0),
    ]
}

async fn get(s: &Server, cookie: &str, path: &str) -> reqwest::Response {
    no_redirects().get(format!("{}{path}", s.base)).header("cookie", cookie).send().await.unwrap()
}

/// The page's text with attribute escaping undone, to find links in it.
async fn page(s: &Server, cookie: &str, path: &str) -> (StatusCode, String) {
    let resp = get(s, cookie, path).await;
    (resp.status(), resp.text().await.unwrap().replace("&amp;", "&").replace("&#38;", "&"))
}

/// Last quarter when the test runs, in words, from the clock as the server
/// reads it (UTC).
fn last_quarter_in_words() -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let now = flightlog_model::time::format_timestamp(flightlog_model::time::now_us());
    let (year, month): (i32, usize) = (now[..4].parse().unwrap(), now[5..7].parse().unwrap());
    let quarter = month - (month - 1) % 3;
    let (year, first) = if quarter == 1 { (year - 1, 10) } else { (year, quarter - 3) };
    let last_day = [31, 30, 30, 31][(first - 1) / 3];
    format!("1 {} {year} – {last_day} {} {year} (last quarter)", MONTHS[first - 1], MONTHS[first + 1])
}

#[tokio::test]
async fn the_costs_page_shows_a_calendar_range_and_downloads_exactly_it() {
    let s = Server::start().await;
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&steps()), &[]).await;
    assert!(status.is_success() && body["accepted"] == 3, "{status} {body}");
    let cookie = s.web_sign_in(ADMIN_KEY).await.expect("signed in");

    // March only: two steps, $3.50, the May session nowhere.
    let (status, html) = page(&s, &cookie, "/costs?from=2026-03-01&to=2026-03-31").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("1 Mar 2026 – 31 Mar 2026"), "the range in words");
    assert!(html.contains("<span class=\"muted\">project default</span>"), "whose costs, as every page says");
    assert!(html.contains("2 steps;"), "two steps in March");
    assert!(html.contains("<strong id=\"range-total\">$3.5000</strong>"), "2.50 + 1.00 USD");
    assert!(html.contains("/sessions/march") && !html.contains("/sessions/may"), "only March's session");
    assert!(html.contains(">2026-03-03<") && html.contains(">2026-03-10<") && !html.contains("2026-05-05"), "March's days");
    assert!(html.contains("value=\"2026-03-01\"") && html.contains("value=\"2026-03-31\""), "the date inputs keep the range");
    assert!(html.contains("href=\"/costs/download?format=csv&from=2026-03-01&to=2026-03-31\""), "the download is the range shown");
    assert!(html.contains("href=\"/costs?preset=last_quarter\"") && html.contains("href=\"/costs?days=30\""), "presets and last days");
    assert!(!html.contains(" style=\"") && !html.contains("<style") && !html.contains("<script>"), "nothing the CSP blocks");

    // The CSV of that range: March's days only, the range in its name.
    let resp = get(&s, &cookie, "/costs/download?format=csv&from=2026-03-01&to=2026-03-31").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-disposition"], "attachment; filename=\"flightlog-costs-2026-03-01_2026-03-31.csv\"");
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("day,model,steps"), "{csv}");
    let mut days: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    days.sort();
    assert_eq!(days, ["2026-03-03", "2026-03-10"], "{csv}");

    // A range without steps says so and offers the range that has them.
    let (status, html) = page(&s, &cookie, "/costs?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("No steps between 2020-01-01 and 2020-01-31"), "{html}");
    assert!(html.contains("href=\"/costs?from=2026-03-03&to=2026-05-05\""), "the range with data: {html}");
    let (status, html) = page(&s, &cookie, "/costs?from=2026-03-03&to=2026-05-05").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("3 steps;") && html.contains("$6.0000"), "that range holds every step");

    // A preset: the range in words, kept in the downloads.
    let (status, html) = page(&s, &cookie, "/costs?preset=last_quarter").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&last_quarter_in_words()), "{} in the page", last_quarter_in_words());
    assert!(html.contains("<strong>last quarter</strong>"), "the chosen preset is marked");
    assert!(html.contains("href=\"/costs/download?format=parquet&preset=last_quarter\""));
}

#[tokio::test]
async fn bad_ranges_are_refused_naming_the_field() {
    let s = Server::start().await;
    let cookie = s.web_sign_in(ADMIN_KEY).await.expect("signed in");

    let (status, html) = page(&s, &cookie, "/costs?from=2026-05-01&to=2026-03-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("to: must come after from"), "{html}");
    assert!(html.contains("id=\"range\""), "the form is still there to fix the range");
    let (status, html) = page(&s, &cookie, "/costs?preset=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("preset: unknown preset"), "{html}");
    let (status, html) = page(&s, &cookie, "/costs?from=2020-01-01&to=2026-01-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "over three years");
    assert!(html.contains("from: the range spans more than"), "{html}");
    let resp = get(&s, &cookie, "/costs/download?format=csv&preset=nonsense").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().starts_with("preset:"));

    // A project without steps says so.
    let (status, html) = page(&s, &cookie, "/costs?preset=this_month").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("This project has no steps yet."), "{html}");
}

/// A download of more groups than a file holds (10,000) is refused, saying
/// so, where it was the first 10,000 without a word.
#[tokio::test]
async fn a_download_of_more_groups_than_a_file_holds_is_refused_saying_so() {
    let s = Server::start().await;
    let sessions: Vec<Value> = (0..10_001).map(|i| call(&format!("s{i:05}"), 0, "2026-03-03T10:00:00Z", 1000 + i, 0)).collect();
    for chunk in sessions.chunks(5_000) {
        assert_eq!(s.post_steps(ADMIN_KEY, ndjson(chunk), &[]).await.1["accepted"], chunk.len());
    }
    let cookie = s.web_sign_in(ADMIN_KEY).await.expect("signed in");
    let resp = get(&s, &cookie, "/costs/download?format=csv&from=2026-03-01&to=2026-03-31&group_by=session").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let said = resp.text().await.unwrap();
    assert!(said.contains("more than 10000 groups match"), "{said}");
    let resp = get(&s, &cookie, "/costs/download?format=csv&from=2026-03-01&to=2026-03-31&group_by=day").await;
    assert_eq!(resp.status(), StatusCode::OK, "a download within the limit");
}

/// A cost smaller than a hundredth of a cent is shown whole: 60 input
/// tokens of gpt-4o cost $0.00015, which the page showed as $0.0001 (its
/// rows then did not add up to its total).
#[tokio::test]
async fn the_costs_page_shows_a_small_cost_whole() {
    let s = Server::start().await;
    let tiny = [call("tiny", 0, "2026-03-03T10:00:00Z", 60, 0)];
    let (status, body) = s.post_steps(ADMIN_KEY, ndjson(&tiny), &[]).await;
    assert!(status.is_success() && body["accepted"] == 1, "{status} {body}");
    let cookie = s.web_sign_in(ADMIN_KEY).await.expect("signed in");
    let (status, html) = page(&s, &cookie, "/costs?from=2026-03-01&to=2026-03-31").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<strong id=\"range-total\">$0.00015</strong>"), "{html}");
    let (_, html) = page(&s, &cookie, "/sessions/tiny").await;
    assert!(html.contains("$0.00015"), "the session's page: {html}");
}
