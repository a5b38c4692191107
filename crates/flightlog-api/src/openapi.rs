//! The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`.
//!
//! Its paths come from the handlers' `#[utoipa::path]` attributes as the
//! router mounts them (`routes`), its schemas from the types the handlers
//! answer with; this module adds what holds for every route: the two ways
//! to present a key, and the error body that any status not listed comes
//! with.

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

fn error_response() -> Response {
    ResponseBuilder::new()
        .description("An error: the code, a message, and the field at fault when there is one")
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
    let mut schemas = vec![(ErrorBody::name().into(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);

    api.paths.paths.insert(PATH.into(), PathItem::new(HttpMethod::Get, this_document()));
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.responses.responses.entry("default".into()).or_insert_with(|| RefOr::T(error_response()));
        }
    }
    api
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
