//! The cost rollups give the same costs as pricing every step, to the
//! cent: over generated steps with every awkward case (cached tokens above
//! the input, reasoning above the output, calls either side of a long-context
//! tier, an unpriced model, a price that changes inside an hour, a project
//! tier at a threshold that is no band edge, two calls at one instant either
//! side of it, a step in 2150, ranges that cut hours), for every dimension
//! and filter. The oracle is the cost query as it
//! was before the rollups: every step priced on its own.

use flightlog_model::time::{END_OF_TIME_US, parse_timestamp};
use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{CostDimension, CostQuery, CostRow, Params, Price, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cost query before the rollups, per step; {{filters}} as costs.rs wrote them.
const ORACLE: &str = r#"SELECT
    {{groups}},
    count()                                           AS steps,
    uniqExact(session_id)                             AS sessions,
    sum(input_tokens)                                 AS input_tokens,
    sum(cache_read_tokens)                            AS cache_read_tokens,
    sum(cache_write_tokens)                           AS cache_write_tokens,
    sum(output_tokens)                                AS output_tokens,
    sum(reasoning_tokens)                             AS reasoning_tokens,
    round(sum(cost), 9)                               AS cost,
    round(sum(ifNull(estimated_cost, 0)), 9)          AS reported_cost,
    -- The client's own estimate is off by more than 1% (or a millionth of
    -- a dollar): a buggy estimate, a stale price list, or ours missing.
    -- No estimate sent (a sum of 0: the rollups keep no count of them) is
    -- not an estimate that differs.
    toBool(reported_cost != 0 AND abs(cost - reported_cost) > greatest(0.01 * cost, 0.000001)) AS estimate_differs,
    countIf(unpriced)                                 AS unpriced_steps,
    countIf(failed)                                   AS failed_steps
FROM
(
    SELECT
        s.session_id AS session_id, s.ts AS ts, s.model_key AS model_key, s.model_provider AS model_provider,
        s.agent_name AS agent_name, s.user_id AS user_id, s.tool_name AS tool_name,
        s.input_tokens AS input_tokens, s.cache_read_tokens AS cache_read_tokens,
        s.cache_write_tokens AS cache_write_tokens, s.output_tokens AS output_tokens,
        s.reasoning_tokens AS reasoning_tokens, s.estimated_cost AS estimated_cost, s.failed AS failed,
        o.model_key != ''                                                AS overridden,
        NOT overridden AND p.model_key = '' AND (s.input_tokens + s.output_tokens) > 0 AS unpriced,
        if(overridden, o.input, p.input)                                  AS base_input,
        if(overridden, o.output, p.output)                                AS base_output,
        if(overridden, o.cache_read, p.cache_read)                        AS base_cache_read,
        if(overridden, o.cache_write, p.cache_write)                      AS base_cache_write,
        if(overridden, o.reasoning, p.reasoning)                          AS reasoning_price,
        if(overridden, o.tier_threshold, p.tier_threshold)                AS tier_threshold,
        tier_threshold > 0 AND s.input_tokens > tier_threshold            AS tiered,
        if(tiered, ifNull(if(overridden, o.tier_input, p.tier_input), base_input), base_input)                AS input_price,
        if(tiered, ifNull(if(overridden, o.tier_output, p.tier_output), base_output), base_output)            AS output_price,
        if(tiered, ifNull(if(overridden, o.tier_cache_read, p.tier_cache_read), base_cache_read), base_cache_read) AS cache_read_price,
        if(tiered, ifNull(if(overridden, o.tier_cache_write, p.tier_cache_write), base_cache_write), base_cache_write) AS cache_write_price,
        greatest(toInt64(s.input_tokens) - toInt64(s.cache_read_tokens) - toInt64(s.cache_write_tokens), 0) AS uncached,
        if(isNull(reasoning_price), s.output_tokens, greatest(toInt64(s.output_tokens) - toInt64(s.reasoning_tokens), 0)) AS billed_output,
        if(unpriced, 0,
           (uncached * input_price
            + s.cache_read_tokens * cache_read_price
            + s.cache_write_tokens * cache_write_price
            + billed_output * output_price
            + if(isNull(reasoning_price), 0, s.reasoning_tokens * assumeNotNull(reasoning_price))) / 1e6) AS cost
    FROM
    (
        SELECT session_id, ts, model_key, model_provider, agent_name, user_id, tool_name, tags,
               input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, estimated_cost, failed
        FROM steps
        WHERE project = {project:String} AND ts >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC')
          AND ts < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC') {{filters}}
    ) AS s
    ASOF LEFT JOIN ({{overrides}}) AS o
        ON s.model_key = o.model_key AND s.ts >= o.effective_from
    ASOF LEFT JOIN prices AS p ON s.model_key = p.model_key AND s.ts >= p.effective_from
)
GROUP BY {{group_names}}
ORDER BY cost DESC, {{group_names}}
LIMIT {limit:UInt32}
SETTINGS enable_extended_results_for_datetime_functions = 1"#;

