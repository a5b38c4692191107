//! Erasure of personal content (GDPR) without breaking the proofs: see
//! `flightlog-model` integrity for why the step hashes survive it.

use crate::backend::{Params, StoreError, rows};
use crate::Store;
use crate::content::Content;
use flightlog_model::canonical::to_canonical_json;
use flightlog_model::stored::rest_of_matching;
use flightlog_model::integrity::{ERASABLE, erase};
use std::collections::BTreeMap;

const ERASABLE_ROWS: &str = include_str!("queries/erasable_rows.sql");
const ERASE_STEP_CONTENT: &str = include_str!("queries/erase_step_content.sql");
const ERASED_BEFORE_SPAN_ATTRIBUTES: &str = include_str!("queries/erased_before_span_attributes.sql");

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Erasure {
    pub steps_erased: u64,
    pub fields_erased: u64,
    pub sessions: Vec<String>,
    /// (session, step) of every step matched (erased now or before), for
    /// the vector index.
    #[serde(skip)]
    pub steps: Vec<(String, u64)>,
}

impl Store {
    /// Erases the erasable fields of the steps of `session` and/or `user`
    /// (empty = any) in `project`. Steps already erased are left as they are.
    pub async fn erase(&self, project: &str, session: &str, user: &str) -> Result<Erasure, StoreError> {
        self.erase_where(project, session, user, &[]).await
    }

    /// Finishes erasures made before an erasure took an OpenTelemetry span's
    /// attributes with the prompt: the steps they erased (or whose content
    /// expired) are erased again, those steps only, which blanks the
    /// attributes and keeps the hashes kept before. Reads the whole store's
    /// erased maps, so each process does it until none is left, then stops
    /// looking (every erasure since takes the attributes). Returns how many
    /// steps it erased.
    pub async fn finish_erasures_of_span_attributes(&self) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct Left {
            project: String,
            session_id: String,
            steps: Vec<u64>,
        }
        if self.span_attributes_erased.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(0);
        }
        let mut erased = 0;
        loop {
            let params = Params::new().number("limit", 1000);
            let left: Vec<Left> = rows(&self.ch.query(ERASED_BEFORE_SPAN_ATTRIBUTES, params).await?)?;
            if left.is_empty() {
                self.span_attributes_erased.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(erased);
            }
            for l in left {
                let done = self.erase_where(&l.project, &l.session_id, "", &l.steps).await?;
                tracing::info!(project = %l.project, session = %l.session_id, steps = done.steps_erased, "erased a span's attributes that an earlier erasure left");
                erased += done.steps_erased;
            }
        }
    }

    /// [`Store::erase`], of only `steps` of the session when there are any.
    async fn erase_where(&self, project: &str, session: &str, user: &str, steps: &[u64]) -> Result<Erasure, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            session_id: String,
            step: u64,
            raw: String,
            erased: BTreeMap<String, String>,
            #[serde(flatten)]
            content: Content,
        }
        let params = Params::new().text("project", project).text("session", session).text("user", user).numbers("steps", steps.iter().copied());
        let mut found: Vec<Row> = rows(&self.ch.query(ERASABLE_ROWS, params).await?)?;
        self.put_back_messages(project, found.iter_mut().map(|r| (r.session_id.as_str(), &mut r.content))).await?;
        // Every session matched, erased now or before: dropping what its
        // erased steps alone referred to is then finished by a retry.
        let mut matched: Vec<String> = found.iter().map(|r| r.session_id.clone()).collect();
        matched.dedup();
        // New content per session: (step, what raw keeps of it, erased hashes as JSON).
        let mut per_session: BTreeMap<String, Vec<(u64, String, String)>> = BTreeMap::new();
        let mut done = Erasure::default();
        for row in found {
            let mut content = row.content.rebuild_value(&row.raw).map_err(StoreError::Decode)?;
            // Listed even when erased before: a retry after a failed index
            // update must reach the same steps.
            done.steps.push((row.session_id.clone(), row.step));
            let fresh = erase(&mut content, &ERASABLE);
            if fresh.is_empty() {
                continue;
            }
            // Hashes kept by an earlier erasure are the real ones: keep them.
            let mut all: BTreeMap<String, String> = fresh.iter().map(|(p, h)| (p.clone(), hex::encode(h))).collect();
            all.extend(row.erased);
            done.steps_erased += 1;
            done.fields_erased += fresh.len() as u64;
            let erased_json = serde_json::to_string(&all).expect("a map of strings serialises");
            // The erased fields are null, kept in raw; the columns left
            // untouched (reasoning, metadata…) hold the rest, so raw leaves
            // out what each of them still gives back exactly.
            let rest = match &content {
                serde_json::Value::Object(step) => rest_of_matching(step, |c| row.content.column(c)),
                other => to_canonical_json(other),
            };
            per_session.entry(row.session_id).or_default().push((row.step, rest, erased_json));
        }
        for (session, steps) in per_session {
            // Bounded statements: at most 500 steps per mutation.
            for chunk in steps.chunks(500) {
                let params = Params::new()
                    .numbers("steps", chunk.iter().map(|(n, _, _)| *n))
                    .texts("raws", chunk.iter().map(|(_, r, _)| r))
                    .texts("erased", chunk.iter().map(|(_, _, e)| e))
                    .text("project", project)
                    .text("session", &session);
                self.ch.query(ERASE_STEP_CONTENT, params).await?;
            }
            done.sessions.push(session);
        }
        self.drop_unneeded_messages(project, &matched).await?;
        Ok(done)
    }
}
