//! Pages by start time are ranked from the sessions near their end of the
//! list when that is provably the same page: here every page, both ways,
//! with and without filters and cursors, is compared with the ranking of
//! the whole list computed straight from the steps. The sessions' summary
//! rows are left unmerged on purpose: long-running sessions get a second
//! row that starts much later than they did, the case that could fool a
//! page read from the newest rows only, and a few new ones a row that
//! starts before the one that opened them.

use flightlog_store::embedded::{Embedded, default_library_path};
use flightlog_store::{PageRead, Params, RowsSeen, Seen, SessionFilter, SessionSort, SessionSummary, Store};
use std::sync::Arc;

/// `count` one-step sessions from `first`, one a minute from `start`; one
/// agent in three, a failed step in five. The step's number is its place in
/// its session's chain too, as the writer gives it: step 0 opens it.
const SESSIONS: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, failed, log_index) \
    SELECT 'p', concat('s', leftPad(toString({first:UInt64} + number), 5, '0')), {step:UInt64}, {step:UInt64}, \
    {start:DateTime64(6, 'UTC')} + toIntervalMinute(number * {every:UInt64}), \
    concat('agent-', toString(({first:UInt64} + number) % 3)), ({first:UInt64} + number) % 5 = 0, {first:UInt64} * 10 + number \
    FROM numbers({count:UInt64})";

async fn add(store: &Store, first: u64, count: u64, step: u64, start: &str, every: u64) {
    add_from(store, SESSIONS, first, count, step, start, every).await;
}

/// [`add`] with `sql`, a variant of [`SESSIONS`].
async fn add_from(store: &Store, sql: &str, first: u64, count: u64, step: u64, start: &str, every: u64) {
    let params = Params::new()
        .number("first", first)
        .number("count", count)
        .number("step", step)
        .text("start", start)
        .number("every", every);
    store.backend().query(sql, params).await.unwrap();
}

/// [`SESSIONS`] for the numbers where `condition` holds only.
fn only_where(condition: &str) -> String {
    SESSIONS.replace("FROM numbers({count:UInt64})", &format!("FROM numbers({{count:UInt64}}) WHERE {condition}"))
}

async fn open(dir: &std::path::Path) -> Store {
    Store::open(Arc::new(Embedded::open(&default_library_path(), dir, 2, Default::default()).unwrap())).await.unwrap()
}

/// Keeps the summary rows apart as written: the engine would merge them
/// in the background otherwise.
async fn stop_summary_merges(store: &Store) {
    store.backend().query("SYSTEM STOP MERGES session_summaries", Params::new()).await.unwrap();
}

/// The whole list computed straight from the steps: the ids of project
/// p's sessions that pass `having` (conditions on their steps' aggregates),
/// by `key` in the page's direction, then by id.
fn whole_list_sql(key: &str, ascending: bool, having: &str) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    format!(
        "SELECT session_id FROM steps WHERE project = 'p' GROUP BY session_id HAVING 1 {having} \
         ORDER BY {key} {dir}, session_id {dir}"
    )
}

/// The session ids `sql` selects, in its order.
async fn ids(store: &Store, sql: &str, params: Params) -> Vec<String> {
    let out = String::from_utf8(store.backend().query(sql, params).await.unwrap()).unwrap();
    out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["session_id"].as_str().unwrap().to_string()).collect()
}

/// Every session's id in the order the whole list would give, computed
/// from the steps: newest (or oldest) start first, then by id.
async fn expected(store: &Store, ascending: bool, having: &str) -> Vec<String> {
    ids(store, &whole_list_sql("min(ts)", ascending, having), Params::new()).await
}

/// Whichever read ranked a page, each session on it is listed with the
/// summary the session header reads.
async fn assert_listed_as_alone(store: &Store, listed: &[SessionSummary]) {
    let ids: Vec<&str> = listed.iter().map(|s| s.session_id.as_str()).collect();
    let mut alone = store.summaries_of("p", &ids).await.unwrap();
    alone.sort_by_key(|a| ids.iter().position(|i| *i == a.session_id));
    // The engine lists a session's agents, models, customers and tags in
    // no set order.
    let sorted = |list: &[SessionSummary]| -> Vec<SessionSummary> {
        list.iter()
            .cloned()
            .map(|mut s| {
                for names in [&mut s.agents, &mut s.models, &mut s.users, &mut s.tags] {
                    names.sort();
                }
                s
            })
            .collect()
    };
    assert_eq!(sorted(listed), sorted(&alone), "the page's summaries");
}

