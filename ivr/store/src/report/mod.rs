//! Contact-centre reports from the stored call records: offered, answered,
//! abandoned, service level, SL2, ASA, AHT, after-call work, occupancy,
//! longest wait and satisfaction, per hour, day, week, queue, topic,
//! language or agent. The definitions are in `docs/metrics.md`; this module
//! implements exactly those.
//!
//! # What it owns
//! - The report SQL (`query.rs`), run through the store's pool, read-only
//!   except for [`Store::insert_staffing`] and [`Store::apply_report_schema`]
//!   (`staffing.rs`).
//! - The hourly summaries (`summary.rs`): what the record writer's batches
//!   add to them in their transaction, and what reports read from them.
//! - Agents' staffing intervals from the queue log (`staffing_writer.rs`).
//! - Local-time intervals in the line's time zone (`intervals.rs`, with
//!   `jiff`), the derived metrics (`tally.rs`) and the renderers to aligned
//!   text, CSV and JSON (`render.rs`).
//!
//! # What it must never do
//! - Show personal data: a row is an aggregate over calls; the only names
//!   in a report are queue, topic, language and agent ids.
//! - Compute a ratio over an empty denominator: such metrics are `None`
//!   (empty in text and CSV, `null` in JSON), never 0 or NaN.
//! - Read the clock: the range is the caller's.
//!
//! # Invariants
//! - Same figures on SQLite and PostgreSQL: the SQL is standard, its bounds
//!   are UTC milliseconds computed in Rust, and every aggregate is an integer.
//! - The total row is the sum of the rows' counts (never an average of
//!   averages), and the rows of a time grouping cover `[from, to)` exactly.

mod intervals;
mod query;
mod render;
mod staffing;
pub(crate) mod staffing_writer;
pub(crate) mod summary;
mod tally;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

pub use intervals::{Interval, Period};
pub use staffing::{StaffingInterval, StaffingState, report_schema};
pub use render::{ReportFormat, UnknownFormat, csv_field};
pub use tally::Tally;
pub use staffing_writer::{AgentStaffingEvent, StaffingChange, StaffingLog};


use crate::{Store, StoreError};
use query::Column;

/// "Within 20 seconds": the service-level threshold, inclusive.
pub const SERVICE_LEVEL_MS: i64 = 20_000;
/// A queue abandon under 5 seconds is short: left out of SL2 and the
/// abandon rate (`docs/metrics.md` says why).
pub const SHORT_ABANDON_MS: i64 = 5_000;
/// The line's time zone, for hours, days and weeks.
pub const TIME_ZONE: &str = "Europe/Madrid";
/// The most rows one report may have (hours of more than eleven years).
pub const MAX_ROWS: usize = 100_000;

/// What the rows of a report are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Hour,
    Day,
    Week,
    Queue,
    Topic,
    Language,
    Agent,
}

impl GroupBy {
    pub const ALL: [GroupBy; 7] =
        [GroupBy::Hour, GroupBy::Day, GroupBy::Week, GroupBy::Queue, GroupBy::Topic, GroupBy::Language, GroupBy::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Hour => "hour",
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Queue => "queue",
            GroupBy::Topic => "topic",
            GroupBy::Language => "language",
            GroupBy::Agent => "agent",
        }
    }

    fn period(self) -> Option<Period> {
        match self {
            GroupBy::Hour => Some(Period::Hour),
            GroupBy::Day => Some(Period::Day),
            GroupBy::Week => Some(Period::Week),
            _ => None,
        }
    }

    fn column(self) -> Option<Column> {
        match self {
            GroupBy::Queue => Some(Column::Queue),
            GroupBy::Topic => Some(Column::Topic),
            GroupBy::Language => Some(Column::Language),
            GroupBy::Agent => Some(Column::Agent),
            _ => None,
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--by` text that names no [`GroupBy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report grouping {0:?} (expected hour, day, week, queue, topic, language or agent)")]
pub struct UnknownGroupBy(pub String);

impl FromStr for GroupBy {
    type Err = UnknownGroupBy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupBy::ALL.into_iter().find(|by| by.as_str() == s).ok_or_else(|| UnknownGroupBy(s.to_owned()))
    }
}

/// Which calls, cut how.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    /// Calls that started at or after this instant...
    pub from: Timestamp,
    /// ...and before this one.
    pub to: Timestamp,
    pub by: GroupBy,
    /// For hours, days and weeks; [`TIME_ZONE`] unless changed.
    pub time_zone: TimeZone,
    /// Count the scores of this survey question only (e.g. "overall");
    /// `None`: every question.
    pub question: Option<String>,
}

