//! Session summaries: the list (filtered, sorted, cursor-paged) and one
//! session's header.

use crate::backend::{Backend, Params, StoreError, column, rows};
use crate::Store;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flightlog_model::anomaly::{Anomaly, REPEATED_ACTION_TIMES, RUNAWAY_STEPS, anomalies};

const SESSIONS_RANKED: &str = include_str!("queries/sessions_ranked.sql");
const SESSION_TIME_THRESHOLD: &str = include_str!("queries/session_time_threshold.sql");
const SESSION_SUMMARIES_LARGEST_PART: &str = include_str!("queries/session_summaries_largest_part.sql");
const SESSION_PAGE_THRESHOLD: &str = include_str!("queries/session_page_threshold.sql");
const SESSIONS_RANKED_BESIDE_LARGEST_PART: &str = include_str!("queries/sessions_ranked_beside_largest_part.sql");
const SESSION_SPREAD: &str = include_str!("queries/session_spread.sql");
const SPARKLINES: &str = include_str!("queries/session_sparklines.sql");
const SESSION_SUMMARIES_OF: &str = include_str!("queries/session_summaries_of.sql");
const SESSIONS_RANKED_OF: &str = include_str!("queries/sessions_ranked_of.sql");
const REBUILD_SESSION_SUMMARIES: &str = include_str!("queries/rebuild_session_summaries.sql");
const SUMMARY_TOTALS_AGREE: &str = include_str!("queries/summary_totals_agree.sql");
const INCIDENTS_OF_SESSIONS: &str = include_str!("queries/incidents_of_sessions.sql");
const REPEATED_ACTIONS_OF: &str = include_str!("queries/repeated_actions_of.sql");
const ACTIONS_TOTALS_AGREE: &str = include_str!("queries/actions_totals_agree.sql");
const REBUILD_SESSION_ACTIONS: &str = include_str!("queries/rebuild_session_actions.sql");
const OPEN_UNOPENED_SESSIONS: &str = include_str!("queries/open_unopened_sessions.sql");

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_us: i64,
    pub last_us: i64,
    pub steps: u64,
    pub failed_steps: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub estimated_cost: f64,
    pub agents: Vec<String>,
    pub models: Vec<String>,
    pub users: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionSort {
    #[default]
    Time,
    Cost,
    Steps,
}

impl SessionSort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "time" => Some(Self::Time),
            "cost" => Some(Self::Cost),
            "steps" => Some(Self::Steps),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Time => "time",
            Self::Cost => "cost",
            Self::Steps => "steps",
        }
    }

    /// The output column sorted on, and the type of its cursor parameter.
    fn column(self) -> (&'static str, &'static str) {
        match self {
            Self::Time => ("first_us", "Int64"),
            Self::Cost => ("estimated_cost", "Float64"),
            Self::Steps => ("steps", "UInt64"),
        }
    }

    /// What a ranking returns beside the sort key (the `{{extent}}`
    /// marker): on a page by start time, each session's last time, which
    /// with its start bounds where its summary rows lie
    /// ([`Ranked::extent`]). Other pages leave it out: each column the
    /// ranking returns is read for every session it merges.
    fn extent(self) -> &'static str {
        match self {
            Self::Time => ", last_us",
            Self::Cost | Self::Steps => "",
        }
    }

    /// What a ranking that reads every row of its sessions returns beside
    /// the extent (the `{{starts}}` marker of
    /// sessions_ranked_beside_largest_part.sql): on a page by start time,
    /// where each session's rows start and its step count
    /// ([`Ranked::rows_seen`]). Pages by cost or length leave them out:
    /// their sessions' rows lie anywhere in time, so a read at those times
    /// saves nothing over one by id (over 1M sessions while recent parts
    /// wait, the lists cost those pages 7-10 ms more).
    fn starts(self) -> &'static str {
        match self {
            Self::Time => ", starts, steps AS seen_steps",
            Self::Cost | Self::Steps => "",
        }
    }

    /// The stored column the sort key is made from, and how the key is
    /// made from an extreme of it (`{{edge}}`): the key is monotonic in it.
    fn stored_column(self) -> (&'static str, &'static str) {
        match self {
            Self::Time => ("first_ts", "toUnixTimestamp64Micro({{edge}})"),
            Self::Cost => ("session_summaries.estimated_cost", "round({{edge}}, 9)"),
            Self::Steps => ("steps", "{{edge}}"),
        }
    }

    fn key_of(self, s: &Ranked) -> serde_json::Value {
        match self {
            Self::Time => s.first_us.into(),
            Self::Cost => s.estimated_cost.into(),
            Self::Steps => s.steps.into(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    /// Sessions active in [from_us, to_us).
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub model: Option<String>,
    /// Some(true): sessions with a failed step; Some(false): without.
    pub failed: Option<bool>,
    pub min_cost: Option<f64>,
    pub min_steps: Option<u64>,
    /// Only sessions with an anomaly (flightlog-model `anomaly`).
    pub flagged: bool,
    pub sort: SessionSort,
    pub ascending: bool,
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, serde::Serialize)]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    pub next_cursor: Option<String>,
}

/// Which read ranked a page of the session list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRead {
    /// Pages naming a customer with few sessions: those sessions only
    /// (`ranked_from_the_customers_sessions`).
    TheCustomersSessions,
    /// Pages by start time: the sessions near the page's end of the list
    /// (`ranked_near_the_edge`).
    NearTheEdge,
    /// While recent summary parts wait to be merged: the sessions with a
    /// row there, and those whose one row can make the page
    /// (`ranked_beside_the_largest_part`).
    BesideTheLargestPart,
    /// Every session, merged (sessions_ranked.sql).
    WholeList,
}

/// A session as the ranking query returns it: its id and the page's sort
/// key (the other keys are left at zero).
#[derive(serde::Deserialize)]
struct Ranked {
    session_id: String,
    #[serde(default)]
    first_us: i64,
    /// Returned by pages by start time only ([`SessionSort::extent`]).
    #[serde(default)]
    last_us: Option<i64>,
    #[serde(default)]
    steps: u64,
    #[serde(default)]
    estimated_cost: f64,
    /// Where each of the session's summary rows starts, and its merged
    /// step count, from a ranking that read every one of its rows
    /// ([`SessionSort::starts`]).
    #[serde(default)]
    starts: Option<Vec<i64>>,
    #[serde(default)]
    seen_steps: Option<u64>,
}

impl Ranked {
    /// A listed session's id and sort keys.
    fn of(s: &SessionSummary) -> Self {
        Self {
            session_id: s.session_id.clone(),
            first_us: s.first_us,
            last_us: Some(s.last_us),
            steps: s.steps,
            estimated_cost: s.estimated_cost,
            starts: None,
            seen_steps: None,
        }
    }

