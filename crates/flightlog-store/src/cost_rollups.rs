//! The cost rollups (schema/0020_cost_rollups.sql): keeping them equal to
//! the steps, and the price rows that decide where a cost query may read
//! them (flightlog_model::cost_rollup).

use crate::Store;
use crate::backend::{Backend, Params, StoreError, column, rows};
use flightlog_model::cost_rollup::{PriceChange, ReadFromSteps};

const MIGRATION: &str = include_str!("../../../schema/0020_cost_rollups.sql");
pub(crate) const UNITS_OF_STEPS: &str = include_str!("queries/cost_units_of_steps.sql");
pub(crate) const UNITS_OF_ROLLUPS: &str = include_str!("queries/cost_units_of_rollups.sql");
const TOTALS_AGREE: &str = include_str!("queries/cost_rollup_totals_agree.sql");
const FORGET_SESSION: &str = include_str!("queries/forget_session_cost_rollups.sql");
static PRICE_CHANGES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::costs::with_overrides_in_force(include_str!("queries/price_changes_of_project.sql")));
const ROWS_IN_RANGE: &str = include_str!("queries/cost_rollup_rows_in_range.sql");

/// The hour of a step's `ts`, as the rollups' view computes it.
pub(crate) const HOUR_OF_TS: &str = "fromUnixTimestamp64Micro(intDiv(toUnixTimestamp64Micro(ts), 3600000000) * 3600000000, 'UTC')";

/// The units a cost query prices when its range holds the whole hours
/// [first, end): rollup rows for those hours, except where `exceptions`
/// sends a model or an hour to the steps, and `steps` (the steps' units
/// already narrowed to the query's range and `filters`) for the rest of
/// the range and those exceptions. Each condition is written only when
/// needed: it is evaluated on every row read.
pub(crate) fn units_of_rollups_and_steps(
    steps: &str,
    filters: &str,
    (first, end): (i64, i64),
    range: (i64, i64),
    exceptions: &ReadFromSteps,
    params: &mut Params,
) -> String {
    params.push_number("rollup_from_us", first);
    params.push_number("rollup_to_us", end);
    let mut not_rolled_up = String::new();
    let mut steps_take = vec![
        "ts < fromUnixTimestamp64Micro({rollup_from_us:Int64}, 'UTC')".to_string(),
        "ts >= fromUnixTimestamp64Micro({rollup_to_us:Int64}, 'UTC')".to_string(),
    ];
    if !exceptions.models.is_empty() {
        params.push_texts("steps_models", &exceptions.models);
        not_rolled_up.push_str(" AND NOT has({steps_models:Array(String)}, model_key)");
        steps_take.push("has({steps_models:Array(String)}, model_key)".into());
    }
    if !exceptions.hours.is_empty() {
        params.push_texts("split_models", exceptions.hours.iter().map(|(model, _)| model));
        params.push_numbers("split_hours", exceptions.hours.iter().map(|(_, hour)| *hour));
        const SPLIT: &str = "has(arrayZip({split_models:Array(String)}, {split_hours:Array(Int64)}), ";
        not_rolled_up.push_str(&format!(" AND NOT {SPLIT}(toString(model_key), toUnixTimestamp64Micro(hour)))"));
        steps_take.push(format!("{SPLIT}(toString(model_key), toUnixTimestamp64Micro({HOUR_OF_TS})))"));
    }
    let rollups = format!(
        "{UNITS_OF_ROLLUPS}WHERE project = {{project:String}} AND hour >= fromUnixTimestamp64Micro({{rollup_from_us:Int64}}, 'UTC') \
         AND hour < fromUnixTimestamp64Micro({{rollup_to_us:Int64}}, 'UTC'){filters}{not_rolled_up}"
    );
    if exceptions.is_empty() && (first, end) == range {
        rollups
    } else {
        format!("{rollups}\nUNION ALL\n{steps} AND ({})", steps_take.join(" OR "))
    }
}

/// The rollups recomputed from the steps: the rollups' own view query, so
/// a rebuild can never aggregate differently from the view.
fn rebuild() -> String {
    const HEAD: &str = "TO cost_rollups AS\n";
    let start = MIGRATION.find(HEAD).expect("schema/0020 defines cost_rollups_mv") + HEAD.len();
    let body = MIGRATION[start..].trim_end().trim_end_matches(';');
    format!("INSERT INTO cost_rollups\n{body}")
}