/// Every page of the list in turn, cursor after cursor, as one list of ids.
async fn walk(store: &Store, filter: SessionFilter, pages: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut f = filter;
    for _ in 0..pages {
        let page = store.list_sessions("p", &f).await.unwrap();
        assert_listed_as_alone(store, &page.sessions).await;
        out.extend(page.sessions.iter().map(|s| s.session_id.clone()));
        match page.next_cursor {
            Some(c) => f.cursor = Some(c),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn every_page_by_start_time_is_the_whole_lists_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    stop_summary_merges(&store).await;
    // 3,000 sessions over the first days of March, then a late step for
    // all but every 7th of them (a second summary row, starting in April),
    // then 120 new sessions in May. The newest rows are then mostly April's,
    // of sessions that started in March: a page ranked from them alone
    // would put those before the March sessions that did not come back.
    add(&store, 0, 3000, 0, "2026-03-01 00:00:00", 2).await;
    // Their late steps are another agent's, and fail where the first did
    // not: such a session has two agents, one of which, and its failure,
    // only its later row shows.
    let late = only_where("number % 7 != 0")
        .replace("toString(({first:UInt64} + number) % 3)", "toString(({first:UInt64} + number + 1) % 3)")
        .replace("({first:UInt64} + number) % 5 = 0", "({first:UInt64} + number) % 5 = 1");
    assert_ne!(late, SESSIONS);
    add_from(&store, &late, 0, 3000, 1, "2026-04-15 00:00:00", 0).await;
    add(&store, 3000, 120, 0, "2026-05-01 00:00:00", 3).await;
    // A later step of a few May sessions that happened before they opened,
    // in January (a client that sent its steps out of order): opened in
    // May, they started in January.
    add_from(&store, &only_where("number % 4 = 0"), 3000, 120, 1, "2026-01-10 00:00:00", 1).await;

    let page = SessionFilter { limit: 50, ..Default::default() };
    let march = 1_772_323_200_000_000; // 2026-03-01T00:00:00Z
    let cases = [
        ("newest first", page.clone(), ""),
        ("oldest first", SessionFilter { ascending: true, ..page.clone() }, ""),
        ("one agent", SessionFilter { agent: Some("agent-1".into()), ..page.clone() }, "AND has(groupUniqArray(toString(agent_name)), 'agent-1')"),
        ("one agent, oldest first", SessionFilter { agent: Some("agent-1".into()), ascending: true, ..page.clone() }, "AND has(groupUniqArray(toString(agent_name)), 'agent-1')"),
        ("failed", SessionFilter { failed: Some(true), ..page.clone() }, "AND countIf(failed) > 0"),
        (
            "one agent and failed, each on another row",
            SessionFilter { agent: Some("agent-1".into()), failed: Some(true), ..page.clone() },
            "AND has(groupUniqArray(toString(agent_name)), 'agent-1') AND countIf(failed) > 0",
        ),
        ("failed, oldest first", SessionFilter { failed: Some(true), ascending: true, ..page.clone() }, "AND countIf(failed) > 0"),
        (
            "active on the second day of March",
            SessionFilter { from_us: Some(march + 86_400_000_000), to_us: Some(march + 2 * 86_400_000_000), ..page.clone() },
            "AND max(ts) >= toDateTime64('2026-03-02 00:00:00', 6, 'UTC') AND min(ts) < toDateTime64('2026-03-03 00:00:00', 6, 'UTC')",
        ),
        (
            "active on the second day of March, oldest first",
            SessionFilter { from_us: Some(march + 86_400_000_000), to_us: Some(march + 2 * 86_400_000_000), ascending: true, ..page.clone() },
            "AND max(ts) >= toDateTime64('2026-03-02 00:00:00', 6, 'UTC') AND min(ts) < toDateTime64('2026-03-03 00:00:00', 6, 'UTC')",
        ),
    ];
    for (what, filter, having) in cases {
        let ascending = filter.ascending;
        let want = expected(&store, ascending, having).await;
        assert!(want.len() > 150, "{what}: {} sessions is too few to page through", want.len());
        let got = walk(&store, filter, 4).await;
        assert_eq!(got, want[..got.len().min(want.len())].to_vec(), "{what}");
        assert_eq!(got.len(), 200.min(want.len()), "{what}: four full pages");
    }
    // The newest page is the May sessions, not the March ones that came
    // back in April; the oldest page starts in January, with the May
    // session whose out-of-order step is the earliest of all.
    let newest = walk(&store, page.clone(), 1).await;
    assert_eq!(newest.first().map(String::as_str), Some("s03119"));
    let oldest = walk(&store, SessionFilter { ascending: true, ..page }, 1).await;
    assert_eq!(oldest.first().map(String::as_str), Some("s03000"));
}

/// Migration 26 drops by_start, which the engine refuses while by_start's
/// own build (migration 22's, in the background on a server) still runs:
/// the migration waits for it instead of failing the store's start.
#[tokio::test]
async fn the_migration_waits_for_a_projection_still_being_built_before_it_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    add(&store, 0, 2_000, 0, "2026-03-01 00:00:00", 1).await;
    let v22 = include_str!("../../../schema/0022_sessions_by_start.sql");
    let by_start = v22.split(';').find(|s| s.contains("ADD PROJECTION IF NOT EXISTS by_start")).unwrap();
    let by_start = by_start.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for sql in [
        "ALTER TABLE session_summaries DROP PROJECTION by_start_whole",
        "DELETE FROM schema_migrations WHERE version = 26",
        by_start.as_str(),
        "SYSTEM STOP MERGES session_summaries",
        // A build that cannot finish while merges are stopped.
        "ALTER TABLE session_summaries MATERIALIZE PROJECTION by_start SETTINGS mutations_sync = 0",
    ] {
        store.backend().query(sql, Params::new()).await.unwrap();
    }
    let started = std::time::Instant::now();
    let migrate = flightlog_store::migrations::apply(store.backend());
    let release = async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        store.backend().query("SYSTEM START MERGES session_summaries", Params::new()).await.unwrap();
    };
    let (migrated, ()) = tokio::join!(migrate, release);
    migrated.expect("the migration waited for the build rather than failing");
    assert!(started.elapsed() >= std::time::Duration::from_secs(3), "it could not drop by_start before the build finished");
    let definition = store.backend().query("SELECT create_table_query FROM system.tables WHERE name = 'session_summaries'", Params::new()).await.unwrap();
    let definition = String::from_utf8_lossy(&definition);
    assert!(definition.contains("PROJECTION by_start_whole (") && !definition.contains("PROJECTION by_start ("), "{definition}");
    let page = SessionFilter { limit: 50, ..Default::default() };
    assert_eq!(walk(&store, page, 2).await, expected(&store, false, "").await[..100].to_vec());
}