const GENERATE: &str = "INSERT INTO steps (project, session_id, step, ts, agent_name, tool_name, model_provider, model_name, model_key, \
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost, user_id, tags, failed, log_index) \
    SELECT {project:String}, concat('s', toString(intDiv(number, 37))), number % 37, \
    if(number % 101 = 0, toDateTime64('2150-01-01 00:00:00', 6, 'UTC') + toIntervalSecond(number), \
       toDateTime64('2025-08-01 00:00:00', 6, 'UTC') + toIntervalMicrosecond(number * 97000013)), \
    concat('agent-', toString(intDiv(number, 37) % 4)), arrayElement(['search', 'email', ''], 1 + number % 3), 'prov', \
    arrayElement(['gpt-4o', 'claude-sonnet-4', 'gemini-2.5-pro', 'o3', 'mystery', 'gpt-4o-mini'], 1 + number % 6) AS m, m, \
    if(number % 17 = 0, 150000 + (number * 7919) % 200000, number % 5000), number % 900, (number % 9) * 700, (number % 4) * 300, \
    if(number % 5 = 0, 1000, 0), if(number % 3 = 0, NULL, number / 1e6), concat('u', toString(intDiv(number, 37) % 9)), \
    if(number % 2 = 0, ['prod'], ['dev']), number % 11 = 0, number \
    FROM numbers({n:UInt64})";

fn group_sql(d: CostDimension) -> &'static str {
    match d {
        CostDimension::Session => "session_id AS session",
        CostDimension::Model => "toString(model_key) AS model",
        CostDimension::Provider => "toString(model_provider) AS provider",
        CostDimension::Agent => "toString(agent_name) AS agent",
        CostDimension::User => "user_id AS user",
        CostDimension::Tool => "toString(tool_name) AS tool",
        // The engine's own functions, answering a Date32 past 2149 under
        // the query's setting (the store counts back from a Date32).
        CostDimension::Day => "toString(toDate32(ts)) AS day",
        CostDimension::Week => "toString(toMonday(ts)) AS week",
        CostDimension::Month => "toString(toStartOfMonth(ts)) AS month",
    }
}

async fn oracle(store: &Store, project: &str, q: &CostQuery) -> Vec<CostRow> {
    let (groups, names) = if q.group_by.is_empty() {
        ("'all' AS scope".to_string(), "scope".to_string())
    } else {
        (
            q.group_by.iter().map(|d| group_sql(*d)).collect::<Vec<_>>().join(", "),
            q.group_by.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
        )
    };
    let mut params = Params::new()
        .text("project", project)
        .number("from_us", q.from_us)
        .number("to_us", q.to_us)
        .number("limit", q.limit);
    let mut filters = String::new();
    if let Some(v) = &q.user {
        filters.push_str(" AND user_id = {user:String}");
        params.push_text("user", v);
    }
    if let Some(v) = &q.model {
        filters.push_str(" AND model_key = {model:String}");
        params.push_text("model", v);
    }
    if !q.tags.is_empty() {
        filters.push_str(" AND hasAny(tags, {tags:Array(String)})");
        params.push_texts("tags", &q.tags);
    }
    if let Some(v) = &q.agent {
        filters.push_str(" AND agent_name = {agent:String}");
        params.push_text("agent", v);
    }
    if !q.sessions.is_empty() {
        filters.push_str(" AND session_id IN {sessions:Array(String)}");
        params.push_texts("sessions", &q.sessions);
    }
    // The overrides in force, one per model and date, as the store defines
    // them (a project posting one again for a date supersedes the first).
    let overrides = include_str!("../src/queries/price_overrides_in_force.sql");
    let sql = ORACLE
        .replace("{{overrides}}", overrides.trim_end())
        .replace("{{groups}}", &groups)
        .replace("{{group_names}}", &names)
        .replace("{{filters}}", &filters);
    let out = store.backend().query(&sql, params).await.unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| CostRow::from_engine_row(serde_json::from_str(l).unwrap(), &q.group_by).unwrap())
        .collect()
}

