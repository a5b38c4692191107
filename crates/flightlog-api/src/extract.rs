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
/// [`json_body`].
pub type JsonObject<T> = Result<axum::Json<Object<T>>, axum::extract::rejection::JsonRejection>;

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

/// The body of a [`JsonObject`], its refusal the API's JSON 400. A body
/// over axum's default limit (which these routes keep) is a 413 naming the
/// limit, not a 400.
pub fn json_body<T>(body: JsonObject<T>) -> Result<T, ApiError> {
    body.map(|axum::Json(Object(b))| b).map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than this route takes: at most {BODY_LIMIT} bytes"),
        ),
        _ => ApiError::bad_request(e.body_text()),
    })
}

/// axum's default body limit, which every route but ingestion keeps.
const BODY_LIMIT: usize = 2 * 1024 * 1024;