    /// Where the ranking saw the summary rows of `page`'s sessions: at
    /// their rows' start times when it returned them, with each session's
    /// step count, for every session, else within the page's extent when
    /// it returned that, else nowhere known.
    fn rows_seen(page: &[Ranked]) -> RowsSeen {
        let read_every_row = !page.is_empty() && page.iter().all(|r| r.seen_steps.is_some());
        if read_every_row && let Some(starts) = page.iter().map(|r| r.starts.as_deref()).collect::<Option<Vec<&[i64]>>>() {
            return RowsSeen::StartingAt(starts.concat());
        }
        match Self::extent(page) {
            Some((from, to)) => RowsSeen::Within(from, to),
            None => RowsSeen::Anywhere,
        }
    }

    /// What the ranking saw of this session: its first and last time on
    /// a page by start time (the only ranking that returns the last), its
    /// step count where the ranking read every row.
    fn seen(&self) -> Seen<'_> {
        Seen { id: &self.session_id, first_us: self.last_us.map(|_| self.first_us), last_us: self.last_us, steps: self.seen_steps }
    }

    /// The earliest start and the latest end of `page`'s sessions, when
    /// its ranking returned both: every summary row of those sessions
    /// starts between the two (a row starts at or after its session's
    /// start, and no later than it ends).
    fn extent(page: &[Ranked]) -> Option<(i64, i64)> {
        let spans: Option<Vec<(i64, i64)>> = page.iter().map(|r| r.last_us.map(|last| (r.first_us, last))).collect();
        spans?.into_iter().reduce(|(from, to), (first, last)| (from.min(first), to.max(last)))
    }
}

/// A page as its read ranked it: the sessions' ids and sort keys, whose
/// summaries are read next, or their whole summaries already.
enum RankedPage {
    Keys(Vec<Ranked>),
    Whole(Vec<SessionSummary>),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// The sort key of the last session on the page.
    k: serde_json::Value,
    /// Its id, the tie-breaker.
    s: String,
    /// The sort it was made for: a cursor of another sort is refused.
    #[serde(default)]
    o: String,
    /// Whether that sort was ascending: a cursor read the other way would
    /// list the pages already seen again. Written only when true, so that
    /// a descending cursor is the same as before it was added.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    a: bool,
}

impl Store {
    pub async fn list_sessions(&self, project: &str, f: &SessionFilter) -> Result<SessionPage, StoreError> {
        let (ranked, _) = self.rank_sessions(project, f).await?;
        let (keys, sessions) = match ranked {
            RankedPage::Keys(ranked) => {
                let seen: Vec<Seen> = ranked.iter().map(Ranked::seen).collect();
                let mut full: std::collections::HashMap<String, SessionSummary> = self
                    .summaries_seen(project, &seen, &Ranked::rows_seen(&ranked))
                    .await?
                    .into_iter()
                    .map(|s| (s.session_id.clone(), s))
                    .collect();
                let sessions = ranked.iter().filter_map(|r| full.remove(&r.session_id)).collect();
                (ranked, sessions)
            }
            RankedPage::Whole(sessions) => (sessions.iter().map(Ranked::of).collect(), sessions),
        };
        // The cursor carries the ranking's own values, so the next page
        // continues exactly where this ranking stopped.
        let next_cursor = (keys.len() as u32 == f.limit && f.limit > 0).then(|| {
            let last = keys.last().expect("a full page is not empty");
            encode_cursor(&Cursor { k: f.sort.key_of(last), s: last.session_id.clone(), o: f.sort.name().into(), a: f.ascending })
        });
        Ok(SessionPage { sessions, next_cursor })
    }

    /// Which read ranks the page `f` of `project` (see [`PageRead`]), as
    /// `list_sessions` would choose it: for tests and the benchmark.
    pub async fn page_read(&self, project: &str, f: &SessionFilter) -> Result<PageRead, StoreError> {
        Ok(self.rank_sessions(project, f).await?.1)
    }

    /// The sessions of the page `f` (ids and sort keys, or whole
    /// summaries where the read grouped them anyway), and which read
    /// ranked them.
    async fn rank_sessions(&self, project: &str, f: &SessionFilter) -> Result<(RankedPage, PageRead), StoreError> {
        let (column, _) = f.sort.column();
        let mut params = Params::new().text("project", project).number("limit", f.limit);
        let filter = FilterSql::of(f, &mut params, true)?;
        let ranked_sql = |lists, extent| {
            filter
                .fill(SESSIONS_RANKED, lists)
                .replace("{{key}}", column)
                .replace("{{extent}}", extent)
                .replace("{{order}}", &order_by(f.sort, f.ascending))
        };
        // Which pages by start time look for the edge first, as measured
        // by `flightlog-bench sessions` over 1M sessions with random ids
        // (p50, edge first against every merged row read once):
        // - one naming an agent, customer or model: the candidates narrow
        //   the merge to a few hundred sessions, whose lists are merged and
        //   tested there, where a set of every session naming it costs
        //   more (agent 56-66 against 115 ms; a customer with few sessions
        //   has them ranked alone, before this);
        // - one without a filter, or filtered on failures, cost or length:
        //   FINAL without candidates merges every session while recent
        //   parts wait to be merged (54-66 against 93-95 ms, and 75 against
        //   1,274 over 10M), and reads every session once merged (47-65
        //   against 83 ms);
        // - not one flagged, nor one in a time range, whose threshold reads
        //   half the start-time projection for a day in the middle of the
        //   list (100 against 53 ms merged, 109 against 111 with recent
        //   parts; 1,332 against 407 ms over 10M with recent parts, where
        //   the next read answers them).
        // Any other page, while recent parts wait beside the largest one,
        // groups only the sessions that can make it (over 10M sessions with
        // 10,000 recent steps: by cost 302 against 769 ms, one day 389
        // against 636); once merged, FINAL merges nothing and reads every
        // session once.
        if let Some(user) = &f.user
            && let Some(page) = self.ranked_from_the_customers_sessions(project, user, f, &filter, &params).await?
        {
            return Ok((RankedPage::Whole(page), PageRead::TheCustomersSessions));
        }
        let edge_first = f.sort == SessionSort::Time && (!filter.lists.is_empty() || (!f.flagged && f.from_us.is_none() && f.to_us.is_none()));
        // The ranking of the sessions near the edge, which tests the named
        // lists once merged.
        let narrowed_sql = ranked_sql(Lists::AfterMerge, f.sort.extent());
        if edge_first && let Some(ranked) = self.ranked_near_the_edge(f, &narrowed_sql, &params).await? {
            return Ok((RankedPage::Keys(ranked), PageRead::NearTheEdge));
        }
        if self.shared_snapshots && let Some(ranked) = self.ranked_beside_the_largest_part(f, &filter, &params).await? {
            return Ok((RankedPage::Keys(ranked), PageRead::BesideTheLargestPart));
        }
        // The whole list returns the extent only for a page in a time
        // range, whose sessions lie near it: elsewhere (flagged) its
        // sessions lie anywhere, and the last times of every session cost
        // more than the bound saves (over 10M sessions, one run each:
        // flagged p50 124 ms with it, 87 without; one day 149 with it, 212
        // without).
        let extent = match f.from_us.is_some() || f.to_us.is_some() {
            true => f.sort.extent(),
            false => "",
        };
        let ranked = rows(&self.ch.query(&ranked_sql(Lists::BeforeMerge, extent).replace("{{candidates}}", ""), params).await?)?;
        Ok((RankedPage::Keys(ranked), PageRead::WholeList))
    }