/// The bounded read of a page's summaries reads the rows that start where
/// its ranking saw them (within its extent, or at its rows' start times); a
/// session read short there (none of its rows there, its rows rebuilt since
/// the page was ranked, or fewer steps than the ranking saw) is read by id
/// instead of being left off the page or listed short.
#[tokio::test]
async fn a_pages_summaries_are_read_where_its_ranking_saw_them_and_none_is_left_off_or_short() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    stop_summary_merges(&store).await;
    // s00000..s00009 start on March 1st, one a minute; s00000..s00004 have
    // a second row in April.
    add(&store, 0, 10, 0, "2026-03-01 00:00:00", 1).await;
    add_from(&store, &only_where("number < 5"), 0, 10, 1, "2026-04-01 00:00:00", 0).await;
    let ids: Vec<String> = (0..10).map(|n| format!("s{n:05}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let unseen: Vec<Seen> = ids.iter().map(|id| Seen { id, ..Seen::default() }).collect();
    let whole = store.summaries_of("p", &ids).await.unwrap();
    let (march, april) = (1_772_323_200_000_000, 1_775_001_600_000_000); // 2026-03-01 and 04-01, 00:00 UTC
    let minute = 60_000_000;
    let by_id = |list: Vec<SessionSummary>| -> std::collections::BTreeMap<String, SessionSummary> {
        list.into_iter().map(|s| (s.session_id.clone(), s)).collect()
    };
    let whole = by_id(whole);
    assert_eq!(whole["s00003"].steps, 2);
    // An extent that holds every row gives the sessions' summaries.
    let within = store.summaries_seen("p", &unseen, &RowsSeen::Within(march, april)).await.unwrap();
    assert_eq!(by_id(within), whole);
    // One from 00:03 to 00:07 on March 1st: s00003 and s00004 have their
    // March row there and not their April one, so they are listed with the
    // first alone (rows outside the extent are not read); s00005..s00007
    // whole; the others have no row there and are read by id, whole.
    let extent = RowsSeen::Within(march + 3 * minute, march + 7 * minute);
    let within = by_id(store.summaries_seen("p", &unseen, &extent).await.unwrap());
    assert_eq!(within.len(), 10, "no session left off: {:?}", within.keys());
    assert_eq!((within["s00003"].steps, within["s00003"].last_us), (1, march + 3 * minute), "its March row only");
    for id in ["s00000", "s00002", "s00005", "s00007", "s00008", "s00009"] {
        assert_eq!(within[id], whole[id], "{id}: whole, within the extent or read by id");
    }
    // Every row's start: the sessions' summaries.
    let every: Vec<i64> = (0..10).map(|n| march + n * minute).chain([april]).collect();
    let at = store.summaries_seen("p", &unseen, &RowsSeen::StartingAt(every.clone())).await.unwrap();
    assert_eq!(by_id(at), whole);
    // Without April: s00000..s00004 are read with their March row alone,
    // unless the ranking saw more steps than that (two, here for s00001).
    let march_rows = RowsSeen::StartingAt(every[..10].to_vec());
    let at = by_id(store.summaries_seen("p", &unseen, &march_rows).await.unwrap());
    assert_eq!((at["s00001"].steps, at["s00001"].last_us), (1, march + minute), "rows at other times are not read");
    let mut seen = unseen.clone();
    seen[1].steps = Some(2);
    seen[2].last_us = Some(april);
    seen[3].first_us = Some(march + 3 * minute - 1);
    let at = by_id(store.summaries_seen("p", &seen, &march_rows).await.unwrap());
    for id in ["s00001", "s00002"] {
        assert_eq!(at[id], whole[id], "{id} seen with more steps, or a later end: read by id, whole");
    }
    assert_eq!(at["s00003"].steps, 2, "seen starting a microsecond earlier: read by id");
    assert_eq!(at["s00004"].steps, 1, "the others as found");
    // A microsecond off s00005's start: it has no row there, and is read
    // by id.
    let mut off = every.clone();
    off[5] += 1;
    let at = by_id(store.summaries_seen("p", &unseen, &RowsSeen::StartingAt(off)).await.unwrap());
    assert_eq!(at.len(), 10, "no session left off: {:?}", at.keys());
    assert_eq!(at, whole);
    // The same whole summaries merged into one row each, found at the
    // start times of the rows the ranking saw (a merged row starts at the
    // earliest of them).
    store.backend().query("SYSTEM START MERGES session_summaries", Params::new()).await.unwrap();
    store.backend().query("OPTIMIZE TABLE session_summaries FINAL", Params::new()).await.unwrap();
    let at = store.summaries_seen("p", &seen, &RowsSeen::StartingAt(every)).await.unwrap();
    assert_eq!(by_id(at), whole);
}

/// `count` sessions from 0 with one step numbered `step` each (where
/// `keep` holds of the session's number), its cost, agent and failure
/// each a function of that number.
/// Each step also calls the session's own action once (the same tool and
/// parameters), so a session in all three inserts repeated it three times.
const COSTED: &str = "INSERT INTO steps (project, session_id, step, ts, agent_name, model_name, model_key, user_id, \
    tool_name, tool_params, estimated_cost, failed, log_index) \
    SELECT 'p', concat('c', leftPad(toString(number), 4, '0')), {step:UInt64}, \
    toDateTime64('2026-06-01 00:00:00', 6, 'UTC') + toIntervalMinute(number + {step:UInt64} * 1000), \
    concat('agent-', toString((number + {step:UInt64}) % 3)), \
    arrayElement(['gpt-4o', 'o3', 'claude-sonnet-4'], 1 + (number + {step:UInt64} * 2) % 3) AS m, m, \
    concat('customer-', toString((number + {step:UInt64}) % 4)), 'send_email', concat('{\"to\":', toString(number), '}'), \
    ((number * 7 + {step:UInt64} * 5) % 17) / 100, (number + {step:UInt64}) % 5 = 0, 1000000 + {step:UInt64} * 10000 + number \
    FROM numbers(400) WHERE {{keep}}";

#[tokio::test]
async fn pages_by_cost_and_length_merge_each_sessions_rows_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    // Three inserts, so three summary rows for some sessions, kept apart:
    // each row alone has too few steps, too little cost or no failure where
    // the session as a whole has them, and a filter or sort applied to the
    // rows before they are merged gives another list.
    for table in ["session_summaries", "session_actions"] {
        store.backend().query(&format!("SYSTEM STOP MERGES {table}"), Params::new()).await.unwrap();
    }
    for (step, keep) in [(0u64, "1"), (1, "number % 2 = 0"), (2, "number % 3 = 0")] {
        store.backend().query(&COSTED.replace("{{keep}}", keep), Params::new().number("step", step)).await.unwrap();
    }
    let rows = String::from_utf8(store.backend().query("SELECT count() AS n FROM session_summaries", Params::new()).await.unwrap()).unwrap();
    let rows: u64 = serde_json::from_str::<serde_json::Value>(&rows).unwrap()["n"].as_u64().unwrap();
    assert!(rows > 600, "the summaries were merged ({rows} rows for 400 sessions): this test needs them apart");

    let page = SessionFilter { limit: 50, ..Default::default() };
    let cost = "round(sum(ifNull(estimated_cost, 0)), 9)";
    let cases = [
        ("by cost", SessionFilter { sort: SessionSort::Cost, ..page.clone() }, whole_list_sql(cost, false, "")),
        ("by cost, cheapest first", SessionFilter { sort: SessionSort::Cost, ascending: true, ..page.clone() }, whole_list_sql(cost, true, "")),
        ("by steps", SessionFilter { sort: SessionSort::Steps, ..page.clone() }, whole_list_sql("count()", false, "")),
        ("by steps, shortest first", SessionFilter { sort: SessionSort::Steps, ascending: true, ..page.clone() }, whole_list_sql("count()", true, "")),
        (
            "cost at least 0.2, by steps",
            SessionFilter { sort: SessionSort::Steps, min_cost: Some(0.2), ..page.clone() },
            whole_list_sql("count()", false, &format!("AND {cost} >= 0.2")),
        ),
        (
            "at least 2 steps, by cost",
            SessionFilter { sort: SessionSort::Cost, min_steps: Some(2), ..page.clone() },
            whole_list_sql(cost, false, "AND count() >= 2"),
        ),
        (
            "never failed, by cost",
            SessionFilter { sort: SessionSort::Cost, failed: Some(false), ..page.clone() },
            whole_list_sql(cost, false, "AND countIf(failed) = 0"),
        ),
        (
            "one agent (on any of its rows), by cost",
            SessionFilter { sort: SessionSort::Cost, agent: Some("agent-2".into()), ..page.clone() },
            whole_list_sql(cost, false, "AND has(groupUniqArray(toString(agent_name)), 'agent-2')"),
        ),
        (
            "one agent and never failed, by start time",
            SessionFilter { agent: Some("agent-1".into()), failed: Some(false), ..page.clone() },
            whole_list_sql("min(ts)", false, "AND has(groupUniqArray(toString(agent_name)), 'agent-1') AND countIf(failed) = 0"),
        ),
        (
            "one agent, oldest first",
            SessionFilter { agent: Some("agent-0".into()), ascending: true, ..page.clone() },
            whole_list_sql("min(ts)", true, "AND has(groupUniqArray(toString(agent_name)), 'agent-0')"),
        ),
        (
            "one customer, by cost",
            SessionFilter { sort: SessionSort::Cost, user: Some("customer-3".into()), ..page.clone() },
            whole_list_sql(cost, false, "AND has(groupUniqArray(user_id), 'customer-3')"),
        ),
        (
            "one customer (named by any of its steps; more sessions than a page ranks alone), newest first",
            SessionFilter { user: Some("customer-1".into()), ..page.clone() },
            whole_list_sql("min(ts)", false, "AND has(groupUniqArray(user_id), 'customer-1')"),
        ),
        (
            "one customer (as few sessions as a page ranks alone) and never failed, shortest first",
            SessionFilter { sort: SessionSort::Steps, user: Some("customer-2".into()), failed: Some(false), ascending: true, ..page.clone() },
            whole_list_sql("count()", true, "AND has(groupUniqArray(user_id), 'customer-2') AND countIf(failed) = 0"),
        ),
        (
            "one model, shortest first",
            SessionFilter { sort: SessionSort::Steps, model: Some("o3".into()), ascending: true, ..page.clone() },
            whole_list_sql("count()", true, "AND has(groupUniqArray(toString(model_name)), 'o3')"),
        ),
        (
            "flagged (the same email sent three times, once per insert), by cost",
            SessionFilter { sort: SessionSort::Cost, flagged: true, ..page.clone() },
            whole_list_sql(cost, false, "AND count() >= 3"),
        ),
    ];
    for (what, filter, sql) in cases {
        let want = ids(&store, &sql, Params::new()).await;
        assert!(want.len() > 60, "{what}: {} sessions is too few to page through", want.len());
        // A page naming a customer with no more sessions than the edge's
        // first sample (200 rows for pages of 50) ranks theirs alone.
        // Recent parts wait beside the largest one, so every other page but
        // those by start time that the edge answers groups their sessions
        // only.
        let customers_sessions = match &filter.user {
            Some(user) => {
                let sql = "SELECT uniqExact(session_id) AS n FROM steps WHERE project = 'p' AND user_id = {user:String}";
                let out = String::from_utf8(store.backend().query(sql, Params::new().text("user", user)).await.unwrap()).unwrap();
                serde_json::from_str::<serde_json::Value>(&out).unwrap()["n"].as_u64().unwrap()
            }
            None => u64::MAX,
        };
        let read = store.page_read("p", &filter).await.unwrap();
        let want_read = match filter.sort {
            _ if customers_sessions <= 200 => PageRead::TheCustomersSessions,
            SessionSort::Time => PageRead::NearTheEdge,
            _ => PageRead::BesideTheLargestPart,
        };
        assert_eq!(read, want_read, "{what}");
        let got = walk(&store, filter, 3).await;
        assert_eq!(got.len(), 150.min(want.len()), "{what}: up to three full pages");
        assert_eq!(got, want[..got.len()].to_vec(), "{what}");
    }
    // The spread counts whole sessions too: with 2 or more steps, those
    // kept by the second or third insert.
    let spread = store.session_spread("p", &SessionFilter { min_steps: Some(2), ..page }).await.unwrap();
    let two_or_more = (0..400).filter(|n| n % 2 == 0 || n % 3 == 0).count() as u64;
    assert_eq!(spread.steps.iter().sum::<u64>(), two_or_more, "{:?}", spread.steps);
    assert_eq!(spread.steps[1], two_or_more, "every such session has 2 or 3 steps: {:?}", spread.steps);
    // And with a named agent, tested on the rows before the merge.
    let agent = store.session_spread("p", &SessionFilter { agent: Some("agent-2".into()), ..Default::default() }).await.unwrap();
    let with_agent_2 = (0..400u64).filter(|n| [0, 1, 2].iter().any(|&k| (k == 0 || (k == 1 && n % 2 == 0) || (k == 2 && n % 3 == 0)) && (n + k) % 3 == 2)).count() as u64;
    assert_eq!(agent.steps.iter().sum::<u64>(), with_agent_2, "{:?}", agent.steps);
    assert_eq!(agent.cost.iter().sum::<u64>(), with_agent_2, "{:?}", agent.cost);
}

