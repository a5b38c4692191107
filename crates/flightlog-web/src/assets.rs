//! The stylesheet and the print script, compiled into the binary (the
//! Content-Security-Policy forbids inline ones).

use axum::http::header;
use axum::response::IntoResponse;

// Short-lived: a new binary may bring a new stylesheet.
const CACHE: &str = "public, max-age=300";

pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], include_str!("../../../web/static/app.css"))
}

pub async fn print_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], include_str!("../../../web/static/print.js"))
}
