//! What `POST /v1/steps` takes, as the OpenAPI description shows it: built
//! from the step's one definition (`flightlog_model::columns`), so the
//! schema cannot drift from what the decoder reads.

use flightlog_model::columns::{Cell, fields};
use flightlog_app::redaction::REDACTED_FIELD;
use flightlog_model::validate::REQUIRED_FIELDS;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{Array, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type, KnownFormat};
use utoipa::openapi::{RefOr, schema::AdditionalProperties};

/// One step (unknown fields are kept as sent).
pub struct Step;

/// A request body: one step, or an array of them.
pub struct StepBatch;

fn leaf(path: &str, cell: Cell, clickhouse_type: &str) -> Schema {
    let nullable = clickhouse_type.starts_with("Nullable(");
    let typed = |t: Type| if nullable { SchemaType::from_iter([t, Type::Null]) } else { SchemaType::Type(t) };
    match cell {
        Cell::Text if path == "timestamp" => {
            Object::builder().schema_type(typed(Type::String)).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).into()
        }
        // Ids are required and never empty (flightlog-model validate).
        Cell::Text if REQUIRED_FIELDS.contains(&path) => Object::builder().schema_type(typed(Type::String)).min_length(Some(1)).into(),
        Cell::Text => Object::builder().schema_type(typed(Type::String)).into(),
        Cell::Number if clickhouse_type.contains("Float") => Object::builder().schema_type(typed(Type::Number)).into(),
        Cell::Number => {
            let min = (!clickhouse_type.contains("Int64") || clickhouse_type.contains("UInt")).then_some(0);
            Object::builder().schema_type(typed(Type::Integer)).minimum(min).into()
        }
        // flightlog-model validate: metadata is an object; the other JSON
        // parts are any value, kept in canonical form.
        Cell::Json if path == "metadata" => {
            Object::builder().schema_type(SchemaType::Type(Type::Object)).additional_properties(Some(AdditionalProperties::FreeForm(true))).into()
        }
        Cell::Json => Object::builder().schema_type(SchemaType::AnyValue).description(Some("any JSON value")).into(),
        Cell::List => Array::new(Object::builder().schema_type(SchemaType::Type(Type::String))).into(),
    }
}

/// Nested objects from the fields' dotted paths.
#[derive(Default)]
struct Node {
    leaf: Option<Schema>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, path: &str, schema: Schema) {
        match path.split_once('.') {
            None => self.children.entry(path.to_string()).or_default().leaf = Some(schema),
            Some((head, rest)) => self.children.entry(head.to_string()).or_default().insert(rest, schema),
        }
    }

    fn into_schema(self, required: &[&str]) -> Schema {
        if let Some(leaf) = self.leaf {
            return leaf;
        }
        let mut object = ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)));
        for (name, child) in self.children {
            object = object.property(name, child.into_schema(&[]));
        }
        for name in required {
            object = object.required(*name);
        }
        object.into()
    }
}

impl utoipa::PartialSchema for Step {
    fn schema() -> RefOr<Schema> {
        let mut root = Node::default();
        for field in fields() {
            let column = flightlog_model::columns::STEP_COLUMNS
                .iter()
                .find(|c| c.field().is_some_and(|f| f.path == field.path))
                .expect("every field is a column");
            root.insert(field.path, leaf(field.path, field.cell, column.clickhouse_type));
        }
        // Flightlog's own statement of what it replaced; a step that
        // brings one is refused (flightlog-app redaction).
        let redacted = Object::builder()
            .schema_type(SchemaType::Type(Type::Array))
            .read_only(true)
            .description(Some("Set by Flightlog: what it replaced (path, kind, count); refused when sent"));
        root.children.entry(REDACTED_FIELD.to_string()).or_default().leaf = Some(redacted.into());
        let mut schema = root.into_schema(&REQUIRED_FIELDS);
        if let Schema::Object(o) = &mut schema {
            o.description = Some("One step of an agent; fields not listed are kept as sent (personal data in them is replaced)".into());
        }
        schema.into()
    }
}

impl utoipa::ToSchema for Step {}

impl utoipa::PartialSchema for StepBatch {
    fn schema() -> RefOr<Schema> {
        let step = RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Step"));
        utoipa::openapi::schema::OneOf::builder().item(step.clone()).item(Array::new(step)).into()
    }
}

impl utoipa::ToSchema for StepBatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("Step".into(), <Step as utoipa::PartialSchema>::schema()));
    }
}