impl ReportQuery {
    /// `[from, to)` in the line's time zone, every survey question.
    pub fn new(from: Timestamp, to: Timestamp, by: GroupBy) -> ReportQuery {
        ReportQuery { from, to, by, time_zone: line_time_zone(), question: None }
    }

    /// Whole local days, `first` to `last` inclusive, as `ivr report --from
    /// 2026-01-01 --to 2026-12-31` means them.
    pub fn days(first: Date, last: Date, by: GroupBy) -> Result<ReportQuery, ReportError> {
        let tz = line_time_zone();
        let start = first.to_zoned(tz.clone()).and_then(|z| z.start_of_day()).map_err(ReportError::Time)?;
        let end = last
            .tomorrow()
            .and_then(|d| d.to_zoned(tz.clone()))
            .and_then(|z| z.start_of_day())
            .map_err(ReportError::Time)?;
        Ok(ReportQuery { time_zone: tz, ..ReportQuery::new(start.timestamp(), end.timestamp(), by) })
    }
}

/// Europe/Madrid from the tz database bundled into the binary.
pub fn line_time_zone() -> TimeZone {
    TimeZone::get(TIME_ZONE).expect("invariant: jiff's bundled tz database has Europe/Madrid")
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("empty report range: from {from} is not before to {to}")]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error("report would have more than {max} rows; choose a longer period or a shorter range")]
    TooManyRows { max: usize },
    /// A date outside what the calendar arithmetic supports (year 9999).
    #[error("date out of range")]
    Time(#[source] jiff::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One row: a group's label, its interval for time groupings, its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// `2026-03-29`, `2026-W13`, `2026-10-25 02:00 +01:00`, or the queue,
    /// topic, language or agent (`(none)` for calls without one).
    pub group: String,
    pub interval: Option<Interval>,
    pub tally: Tally,
}

/// A finished report, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportTable {
    pub by: GroupBy,
    pub from: Timestamp,
    pub to: Timestamp,
    pub time_zone: String,
    pub question: Option<String>,
    /// In time order, or by group name (`(none)` first).
    pub rows: Vec<ReportRow>,
    /// Sum of the rows (for a time grouping: the whole range).
    pub total: Tally,
}

/// The label of calls without a queue, topic, language or agent.
pub const NO_GROUP: &str = "(none)";

/// Where a report's call and score figures come from. Both give the same
/// figures (the report tests check it on both backends); staffed time
/// always comes from `agent_staffing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSource {
    /// The hourly summaries (migration 0005) for every whole UTC hour of
    /// the range, the records for the parts of hours at its edges.
    Summary,
    /// The call records and survey answers alone.
    Records,
}

/// Runs `query` against `store`, from the hourly summaries.
pub async fn report(store: &Store, query: &ReportQuery) -> Result<ReportTable, ReportError> {
    report_from(store, query, ReportSource::Summary).await
}

