use crate::cookie;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use flightlog_api::AppState;
use flightlog_api::auth::Scope;

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    error: Option<String>,
}

pub async fn form() -> Response {
    render(Login { error: None })
}

#[derive(serde::Deserialize)]
pub struct Credentials {
    key: String,
}

pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, Form(c): Form<Credentials>) -> Response {
    match state.keys.check(c.key.trim(), Scope::Read) {
        Ok(p) => {
            tracing::info!(key_id = %p.key_id, "signed in to the web UI");
            ([(header::SET_COOKIE, cookie::set(c.key.trim(), &headers))], Redirect::to("/")).into_response()
        }
        Err(e) => {
            let mut page = render(Login { error: Some(e.message) });
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            page
        }
    }
}

pub async fn sign_out() -> Response {
    ([(header::SET_COOKIE, cookie::clear())], Redirect::to("/login")).into_response()
}

pub fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}
