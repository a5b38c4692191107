//! The embedded backend: qdrant-edge, one shard in a folder of the data
//! directory.
//!
//! qdrant-edge is synchronous, so every call runs on the blocking pool.
//! Writes are serialised here (its flush asserts that nobody else holds
//! the WAL), and each write is flushed before it returns: the indexer
//! moves its high-water mark only past what is on disk.
//! qdrant-edge has no background optimiser: new points are searched by
//! brute force until [`VectorIndex::maintain`] builds the HNSW graph.

use crate::{FieldKind, Hit, INDEXED_FIELDS, IndexError, Payload, Point, SearchFilter, VectorIndex};
use qdrant_edge::external::{ordered_float::OrderedFloat, uuid::Uuid};
use qdrant_edge::{
    Condition, DEFAULT_VECTOR_NAME, Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, FieldCondition,
    Filter, JsonPath, Match, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointOperations, QueryEnum,
    QueryRequest, Range, ScoringQuery, UpdateOperation, ValueVariants, VectorStructInternal, WithPayloadInterface,
    WithVector,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

fn schema_type(kind: FieldKind) -> PayloadSchemaType {
    match kind {
        FieldKind::Keyword => PayloadSchemaType::Keyword,
        FieldKind::Bool => PayloadSchemaType::Bool,
        FieldKind::Integer => PayloadSchemaType::Integer,
    }
}

pub struct EdgeIndex {
    path: PathBuf,
    shard: RwLock<Option<Arc<EdgeShard>>>,
    writes: tokio::sync::Mutex<()>,
}

fn failed(e: impl std::fmt::Display) -> IndexError {
    IndexError::Failed(e.to_string())
}

impl EdgeIndex {
    /// Opens the shard in `path` if there is one; [`VectorIndex::prepare`]
    /// creates it otherwise.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let shard = if path.join("edge_config.json").is_file() {
            Some(Arc::new(EdgeShard::load(path, None).map_err(|e| {
                IndexError::Unavailable(format!("cannot open the index in {}: {e}", path.display()))
            })?))
        } else {
            None
        };
        Ok(Self { path: path.to_path_buf(), shard: RwLock::new(shard), writes: tokio::sync::Mutex::new(()) })
    }

    fn shard(&self) -> Result<Arc<EdgeShard>, IndexError> {
        self.shard
            .read()
            .expect("shard lock")
            .clone()
            .ok_or_else(|| IndexError::Unavailable("the index is not created yet".into()))
    }

    fn create(&self, dimension: usize) -> Result<Arc<EdgeShard>, IndexError> {
        std::fs::create_dir_all(&self.path).map_err(failed)?;
        let config = EdgeConfigBuilder::new()
            .vector(DEFAULT_VECTOR_NAME, EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build())
            .on_disk_payload(false)
            .build();
        let shard = EdgeShard::new(&self.path, config).map_err(failed)?;
        for (field, kind) in INDEXED_FIELDS {
            shard
                .update(UpdateOperation::FieldIndexOperation(qdrant_edge::FieldIndexOperations::CreateIndex(
                    qdrant_edge::CreateIndex {
                        field_name: key(field),
                        field_schema: Some(PayloadFieldSchema::FieldType(schema_type(kind))),
                    },
                )))
                .map_err(failed)?;
        }
        shard.flush();
        Ok(Arc::new(shard))
    }

    /// Runs `f` on the shard on the blocking pool.
    async fn with_shard<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EdgeShard) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let shard = self.shard()?;
        tokio::task::spawn_blocking(move || f(&shard)).await.map_err(failed)?
    }
}

fn key(field: &str) -> JsonPath {
    field.try_into().expect("a plain field name is a JSON path")
}

fn id(uuid: &str) -> Result<PointId, IndexError> {
    Ok(PointId::Uuid(Uuid::parse_str(uuid).map_err(failed)?))
}

fn keyword(field: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(key(field), Match::new_value(ValueVariants::String(value.to_string()))))
}

fn to_filter(f: &SearchFilter) -> Result<Filter, IndexError> {
    let mut must = vec![keyword("project", &f.project)];
    if f.failed_only {
        must.push(Condition::Field(FieldCondition::new_match(key("failed"), Match::new_value(ValueVariants::Bool(true)))));
    }
    for (field, value) in [("agent", &f.agent), ("tool", &f.tool), ("model", &f.model)] {
        if let Some(v) = value {
            must.push(keyword(field, v));
        }
    }
    if f.from_us.is_some() || f.to_us.is_some() {
        let range = Range {
            gte: f.from_us.map(|v| OrderedFloat(v as f64)),
            lt: f.to_us.map(|v| OrderedFloat(v as f64)),
            gt: None,
            lte: None,
        };
        must.push(Condition::Field(FieldCondition::new_range(key("ts_us"), range)));
    }
    let mut must_not = Vec::new();
    if let Some(s) = &f.exclude_session {
        must_not.push(keyword("session_id", s));
    }
    if !f.exclude_ids.is_empty() {
        let ids = f.exclude_ids.iter().map(|i| id(i)).collect::<Result<_, _>>()?;
        must_not.push(Condition::HasId(ids));
    }
    Ok(Filter { must: Some(must), must_not: (!must_not.is_empty()).then_some(must_not), should: None, min_should: None })
}