    /// A page naming a customer, ranked from that customer's sessions
    /// only, or none when they are more than the first sample of the edge
    /// ([`edge_samples`]).
    ///
    /// Why: newest first, the edge guesses its threshold from that many
    /// rows that name the customer. A customer with no more sessions than
    /// that has it read the whole list back, then again for its
    /// candidates, to merge in the end the customer's sessions, all or
    /// nearly. Found in one read of the lists instead, they are bound to
    /// the ranking as a set, which merges only them: over 1M sessions of
    /// 5,000 customers, 70-74 against 95-97 ms (p50, merged). The same holds
    /// for the other sorts, which merge every session that names the
    /// customer. A customer with more sessions has the edge stop early, and
    /// the set would touch nearly every granule with random ids (2,000
    /// sessions over 10M: 388 against 117 ms), so such a page is ranked as
    /// before.
    ///
    /// The page is answered with those sessions' whole summaries
    /// (sessions_ranked_of.sql): they are grouped from their rows anyway,
    /// and a second read of the page's rows would touch most granules
    /// again.
    ///
    /// Why it is exact: a session's customers are the union of its summary
    /// rows' (each from its steps), so the sessions with a row that names
    /// the customer are every session that does. They are merged from all
    /// their rows (grouped, as a session's header is), and the merged list
    /// is tested again, with the rest of the filter, as on the whole list.
    async fn ranked_from_the_customers_sessions(
        &self,
        project: &str,
        user: &str,
        f: &SessionFilter,
        filter: &FilterSql,
        params: &Params,
    ) -> Result<Option<Vec<SessionSummary>>, StoreError> {
        if f.limit == 0 {
            return Ok(None);
        }
        let [most, _] = edge_samples(f.limit);
        // One more, so that a customer with more is told apart: the read
        // stops at it, early for a customer with many more sessions.
        let (list, name) = CUSTOMERS;
        let find = Params::new().text("project", project).text(name, user).number("most", most + 1);
        let sql = format!("SELECT DISTINCT session_id FROM ({}) LIMIT {{most:UInt64}}", sessions_naming(list, name));
        let sessions: Vec<Ranked> = rows(&self.ch.query(&sql, find).await?)?;
        if sessions.len() as u64 > most {
            return Ok(None);
        }
        if sessions.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let ranked_sql = filter
            .fill(SESSIONS_RANKED_OF, Lists::AfterMerge)
            .replace("{{summaries}}", &summaries_of_sql(""))
            .replace("{{order}}", &order_by(f.sort, f.ascending));
        let params = params.clone().texts("sessions", sessions.iter().map(|s| s.session_id.as_str()));
        Ok(Some(rows(&self.ch.query(&ranked_sql, params).await?)?))
    }

