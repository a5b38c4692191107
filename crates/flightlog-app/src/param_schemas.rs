//! How the query parameters that front ends read as text look in the HTTP
//! API's OpenAPI description (`flightlog-api` openapi). The structs keep
//! their fields as text so that each refusal names its field
//! ([`crate::params`]); these schemas say which text is meant, next to the
//! code that reads it.

use utoipa::openapi::schema::{Array, Object, SchemaType, Type};

fn words<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
    Object::builder().schema_type(SchemaType::Type(Type::String)).enum_values(Some(values)).build()
}

pub fn session_status() -> Object {
    words(["failed", "ok", "any"])
}

pub fn session_sort() -> Object {
    words(["time", "cost", "steps"])
}

pub fn order() -> Object {
    words(["asc", "desc"])
}

pub fn true_or_false() -> Object {
    words(["true", "false"])
}

/// [`crate::params::flag`]'s spellings.
pub fn flag() -> Object {
    use crate::params::{EITHER_WORD, FALSE_WORDS, TRUE_WORDS};
    words(TRUE_WORDS.into_iter().chain(FALSE_WORDS).chain([EITHER_WORD]))
}

pub fn file_format() -> Object {
    words(["csv", "arrow", "parquet"])
}

/// Up to two of the cost dimensions, comma-separated (none: the totals).
pub fn cost_group_by() -> Object {
    let names = flightlog_store::CostDimension::NAMES.join("|");
    Object::builder()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(format!("^(({names})(,({names}))?)?$")))
        .build()
}

/// A count between 1 and `max`.
fn count(max: u64) -> Object {
    Object::builder().schema_type(SchemaType::Type(Type::Integer)).minimum(Some(1)).maximum(Some(max)).build()
}

/// A session list's or a timeline's page size.
pub fn page_size() -> Object {
    count(crate::sessions::MAX_PAGE.into())
}

/// A page of records (erasures, hold changes): at most 1,000.
pub fn records_page_size() -> Object {
    count(1_000)
}

/// An incident list's page size.
pub fn incidents_page_size() -> Object {
    count(crate::incidents::MAX_PAGE.into())
}

/// An access-log page's size.
pub fn access_log_page_size() -> Object {
    count(crate::access_log::MAX_PAGE.into())
}

pub fn cost_groups() -> Object {
    count(crate::costs::MAX_GROUPS.into())
}

pub fn similar_results() -> Object {
    count(flightlog_index::search::MAX_LIMIT as u64)
}

/// A new key's scopes: at least one.
pub fn scopes() -> Array {
    Array::builder().items(words(["ingest", "read", "admin"])).min_items(Some(1)).build()
}