/// Rebuilds cost_rollups when it does not account for every stored step:
/// after a crash between an insert and its view, or on the first start
/// after the upgrade that added it.
pub(crate) async fn repair_if_needed(ch: &dyn Backend) -> Result<(), StoreError> {
    crate::rebuild_if_apart(ch, "cost_rollups", TOTALS_AGREE, &rebuild()).await
}

impl Store {
    /// Recomputes one session's rollups from its steps left (after an
    /// expiry removed some). A crash between the two statements leaves the
    /// totals apart, which the start-up check repairs.
    pub(crate) async fn rebuild_session_cost_rollups(&self, project: &str, session: &str) -> Result<(), StoreError> {
        let params = || Params::new().text("project", project).text("session", session);
        self.ch.query(FORGET_SESSION, params()).await?;
        self.ch.query(&crate::sessions::narrowed_to_one_session(&rebuild()), params()).await?;
        Ok(())
    }

    /// The project's rollup rows in the whole hours [first, end), whatever
    /// a query's filters keep of them: it only chooses how a cost query is
    /// computed (costs.rs): both ways give the same figures.
    pub(crate) async fn rollup_rows_in(&self, project: &str, (first, end): (i64, i64)) -> Result<u64, StoreError> {
        let params = Params::new().text("project", project).number("rollup_from_us", first).number("rollup_to_us", end);
        Ok(column::<u64>(&self.ch.query(ROWS_IN_RANGE, params).await?)?.first().copied().unwrap_or(0))
    }

    /// Every price row that applies to the project's steps.
    pub(crate) async fn price_changes(&self, project: &str) -> Result<Vec<PriceChange>, StoreError> {
        rows(&self.ch.query(&PRICE_CHANGES, Params::new().text("project", project)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text without comment lines and with every run of whitespace as
    /// one space.
    fn normalized(sql: &str) -> String {
        let code: Vec<&str> = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
        code.join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_view_sums_exactly_the_units_a_cost_query_prices() {
        assert!(normalized(MIGRATION).contains(&format!("FROM ( {} ) GROUP BY", normalized(UNITS_OF_STEPS))));
    }

    #[test]
    fn the_band_edges_and_the_hour_are_the_ones_the_model_names() {
        let edges = flightlog_model::cost_rollup::INPUT_BAND_EDGES.map(|e| e.to_string()).join(", ");
        assert!(UNITS_OF_STEPS.contains(&format!("arrayCount(e -> input_tokens > e, [{edges}])")));
        assert!(MIGRATION.contains(&format!("{HOUR_OF_TS} AS hour")));
    }

    #[test]
    fn whole_hours_without_exceptions_read_the_rollups_alone() {
        let hour = flightlog_model::cost_rollup::HOUR_US;
        let none = ReadFromSteps::default();
        let mut params = Params::new();
        let sql = units_of_rollups_and_steps("STEPS", "", (0, 2 * hour), (0, 2 * hour), &none, &mut params);
        assert!(sql.contains("FROM cost_rollups") && !sql.contains("STEPS") && !sql.contains("has("), "{sql}");
        // A cut hour at the end: the steps take it.
        let sql = units_of_rollups_and_steps("STEPS", "", (0, 2 * hour), (0, 2 * hour + 5), &none, &mut params);
        assert!(sql.contains("UNION ALL\nSTEPS AND (ts < ") && !sql.contains("has("), "{sql}");
        // A split hour: both sides name it, and only it.
        let split = ReadFromSteps { hours: [("o3".to_string(), hour)].into(), ..Default::default() };
        let mut params = Params::new();
        let sql = units_of_rollups_and_steps("STEPS", "", (0, 2 * hour), (0, 2 * hour), &split, &mut params);
        assert!(sql.contains("AND NOT has(arrayZip(") && sql.contains(" OR has(arrayZip(") && !sql.contains("steps_models"), "{sql}");
        assert!(params.iter().any(|(name, value)| name == "split_hours" && value == format!("[{hour}]")), "{params:?}");
    }

    #[test]
    fn the_rebuild_is_the_view_query() {
        let sql = rebuild();
        assert!(sql.starts_with("INSERT INTO cost_rollups\nSELECT\n    project,\n"), "{sql}");
        assert!(
            sql.ends_with("GROUP BY project, hour, session_id, model_key, model_provider, agent_name, user_id, tool_name, input_band"),
            "{sql}"
        );
        assert!(crate::sessions::narrowed_to_one_session(&sql).contains("FROM steps\nPREWHERE project = {project:String}"));
    }
}
