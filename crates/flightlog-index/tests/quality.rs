//! Does "find similar" find the same kind of failure? A labelled set of
//! failures in six classes, each written six ways, is embedded with
//! the real model (what `make setup` fetched) into a real qdrant-edge
//! index; for each one, the nearest *other* decision must be of the same
//! class for at least 80% of them. A held-out set, twelve classes with
//! confusable pairs (written apart from the first, never tuned on), checks
//! that reading the whole text with the word table loses nothing against
//! reading it with the sentence model.

use flightlog_embed::{Embedder, Reader};
use flightlog_index::edge::EdgeIndex;
use flightlog_index::indexer::payload;
use flightlog_index::{ERROR_TEXT, Point, SearchFilter, VectorIndex, WHOLE_TEXT, point_id};
use flightlog_model::decision::mix_vectors;
use flightlog_store::DecisionRow;

#[derive(serde::Deserialize)]
struct Labelled {
    class: String,
    reasoning: String,
    chosen_tool: String,
    tool_params: serde_json::Value,
    tool_error: String,
}

fn row(i: usize, l: &Labelled) -> DecisionRow {
    DecisionRow {
        log_index: i as u64,
        project: "quality".into(),
        session_id: format!("{}-{i}", l.class),
        step: 1,
        ts_us: 1_700_000_000_000_000 + i as i64,
        agent_name: "agent".into(),
        model_name: "model".into(),
        reasoning: l.reasoning.clone(),
        chosen_tool: l.chosen_tool.clone(),
        tool_name: l.chosen_tool.clone(),
        tool_params: l.tool_params.to_string(),
        tool_status: "error".into(),
        tool_error: l.tool_error.clone(),
        failed: true,
        // Failed, so a key decision by the rule (schema/0010_key_decision.sql).
        key_decision: true,
        erased_fields: 0,
    }
}