/// `count` one-step sessions named `{prefix}{first + n}` that cost `cost`.
const PRICED: &str = "INSERT INTO steps (project, session_id, step, ts, estimated_cost, log_index) \
    SELECT 'p', concat({prefix:String}, toString({first:UInt64} + number)), 0, \
    toDateTime64('2026-06-01 00:00:00', 6, 'UTC') + toIntervalMinute(number), {cost:Float64}, {first:UInt64} * 10 + number \
    FROM numbers({count:UInt64})";

#[tokio::test]
async fn sessions_that_tie_with_the_threshold_keep_their_place_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    stop_summary_merges(&store).await;
    // The largest part: 300 sessions, all at $0.10. Beside it, 60 new ones
    // at $0.10 too, whose ids sort before every one of the 300: newest
    // first, the page is 50 of the 300. Ranked from the sessions beside the
    // largest part and those strictly dearer than the ties alone, the page
    // would be full of the 60, and wrong.
    for (prefix, first, count) in [("t", 100u64, 300u64), ("s", 100, 60)] {
        let params = Params::new().text("prefix", prefix).number("first", first).number("count", count).number("cost", 0.1);
        store.backend().query(PRICED, params).await.unwrap();
    }
    let filter = SessionFilter { sort: SessionSort::Cost, limit: 50, ..Default::default() };
    assert_eq!(store.page_read("p", &filter).await.unwrap(), PageRead::BesideTheLargestPart);
    let page: Vec<String> = store.list_sessions("p", &filter).await.unwrap().sessions.into_iter().map(|s| s.session_id).collect();
    let want: Vec<String> = (350..400).rev().map(|n| format!("t{n}")).collect();
    assert_eq!(page, want);
    // Cheapest first, the page starts with the 60.
    let filter = SessionFilter { ascending: true, ..filter };
    let page: Vec<String> = store.list_sessions("p", &filter).await.unwrap().sessions.into_iter().map(|s| s.session_id).collect();
    let want: Vec<String> = (100..150).map(|n| format!("s{n}")).collect();
    assert_eq!(page, want);
}