/// The rows by their group, each with its measures (costs to the cent).
fn by_group(rows: &[CostRow]) -> BTreeMap<Vec<String>, (Vec<u64>, f64, f64)> {
    rows.iter()
        .map(|r| {
            let counts = vec![
                r.steps,
                r.sessions,
                r.input_tokens,
                r.cache_read_tokens,
                r.cache_write_tokens,
                r.output_tokens,
                r.reasoning_tokens,
                r.unpriced_steps,
                r.failed_steps,
                r.estimate_differs as u64,
            ];
            (
                r.group.iter().map(|(_, v)| v.clone()).collect(),
                (counts, r.cost.as_f64(), r.reported_cost.as_f64()),
            )
        })
        .collect()
}

fn assert_same(what: &str, got: &[CostRow], want: &[CostRow]) {
    assert!(!want.is_empty(), "{what}: the oracle found nothing to compare");
    let (got, want) = (by_group(got), by_group(want));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: groups");
    for (key, (counts, cost, reported)) in &want {
        let (got_counts, got_cost, got_reported) = &got[key];
        assert_eq!(got_counts, counts, "{what} {key:?}: counts");
        assert!((got_cost - cost).abs() < 1e-6, "{what} {key:?}: cost {got_cost} against {cost}");
        assert!(
            (got_reported - reported).abs() < 1e-6,
            "{what} {key:?}: reported {got_reported} against {reported}"
        );
    }
}

fn at(s: &str) -> i64 {
    parse_timestamp(s).unwrap()
}

fn price(model: &str, input: f64, reasoning: Option<f64>, tier_threshold: u64) -> Price {
    Price {
        model_key: model.into(),
        input,
        output: 2.0 * input,
        cache_read: Some(input / 10.0),
        cache_write: Some(input * 1.25),
        reasoning,
        tier_threshold,
        tier_input: (tier_threshold > 0).then_some(3.0 * input),
        tier_output: (tier_threshold > 0).then_some(5.0 * input),
        ..Default::default()
    }
}