fn payload_of(p: Option<qdrant_edge::Payload>) -> Result<Payload, IndexError> {
    let map = p.map(|p| p.0).unwrap_or_default();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(failed)
}

#[async_trait::async_trait]
impl VectorIndex for EdgeIndex {
    fn describe(&self) -> String {
        format!("qdrant-edge 0.7.2 in {}", self.path.display())
    }

    async fn prepare(&self, dimension: usize) -> Result<(), IndexError> {
        let _w = self.writes.lock().await;
        if self.shard.read().expect("shard lock").is_some() {
            return Ok(());
        }
        let shard = self.create(dimension)?;
        *self.shard.write().expect("shard lock") = Some(shard);
        Ok(())
    }

    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
        let _w = self.writes.lock().await;
        let points = points
            .into_iter()
            .map(|p| {
                let payload = serde_json::to_value(&p.payload).map_err(failed)?;
                Ok(qdrant_edge::PointStruct::new(id(&p.id)?, p.vector, payload).into())
            })
            .collect::<Result<Vec<_>, IndexError>>()?;
        self.with_shard(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                    qdrant_edge::PointInsertOperations::PointsList(points),
                )))
                .map_err(failed)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    async fn delete(&self, ids: Vec<String>) -> Result<(), IndexError> {
        let _w = self.writes.lock().await;
        let ids = ids.iter().map(|i| id(i)).collect::<Result<Vec<_>, _>>()?;
        self.with_shard(move |shard| {
            shard.update(UpdateOperation::PointOperation(PointOperations::DeletePoints { ids })).map_err(failed)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    async fn vector_of(&self, point: &str) -> Result<Option<Vec<f32>>, IndexError> {
        let point = id(point)?;
        self.with_shard(move |shard| {
            let found = shard
                .retrieve(&[point], Some(WithPayloadInterface::Bool(false)), Some(WithVector::Bool(true)))
                .map_err(failed)?;
            Ok(found.into_iter().next().and_then(|r| match r.vector {
                Some(VectorStructInternal::Single(v)) => Some(v),
                Some(VectorStructInternal::Named(mut named)) => match named.remove(DEFAULT_VECTOR_NAME) {
                    Some(qdrant_edge::VectorInternal::Dense(v)) => Some(v),
                    _ => None,
                },
                _ => None,
            }))
        })
        .await
    }

    async fn search(&self, vector: Vec<f32>, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let filter = to_filter(filter)?;
        self.with_shard(move |shard| {
            let found = shard
                .query(QueryRequest {
                    prefetches: vec![],
                    query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery { query: vector.into(), using: None }))),
                    filter: Some(filter),
                    score_threshold: None,
                    limit,
                    offset: 0,
                    params: None,
                    with_vector: WithVector::Bool(false),
                    with_payload: WithPayloadInterface::Bool(true),
                })
                .map_err(failed)?;
            found.into_iter().map(|p| Ok(Hit { score: p.score, payload: payload_of(p.payload)? })).collect()
        })
        .await
    }

    async fn count(&self, project: Option<&str>) -> Result<u64, IndexError> {
        if self.shard.read().expect("shard lock").is_none() {
            return Ok(0);
        }
        let filter = project.map(|p| Filter { must: Some(vec![keyword("project", p)]), ..Default::default() });
        self.with_shard(move |shard| {
            let n = shard.count(qdrant_edge::CountRequest { filter, exact: true }).map_err(failed)?;
            Ok(n as u64)
        })
        .await
    }

    async fn clear(&self, dimension: usize) -> Result<(), IndexError> {
        let _w = self.writes.lock().await;
        let old = self.shard.write().expect("shard lock").take();
        if let Some(old) = old {
            // Wait for searches that still hold the shard, then drop it
            // (which flushes) before its files go.
            let mut old = old;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(shard) => {
                        drop(shard);
                        break;
                    }
                    Err(still_shared) => {
                        old = still_shared;
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        }
        if self.path.exists() {
            std::fs::remove_dir_all(&self.path).map_err(failed)?;
        }
        let shard = self.create(dimension)?;
        *self.shard.write().expect("shard lock") = Some(shard);
        Ok(())
    }

    async fn maintain(&self) -> Result<(), IndexError> {
        let _w = self.writes.lock().await;
        self.with_shard(|shard| {
            shard.optimize().map_err(failed)?;
            shard.flush();
            Ok(())
        })
        .await
    }
}