/// Runs `query` against `store`, reading `source`.
pub async fn report_from(store: &Store, query: &ReportQuery, source: ReportSource) -> Result<ReportTable, ReportError> {
    if query.from >= query.to {
        return Err(ReportError::EmptyRange { from: query.from, to: query.to });
    }
    let query_error = |source| StoreError::Query { backend: store.backend, op: "report", source };
    let mut conn = store.pool.acquire().await.map_err(query_error)?;
    let conn = &mut *conn;
    let staffing = staffing::staffing_recorded(conn, store.backend).await.map_err(query_error)?;
    let (from_ms, to_ms) = (query.from.as_millisecond(), query.to.as_millisecond());
    let question = query.question.as_deref();

    let mut rows = Vec::new();
    if let Some(period) = query.by.period() {
        let intervals =
            intervals::intervals(period, query.from, query.to, &query.time_zone, MAX_ROWS)?;
        let bounds: Vec<(i64, i64)> = intervals.iter().map(|i| (i.start_ms, i.end_ms)).collect();
        let staffed = if staffing {
            let ready = query::ready_intervals(conn, from_ms, to_ms).await.map_err(query_error)?;
            Some(staffing::spread(&bounds, ready.into_iter().map(|(_, from, to)| (from, to))))
        } else {
            None
        };
        let (calls, scores) = match source {
            ReportSource::Records => (
                query::calls_per_interval(conn, store.backend, &bounds).await.map_err(query_error)?,
                query::scores_per_interval(conn, store.backend, &bounds, question).await.map_err(query_error)?,
            ),
            ReportSource::Summary => {
                per_interval_from_summary(conn, store.backend, &bounds, question).await.map_err(query_error)?
            }
        };
        for (n, ((interval, mut tally), scores)) in intervals.into_iter().zip(calls).zip(scores).enumerate() {
            tally.scores = scores;
            tally.staffed_ms = staffed.as_ref().and_then(|s| s.get(n).copied());
            rows.push(ReportRow { group: interval.label(period), interval: Some(interval), tally });
        }
    } else if let Some(column) = query.by.column() {
        let (mut calls, mut scores) = match source {
            ReportSource::Records => (
                query::calls_by(conn, column, from_ms, to_ms).await.map_err(query_error)?,
                query::scores_by(conn, column, from_ms, to_ms, question).await.map_err(query_error)?,
            ),
            ReportSource::Summary => {
                by_column_from_summary(conn, column, from_ms, to_ms, question).await.map_err(query_error)?
            }
        };
        let mut staffed: Option<BTreeMap<Option<String>, i64>> = None;
        if staffing && column == Column::Agent {
            let mut by_agent = BTreeMap::new();
            for (agent, from, to) in query::ready_intervals(conn, from_ms, to_ms)
                .await
                .map_err(query_error)?
            {
                let cut = staffing::spread(&[(from_ms, to_ms)], [(from, to)]);
                *by_agent.entry(Some(agent)).or_insert(0) += cut.iter().sum::<i64>();
            }
            staffed = Some(by_agent);
        }
        let groups: BTreeSet<Option<String>> = calls
            .keys()
            .chain(scores.keys())
            .chain(staffed.iter().flat_map(|s| s.keys()))
            .cloned()
            .collect();
        if groups.len() > MAX_ROWS {
            return Err(ReportError::TooManyRows { max: MAX_ROWS });
        }
        for group in groups {
            let mut tally = calls.remove(&group).unwrap_or_default();
            tally.scores = scores.remove(&group).unwrap_or_default();
            tally.staffed_ms = staffed.as_mut().map(|s| s.remove(&group).unwrap_or(0));
            rows.push(ReportRow { group: group.unwrap_or_else(|| NO_GROUP.to_owned()), interval: None, tally });
        }
    }

    let mut total = Tally::default();
    for row in &rows {
        total.add(&row.tally);
    }
    Ok(ReportTable {
        by: query.by,
        from: query.from,
        to: query.to,
        time_zone: query.time_zone.iana_name().unwrap_or("(fixed offset)").to_owned(),
        question: query.question.clone(),
        rows,
        total,
    })
}

/// The whole UTC hours inside `[start_ms, end_ms)`, or `None` if there are
/// none.
fn whole_hours(start_ms: i64, end_ms: i64) -> Option<(i64, i64)> {
    let first = summary::hour_of(start_ms.saturating_add(summary::HOUR_MS - 1));
    let last = summary::hour_of(end_ms);
    (first < last).then_some((first, last))
}

/// The parts of `[start_ms, end_ms)` outside its whole hours.
fn edges(start_ms: i64, end_ms: i64) -> Vec<(i64, i64)> {
    match whole_hours(start_ms, end_ms) {
        Some((first, last)) => [(start_ms, first), (last, end_ms)].into_iter().filter(|(a, b)| a < b).collect(),
        None => vec![(start_ms, end_ms)],
    }
}