/// 2,000 one-step sessions, 7 agents, a failure in 11, costs in steps of
/// $0.001 (each cost twice), one every 13 minutes in a shuffled order.
const MERGED: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, estimated_cost, failed, log_index) \
    SELECT 'p', concat('b', leftPad(toString(number), 5, '0')), 0, 0, \
    toDateTime64('2026-03-01 00:00:00', 6, 'UTC') + toIntervalMinute(number * 7 % 2000 * 13), \
    concat('agent-', toString(number % 7)), (number * 37 % 1000) / 1000, number % 11 = 0, number \
    FROM numbers(2000)";
/// A later, dearer, failed step for the 120 dearest old sessions, so that
/// the rows a guess samples first belong to sessions that fail once merged;
/// and 20 new sessions.
const LATER: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, estimated_cost, failed, log_index) \
    SELECT 'p', concat('b', leftPad(toString(number), 5, '0')), 1, 1, \
    toDateTime64('2026-03-20 00:00:00', 6, 'UTC') + toIntervalMinute(number), 'agent-late', 0.5 + (number % 5) / 10, 1, 10000 + number \
    FROM numbers(2000) WHERE number * 37 % 1000 >= 940";
const NEW: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, agent_name, estimated_cost, failed, log_index) \
    SELECT 'p', concat('n', leftPad(toString(number), 3, '0')), 0, 0, \
    toDateTime64('2026-03-21 00:00:00', 6, 'UTC') + toIntervalMinute(number), 'agent-3', (number % 4) / 4, number % 3 = 0, 20000 + number \
    FROM numbers(20)";

