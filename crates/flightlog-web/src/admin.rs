//! The signed-in reader of an admin page: a [`Reader`] whose key has the
//! admin scope. Handlers that take [`Admin`] never run for anyone else;
//! a reader without the scope gets 403 saying why, a signed-out one is
//! sent to sign in (as by [`Reader`]).

use crate::WebState;
use crate::cookie::Reader;
use axum::http::request::Parts;
use axum::response::Response;
use flightlog_app::keys::{Principal, Scope};

pub struct Admin {
    pub principal: Principal,
    /// The token for the page's forms.
    pub csrf: String,
}

impl axum::extract::FromRequestParts<WebState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let Reader { principal, csrf, .. } = Reader::from_request_parts(parts, state).await?;
        if !principal.allows(Scope::Admin) {
            return Err(crate::csrf::forbidden(
                "This page is for keys with the admin scope only. Sign in with an admin key of this project to see or change it.",
            ));
        }
        Ok(Admin { principal, csrf })
    }
}