    /// A page sorted by start time, ranked from the sessions near its end of
    /// the list only (a few hundred, where the whole list is millions), or
    /// none when that page cannot be proven to be the whole list's.
    ///
    /// Why it is exact: take a start time T, and C the sessions with a
    /// summary row that starts at or after T (newest first; at or before
    /// it, oldest first). A session outside C started before T, as every
    /// one of its rows did. So when the page ranked from C is full and its
    /// last session started at or after T, every session outside C ranks
    /// after the whole page. Filters and the cursor narrow both sides alike,
    /// and C may keep only sessions whose rows at or past T meet each
    /// condition of the filter that such a row must meet, and, newest
    /// first, include a row that opens the session (a session that started
    /// at or after T has all its rows there, its opening one too). C is a
    /// set of whole sessions in the read's PREWHERE, so each of its
    /// sessions is merged from all of its rows before any other condition
    /// is tested. T is only a guess (session_time_threshold.sql, from a
    /// sample of [`edge_samples`]); a wrong one costs a try with a wider
    /// sample, then the whole list's query, never a wrong page.
    async fn ranked_near_the_edge(&self, f: &SessionFilter, ranked_sql: &str, params: &Params) -> Result<Option<Vec<Ranked>>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Threshold {
            threshold_us: i64,
            rows: u64,
        }
        debug_assert_eq!(f.sort, SessionSort::Time, "the ranking returns first_us for pages by start time only");
        if f.limit == 0 {
            return Ok(None);
        }
        let (edge, direction) = edge_and_direction(f.ascending);
        let op = Past::AtOrPast.op(f.ascending);
        // Conditions a session on the page meets, each on one of its rows
        // at or past T (not all on the same row: its summary rows may not
        // be merged yet), so C may keep only sessions whose rows there meet
        // each of them. Newest first, any of its rows is at or past T; oldest
        // first, only its first row is sure to be, and only `to` holds there.
        let mut page_needs: Vec<String> = Vec::new();
        if f.to_us.is_some() {
            page_needs.push(STARTS_BEFORE_TO.into());
        }
        if !f.ascending {
            if f.from_us.is_some() {
                page_needs.push(ENDS_AT_OR_AFTER_FROM.into());
            }
            for (value, list, name) in named_lists(f) {
                if value.is_some() {
                    page_needs.push(names(list, name));
                }
            }
            if f.failed == Some(true) {
                page_needs.push("failed_steps > 0".into());
            }
        }
        // Newest first, a session on the page has a row that opens it at or
        // past T (every session has one: 0022_sessions_by_start.sql), so the
        // later rows of older sessions, which start late and crowd the edge
        // while agents record, say nothing of where the page ends. C may
        // leave out a session none of whose opening rows is there, where
        // that costs a grouping of the rows past T: when the page names no
        // agent, customer or model (naming one may leave T far back, where
        // most rows lie past it).
        let opening = !f.ascending;
        let opening_in_c = opening && f.agent.is_none() && f.user.is_none() && f.model.is_none();
        // The guess looks past the cursor, where the next page lies, at rows
        // that meet every condition at once: only a guess, so a row that
        // meets them all is a good enough sign of a session that does.
        let mut near: String = page_needs.iter().map(|c| format!(" AND {c}")).collect();
        if opening {
            near.push_str(" AND opens");
        }
        if f.cursor.is_some() {
            near.push_str(if f.ascending { " AND first_ts >= " } else { " AND first_ts <= " });
            near.push_str("fromUnixTimestamp64Micro({cursor_key:Int64}, 'UTC')");
        }
        let sql = SESSION_TIME_THRESHOLD.replace("{{edge}}", edge).replace("{{near}}", &near).replace("{{direction}}", direction);
        let mut needs = page_needs;
        if opening_in_c {
            needs.push("opens".into());
        }
        let each_met = if needs.is_empty() {
            String::new()
        } else {
            // Only rows that meet one of them can count, so only those are
            // grouped: a selective filter keeps this small.
            let each: Vec<String> = needs.iter().map(|c| format!("max({c})")).collect();
            format!(" AND ({}) GROUP BY session_id HAVING {}", needs.join(" OR "), each.join(" AND "))
        };
        let candidates = format!(
            " AND session_id IN (SELECT session_id FROM session_summaries WHERE project = {{project:String}} \
             AND first_ts {op} fromUnixTimestamp64Micro({{threshold_us:Int64}}, 'UTC'){each_met})"
        );
        let ranked_sql = ranked_sql.replace("{{candidates}}", &candidates);
        // The page's own parameters (its filter's values, its cursor's key),
        // bound once by `FilterSql::of`, serve every query here.
        for sample in edge_samples(f.limit) {
            let Some(t) = rows::<Threshold>(&self.ch.query(&sql, params.clone().number("sample", sample)).await?)?.pop() else {
                return Ok(None);
            };
            let mut params = params.clone();
            params.push_number("threshold_us", t.threshold_us);
            let ranked: Vec<Ranked> = rows(&self.ch.query(&ranked_sql, params).await?)?;
            let threshold = CursorKey::Signed(t.threshold_us);
            if ranked.len() == f.limit as usize
                && ranked.last().is_some_and(|last| threshold.reached_by(f.sort.key_of(last), f.ascending, Past::AtOrPast))
            {
                return Ok(Some(ranked));
            }
            if t.rows < sample {
                // The sample reached the end of the list: a wider one would
                // find the same threshold.
                break;
            }
        }
        Ok(None)
    }

    /// A page ranked from the sessions that can make it while recent parts
    /// of session_summaries wait beside its largest part, or none when
    /// there are no such parts (the table is merged: FINAL then reads each
    /// row as it is), too many of them, or the page cannot be proven.
    ///
    /// Why it is exact: each part holds a session once at most (the view
    /// and every merge group by it), so a session with no row beside the
    /// largest part has one row, its merged one. Take a value T of the sort
    /// key, and C the sessions with a row beside the largest part or with a
    /// row that passes the filter and lies at or past T (or strictly past
    /// it: the filter and T tested on that one row are tested on the
    /// session). A session outside C fails the filter or lies short of T
    /// (or at it). So when the page ranked from C is full and its last
    /// session lies at or past T (strictly past it), every session outside
    /// C ranks after the whole page; and when the guess of T saw
    /// every row of the largest part that passes the filter, no session
    /// outside C passes it and the page is the whole list's, full or not.
    /// C's sessions are grouped from all their rows in one snapshot of the
    /// table (sessions_ranked_beside_largest_part.sql). T is a guess from
    /// the largest part (session_page_threshold.sql, a sample of
    /// [`edge_samples`]); a wrong one costs a wider try, then the whole
    /// list's query, never a wrong page.
    async fn ranked_beside_the_largest_part(&self, f: &SessionFilter, filter: &FilterSql, params: &Params) -> Result<Option<Vec<Ranked>>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Threshold {
            threshold: serde_json::Value,
            rows: u64,
            largest_rows: u64,
        }
        if f.limit == 0 {
            return Ok(None);
        }
        let Some(parts) = self.largest_summary_part().await? else {
            return Ok(None);
        };
        if parts.beside == 0 || parts.beside > MOST_ROWS_BESIDE_THE_LARGEST_PART {
            return Ok(None);
        }
        let (guess, ranked_sql) = beside_the_largest_part_sql(f, filter);
        let params = params.clone().text("largest_part", &parts.largest).number("most_beside", MOST_ROWS_BESIDE_THE_LARGEST_PART);
        for sample in edge_samples(f.limit) {
            let Some(t) = rows::<Threshold>(&self.ch.query(&guess, params.clone().number("sample", sample)).await?)?.pop() else {
                return Ok(None);
            };
            // A read that did not see the largest part (a replica that has
            // not made it yet) says nothing of its rows; a threshold that is
            // not a key (a cost the engine cannot order) proves nothing.
            let threshold = CursorKey::of(f.sort, &t.threshold);
            let Some(threshold) = threshold.filter(|_| t.largest_rows > 0) else {
                return Ok(None);
            };
            let mut params = params.clone();
            threshold.bind("threshold", &mut params);
            // When the guess saw every row of the largest part that passes
            // the filter (also none: T is then 0, and C holds only the
            // sessions beside it, as it must), C holds every session that
            // passes, and the page is the whole list's. Otherwise strictly
            // past T first: the rows that tie with T (many, where the key
            // takes few values, like a count of steps) then stay out of C,
            // and the sessions beside the largest part or the rows past T
            // often fill the page alone.
            let saw_every_row = t.rows < sample;
            let tries: &[Past] = if saw_every_row { &[Past::AtOrPast] } else { &[Past::Strictly, Past::AtOrPast] };
            for &past in tries {
                let ranked: Vec<Ranked> = match self.ch.query(&ranked_sql.replace("{{op}}", past.op(f.ascending)), params.clone()).await {
                    Ok(out) => rows(&out)?,
                    Err(StoreError::Engine(e)) if stopped_for_size(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let full_and_past = ranked.len() == f.limit as usize
                    && ranked.last().is_some_and(|last| threshold.reached_by(f.sort.key_of(last), f.ascending, past));
                if saw_every_row || full_and_past {
                    return Ok(Some(ranked));
                }
            }
        }
        Ok(None)
    }

    /// The largest active part of session_summaries and how many rows lie
    /// beside it; none where there are no parts, or where this user may not
    /// read them (pages then merge every session).
    async fn largest_summary_part(&self) -> Result<Option<LargestPart>, StoreError> {
        match self.ch.query(SESSION_SUMMARIES_LARGEST_PART, Params::new()).await {
            Ok(out) => Ok(rows::<LargestPart>(&out)?.pop()),
            Err(e) => {
                tracing::debug!(error = %e, "the parts of session_summaries cannot be read: pages merge every session");
                Ok(None)
            }
        }
    }

    /// How every session the filter passes (all pages) spreads by length
    /// and by estimated cost: session counts per bucket of
    /// [`STEP_BUCKETS`] and [`COST_BUCKETS`].
    pub async fn session_spread(&self, project: &str, f: &SessionFilter) -> Result<SessionSpread, StoreError> {
        let mut params = Params::new().text("project", project);
        let filter = FilterSql::of(f, &mut params, false)?;
        let buckets: Vec<SpreadRow> = rows(&self.ch.query(&filter.fill(SESSION_SPREAD, Lists::BeforeMerge), params).await?)?;
        let mut spread = SessionSpread::default();
        for b in buckets {
            match b.measure.as_str() {
                "steps" => spread.steps[(b.bucket as usize).min(STEP_BUCKETS.len())] = b.sessions,
                _ => spread.cost[(b.bucket as usize).min(COST_BUCKETS.len())] = b.sessions,
            }
        }
        Ok(spread)
    }

    /// Each session's steps over its own life, in [`SPARK_SLICES`] equal
    /// slices (session id → steps per slice).
    pub async fn sparklines(&self, project: &str, sessions: &[&str]) -> Result<std::collections::HashMap<String, Vec<u64>>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Slice {
            session_id: String,
            slice: usize,
            steps: u64,
        }
        let params = Params::new().text("project", project).texts("sessions", sessions).number("slices", SPARK_SLICES as u64);
        let mut out: std::collections::HashMap<String, Vec<u64>> = std::collections::HashMap::new();
        for s in rows::<Slice>(&self.ch.query(SPARKLINES, params).await?)? {
            out.entry(s.session_id).or_insert_with(|| vec![0; SPARK_SLICES])[s.slice.min(SPARK_SLICES - 1)] = s.steps;
        }
        Ok(out)
    }
}