#[tokio::test]
async fn every_page_beside_the_largest_part_is_the_whole_lists_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.backend().query(MERGED, Params::new()).await.unwrap();
    for table in ["session_summaries", "session_actions"] {
        store.backend().query(&format!("OPTIMIZE TABLE {table} FINAL"), Params::new()).await.unwrap();
        store.backend().query(&format!("SYSTEM STOP MERGES {table}"), Params::new()).await.unwrap();
    }
    store.backend().query(LATER, Params::new()).await.unwrap();
    store.backend().query(NEW, Params::new()).await.unwrap();

    // Pages of 10: the first guess samples 100 of the 2,000 rows of the
    // largest part, so it sees them all only where the filter is selective.
    let page = SessionFilter { limit: 10, ..Default::default() };
    let march_3 = 1_772_496_000_000_000; // 2026-03-03T00:00:00Z
    let cost = "round(sum(ifNull(estimated_cost, 0)), 9)";
    let cases: Vec<(&str, SessionFilter, &str)> = vec![
        ("all", page.clone(), ""),
        ("never failed", SessionFilter { failed: Some(false), ..page.clone() }, "AND countIf(failed) = 0"),
        ("failed", SessionFilter { failed: Some(true), ..page.clone() }, "AND countIf(failed) > 0"),
        ("cost at least $0.9", SessionFilter { min_cost: Some(0.9), ..page.clone() }, "AND round(sum(ifNull(estimated_cost, 0)), 9) >= 0.9"),
        ("two steps or more (none in the largest part alone)", SessionFilter { min_steps: Some(2), ..page.clone() }, "AND count() >= 2"),
        ("one agent", SessionFilter { agent: Some("agent-3".into()), ..page.clone() }, "AND has(groupUniqArray(toString(agent_name)), 'agent-3')"),
        (
            "active on 3 March",
            SessionFilter { from_us: Some(march_3), to_us: Some(march_3 + 86_400_000_000), ..page.clone() },
            "AND max(ts) >= toDateTime64('2026-03-03 00:00:00', 6, 'UTC') AND min(ts) < toDateTime64('2026-03-04 00:00:00', 6, 'UTC')",
        ),
    ];
    for (what, filter, having) in &cases {
        for (sort, key) in [(SessionSort::Cost, cost), (SessionSort::Steps, "count()"), (SessionSort::Time, "min(ts)")] {
            for ascending in [false, true] {
                let filter = SessionFilter { sort, ascending, ..filter.clone() };
                let want = ids(&store, &whole_list_sql(key, ascending, having), Params::new()).await;
                // Page by page, each read noted, as far as three pages go.
                let mut got = Vec::new();
                let mut f = filter.clone();
                for _ in 0..3 {
                    // Pages by start time in a time range are not answered
                    // at the edge; the others by start time may be.
                    let read = store.page_read("p", &f).await.unwrap();
                    if sort != SessionSort::Time || f.from_us.is_some() {
                        assert_eq!(read, PageRead::BesideTheLargestPart, "{what}, {sort:?}, ascending {ascending}");
                    }
                    let page = store.list_sessions("p", &f).await.unwrap();
                    assert_listed_as_alone(&store, &page.sessions).await;
                    got.extend(page.sessions.into_iter().map(|s| s.session_id));
                    match page.next_cursor {
                        Some(c) => f.cursor = Some(c),
                        None => break,
                    }
                }
                assert_eq!(got, want[..got.len()].to_vec(), "{what}, {sort:?}, ascending {ascending}");
                assert_eq!(got.len(), 30.min(want.len()), "{what}, {sort:?}, ascending {ascending}: up to three full pages");
            }
        }
    }
}

/// `count` one-step sessions of customer `user`, named `{user}-{n}`, one a
/// minute, every third failed, each at its own cost.
const OF_CUSTOMER: &str = "INSERT INTO steps (project, session_id, step, session_seq, ts, user_id, agent_name, estimated_cost, failed, log_index) \
    SELECT 'p', concat({user:String}, '-', toString(number)), 0, 0, \
    toDateTime64('2026-06-01 00:00:00', 6, 'UTC') + toIntervalMinute(number), {user:String}, \
    if(number % 5 = 0, 'agent-a', 'agent-b'), (number * 37 % 100) / 100, number % 3 = 0, {first:UInt64} + number \
    FROM numbers({count:UInt64})";

