//! The embedded backend against real qdrant-edge: every filter of a
//! similarity search, durability across reopening, deletes, rebuilds.
//! Vectors are synthetic here (the quality test uses the real model).

use flightlog_index::edge::EdgeIndex;
use flightlog_index::{Payload, Point, SearchFilter, VectorIndex, point_id};

const DIM: usize = 8;

/// Unit vector pointing mostly along axis `axis`, nudged by `jitter`.
fn vector(axis: usize, jitter: f32) -> Vec<f32> {
    let mut v = [jitter; DIM];
    v[axis] = 1.0;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

#[allow(clippy::too_many_arguments)] // one argument per field of the point
fn point(project: &str, session: &str, step: u64, agent: &str, tool: &str, failed: bool, ts_us: i64, v: Vec<f32>) -> Point {
    Point {
        id: point_id(project, session, step),
        vector: v,
        payload: Payload {
            project: project.into(),
            session_id: session.into(),
            step,
            ts_us,
            agent: agent.into(),
            tool: tool.into(),
            status: if failed { "error".into() } else { "ok".into() },
            model: if agent == "billing" { "gpt-4o".into() } else { "claude".into() },
            failed,
            snippet: format!("{session}/{step}"),
        },
    }
}

fn sample() -> Vec<Point> {
    vec![
        point("p1", "s1", 1, "billing", "send_email", true, 1_000, vector(0, 0.01)),
        point("p1", "s1", 2, "billing", "send_email", false, 2_000, vector(0, 0.02)),
        point("p1", "s2", 1, "support", "send_email", true, 3_000, vector(0, 0.03)),
        point("p1", "s3", 1, "support", "http_get", true, 4_000, vector(1, 0.01)),
        point("p2", "s9", 1, "billing", "send_email", true, 5_000, vector(0, 0.0)),
    ]
}

fn ids(hits: &[flightlog_index::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.payload.snippet.clone()).collect()
}

fn filter() -> SearchFilter {
    SearchFilter { project: "p1".into(), ..Default::default() }
}

#[tokio::test]
async fn every_filter_narrows_the_results_and_projects_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path()).unwrap();
    index.prepare(DIM).await.unwrap();
    index.upsert(sample()).await.unwrap();
    let q = vector(0, 0.0);

    let all = index.search(q.clone(), &filter(), 10).await.unwrap();
    assert_eq!(ids(&all), ["s1/1", "s1/2", "s2/1", "s3/1"], "project p1 only, nearest first");
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));

    let f = SearchFilter { failed_only: true, ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s1/1", "s2/1", "s3/1"]);
    let f = SearchFilter { agent: Some("support".into()), ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s2/1", "s3/1"]);
    let f = SearchFilter { tool: Some("http_get".into()), ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s3/1"]);
    let f = SearchFilter { model: Some("gpt-4o".into()), ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s1/1", "s1/2"]);
    let f = SearchFilter { from_us: Some(2_000), to_us: Some(4_000), ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s1/2", "s2/1"], "from inclusive, to exclusive");
    let f = SearchFilter { exclude_session: Some("s1".into()), ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s2/1", "s3/1"]);
    let f = SearchFilter { exclude_ids: vec![point_id("p1", "s1", 1)], ..filter() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s1/2", "s2/1", "s3/1"]);
    let f = SearchFilter { project: "p2".into(), ..Default::default() };
    assert_eq!(ids(&index.search(q.clone(), &f, 10).await.unwrap()), ["s9/1"]);
    let f = SearchFilter { project: "nobody".into(), ..Default::default() };
    assert!(index.search(q.clone(), &f, 10).await.unwrap().is_empty());
    assert_eq!(index.search(q, &filter(), 2).await.unwrap().len(), 2, "limit");

    assert_eq!(index.count(None).await.unwrap(), 5);
    assert_eq!(index.count(Some("p1")).await.unwrap(), 4);
}

#[tokio::test]
async fn points_survive_reopening_and_upserts_replace_instead_of_adding() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = EdgeIndex::open(dir.path()).unwrap();
        index.prepare(DIM).await.unwrap();
        index.upsert(sample()).await.unwrap();
        index.upsert(sample()).await.unwrap(); // the same ids again
        assert_eq!(index.count(None).await.unwrap(), 5);
        index.maintain().await.unwrap();
    }
    let index = EdgeIndex::open(dir.path()).unwrap();
    index.prepare(DIM).await.unwrap();
    assert_eq!(index.count(None).await.unwrap(), 5);
    let v = index.vector_of(&point_id("p1", "s3", 1)).await.unwrap().expect("stored vector");
    assert!((v[1] - vector(1, 0.01)[1]).abs() < 1e-6);
    assert!(index.vector_of(&point_id("p1", "nope", 1)).await.unwrap().is_none());

    index.delete(vec![point_id("p1", "s1", 1), point_id("p1", "s1", 2)]).await.unwrap();
    assert_eq!(ids(&index.search(vector(0, 0.0), &filter(), 10).await.unwrap()), ["s2/1", "s3/1"]);

    index.clear(DIM).await.unwrap();
    assert_eq!(index.count(None).await.unwrap(), 0);
    index.upsert(sample()).await.unwrap();
    assert_eq!(index.count(None).await.unwrap(), 5);
}

#[tokio::test]
async fn an_index_not_created_yet_counts_zero_and_refuses_searches() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(&dir.path().join("edge")).unwrap();
    assert_eq!(index.count(None).await.unwrap(), 0);
    let err = index.search(vector(0, 0.0), &filter(), 1).await.unwrap_err();
    assert!(err.to_string().contains("not created"), "{err}");
}
