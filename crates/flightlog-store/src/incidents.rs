//! Incidents (schema/0018_incidents.sql): the detectors' findings, the
//! states people give them, and the alerts delivered for them.

use crate::backend::{Params, StoreError, column, rows};
use crate::rowbinary::RowBinary;
use crate::Store;

const INCIDENT_VERSIONS: &str = include_str!("queries/incident_versions.sql");
const INCIDENTS_PAGE: &str = include_str!("queries/incidents_page.sql");
const INCIDENTS_UPDATED_SINCE: &str = include_str!("queries/incidents_updated_since.sql");
const ALERT_DELIVERIES_SINCE: &str = include_str!("queries/alert_deliveries_since.sql");
const INCIDENTS_OF_KIND_SINCE: &str = include_str!("queries/incidents_of_kind_since.sql");
const INSERT_INCIDENTS: &str = "INSERT INTO incidents (project, id, kind, sessions, agent_name, user_id, tool_name, \
    first_session, first_step, first_us, last_session, last_step, last_us, count, message, updated_us)";
const INCIDENT_STATE: &str = include_str!("queries/incident_state.sql");
const INSERT_STATE: &str = "INSERT INTO incident_states (project, id, state, at_us, by_key) \
    SELECT {project:String}, {id:String}, {state:String}, {at_us:Int64}, {by_key:String}";
const INSERT_DELIVERY: &str = "INSERT INTO alert_deliveries (project, rule, incident_id, count, delivered_us, status) \
    SELECT {project:String}, {rule:String}, {incident_id:String}, {count:UInt64}, {delivered_us:Int64}, {status:UInt16}";

/// One incident, as stored (with its state, when read back).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct IncidentRow {
    #[serde(default)]
    pub project: String,
    pub id: String,
    pub kind: String,
    pub sessions: Vec<String>,
    pub agent_name: String,
    pub user_id: String,
    pub tool_name: String,
    pub first_session: String,
    pub first_step: u64,
    pub first_us: i64,
    pub last_session: String,
    pub last_step: u64,
    pub last_us: i64,
    pub count: u64,
    pub message: String,
    pub updated_us: i64,
    /// open, acknowledged or resolved (the newest `incident_states` row).
    #[serde(default)]
    pub state: String,
}

/// Which incidents a page lists.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub kind: String,
    pub session: String,
    pub agent: String,
    pub state: String,
    pub id: String,
    /// (last_us, id) of the last row of the page before.
    pub cursor: Option<(i64, String)>,
    pub limit: u32,
}

/// The newest delivery of one rule for one incident.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct DeliveryRow {
    pub project: String,
    pub rule: String,
    pub incident_id: String,
    pub count: u64,
    pub delivered_us: i64,
}

/// An incident's stored state, as far as its writer compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct IncidentVersion {
    pub count: u64,
    pub last_step: u64,
    pub last_us: i64,
    pub updated_us: i64,
}

impl Store {
    /// The state people last gave an incident: open, acknowledged or
    /// resolved (empty: none given, so open).
    pub async fn incident_state(&self, project: &str, id: &str) -> Result<String, StoreError> {
        let found: Vec<String> = column(&self.ch.query(INCIDENT_STATE, Params::new().text("project", project).text("id", id)).await?)?;
        Ok(found.into_iter().next().unwrap_or_default())
    }

    /// How far each of these incidents is stored, by (project, id).
    pub async fn incident_versions(&self, ids: &[&str]) -> Result<std::collections::HashMap<(String, String), IncidentVersion>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Version {
            project: String,
            id: String,
            #[serde(flatten)]
            version: IncidentVersion,
        }
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let found: Vec<Version> = rows(&self.ch.query(INCIDENT_VERSIONS, Params::new().texts("ids", ids.iter().copied())).await?)?;
        Ok(found.into_iter().map(|v| ((v.project, v.id), v.version)).collect())
    }

    /// Writes incidents' new states in one insert; returns once durable.
    pub async fn record_incidents(&self, incidents: &[IncidentRow]) -> Result<(), StoreError> {
        if incidents.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut w = RowBinary(&mut buf);
        for i in incidents {
            w.string(&i.project);
            w.string(&i.id);
            w.string(&i.kind);
            w.strings(&i.sessions);
            w.string(&i.agent_name);
            w.string(&i.user_id);
            w.string(&i.tool_name);
            w.string(&i.first_session);
            w.u64(i.first_step);
            w.i64(i.first_us);
            w.string(&i.last_session);
            w.u64(i.last_step);
            w.i64(i.last_us);
            w.u64(i.count);
            w.string(&i.message);
            w.i64(i.updated_us);
        }
        self.ch.insert(INSERT_INCIDENTS, buf).await?;
        Ok(())
    }

    /// One page of `project`'s incidents, newest first.
    pub async fn incidents(&self, project: &str, f: &IncidentFilter) -> Result<Vec<IncidentRow>, StoreError> {
        let (cursor_us, cursor_id) = f.cursor.clone().unwrap_or((i64::MAX, String::new()));
        let params = Params::new()
            .text("project", project)
            .text("kind", &f.kind)
            .text("session", &f.session)
            .text("agent", &f.agent)
            .text("state", &f.state)
            .text("id", &f.id)
            .number("cursor_us", cursor_us)
            .text("cursor_id", &cursor_id)
            .number("limit", f.limit);
        let mut found: Vec<IncidentRow> = rows(&self.ch.query(INCIDENTS_PAGE, params).await?)?;
        for row in &mut found {
            row.project = project.to_string();
        }
        Ok(found)
    }

    /// Incidents of every project of this kind whose last step is at or
    /// after `since_us` (still going on, for detectors that resume them).
    pub async fn incidents_of_kind_since(&self, kind: &str, since_us: i64) -> Result<Vec<IncidentRow>, StoreError> {
        rows(&self.ch.query(INCIDENTS_OF_KIND_SINCE, Params::new().text("kind", kind).number("since_us", since_us)).await?)
    }

    /// Incidents of every project changed at or after `since_us`, oldest
    /// change first, at most `limit`.
    pub async fn incidents_updated_since(&self, since_us: i64, limit: u32) -> Result<Vec<IncidentRow>, StoreError> {
        let params = Params::new().number("since_us", since_us).number("limit", limit);
        rows(&self.ch.query(INCIDENTS_UPDATED_SINCE, params).await?)
    }

    /// Records that a key gave an incident a state.
    pub async fn set_incident_state(&self, project: &str, id: &str, state: &str, at_us: i64, by_key: &str) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", project)
            .text("id", id)
            .text("state", state)
            .number("at_us", at_us)
            .text("by_key", by_key);
        self.ch.query(INSERT_STATE, params).await?;
        Ok(())
    }

    /// Records a delivered alert; returns once durable.
    pub async fn record_delivery(&self, d: &DeliveryRow, status: u16) -> Result<(), StoreError> {
        let params = Params::new()
            .text("project", &d.project)
            .text("rule", &d.rule)
            .text("incident_id", &d.incident_id)
            .number("count", d.count)
            .number("delivered_us", d.delivered_us)
            .number("status", status);
        self.ch.query(INSERT_DELIVERY, params).await?;
        Ok(())
    }

    /// The newest delivery of each (rule, incident) since `since_us`.
    pub async fn deliveries_since(&self, since_us: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        rows(&self.ch.query(ALERT_DELIVERIES_SINCE, Params::new().number("since_us", since_us)).await?)
    }
}