#[tokio::test]
async fn a_page_naming_a_customer_with_few_sessions_ranks_theirs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    // Pages of 50 sample 200 rows at the edge first, so a customer with 200
    // sessions has theirs ranked alone and one with 201 does not. "small"
    // and "big" each add a later step of the other's to a few sessions,
    // kept in summary rows of their own: those sessions name both, one of
    // them on their later row only, and cost more once merged.
    for (user, first, count) in [("big", 0u64, 1_000u64), ("small", 100_000, 80), ("edge", 200_000, 200), ("over", 300_000, 201)] {
        let params = Params::new().text("user", user).number("first", first).number("count", count);
        store.backend().query(OF_CUSTOMER, params).await.unwrap();
    }
    stop_summary_merges(&store).await;
    let later = "INSERT INTO steps (project, session_id, step, session_seq, ts, user_id, estimated_cost, log_index) \
        SELECT 'p', session_id, 1, 1, toDateTime64('2026-07-01 00:00:00', 6, 'UTC'), \
        if(startsWith(session_id, 'big'), 'small', 'big'), 0.25, 400000 + rowNumberInAllBlocks() \
        FROM (SELECT DISTINCT session_id FROM steps WHERE project = 'p' AND (session_id LIKE 'small-%' OR session_id LIKE 'big-9__'))";
    store.backend().query(later, Params::new()).await.unwrap();
    // A second step, 30 s after the first, for about a third of every
    // customer's sessions (the pages of two steps or more).
    let second = "INSERT INTO steps (project, session_id, step, session_seq, ts, user_id, estimated_cost, log_index) \
        SELECT 'p', session_id, 2, 2, t + toIntervalSecond(30), u, 0.01, 500000 + rowNumberInAllBlocks() \
        FROM (SELECT session_id, min(ts) AS t, any(user_id) AS u FROM steps WHERE project = 'p' AND step = 0 \
              AND cityHash64(session_id) % 3 = 0 GROUP BY session_id)";
    store.backend().query(second, Params::new()).await.unwrap();
    // The spread counts every session that names the customer, on any step.
    for (user, sessions) in [("small", 80 + 100), ("big", 1_000 + 80), ("edge", 200), ("over", 201)] {
        let spread = store.session_spread("p", &SessionFilter { user: Some(user.into()), ..Default::default() }).await.unwrap();
        assert_eq!(spread.steps.iter().sum::<u64>(), sessions, "{user}: {:?}", spread.steps);
    }
    let cost = "round(sum(ifNull(estimated_cost, 0)), 9)";
    let page = SessionFilter { limit: 50, ..Default::default() };
    for (user, alone) in [("small", true), ("edge", true), ("over", false), ("big", false)] {
        for (sort, key, ascending) in [
            (SessionSort::Time, "min(ts)", false),
            (SessionSort::Time, "min(ts)", true),
            (SessionSort::Cost, cost, false),
            (SessionSort::Cost, cost, true),
            (SessionSort::Steps, "count()", false),
        ] {
            // June 1st's first 20 minutes and last 4 hours left out.
            let (from_us, to_us) = (1_780_272_000_000_000 + 20 * 60_000_000, 1_780_272_000_000_000 + 20 * 3_600_000_000);
            for (what, extra, having) in [
                ("all", SessionFilter::default(), String::new()),
                ("failed", SessionFilter { failed: Some(true), ..Default::default() }, "AND countIf(failed) > 0".to_string()),
                ("cost at least $0.5", SessionFilter { min_cost: Some(0.5), ..Default::default() }, format!("AND {cost} >= 0.5")),
                ("two steps or more", SessionFilter { min_steps: Some(2), ..Default::default() }, "AND count() >= 2".to_string()),
                ("agent-b too", SessionFilter { agent: Some("agent-b".into()), ..Default::default() }, "AND has(groupUniqArray(toString(agent_name)), 'agent-b')".to_string()),
                (
                    "active in a time range",
                    SessionFilter { from_us: Some(from_us), to_us: Some(to_us), ..Default::default() },
                    format!("AND toUnixTimestamp64Micro(max(ts)) >= {from_us} AND toUnixTimestamp64Micro(min(ts)) < {to_us}"),
                ),
            ] {
                let filter = SessionFilter { user: Some(user.into()), sort, ascending, limit: page.limit, ..extra.clone() };
                let having = format!("AND has(groupUniqArray(user_id), {{user:String}}) {having}");
                let want = ids(&store, &whole_list_sql(key, ascending, &having), Params::new().text("user", user)).await;
                let case = format!("{user}, {what}, {sort:?}, ascending {ascending}");
                assert!(want.len() > 50, "{case}: {} sessions is too few to page through", want.len());
                let read = store.page_read("p", &filter).await.unwrap();
                assert_eq!(read == PageRead::TheCustomersSessions, alone, "{case}: {read:?}");
                let got = walk(&store, filter, 3).await;
                assert_eq!(got, want[..150.min(want.len())].to_vec(), "{case}");
            }
        }
        // No session is flagged (none has 1,000 steps or an action made
        // three times), but the page's read runs the flagged condition's
        // subquery (with its own SETTINGS) inside its own.
        let flagged = SessionFilter { user: Some(user.into()), flagged: true, ..page.clone() };
        assert_eq!(store.page_read("p", &flagged).await.unwrap() == PageRead::TheCustomersSessions, alone, "{user}, flagged");
        assert!(walk(&store, flagged, 1).await.is_empty(), "{user}, flagged");
    }
    // Each listed value is the steps' own: a page read alone for "small",
    // by cost, checked against sums over the steps.
    let listed = store.list_sessions("p", &SessionFilter { user: Some("small".into()), sort: SessionSort::Cost, ..page.clone() }).await.unwrap();
    let sql = format!(
        "SELECT session_id, toUnixTimestamp64Micro(min(ts)) AS first_us, toUnixTimestamp64Micro(max(ts)) AS last_us, count() AS steps, \
         countIf(failed) AS failed_steps, {cost} AS estimated_cost FROM steps WHERE project = 'p' GROUP BY session_id"
    );
    let out = String::from_utf8(store.backend().query(&sql, Params::new()).await.unwrap()).unwrap();
    let direct: std::collections::HashMap<String, serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["session_id"].as_str().unwrap().to_string(), v))
        .collect();
    assert_eq!(listed.sessions.len(), 50);
    for s in &listed.sessions {
        let d = &direct[&s.session_id];
        let want = (d["first_us"].as_i64(), d["last_us"].as_i64(), d["steps"].as_u64(), d["failed_steps"].as_u64(), d["estimated_cost"].as_f64());
        assert_eq!((Some(s.first_us), Some(s.last_us), Some(s.steps), Some(s.failed_steps), Some(s.estimated_cost)), want, "{}", s.session_id);
        assert!(s.users.contains(&"small".to_string()), "{}: {:?}", s.session_id, s.users);
    }
}