#[tokio::test]
async fn rollups_price_to_the_cent_what_every_step_priced_alone_costs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Arc::new(Embedded::open(&default_library_path(), dir.path(), 2, Default::default()).unwrap()))
        .await
        .unwrap();
    for project in ["p", "other"] {
        store
            .backend()
            .query(GENERATE, Params::new().text("project", project).number("n", 20_000u64))
            .await
            .unwrap();
    }
    // Two calls of gpt-4o-mini at one instant, in one input band, either
    // side of the project's 100k tier below: summed before pricing, they
    // must still be priced apart.
    store
        .backend()
        .query(
            "INSERT INTO steps (project, session_id, step, ts, agent_name, tool_name, model_provider, model_name, model_key, \
             input_tokens, output_tokens, user_id, log_index) \
             SELECT 'p', concat('same-instant-', toString(number)), 0, toDateTime64('2025-08-06 12:00:00.000001', 6, 'UTC'), \
             'agent-1', 'search', 'prov', 'gpt-4o-mini', 'gpt-4o-mini', [90000, 110000][number + 1], 100, 'u1', 900000 + number \
             FROM numbers(2)",
            Params::new(),
        )
        .await
        .unwrap();
    // A reasoning price from 10:17 one morning: that hour of o3 splits.
    store
        .put_price_override("p", &price("o3", 2.0, Some(9.0), 0), at("2025-08-05T10:17:00Z"))
        .await
        .unwrap();
    // A project tier at 100k tokens, no band edge: gpt-4o-mini is priced per step.
    store
        .put_price_override("p", &price("gpt-4o-mini", 0.5, None, 100_000), at("2025-08-02T00:00:00Z"))
        .await
        .unwrap();
    // Another project's prices change nothing here.
    store.put_price_override("other", &price("gpt-4o", 1000.0, None, 0), 0).await.unwrap();

    let whole = CostQuery {
        to_us: END_OF_TIME_US,
        limit: 100_000,
        ..Default::default()
    };
    use CostDimension::*;
    let queries = [
        ("everything", whole.clone()),
        (
            "model x day",
            CostQuery {
                group_by: vec![Model, Day],
                ..whole.clone()
            },
        ),
        (
            "model x model (one dimension asked for twice)",
            CostQuery {
                group_by: vec![Model, Model],
                ..whole.clone()
            },
        ),
        (
            "sessions",
            CostQuery {
                group_by: vec![Session],
                ..whole.clone()
            },
        ),
        (
            "agent x user",
            CostQuery {
                group_by: vec![Agent, User],
                ..whole.clone()
            },
        ),
        (
            "tool x week",
            CostQuery {
                group_by: vec![Tool, Week],
                ..whole.clone()
            },
        ),
        (
            "provider x month",
            CostQuery {
                group_by: vec![Provider, Month],
                ..whole.clone()
            },
        ),
        (
            "one user",
            CostQuery {
                group_by: vec![Model],
                user: Some("u3".into()),
                ..whole.clone()
            },
        ),
        ("one agent", CostQuery { group_by: vec![User, Day], agent: Some("agent-2".into()), ..whole.clone() }),
        (
            "some sessions",
            CostQuery { group_by: vec![Session, Model], sessions: vec!["s3".into(), "s77".into(), "s540".into()], ..whole.clone() },
        ),
        (
            "one tiered model",
            CostQuery {
                group_by: vec![Day],
                model: Some("claude-sonnet-4".into()),
                ..whole.clone()
            },
        ),
        (
            "tags",
            CostQuery {
                group_by: vec![Model],
                tags: vec!["prod".into()],
                ..whole.clone()
            },
        ),
        (
            "a range that cuts hours",
            CostQuery {
                group_by: vec![Model, Day],
                from_us: at("2025-08-03T05:30:00Z"),
                to_us: at("2025-08-10T17:45:12.5Z"),
                ..whole.clone()
            },
        ),
        (
            "inside one hour",
            CostQuery {
                group_by: vec![Model],
                from_us: at("2025-08-05T10:01:00Z"),
                to_us: at("2025-08-05T10:59:00Z"),
                ..whole.clone()
            },
        ),
    ];
    // Priced row by row (these few rows), and from their sums (as when the
    // rollups are many).
    let summed = store.clone().with_sum_rollups_from(0);
    for (what, q) in &queries {
        let want = oracle(&store, "p", q).await;
        assert_same(what, &store.costs("p", q).await.unwrap(), &want);
        assert_same(&format!("{what}, summed"), &summed.costs("p", q).await.unwrap(), &want);
    }
    // The other project's prices all take effect on the hour, at band
    // edges: its whole hours are read from the rollups alone.
    for (what, q) in [&queries[1], &queries[3], &queries[12]] {
        assert_same(&format!("other project, {what}"), &store.costs("other", q).await.unwrap(), &oracle(&store, "other", q).await);
    }

    // The awkward cases are really in the data.
    let every = &store
        .costs(
            "p",
            &CostQuery {
                group_by: vec![Model],
                ..whole.clone()
            },
        )
        .await
        .unwrap();
    let mystery = every.iter().find(|r| r.value_of(Model) == Some("mystery")).unwrap();
    assert!(mystery.unpriced_steps > 3000, "{mystery:?}");
    let year_2150 = store
        .costs(
            "p",
            &CostQuery {
                from_us: at("2150-01-01T00:00:00Z"),
                ..whole.clone()
            },
        )
        .await
        .unwrap();
    assert!(year_2150[0].steps > 150 && year_2150[0].cost.as_f64() > 0.0, "{year_2150:?}");

    // Whole hours are read from the rollups: without them those costs are
    // gone, and the start-up repair brings them back.
    let before = store.costs("p", &whole).await.unwrap();
    store.backend().query("TRUNCATE TABLE cost_rollups", Params::new()).await.unwrap();
    let without = store.costs("p", &whole).await.unwrap();
    assert!(without.is_empty() || without[0].steps < before[0].steps / 2, "{without:?}");
    store.repair_derived_tables().await.unwrap();
    assert_same("after a rebuild", &store.costs("p", &whole).await.unwrap(), &before);
}
