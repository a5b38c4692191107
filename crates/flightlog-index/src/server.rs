//! A Qdrant server over gRPC (qdrant-client), for when one process and its
//! data folder are not enough. Selected by `--qdrant-url`; the mapping is
//! the same as the embedded backend's, only the types differ.
//!
//! The transport is all this adds: connect, authenticate, report errors.
//! Retrying is the indexer's job (it keeps its mark and backs off).

use crate::{FieldKind, Hit, INDEXED_FIELDS, IndexError, Payload, Point, SearchFilter, VectorIndex};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::vector_output::Vector as VectorKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, GetPointsBuilder, PointId, PointStruct, PointsIdsList, Range, SearchPointsBuilder,
    UpsertPointsBuilder, VectorParamsBuilder,
};

pub struct ServerIndex {
    client: Qdrant,
    url: String,
    collection: String,
}

fn unavailable(e: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(e.to_string())
}

fn field_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::Keyword => FieldType::Keyword,
        FieldKind::Bool => FieldType::Bool,
        FieldKind::Integer => FieldType::Integer,
    }
}

impl ServerIndex {
    /// Connects lazily: a server that is down now is retried later.
    pub fn connect(url: &str, api_key: Option<&str>, collection: &str) -> Result<Self, IndexError> {
        let mut builder = Qdrant::from_url(url).skip_compatibility_check();
        if let Some(key) = api_key {
            builder = builder.api_key(key.to_string());
        }
        let client = builder.build().map_err(|e| IndexError::Failed(format!("Qdrant at {url}: {e}")))?;
        Ok(Self { client, url: url.to_string(), collection: collection.to_string() })
    }

    async fn create(&self, dimension: usize) -> Result<(), IndexError> {
        self.client
            .create_collection(
                CreateCollectionBuilder::new(&self.collection)
                    .vectors_config(VectorParamsBuilder::new(dimension as u64, Distance::Cosine)),
            )
            .await
            .map_err(unavailable)?;
        for (field, kind) in INDEXED_FIELDS {
            self.client
                .create_field_index(CreateFieldIndexCollectionBuilder::new(&self.collection, field, field_type(kind)).wait(true))
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

fn to_filter(f: &SearchFilter) -> Filter {
    let mut must = vec![Condition::matches("project", f.project.clone())];
    if f.failed_only {
        must.push(Condition::matches("failed", true));
    }
    for (field, value) in [("agent", &f.agent), ("tool", &f.tool), ("model", &f.model)] {
        if let Some(v) = value {
            must.push(Condition::matches(field, v.clone()));
        }
    }
    if f.from_us.is_some() || f.to_us.is_some() {
        let range = Range { gte: f.from_us.map(|v| v as f64), lt: f.to_us.map(|v| v as f64), ..Default::default() };
        must.push(Condition::range("ts_us", range));
    }
    let mut must_not = Vec::new();
    if let Some(s) = &f.exclude_session {
        must_not.push(Condition::matches("session_id", s.clone()));
    }
    if !f.exclude_ids.is_empty() {
        must_not.push(Condition::has_id(f.exclude_ids.iter().map(|i| PointId::from(i.clone()))));
    }
    Filter { must, must_not, ..Default::default() }
}

fn payload_of<T: serde::Serialize>(p: T) -> Result<Payload, IndexError> {
    serde_json::to_value(p).and_then(serde_json::from_value).map_err(|e| IndexError::Failed(e.to_string()))
}

#[async_trait::async_trait]
impl VectorIndex for ServerIndex {
    fn describe(&self) -> String {
        format!("Qdrant server {} collection {}", self.url, self.collection)
    }

    async fn prepare(&self, dimension: usize) -> Result<(), IndexError> {
        if !self.client.collection_exists(&self.collection).await.map_err(unavailable)? {
            self.create(dimension).await?;
        }
        Ok(())
    }

    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
        let points = points
            .into_iter()
            .map(|p| {
                let payload = serde_json::to_value(&p.payload).map_err(|e| IndexError::Failed(e.to_string()))?;
                let payload = qdrant_client::Payload::try_from(payload).map_err(|e| IndexError::Failed(e.to_string()))?;
                Ok(PointStruct::new(p.id, p.vector, payload))
            })
            .collect::<Result<Vec<_>, IndexError>>()?;
        // wait(true): the call returns once the server applied the write.
        self.client.upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn delete(&self, ids: Vec<String>) -> Result<(), IndexError> {
        let ids = PointsIdsList { ids: ids.into_iter().map(PointId::from).collect() };
        self.client.delete_points(DeletePointsBuilder::new(&self.collection).points(ids).wait(true)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn vector_of(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        let found = self
            .client
            .get_points(GetPointsBuilder::new(&self.collection, vec![PointId::from(id.to_string())]).with_vectors(true))
            .await
            .map_err(unavailable)?;
        use qdrant_client::qdrant::vectors_output::VectorsOptions;
        Ok(found.result.into_iter().next().and_then(|p| match p.vectors?.vectors_options? {
            VectorsOptions::Vector(v) => match v.into_vector() {
                VectorKind::Dense(d) => Some(d.data),
                _ => None,
            },
            VectorsOptions::Vectors(_) => None,
        }))
    }

    async fn search(&self, vector: Vec<f32>, filter: &SearchFilter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let found = self
            .client
            .search_points(
                SearchPointsBuilder::new(&self.collection, vector, limit as u64).filter(to_filter(filter)).with_payload(true),
            )
            .await
            .map_err(unavailable)?;
        found.result.into_iter().map(|p| Ok(Hit { score: p.score, payload: payload_of(p.payload)? })).collect()
    }

    async fn count(&self, project: Option<&str>) -> Result<u64, IndexError> {
        let mut req = CountPointsBuilder::new(&self.collection).exact(true);
        if let Some(p) = project {
            req = req.filter(Filter::must([Condition::matches("project", p.to_string())]));
        }
        let found = self.client.count(req).await.map_err(unavailable)?;
        Ok(found.result.map_or(0, |r| r.count))
    }

    async fn clear(&self, dimension: usize) -> Result<(), IndexError> {
        if self.client.collection_exists(&self.collection).await.map_err(unavailable)? {
            self.client.delete_collection(&self.collection).await.map_err(unavailable)?;
        }
        self.create(dimension).await
    }

    async fn maintain(&self) -> Result<(), IndexError> {
        Ok(())
    }
}