#[tokio::test]
async fn a_session_left_without_an_opening_row_is_given_one_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    stop_summary_merges(&store).await;
    add(&store, 0, 400, 0, "2026-03-01 00:00:00", 1).await;
    // The newest session's only stored steps are its third and fourth (as
    // when a step arrived while the first ones expired): no row opens it.
    for step in [3, 4] {
        add(&store, 9_000, 1, step, "2026-06-01 00:00:00", 0).await;
    }
    let opening = |store: &Store| {
        let store = store.clone();
        async move {
            let out = store
                .backend()
                .query("SELECT toUInt8(max(opens)) AS o, sum(steps) AS n FROM session_summaries WHERE session_id = 's09000'", Params::new())
                .await
                .unwrap();
            let row: serde_json::Value = serde_json::from_slice(&out).unwrap();
            (row["o"].as_u64().unwrap(), row["n"].as_u64().unwrap())
        }
    };
    assert_eq!(opening(&store).await, (0, 2), "set-up: two steps, no opening row");

    store.repair_derived_tables().await.unwrap();
    assert_eq!(opening(&store).await, (1, 2), "an opening row was added, and the session's sums are unchanged");
    let page = SessionFilter { limit: 50, ..Default::default() };
    let want = expected(&store, false, "").await;
    assert_eq!(want.first().map(String::as_str), Some("s09000"));
    assert_eq!(walk(&store, page, 3).await, want[..150].to_vec());
    let listed = store.session_summary("p", "s09000").await.unwrap().expect("listed");
    assert_eq!((listed.steps, listed.first_us), (2, 1_780_272_000_000_000), "its steps and start, 2026-06-01");
    // A second repair finds nothing to do.
    store.repair_derived_tables().await.unwrap();
    let rows = store.backend().query("SELECT count() AS c FROM session_summaries WHERE session_id = 's09000' AND opens = 1", Params::new()).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&rows).unwrap()["c"], serde_json::json!(1));
}

/// A store written before migration 22 (no projection, no `opens`, the view
/// of migration 2) is migrated when it opens: its rows count as opening,
/// its later steps get `opens` from the view, and every page is still the
/// whole list's.
#[tokio::test]
async fn a_store_written_before_the_start_time_projection_is_migrated_and_lists_the_same() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        let v2 = include_str!("../../../schema/0002_session_summaries.sql");
        let view = v2.split("TO session_summaries AS").nth(1).unwrap().trim().trim_end_matches(';');
        for sql in [
            "ALTER TABLE session_summaries DROP PROJECTION by_start_whole".to_string(),
            format!("ALTER TABLE session_summaries_mv MODIFY QUERY {view}"),
            "ALTER TABLE session_summaries DROP COLUMN opens".to_string(),
            "DELETE FROM schema_migrations WHERE version IN (22, 26)".to_string(),
        ] {
            store.backend().query(&sql, Params::new()).await.unwrap();
        }
        stop_summary_merges(&store).await;
        add(&store, 0, 600, 0, "2026-03-01 00:00:00", 2).await;
        // Later steps of most of them, in April, before the upgrade.
        add_from(&store, &only_where("number % 5 != 0"), 0, 600, 1, "2026-04-01 00:00:00", 0).await;
        let columns = store.backend().query("SELECT name FROM system.columns WHERE table = 'session_summaries' AND name = 'opens'", Params::new()).await.unwrap();
        assert!(columns.is_empty(), "set-up: the table as migration 21 left it");
    }
    let store = open(dir.path()).await;
    let definition = store.backend().query("SELECT create_table_query FROM system.tables WHERE name = 'session_summaries'", Params::new()).await.unwrap();
    let definition = String::from_utf8_lossy(&definition);
    assert!(definition.contains("PROJECTION by_start_whole ("), "the projection is back, with every column: {definition}");
    assert!(!definition.contains("PROJECTION by_start ("), "the narrower one is gone: {definition}");
    stop_summary_merges(&store).await;
    // After the upgrade: more of those sessions' steps, in May, and new sessions in June.
    add_from(&store, &only_where("number % 3 = 0"), 0, 600, 2, "2026-05-01 00:00:00", 0).await;
    add(&store, 1_000, 80, 0, "2026-06-01 00:00:00", 1).await;

    let opens = String::from_utf8(
        store.backend().query("SELECT toUInt8(opens) AS o, count() AS n FROM session_summaries GROUP BY o ORDER BY o", Params::new()).await.unwrap(),
    )
    .unwrap();
    // Rows written before the upgrade (600 + 480) count as opening, the
    // May rows (200, chain place 2) do not, the June sessions open.
    assert_eq!(opens.lines().collect::<Vec<_>>(), [r#"{"o":0,"n":200}"#, r#"{"o":1,"n":1160}"#]);
    let page = SessionFilter { limit: 50, ..Default::default() };
    for (what, filter, having) in [
        ("newest first", page.clone(), ""),
        ("one agent", SessionFilter { agent: Some("agent-2".into()), ..page.clone() }, "AND has(groupUniqArray(toString(agent_name)), 'agent-2')"),
        ("oldest first", SessionFilter { ascending: true, ..page.clone() }, ""),
    ] {
        let want = expected(&store, filter.ascending, having).await;
        assert_eq!(walk(&store, filter, 3).await, want[..150].to_vec(), "{what}");
    }
}
