//! Sign-in and sign-out. Signing in exchanges an API key with the read
//! scope for a web session; signing out ends that session on the server,
//! so a copy of the old cookie is worthless.

use crate::cookie::{self, SESSION, SIGN_IN};
use crate::{WebState, csrf};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use flightlog_app::keys::Scope;

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    error: Option<String>,
    csrf: String,
}

/// The form, with a fresh pre-session cookie and the token bound to it.
pub async fn form(State(web): State<WebState>, headers: HeaderMap, jar: CookieJar) -> Response {
    let (value, token) = web.sign_in_form.issue_for(jar.get(SIGN_IN).map(|c| c.value()));
    (jar.add(cookie::sign_in_form(value, &headers)), render(Login { error: None, csrf: token })).into_response()
}

#[derive(serde::Deserialize)]
pub struct Credentials {
    key: String,
    #[serde(default)]
    csrf: String,
}

pub async fn sign_in(State(web): State<WebState>, headers: HeaderMap, jar: CookieJar, Form(c): Form<Credentials>) -> Response {
    let form_cookie = jar.get(SIGN_IN).map(|c| c.value().to_string()).unwrap_or_default();
    if !web.sign_in_form.check(&form_cookie, &c.csrf) {
        return csrf::forbidden("This sign-in form has expired or was not issued by this server. Reload the sign-in page and try again.");
    }
    let principal = match web.app.keys.check(c.key.trim(), Scope::Read) {
        Ok(p) => p,
        Err(e) => {
            let mut page = render(Login { error: Some(e.to_string()), csrf: c.csrf });
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            return page;
        }
    };
    match web.sessions.create(&principal).await {
        Ok(token) => {
            tracing::info!(key_id = %principal.key_id, "signed in to the web UI");
            let jar = jar.remove(cookie::removal(SIGN_IN, "/login")).add(cookie::session(token, &headers));
            (jar, Redirect::to("/")).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store a web session");
            crate::unavailable()
        }
    }
}

#[derive(serde::Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(web): State<WebState>, jar: CookieJar, Form(f): Form<SignOut>) -> Response {
    let Some(token) = jar.get(SESSION).map(|c| c.value().to_string()) else {
        return Redirect::to("/login").into_response();
    };
    if !csrf::same(&csrf::for_session(&token), &f.csrf) {
        return csrf::forbidden("This sign-out form did not come from your session's page. Reload the page and sign out again.");
    }
    if let Err(e) = web.sessions.revoke(&token).await {
        tracing::error!(error = %e, "could not record a sign-out");
        return crate::unavailable();
    }
    (jar.remove(cookie::removal(SESSION, "/")), Redirect::to("/login")).into_response()
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
