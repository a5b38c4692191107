//! Decoding: bytes as a client sent them → one JSON value per record.
//!
//! - [`body`]: an HTTP body that is one JSON object, a JSON array, or NDJSON,
//!   optionally gzip-compressed. A malformed NDJSON line rejects that record
//!   only; the other records go on.
//! - [`csv_steps`]: the flat CSV form of steps (import and export), turned
//!   into the same nested JSON that the API accepts.
//! - [`json`]: strict JSON for one record: a repeated key or a number that
//!   cannot be stored exactly refuses the record, naming the field.
//! - [`otlp`]: OTLP/HTTP trace exports (protobuf or JSON) → one step record
//!   per GenAI span.
//!
//! Validation of each record is the model's job (`flightlog-model`).
//!
//! May use: `flightlog-model` (floor 1). Used by the application core and
//! the front ends, which hand it the bytes they received.

pub mod body;
pub mod csv_steps;
pub mod json;
pub mod otlp;

pub use body::{BodyError, Framing, Record, Records, decode_body};