/// How many summary rows at the edge of the list a page by start time
/// guesses its threshold from, in turn until one proves the page: few
/// first, so that the candidates are few and the merge reads few granules
/// even where random ids scatter them, and within the engine's top-k reads
/// (`query_plan_max_limit_for_top_k_optimization`, 1,000 rows), which read
/// only the edge of the start-time projection (0026_sessions_by_start_whole.sql);
/// then many, for an edge crowded with rows that are not merged yet (a
/// session's several rows, or, on a page naming an agent, customer or
/// model, later rows of older sessions). A customer with no more sessions
/// than the first sample has them ranked alone instead
/// (ranked_from_the_customers_sessions).
fn edge_samples(limit: u32) -> [u64; 2] {
    let limit = u64::from(limit);
    [(limit * 4).clamp(100, 1_000).max(limit), (limit * 40).clamp(1_000, 100_000)]
}

/// The list of summaries that holds a session's customers, and the
/// parameter a filter binds a customer to.
const CUSTOMERS: (&str, &str) = ("users", "user");

/// Each agent, customer or model a filter may name, with the list of
/// summaries that holds it and the parameter it is bound to.
fn named_lists(f: &SessionFilter) -> [(&Option<String>, &'static str, &'static str); 3] {
    [(&f.agent, "agents", "agent"), (&f.user, CUSTOMERS.0, CUSTOMERS.1), (&f.model, "models", "model")]
}

/// The condition that a summary row's (or a merged) `list` names the value
/// of the parameter `name`.
fn names(list: &str, name: &str) -> String {
    format!("has({list}, {{{name}:String}})")
}

/// The sessions with a summary row whose `list` names the value of the
/// parameter `name`: every session whose lists, merged, name it (a
/// session's lists are the union of its rows').
fn sessions_naming(list: &str, name: &str) -> String {
    format!("SELECT session_id FROM session_summaries WHERE project = {{project:String}} AND {}", names(list, name))
}

/// Where a page's ranking saw its sessions' summary rows, so that their
/// whole summaries are read there ([`Store::summaries_seen`]) rather than
/// by id from about a third of the table's granules (ids are random).
#[derive(Clone, Debug, PartialEq)]
pub enum RowsSeen {
    /// Not known: the rows are read by id.
    Anywhere,
    /// Every row starts within these microseconds, both included: a page
    /// by start time, whose ranking returned each session's first and
    /// last time.
    Within(i64, i64),
    /// Each row starts at one of these microseconds: a page by start time
    /// whose ranking read every row of its sessions (beside the largest
    /// part) and returned their start times. The rows of a one-day page
    /// then lie in a few granules of the projection by start time, where
    /// the extent of one of its sessions still recording spans the rest
    /// of the list (over 1M sessions: 12 against 28 ms).
    StartingAt(Vec<i64>),
}

/// What a page's ranking saw of one of its sessions, as far as it returned
/// it. A bounded read that finds less of it (a later start, an earlier
/// end, fewer steps) missed some of its rows ([`Store::summaries_seen`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Seen<'a> {
    pub id: &'a str,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    pub steps: Option<u64>,
}

impl Seen<'_> {
    fn found_short(&self, found: &SessionSummary) -> bool {
        self.first_us.is_some_and(|first| found.first_us > first)
            || self.last_us.is_some_and(|last| found.last_us < last)
            || self.steps.is_some_and(|steps| found.steps < steps)
    }
}

impl RowsSeen {
    /// The condition that bounds session_summaries_of.sql's rows to where
    /// they were seen (its within marker), its parameters bound in
    /// `params` (named apart from a page's own time range, `from_us` and
    /// `to_us`). Bound both by id and by start time, the engine reads
    /// whichever of the table and its projection by start time
    /// (schema/0026) has fewer granules to read.
    fn condition(&self, params: &mut Params) -> &'static str {
        match self {
            RowsSeen::Anywhere => "",
            RowsSeen::Within(from, to) => {
                params.push_number("extent_from_us", *from);
                params.push_number("extent_to_us", *to);
                " AND first_ts BETWEEN fromUnixTimestamp64Micro({extent_from_us:Int64}, 'UTC') AND fromUnixTimestamp64Micro({extent_to_us:Int64}, 'UTC')"
            }
            RowsSeen::StartingAt(starts) => {
                params.push_numbers("starts", starts.iter().copied());
                // A set from a subquery, which the engine matches against the
                // projection's key; the same list as a constant array was read
                // row by row (77 against 12 ms over 1M sessions).
                " AND first_ts IN (SELECT fromUnixTimestamp64Micro(arrayJoin({starts:Array(Int64)}), 'UTC'))"
            }
        }
    }
}

/// session_summaries_of.sql, its rows bounded by `within`
/// ([`RowsSeen::condition`]; empty: every row of the sessions).
fn summaries_of_sql(within: &str) -> String {
    SESSION_SUMMARIES_OF.replace("{{within}}", within)
}

/// A row of session_summaries_largest_part.sql.
#[derive(serde::Deserialize)]
struct LargestPart {
    largest: String,
    beside: u64,
}

/// A page's time range on the stored times, exactly as on the merged ones
/// (`first_us < to`, `last_us >= from`), where an index can use it.
const STARTS_BEFORE_TO: &str = "first_ts < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC')";
const ENDS_AT_OR_AFTER_FROM: &str = "last_ts >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC')";

/// The aggregate that finds the threshold at a page's end of a sample of
/// the list, and the order the sample is read in.
fn edge_and_direction(ascending: bool) -> (&'static str, &'static str) {
    if ascending { ("max", "ASC") } else { ("min", "DESC") }
}

/// The ORDER BY of a page: its key in its direction, then the session id.
fn order_by(sort: SessionSort, ascending: bool) -> String {
    let (column, _) = sort.column();
    let dir = if ascending { "ASC" } else { "DESC" };
    format!("{column} {dir}, session_id {dir}")
}