/// Calls and scores per interval: each interval's whole hours from the
/// summaries, the rest of it from the records.
async fn per_interval_from_summary(
    conn: &mut sqlx::AnyConnection,
    backend: crate::Backend,
    bounds: &[(i64, i64)],
    question: Option<&str>,
) -> Result<(Vec<Tally>, Vec<[i64; 11]>), sqlx::Error> {
    let mut calls = vec![Tally::default(); bounds.len()];
    let mut scores = vec![[0; 11]; bounds.len()];
    let (Some(&(from_ms, _)), Some(&(_, to_ms))) = (bounds.first(), bounds.last()) else {
        return Ok((calls, scores));
    };
    // The interval whose whole hours hold the hour starting at `hour`.
    let inner: Vec<Option<(i64, i64)>> = bounds.iter().map(|&(start, end)| whole_hours(start, end)).collect();
    let slot = |hour: i64| {
        let n = bounds.partition_point(|&(_, end)| end <= hour);
        inner.get(n).copied().flatten().filter(|&(a, b)| a <= hour && hour + summary::HOUR_MS <= b).map(|_| n)
    };
    if let Some((first, last)) = whole_hours(from_ms, to_ms) {
        for (hour, _, tally) in summary::calls(conn, summary::Dimension::All, first, last).await? {
            if let Some(n) = slot(hour) {
                calls[n].add(&tally);
            }
        }
        for (hour, _, value, count) in summary::scores(conn, summary::Dimension::All, first, last, question).await? {
            if let Some(n) = slot(hour) {
                query::add_score(&mut scores[n], value, count);
            }
        }
    }
    for (n, &(start, end)) in bounds.iter().enumerate() {
        for edge in edges(start, end) {
            for tally in query::calls_per_interval(conn, backend, &[edge]).await? {
                calls[n].add(&tally);
            }
            let (a, b) = edge;
            let part = query::scores_in(conn, a, b, question).await?;
            for (total, value) in scores[n].iter_mut().zip(part) {
                *total += value;
            }
        }
    }
    Ok((calls, scores))
}

/// Calls and scores per group of `column`: the range's whole hours from the
/// summaries, its edges from the records.
async fn by_column_from_summary(
    conn: &mut sqlx::AnyConnection,
    column: Column,
    from_ms: i64,
    to_ms: i64,
    question: Option<&str>,
) -> Result<(BTreeMap<Option<String>, Tally>, BTreeMap<Option<String>, [i64; 11]>), sqlx::Error> {
    let mut calls: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    let mut scores: BTreeMap<Option<String>, [i64; 11]> = BTreeMap::new();
    if let Some((first, last)) = whole_hours(from_ms, to_ms) {
        let dimension = summary::Dimension::By(column);
        for (_, group, tally) in summary::calls(conn, dimension, first, last).await? {
            calls.entry(group).or_default().add(&tally);
        }
        for (_, group, value, count) in summary::scores(conn, dimension, first, last, question).await? {
            query::add_score(scores.entry(group).or_default(), value, count);
        }
    }
    for (start, end) in edges(from_ms, to_ms) {
        for (group, tally) in query::calls_by(conn, column, start, end).await? {
            calls.entry(group).or_default().add(&tally);
        }
        for (group, part) in query::scores_by(conn, column, start, end, question).await? {
            for (total, value) in scores.entry(group).or_default().iter_mut().zip(part) {
                *total += value;
            }
        }
    }
    Ok((calls, scores))
}

impl Store {
    /// [`report`] as a method.
    pub async fn report(&self, query: &ReportQuery) -> Result<ReportTable, ReportError> {
        report(self, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_names_round_trip_and_unknown_ones_are_refused() {
        for by in GroupBy::ALL {
            assert_eq!(by.as_str().parse(), Ok(by));
        }
        assert_eq!("month".parse::<GroupBy>(), Err(UnknownGroupBy("month".into())));
    }

    #[test]
    fn whole_days_span_local_midnights() {
        let first = jiff::civil::date(2026, 3, 29);
        let query = ReportQuery::days(first, first, GroupBy::Hour).expect("valid days");
        assert_eq!(query.to.as_millisecond() - query.from.as_millisecond(), 23 * 3_600_000);
        assert_eq!(query.from.to_string(), "2026-03-28T23:00:00Z");
    }
}
