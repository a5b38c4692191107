//! The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`.
//!
//! Its paths come from the handlers' `#[utoipa::path]` attributes as the
//! router mounts them (`routes`), its schemas from the types the handlers
//! answer with; this module adds what holds for every route: the ways to
//! present a key, and the errors each operation can answer with, from what
//! it declares (a key, parameters, a path naming something).

use crate::error::ErrorBody;
use axum::Json;
use flightlog_app::ingest::IngestReport;
use std::sync::Arc;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{OneOf, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, InfoBuilder, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

pub const PATH: &str = "/openapi.json";

/// A second path for an operation, described as it is: the Langfuse SDK
/// exports OTLP to its own path.
pub const LANGFUSE_TRACES: (&str, &str) = ("/api/public/otel/v1/traces", "/v1/traces");

/// A batch that stored nothing answers with the report of its records, or
/// with an error when the body itself could not be read.
pub struct ReportOrError;

impl PartialSchema for ReportOrError {
    fn schema() -> RefOr<Schema> {
        OneOf::builder()
            .item(Ref::from_schema_name(IngestReport::name()))
            .item(Ref::from_schema_name(ErrorBody::name()))
            .into()
    }
}

impl ToSchema for ReportOrError {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((IngestReport::name().into(), IngestReport::schema()));
        IngestReport::schemas(schemas);
        schemas.push((ErrorBody::name().into(), ErrorBody::schema()));
        ErrorBody::schemas(schemas);
    }
}

fn error_response(why: &str) -> Response {
    ResponseBuilder::new()
        .description(why)
        .content("application/json", Content::new(Some(Ref::from_schema_name(ErrorBody::name()))))
        .build()
}

/// Completes the description the router collected.
pub fn describe(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("Flightlog")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A flight recorder for AI agents: steps in (native, OTLP), sessions, costs, similar failures and \
             tamper-evident proofs out. Present an API key as `Authorization: Bearer KEY` or `x-api-key: KEY`; \
             each key has scopes (ingest, read, admin).",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    // The key as the password (what the Langfuse SDK sends).
    components.add_security_scheme("basic", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()));
    let mut schemas = vec![(ErrorBody::name().into(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);

    api.paths.paths.insert(PATH.into(), PathItem::new(HttpMethod::Get, this_document()));
    let (alias, of) = LANGFUSE_TRACES;
    let mut item = api.paths.paths.get(of).cloned().expect("the aliased path is described");
    for operation in operations(&mut item) {
        operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_langfuse"));
        operation.summary = Some(format!("The same as POST {of}, at the path the Langfuse SDK exports to"));
    }
    api.paths.paths.insert(alias.into(), item);
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            for (status, why) in errors_of(operation) {
                operation.responses.responses.entry(status.into()).or_insert_with(|| RefOr::T(error_response(why)));
            }
        }
    }
    api
}

/// The errors an operation can answer with, from what it declares: a key
/// (401 without a valid one, 403 without the scope, 429 after too many
/// failed tries, 503 while storage is away), parameters or a body (400),
/// a path naming something (404).
fn errors_of(operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut errors = Vec::new();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    if !parameters.is_empty() || operation.request_body.is_some() {
        errors.push(("400", "A parameter or the body cannot be used as sent; `field` names it"));
    }
    if secured {
        errors.push(("401", "No key, or not a valid one"));
        errors.push(("403", "The key lacks the scope this needs"));
    }
    let in_path = |p: &RefOr<utoipa::openapi::path::Parameter>| matches!(p, RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Path);
    if parameters.iter().any(in_path) {
        errors.push(("404", "Nothing of that id in the key's project"));
    }
    if secured {
        errors.push(("429", "Too many failed authentications from this address or for this key; see Retry-After"));
        errors.push(("503", "Storage is unavailable; nothing was acknowledged, retry after Retry-After"));
    }
    errors
}

fn this_document() -> Operation {
    let body = ResponseBuilder::new()
        .description("This description")
        .content("application/json", Content::new(Some(utoipa::openapi::schema::Object::new())))
        .build();
    OperationBuilder::new()
        .summary(Some("The OpenAPI 3.1 description of this API"))
        .tag("health")
        .response("200", body)
        .build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.options, &mut item.head, &mut item.patch, &mut item.trace]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// `GET /openapi.json`.
pub async fn document(axum::extract::State(doc): axum::extract::State<Arc<OpenApi>>) -> Json<Arc<OpenApi>> {
    Json(doc)
}

/// A file or a protobuf message: bytes, not JSON.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{KnownFormat, Object, SchemaFormat, SchemaType, Type};
        Object::builder()
            .schema_type(SchemaType::Type(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}
