//! `Query`, `Path` and JSON object bodies as the API's handlers take them: axum's extractors,
//! whose refusals (a missing or mistyped parameter, a path segment that is
//! not UTF-8) become the API's JSON 400 naming the problem instead of
//! axum's plain-text answer.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::marker::PhantomData;

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::bad_request(format!("query string: {}", e.body_text()))),
        }
    }
}

/// A query whose parameters must be the ones its OpenAPI description
/// lists: any other is refused, naming it, as the routes whose parameter
/// structs refuse unknown fields refuse theirs. A misspelled filter
/// (`user_id` for `user`) otherwise answered the whole unfiltered list. For
/// parameter structs shared with the web pages, which cannot refuse
/// unknown fields themselves.
pub struct ListedQuery<T>(pub T);

impl<T: DeserializeOwned + utoipa::IntoParams, S: Send + Sync> FromRequestParts<S> for ListedQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(given) = Query::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        let listed: Vec<String> = T::into_params(|| None).into_iter().map(|p| p.name).collect();
        if let Some((name, _)) = given.iter().find(|(name, _)| !listed.contains(name)) {
            return Err(ApiError::bad_param(name, format!("{name}: no such parameter; this route takes {}", listed.join(", "))));
        }
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::bad_request(format!("path: {}", e.body_text()))),
        }
    }
}

/// A JSON object body as a handler takes it, read only once the caller is
/// authorized (so a stranger's bad body is a 401, not a 400): see
/// [`json_body`]. Whatever its declared content type: `curl -d` sends a
/// form's, and the body is JSON all the same (as ingestion and the guard
/// read theirs). No cross-site form can use that: every route that takes
/// one authenticates by a header, which a form cannot set, and the web
/// pages' forms carry their own CSRF token.
pub struct JsonObject<T>(Result<T, ApiError>);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonObject<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::http::StatusCode;
        let body = match axum::body::Bytes::from_request(req, state).await {
            Ok(body) => body,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let message = format!("the body is larger than this route takes: at most {BODY_LIMIT} bytes");
                return Ok(Self(Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message))));
            }
            Err(e) => return Ok(Self(Err(ApiError::bad_request(e.body_text())))),
        };
        Ok(Self(object_of(&body)))
    }
}

/// The object `body` holds, or the 400 naming the field at fault where
/// there is one (unknown, missing, mistyped, given twice, or a number that
/// cannot be kept exactly: its path in the body).
fn object_of<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    let refused = |path: String, e: &serde_json::Error| {
        let message = format!("the body cannot be read: {e}");
        match field_at_fault(&path, &e.to_string()) {
            Some(field) => ApiError::bad_param(&field, message),
            None => ApiError::bad_request(message),
        }
    };
    let Object(value) = serde_path_to_error::deserialize(&mut reader).map_err(|e| refused(e.path().to_string(), e.inner()))?;
    reader.end().map_err(|e| refused(".".into(), &e))?;
    // What serde let through but would store changed: a key given twice
    // (the last one won) or a number a double does not hold (a price of
    // 1e-400 was kept as 0).
    flightlog_decode::json::check_strictly(body, &[], flightlog_decode::json::Numbers::AsWritten)
        .map_err(|e| ApiError::bad_param(&field_at_fault(&e.field, "").unwrap_or_default(), format!("the body cannot be kept as sent: {e}")))?;
    Ok(value)
}

/// The body of a [`JsonObject`], or its refusal: the API's JSON 400, or a
/// 413 over axum's default limit (which these routes keep).
pub fn json_body<T>(body: JsonObject<T>) -> Result<T, ApiError> {
    body.0
}

/// The field a refusal names: its path in the body (`.` for the whole
/// body; `rules[0].threshold`, written `rules.0.threshold` here), or,
/// for the body itself, the field serde's message names ("missing field
/// `reason`").
fn field_at_fault(path: &str, message: &str) -> Option<String> {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    let path = path.trim_start_matches('.').replace('[', ".").replace(']', "");
    match (path.is_empty(), named) {
        (true, named) => named,
        // A missing field is found at the object that lacks it.
        (false, Some(field)) if !path.ends_with(&field) && message.starts_with("missing") => Some(format!("{path}.{field}")),
        (false, _) => Some(path),
    }
}

/// A body that must be a JSON object. serde reads a struct from an array
/// too, by position (`[100, 200]` as a retention policy), which no client
/// means: such a body is refused, naming what was expected.
pub struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(PhantomData)).map(Object)
    }
}

/// axum's default body limit, which every route but ingestion keeps.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::field_at_fault;

    #[test]
    fn the_field_a_refusal_names_is_found() {
        for (path, message, field) in [
            (".", "missing field `reason` at line 1 column 30", Some("reason")),
            ("colour", "unknown field `colour`, expected one of `subject`, `id` at line 1 column 9", Some("colour")),
            ("subject", "invalid type: integer `5`, expected a string at line 1 column 13", Some("subject")),
            ("rules[0].threshold", "invalid type: string \"x\", expected u64 at line 1 column 40", Some("rules.0.threshold")),
            ("rules[1]", "missing field `kind` at line 1 column 40", Some("rules.1.kind")),
            (".", "invalid type: sequence, expected a JSON object at line 1 column 0", None),
        ] {
            assert_eq!(field_at_fault(path, message).as_deref(), field, "{path}: {message}");
        }
    }
}