/// The guess (session_page_threshold.sql) and the ranking
/// (sessions_ranked_beside_largest_part.sql, its op marker left for each
/// try) of a page beside the largest part, with their markers filled.
fn beside_the_largest_part_sql(f: &SessionFilter, filter: &FilterSql) -> (String, String) {
    let (column, key_type) = f.sort.column();
    let (edge, direction) = edge_and_direction(f.ascending);
    let (raw_key, threshold_of_raw) = f.sort.stored_column();
    let mut near = String::new();
    for (set, condition) in [(f.from_us.is_some(), ENDS_AT_OR_AFTER_FROM), (f.to_us.is_some(), STARTS_BEFORE_TO)] {
        if set {
            near.push_str(" AND ");
            near.push_str(condition);
        }
    }
    let guess = filter
        .fill(SESSION_PAGE_THRESHOLD, Lists::AfterMerge)
        .replace("{{threshold}}", &threshold_of_raw.replace("{{edge}}", &format!("{edge}(raw_key)")))
        .replace("{{raw_key}}", raw_key)
        .replace("{{near}}", &near)
        .replace("{{threads}}", if f.sort == SessionSort::Time { ", max_threads = 1" } else { "" })
        .replace("{{direction}}", direction);
    let ranked = filter
        .fill(SESSIONS_RANKED_BESIDE_LARGEST_PART, Lists::BeforeMerge)
        .replace("{{key_type}}", key_type)
        .replace("{{key}}", column)
        .replace("{{extent}}", f.sort.extent())
        .replace("{{starts}}", f.sort.starts())
        .replace("{{order}}", &order_by(f.sort, f.ascending));
    (guess, ranked)
}

/// The most summary rows beside the largest part of session_summaries
/// for which a page is ranked from them (ranked_beside_the_largest_part):
/// each is read into a set of session ids, where FINAL reads every row. A
/// store recording steadily has a few thousand there between merges.
const MOST_ROWS_BESIDE_THE_LARGEST_PART: u64 = 100_000;
/// The engine's message when it finds more than that in the same snapshot
/// as the page (sessions_ranked_beside_largest_part.sql).
const TOO_MANY_BESIDE: &str = "too many rows beside the largest part";

/// Whether the engine stopped a page beside the largest part for its size
/// (too many rows beside it, or too many sessions to group), by the codes'
/// names: the message alone also appears in errors that quote the query.
fn stopped_for_size(engine_error: &str) -> bool {
    (engine_error.contains("FUNCTION_THROW_IF_VALUE_IS_NON_ZERO") && engine_error.contains(TOO_MANY_BESIDE))
        || (engine_error.contains("TOO_MANY_ROWS") && engine_error.contains("rows to GROUP BY"))
}

/// Upper bounds of the session-length buckets (steps); one more bucket
/// holds the longer ones.
pub const STEP_BUCKETS: [u64; 7] = [1, 5, 10, 50, 100, 500, 1000];
/// Upper bounds (exclusive) of the estimated-cost buckets (USD); one more
/// holds the dearer ones.
pub const COST_BUCKETS: [f64; 5] = [0.001, 0.01, 0.1, 1.0, 10.0];
pub const SPARK_SLICES: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct SessionSpread {
    pub steps: [u64; STEP_BUCKETS.len() + 1],
    pub cost: [u64; COST_BUCKETS.len() + 1],
}

#[derive(serde::Deserialize)]
struct SpreadRow {
    measure: String,
    bucket: u64,
    sessions: u64,
}

/// A list filter as SQL over one merged row per session (read FINAL:
/// sessions_ranked.sql, session_spread.sql; or grouped:
/// sessions_ranked_of.sql), its values bound in `params`; the cursor's
/// only for a page.
struct FilterSql {
    /// ` AND …`: conditions on the merged values.
    having: String,
    /// The named agent, customer or model: (list column, parameter).
    lists: Vec<(&'static str, &'static str)>,
}

/// Where a filter's named agent, customer or model is tested.
#[derive(Clone, Copy)]
enum Lists {
    /// A set of the sessions with a summary row that names it, before the
    /// merge (a session's lists are the union of its rows'), so that only
    /// those sessions are merged.
    BeforeMerge,
    /// In the merged lists, for a read that something else narrows.
    AfterMerge,
}

impl FilterSql {
    fn of(f: &SessionFilter, params: &mut Params, with_cursor: bool) -> Result<Self, StoreError> {
        let (column, key_type) = f.sort.column();
        let mut having = String::new();
        let mut filter = |fragment: &str| {
            having.push_str(" AND ");
            having.push_str(fragment);
        };
        if let Some(v) = f.from_us {
            filter("last_us >= {from_us:Int64}");
            params.push_number("from_us", v);
        }
        if let Some(v) = f.to_us {
            filter("first_us < {to_us:Int64}");
            params.push_number("to_us", v);
        }
        if let Some(v) = f.min_cost {
            filter("estimated_cost >= {min_cost:Float64}");
            params.push_number("min_cost", v);
        }
        if let Some(v) = f.min_steps {
            filter("steps >= {min_steps:UInt64}");
            params.push_number("min_steps", v);
        }
        if f.flagged {
            // The same thresholds as flightlog-model anomaly, bound. FINAL
            // sums each action's times as grouping by the table's key would
            // (without the query condition cache: see sessions_ranked.sql).
            filter(
                "(steps >= {runaway_steps:UInt64} OR session_id IN (\
                   SELECT session_id FROM session_actions FINAL \
                   WHERE project = {project:String} AND times >= {repeated_times:UInt64} \
                   SETTINGS use_query_condition_cache = 0))",
            );
            params.push_number("runaway_steps", RUNAWAY_STEPS);
            params.push_number("repeated_times", REPEATED_ACTION_TIMES);
        }
        if let Some(cursor) = f.cursor.as_ref().filter(|_| with_cursor) {
            let c = decode_cursor(cursor, f.sort, f.ascending)?;
            let op = if f.ascending { ">" } else { "<" };
            filter(&format!("({column}, session_id) {op} ({{cursor_key:{key_type}}}, {{cursor_session:String}})"));
            c.key.bind("cursor_key", params);
            params.push_text("cursor_session", &c.s);
        }
        match f.failed {
            Some(true) => filter("failed_steps > 0"),
            Some(false) => filter("failed_steps = 0"),
            None => {}
        }
        let mut lists = Vec::new();
        for (value, list, name) in named_lists(f) {
            if let Some(v) = value {
                lists.push((list, name));
                params.push_text(name, v);
            }
        }
        Ok(Self { having, lists })
    }

    /// `sql` with its {{lists}}, {{sessions_with}} and {{having}} markers
    /// filled.
    fn fill(&self, sql: &str, lists: Lists) -> String {
        let (mut columns, mut sessions_with, mut having) = (String::new(), String::new(), self.having.clone());
        for (list, name) in &self.lists {
            match lists {
                Lists::BeforeMerge => sessions_with.push_str(&format!(" AND session_id IN ({})", sessions_naming(list, name))),
                Lists::AfterMerge => {
                    columns.push_str(&format!(", {list}"));
                    having.push_str(" AND ");
                    having.push_str(&names(list, name));
                }
            }
        }
        sql.replace("{{lists}}", &columns).replace("{{sessions_with}}", &sessions_with).replace("{{having}}", &having)
    }
}