#[tokio::test]
async fn nearest_other_decision_is_of_the_same_failure_class_for_80_percent() {
    let set: Vec<Labelled> = serde_json::from_str(include_str!("data/labelled_failures.json")).unwrap();
    let classes: std::collections::BTreeSet<_> = set.iter().map(|l| l.class.as_str()).collect();
    assert!(classes.len() >= 5 && set.len() >= 30, "a set worth measuring");

    let mut embedder = Embedder::load(&flightlog_embed::default_runtime_path(), &flightlog_embed::default_model_dir(), 2)
        .expect("the model from `make setup` loads");
    let rows: Vec<DecisionRow> = set.iter().enumerate().map(|(i, l)| row(i, l)).collect();
    let texts: Vec<String> = rows.iter().map(|r| r.decision().text()).collect();
    let errors: Vec<String> = rows.iter().map(|r| r.decision().error_text().expect("all failed")).collect();
    assert!(rows.iter().all(|r| r.failed && r.key_decision));
    // Read as the indexer reads them (flightlog-index WHOLE_TEXT, ERROR_TEXT).
    let whole = embedder.embed_with(WHOLE_TEXT, &texts.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let error = embedder.embed_with(ERROR_TEXT, &errors.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    assert_eq!(whole[0].len(), 384);
    // As the indexer makes them (flightlog-model decision::mix_vectors).
    let vectors: Vec<Vec<f32>> = whole.iter().zip(&error).map(|(w, e)| mix_vectors(w, e)).collect();

    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path()).unwrap();
    index.prepare(embedder.dimension()).await.unwrap();
    let points = rows
        .iter()
        .zip(&texts)
        .zip(&vectors)
        .map(|((r, t), v)| Point { id: point_id(&r.project, &r.session_id, r.step), vector: v.clone(), payload: payload(r, t) })
        .collect();
    index.upsert(points).await.unwrap();

    let mut right = 0;
    let mut misses = Vec::new();
    for (i, (r, v)) in rows.iter().zip(&vectors).enumerate() {
        let filter = SearchFilter {
            project: "quality".into(),
            exclude_ids: vec![point_id(&r.project, &r.session_id, r.step)],
            ..Default::default()
        };
        let hits = index.search(v.clone(), &filter, 1).await.unwrap();
        let nearest = &hits[0].payload;
        assert_ne!(nearest.session_id, r.session_id, "the decision itself is excluded");
        if nearest.session_id.starts_with(&format!("{}-", set[i].class)) {
            right += 1;
        } else {
            misses.push(format!("{} -> {} ({:.2})", r.session_id, nearest.session_id, hits[0].score));
        }
    }
    let share = right as f64 / rows.len() as f64;
    println!("nearest other decision in the same class: {right}/{} = {:.0}%; misses: {misses:?}", rows.len(), share * 100.0);
    assert!(share >= 0.80, "only {:.0}% right; misses: {misses:?}", share * 100.0);
}

/// How many of `set` have a nearest other decision (by cosine over all of
/// them) of their own class, with the whole text and the error read by
/// the given models and mixed as the indexer mixes them.
fn same_class_nearest(embedder: &mut Embedder, set: &[Labelled], whole_by: Reader, error_by: Reader) -> usize {
    let rows: Vec<DecisionRow> = set.iter().enumerate().map(|(i, l)| row(i, l)).collect();
    let texts: Vec<String> = rows.iter().map(|r| r.decision().text()).collect();
    let errors: Vec<String> = rows.iter().map(|r| r.decision().error_text().expect("all failed")).collect();
    let whole = embedder.embed_with(whole_by, &texts.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let error = embedder.embed_with(error_by, &errors.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let vectors: Vec<Vec<f32>> = whole.iter().zip(&error).map(|(w, e)| mix_vectors(w, e)).collect();
    (0..set.len())
        .filter(|&i| {
            let nearest = (0..set.len())
                .filter(|&j| j != i)
                .max_by(|&a, &b| {
                    flightlog_embed::cosine(&vectors[i], &vectors[a]).total_cmp(&flightlog_embed::cosine(&vectors[i], &vectors[b]))
                })
                .unwrap();
            set[nearest].class == set[i].class
        })
        .count()
}

#[test]
fn the_word_table_finds_the_same_class_as_often_as_the_sentence_model_on_a_held_out_set() {
    let set: Vec<Labelled> = serde_json::from_str(include_str!("data/heldout_failures.json")).unwrap();
    let classes: std::collections::BTreeSet<_> = set.iter().map(|l| l.class.as_str()).collect();
    assert!(classes.len() >= 10 && set.len() >= 90, "a set worth measuring");
    let mut embedder = Embedder::load(&flightlog_embed::default_runtime_path(), &flightlog_embed::default_model_dir(), 2).unwrap();
    let indexer = same_class_nearest(&mut embedder, &set, WHOLE_TEXT, ERROR_TEXT);
    let sentence = same_class_nearest(&mut embedder, &set, Reader::Sentence, Reader::Sentence);
    let words = same_class_nearest(&mut embedder, &set, Reader::Words, Reader::Words);
    println!("held-out, nearest other of the same class: as indexed {indexer}/{n}, all by sentence model {sentence}/{n}, all by word table {words}/{n}", n = set.len());
    // Two decisions of 96 is the noise between onnxruntime builds.
    assert!(indexer + 2 >= sentence, "the word table for whole texts costs quality: {indexer} against {sentence} of {}", set.len());
    // The error read in context is what carries the class: reading it with
    // the word table too does worse, which is why errors keep the model.
    assert!(indexer > words, "as indexed {indexer}, word table alone {words}");
}

#[test]
fn the_word_table_puts_paraphrases_closer_than_unrelated_text() {
    let mut e = Embedder::load(&flightlog_embed::default_runtime_path(), &flightlog_embed::default_model_dir(), 1).unwrap();
    let v = e
        .embed_with(Reader::Words, &["The agent sent the same email twice", "The same message was emailed to the customer two times", "Quarterly revenue grew in Europe", ""])
        .unwrap();
    let close = flightlog_embed::cosine(&v[0], &v[1]);
    let far = flightlog_embed::cosine(&v[0], &v[2]);
    assert!(close > far + 0.1, "paraphrase {close:.3}, unrelated {far:.3}");
    assert!((flightlog_embed::cosine(&v[0], &v[0]) - 1.0).abs() < 1e-4, "unit length");
    assert!(v[3].iter().all(|x| *x == 0.0) && v[3].len() == e.dimension(), "no token, no direction");
}

#[test]
fn a_missing_model_file_is_a_clear_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Embedder::load(&flightlog_embed::default_runtime_path(), dir.path(), 1).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("model.onnx") && msg.contains(&dir.path().display().to_string()), "{msg}");

    // Every file present but the tokenizer.
    for f in flightlog_embed::MODEL_FILES {
        if f != "tokenizer.json" {
            std::fs::copy(flightlog_embed::default_model_dir().join(f), dir.path().join(f)).unwrap();
        }
    }
    let msg = Embedder::load(&flightlog_embed::default_runtime_path(), dir.path(), 1).unwrap_err().to_string();
    assert!(msg.contains("lacks tokenizer.json"), "{msg}");

    let msg = Embedder::load(std::path::Path::new("/nonexistent/libonnxruntime.so"), &flightlog_embed::default_model_dir(), 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/libonnxruntime.so") && msg.contains("make setup"), "{msg}");
}

#[test]
fn paraphrases_are_closer_than_unrelated_text() {
    let mut e = Embedder::load(&flightlog_embed::default_runtime_path(), &flightlog_embed::default_model_dir(), 1).unwrap();
    let v = e
        .embed(&["The agent sent the same email twice", "The same message was emailed to the customer two times", "Quarterly revenue grew in Europe"])
        .unwrap();
    let close = flightlog_embed::cosine(&v[0], &v[1]);
    let far = flightlog_embed::cosine(&v[0], &v[2]);
    assert!(close > 0.6 && far < 0.3, "paraphrase {close:.3}, unrelated {far:.3}");
    // Unit length, so cosine is a dot product.
    assert!((flightlog_embed::cosine(&v[0], &v[0]) - 1.0).abs() < 1e-4);
}