impl Store {

    /// The anomalies of these sessions (absent: none).
    pub async fn anomalies_of(
        &self,
        project: &str,
        sessions: &[(&str, u64)],
    ) -> Result<std::collections::HashMap<String, Vec<Anomaly>>, StoreError> {
        let ids: Vec<&str> = sessions.iter().map(|(s, _)| *s).collect();
        let mut facts = self.anomaly_facts_of(project, &ids).await?;
        Ok(sessions
            .iter()
            .map(|(id, steps)| (id.to_string(), facts.take(id, *steps)))
            .filter(|(_, found)| !found.is_empty())
            .collect())
    }

    /// What the anomalies of these sessions are made of, read without
    /// their step counts, so that a caller can read it beside the summary
    /// that holds them.
    pub async fn anomaly_facts_of(&self, project: &str, sessions: &[&str]) -> Result<AnomalyFacts, StoreError> {
        #[derive(serde::Deserialize)]
        struct Row {
            session_id: String,
            tool: String,
            times: u64,
        }
        #[derive(serde::Deserialize)]
        struct Found {
            id: String,
            kind: String,
            count: u64,
            sessions: Vec<String>,
        }
        if sessions.is_empty() {
            return Ok(AnomalyFacts::default());
        }
        let repeated_params =
            Params::new().text("project", project).texts("sessions", sessions).number("min_times", REPEATED_ACTION_TIMES);
        let incident_params = Params::new().text("project", project).texts("sessions", sessions);
        // The two reads are independent: side by side.
        let (repeated, found) =
            tokio::try_join!(self.ch.query(REPEATED_ACTIONS_OF, repeated_params), self.ch.query(INCIDENTS_OF_SESSIONS, incident_params))?;
        let repeated = rows::<Row>(&repeated)?.into_iter().map(|r| (r.session_id, (r.tool, r.times))).collect();
        let mut facts = AnomalyFacts { repeated, ..AnomalyFacts::default() };
        for f in rows::<Found>(&found)? {
            let Some(kind) = flightlog_model::detect::IncidentKind::parse(&f.kind) else { continue };
            for s in f.sessions {
                facts.incidents.entry(s).or_default().push(Anomaly::Incident { id: f.id.clone(), incident: kind, count: f.count });
            }
        }
        Ok(facts)
    }

    pub async fn session_summary(&self, project: &str, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        Ok(self.summaries_of(project, &[session_id]).await?.into_iter().next())
    }

    /// The summaries of these sessions of `project` (those that exist).
    pub async fn summaries_of(&self, project: &str, ids: &[&str]) -> Result<Vec<SessionSummary>, StoreError> {
        self.summaries_of_rows(project, ids, &RowsSeen::Anywhere).await
    }

    /// session_summaries_of.sql over these sessions' rows that lie where
    /// `rows_seen` says.
    async fn summaries_of_rows(&self, project: &str, ids: &[&str], rows_seen: &RowsSeen) -> Result<Vec<SessionSummary>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = Params::new().text("project", project).texts("sessions", ids);
        let sql = summaries_of_sql(rows_seen.condition(&mut params));
        rows(&self.ch.query(&sql, params).await?)
    }

    /// [`Self::summaries_of`] for a page's sessions, reading only the rows
    /// where its ranking saw them (`rows_seen`). A session read short there is
    /// read again by its id alone: one with no row there (retention
    /// rebuilds a session's row from the steps it keeps), or with less of
    /// it than the ranking saw ([`Seen`]: a row written since that starts
    /// before the rows seen, merged with some of them, is no longer where
    /// they were).
    pub async fn summaries_seen(&self, project: &str, sessions: &[Seen<'_>], rows_seen: &RowsSeen) -> Result<Vec<SessionSummary>, StoreError> {
        let ids: Vec<&str> = sessions.iter().map(|s| s.id).collect();
        let mut found = self.summaries_of_rows(project, &ids, rows_seen).await?;
        if *rows_seen == RowsSeen::Anywhere {
            return Ok(found);
        }
        let short: Vec<&str> = sessions
            .iter()
            .filter(|seen| found.iter().find(|s| s.session_id == seen.id).is_none_or(|s| seen.found_short(s)))
            .map(|seen| seen.id)
            .collect();
        found.retain(|s| !short.contains(&s.session_id.as_str()));
        found.extend(self.summaries_of(project, &short).await?);
        Ok(found)
    }
}

/// Each session's most repeated action and the incidents it is part of:
/// with its step count, its anomalies (`take`).
#[derive(Debug, Default)]
pub struct AnomalyFacts {
    repeated: std::collections::HashMap<String, (String, u64)>,
    incidents: std::collections::HashMap<String, Vec<Anomaly>>,
}

impl AnomalyFacts {
    /// The anomalies of session `id` of `steps` steps (its incidents are
    /// handed out once).
    pub fn take(&mut self, id: &str, steps: u64) -> Vec<Anomaly> {
        let top = self.repeated.get(id).map(|(tool, times)| (tool.as_str(), *times));
        let mut found = anomalies(steps, top);
        found.extend(self.incidents.remove(id).unwrap_or_default());
        found
    }
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).expect("cursor serialises"))
}

/// The one client-supplied error this module raises: a cursor that was not
/// produced by `list_sessions`.
pub const BAD_CURSOR: &str = "cursor is not one returned by this endpoint";

/// A cursor's sort key, typed as its sort's column.
enum CursorKey {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

impl CursorKey {
    /// `k` typed as `sort`'s column, if it fits.
    fn of(sort: SessionSort, k: &serde_json::Value) -> Option<Self> {
        match sort {
            SessionSort::Time => k.as_i64().map(Self::Signed),
            SessionSort::Steps => k.as_u64().map(Self::Unsigned),
            SessionSort::Cost => k.as_f64().filter(|k| k.is_finite()).map(Self::Float),
        }
    }

    fn bind(&self, name: &'static str, params: &mut Params) {
        match *self {
            Self::Signed(k) => params.push_number(name, k),
            Self::Unsigned(k) => params.push_number(name, k),
            Self::Float(k) => params.push_number(name, k),
        }
    }

    /// Whether a session whose sort key is `key` lies `past` this
    /// threshold, in the page's direction.
    fn reached_by(&self, key: serde_json::Value, ascending: bool, past: Past) -> bool {
        let strictly = past == Past::Strictly;
        let ordering = match *self {
            Self::Signed(t) => key.as_i64().map(|k| k.cmp(&t)),
            Self::Unsigned(t) => key.as_u64().map(|k| k.cmp(&t)),
            Self::Float(t) => key.as_f64().and_then(|k| k.partial_cmp(&t)),
        };
        match (ordering, strictly) {
            (Some(o), false) if ascending => o.is_le(),
            (Some(o), false) => o.is_ge(),
            (Some(o), true) if ascending => o.is_lt(),
            (Some(o), true) => o.is_gt(),
            (None, _) => false,
        }
    }
}

/// How far past a threshold a session must lie to count as past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Past {
    AtOrPast,
    Strictly,
}

impl Past {
    /// The comparison of a key with the threshold, in the page's direction.
    fn op(self, ascending: bool) -> &'static str {
        match (self, ascending) {
            (Self::AtOrPast, false) => ">=",
            (Self::Strictly, false) => ">",
            (Self::AtOrPast, true) => "<=",
            (Self::Strictly, true) => "<",
        }
    }
}

struct DecodedCursor {
    key: CursorKey,
    s: String,
}

/// Reads a cursor back, refusing any whose key does not fit the sort's
/// column (an edited cursor such as `k=1e308` on the time sort): that is
/// the client's mistake, not the engine's.
fn decode_cursor(s: &str, sort: SessionSort, ascending: bool) -> Result<DecodedCursor, StoreError> {
    let bad = || StoreError::Invalid(BAD_CURSOR.into());
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.o != sort.name() || c.a != ascending {
        return Err(bad());
    }
    let key = CursorKey::of(sort, &c.k).ok_or_else(bad)?;
    Ok(DecodedCursor { key, s: c.s })
}

/// Whether the engine has `enable_shared_storage_snapshot_in_query`
/// (see `Store::shared_snapshots`).
pub(crate) async fn shares_snapshots(ch: &dyn Backend) -> Result<bool, StoreError> {
    // Known, and this user may set it (a settings profile can forbid it).
    let sql = "SELECT count() AS known FROM system.settings WHERE name = 'enable_shared_storage_snapshot_in_query' AND readonly = 0";
    match ch.query(sql, Params::new()).await {
        Ok(out) => Ok(column::<u64>(&out)?.pop().is_some_and(|known| known > 0)),
        // Not knowing is not sharing: pages then merge every session.
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the server's settings; session pages will merge every session");
            Ok(false)
        }
    }
}

/// Rebuilds session_summaries and session_actions when their totals
/// disagree with steps.
pub(crate) async fn repair_summaries_if_needed(ch: &dyn Backend) -> Result<(), StoreError> {
    crate::rebuild_if_apart(ch, "session_summaries", SUMMARY_TOTALS_AGREE, REBUILD_SESSION_SUMMARIES).await?;
    open_unopened_sessions(ch).await?;
    crate::rebuild_if_apart(ch, "session_actions", ACTIONS_TOTALS_AGREE, REBUILD_SESSION_ACTIONS).await
}

impl Store {
    /// Gives every session whose summary rows have no opening row one
    /// (open_unopened_sessions.sql): retention runs it after removing
    /// steps, where a step that arrived meanwhile can leave a session so.
    pub async fn open_unopened_sessions(&self) -> Result<(), StoreError> {
        open_unopened_sessions(self.ch.as_ref()).await
    }
}

async fn open_unopened_sessions(ch: &dyn Backend) -> Result<(), StoreError> {
    ch.query(OPEN_UNOPENED_SESSIONS, Params::new()).await?;
    Ok(())
}

/// The rebuild of session_summaries narrowed to one session (parameters
/// `project`, `session`): the same aggregation, never a second copy of it.
pub(crate) fn rebuild_summaries_of_one_session() -> String {
    narrowed_to_one_session(REBUILD_SESSION_SUMMARIES)
}

/// The rebuild of session_actions narrowed to one session.
pub(crate) fn rebuild_actions_of_one_session() -> String {
    narrowed_to_one_session(REBUILD_SESSION_ACTIONS)
}

/// Narrows a rebuild that reads `FROM steps` to one session, with a
/// PREWHERE (which also combines with the query's own WHERE).
pub(crate) fn narrowed_to_one_session(rebuild: &str) -> String {
    const FROM: &str = "FROM steps\n";
    assert!(rebuild.contains(FROM), "a rebuild query reads FROM steps on its own line");
    rebuild.replacen(FROM, "FROM steps\nPREWHERE project = {project:String} AND session_id = {session:String}\n", 1)
}

#[cfg(test)]
mod one_session_tests {
    #[test]
    fn both_rebuilds_narrow_to_one_session() {
        for sql in [super::rebuild_summaries_of_one_session(), super::rebuild_actions_of_one_session()] {
            assert!(sql.contains("PREWHERE project = {project:String} AND session_id = {session:String}\n"), "{sql}");
        }
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::{CursorKey, Past, SessionSort};
    use serde_json::json;

    #[test]
    fn a_page_proves_itself_only_past_its_threshold_in_its_direction() {
        let t = CursorKey::of(SessionSort::Cost, &json!(0.25)).unwrap();
        // Newest, dearest or longest first: past is above.
        let (at, strictly) = (Past::AtOrPast, Past::Strictly);
        assert!(t.reached_by(json!(0.3), false, strictly));
        assert!(t.reached_by(json!(0.25), false, at));
        assert!(!t.reached_by(json!(0.25), false, strictly), "a tie is not strictly past");
        assert!(!t.reached_by(json!(0.2), false, at));
        // Cheapest first: past is below.
        assert!(t.reached_by(json!(0.2), true, strictly));
        assert!(!t.reached_by(json!(0.25), true, strictly));
        assert!(!t.reached_by(json!(0.3), true, at));
        let steps = CursorKey::of(SessionSort::Steps, &json!(3)).unwrap();
        assert!(steps.reached_by(json!(4), false, strictly) && !steps.reached_by(json!(3), false, strictly) && steps.reached_by(json!(3), false, at));
        // A key of another type never proves a page.
        assert!(!steps.reached_by(json!("3"), false, at));
        // The comparison the query makes is the one the proof checks.
        assert_eq!([at.op(false), strictly.op(false), at.op(true), strictly.op(true)], [">=", ">", "<=", "<"]);
    }

    #[test]
    fn the_query_stops_with_the_message_the_store_falls_back_on() {
        let sql = super::SESSIONS_RANKED_BESIDE_LARGEST_PART;
        assert!(sql.contains(&format!("'{}'", super::TOO_MANY_BESIDE)), "the throwIf message");
        assert!(sql.contains("max_rows_to_group_by") && sql.contains("group_by_overflow_mode = 'throw'"));
        // The engine's own messages (ClickHouse 26.7) are.
        assert!(super::stopped_for_size(&format!(
            "Code: 395. DB::Exception: {}: while executing 'FUNCTION throwIf(...)'. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)",
            super::TOO_MANY_BESIDE
        )));
        assert!(super::stopped_for_size(
            "Code: 158. DB::Exception: Limit for rows to GROUP BY exceeded: has 40960 rows, maximum: 1000: While executing AggregatingTransform. (TOO_MANY_ROWS)"
        ));
        // An error that only quotes the query is not a stop for size.
        assert!(!super::stopped_for_size(&format!("Code: 47. Unknown identifier in scope SELECT throwIf(count() > 1, '{}')", super::TOO_MANY_BESIDE)));
        assert!(CursorKey::of(SessionSort::Time, &json!(1.5)).is_none());
    }
}
