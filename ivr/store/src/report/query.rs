//! The report's SQL: three aggregates (calls, survey scores, agents' ready
//! time), each run either once per time interval over a UTC range or once
//! grouped by a record column. Only standard SQL that SQLite and PostgreSQL
//! evaluate alike: aggregate FILTER clauses, COALESCE, CAST(.. AS BIGINT).
//!
//! On SQLite, one query per interval rather than `GROUP BY` a computed
//! interval: the range condition alone uses the `calls_report` covering
//! index in time order and SQLite needs no sort, which is most of the cost
//! of a year's report. PostgreSQL hashes: one `GROUP BY width_bucket(..)`
//! query, as a query per interval costs a round trip each. Either way the
//! interval bounds come from `intervals.rs`, so no time-zone logic lives in
//! SQL.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Tally;
use super::{SERVICE_LEVEL_MS, SHORT_ABANDON_MS};
use crate::Backend;

/// A column the report can group by (never user text: the SQL is built
/// from these names only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Column {
    Queue,
    Topic,
    Language,
    Agent,
}

impl Column {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Queue => "queue",
            Column::Topic => "topic",
            Column::Language => "language",
            Column::Agent => "agent",
        }
    }
}

/// The call aggregates, in `Tally` field order. Aggregate `FILTER`
/// clauses (SQLite 3.30, PostgreSQL 9.4) rather than `SUM(CASE ..)`: the
/// same meaning, and SQLite skips the aggregate step for rows that do not
/// match, which halves the cost of a year's report.
pub(crate) fn call_aggregates() -> String {
    let answered = "answered_by_agent_at_ms IS NOT NULL AND disposition <> 'called_back'";
    let abandoned = "disposition = 'abandoned_in_queue'";
    let count = |condition: &str| format!("COUNT(*) FILTER (WHERE {condition})");
    // PostgreSQL's SUM of a BIGINT is NUMERIC, which `Any` cannot decode.
    let sum = |column: &str, condition: &str| {
        format!("CAST(COALESCE(SUM({column}) FILTER (WHERE {condition}), 0) AS BIGINT)")
    };
    [
        "COUNT(*)".to_owned(),
        count("disposition = 'completed_in_ivr'"),
        count("disposition = 'abandoned_in_ivr'"),
        count("disposition = 'out_of_hours'"),
        "COUNT(queued_at_ms)".to_owned(),
        count(answered),
        count(&format!("{answered} AND wait_ms <= {SERVICE_LEVEL_MS}")),
        sum("wait_ms", answered),
        count(abandoned),
        count(&format!("{abandoned} AND wait_ms < {SHORT_ABANDON_MS}")),
        count(&format!("{abandoned} AND wait_ms >= {SHORT_ABANDON_MS} AND wait_ms <= {SERVICE_LEVEL_MS}")),
        count("disposition = 'called_back'"),
        sum("talk_ms", answered),
        sum("hold_ms", answered),
        sum("wrap_up_ms", answered),
        "MAX(wait_ms) FILTER (WHERE queued_at_ms IS NOT NULL)".to_owned(),
    ]
    .join(", ")
}

/// PostgreSQL: `width_bucket` over the intervals' starts (computed in Rust,
/// written as integer literals) numbers each row's interval from 1, so one
/// hash aggregate serves the whole report. SQLite has no such function and
/// sorts for a `GROUP BY`, so it gets one query per interval instead.
fn interval_number(column: &str, starts: &[i64]) -> String {
    let literals: Vec<String> = starts.iter().map(i64::to_string).collect();
    format!("CAST(width_bucket({column}, ARRAY[{}]::BIGINT[]) AS BIGINT)", literals.join(","))
}

/// The calls that started in each of `intervals` (contiguous, in order).
pub(crate) async fn calls_per_interval(
    conn: &mut AnyConnection,
    backend: Backend,
    intervals: &[(i64, i64)],
) -> Result<Vec<Tally>, sqlx::Error> {
    let (Some(&(from, _)), Some(&(_, to))) = (intervals.first(), intervals.last()) else { return Ok(Vec::new()) };
    let mut out = vec![Tally::default(); intervals.len()];
    match backend {
        Backend::Sqlite => {
            let sql = format!("SELECT {} FROM calls WHERE started_at_ms >= $1 AND started_at_ms < $2", call_aggregates());
            for (slot, &(start, end)) in out.iter_mut().zip(intervals) {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(start).bind(end).fetch_one(&mut *conn).await?;
                *slot = tally_from_row(&row, 0)?;
            }
        }
        Backend::Postgres => {
            let starts: Vec<i64> = intervals.iter().map(|i| i.0).collect();
            let sql = format!(
                "SELECT {} AS n, {} FROM calls WHERE started_at_ms >= $1 AND started_at_ms < $2 GROUP BY n",
                interval_number("started_at_ms", &starts),
                call_aggregates()
            );
            for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch_all(&mut *conn).await? {
                let n: i64 = row.try_get(0)?;
                if let Some(slot) = usize::try_from(n - 1).ok().and_then(|n| out.get_mut(n)) {
                    *slot = tally_from_row(&row, 1)?;
                }
            }
        }
    }
    Ok(out)
}

/// Score counts of the answers given in each of `intervals`.
pub(crate) async fn scores_per_interval(
    conn: &mut AnyConnection,
    backend: Backend,
    intervals: &[(i64, i64)],
    question: Option<&str>,
) -> Result<Vec<[i64; 11]>, sqlx::Error> {
    let (Some(&(from, _)), Some(&(_, to))) = (intervals.first(), intervals.last()) else { return Ok(Vec::new()) };
    let mut out = vec![[0; 11]; intervals.len()];
    match backend {
        Backend::Sqlite => {
            for (slot, &(start, end)) in out.iter_mut().zip(intervals) {
                *slot = scores_in(conn, start, end, question).await?;
            }
        }
        Backend::Postgres => {
            let starts: Vec<i64> = intervals.iter().map(|i| i.0).collect();
            let sql = format!(
                "SELECT {} AS n, value, COUNT(*) FROM survey_answers WHERE answered_at_ms >= $1 \
                 AND answered_at_ms < $2 AND value IS NOT NULL{} GROUP BY n, value",
                interval_number("answered_at_ms", &starts),
                score_filter(question)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
            if let Some(question) = question {
                query = query.bind(question.to_owned());
            }
            for row in query.fetch_all(&mut *conn).await? {
                let n: i64 = row.try_get(0)?;
                if let Some(slot) = usize::try_from(n - 1).ok().and_then(|n| out.get_mut(n)) {
                    add_score(slot, row.try_get(1)?, row.try_get(2)?);
                }
            }
        }
    }
    Ok(out)
}

/// Reads the call aggregates starting at column `first`.
pub(crate) fn tally_from_row(row: &AnyRow, first: usize) -> Result<Tally, sqlx::Error> {
    let at = |n: usize| row.try_get::<i64, _>(first + n);
    Ok(Tally {
        offered: at(0)?,
        ivr_completed: at(1)?,
        ivr_abandoned: at(2)?,
        out_of_hours: at(3)?,
        queued: at(4)?,
        answered: at(5)?,
        answered_in_sl: at(6)?,
        answer_wait_ms: at(7)?,
        abandoned: at(8)?,
        short_abandoned: at(9)?,
        abandoned_in_sl: at(10)?,
        called_back: at(11)?,
        talk_ms: at(12)?,
        hold_ms: at(13)?,
        wrap_up_ms: at(14)?,
        longest_wait_ms: row.try_get::<Option<i64>, _>(first + 15)?,
        staffed_ms: None,
        scores: [0; 11],
    })
}

/// The calls that started in `[start_ms, end_ms)`, by `column` (`None`:
/// calls without a value).
pub(crate) async fn calls_by(
    conn: &mut AnyConnection,
    column: Column,
    start_ms: i64,
    end_ms: i64,
) -> Result<BTreeMap<Option<String>, Tally>, sqlx::Error> {
    let name = column.name();
    let sql = format!(
        "SELECT {name}, {} FROM calls WHERE started_at_ms >= $1 AND started_at_ms < $2 GROUP BY {name}",
        call_aggregates()
    );
    let mut out = BTreeMap::new();
    for row in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(start_ms).bind(end_ms).fetch_all(&mut *conn).await? {
        out.insert(row.try_get::<Option<String>, _>(0)?, tally_from_row(&row, 1)?);
    }
    Ok(out)
}

fn score_filter(question: Option<&str>) -> &'static str {
    if question.is_some() { " AND question = $3" } else { "" }
}

/// Adds a score count to `scores`, ignoring values outside 0..=10 (the
/// writer never stores them; a hand-edited row must not panic a report).
pub(crate) fn add_score(scores: &mut [i64; 11], value: i64, count: i64) {
    if let Some(slot) = usize::try_from(value).ok().and_then(|v| scores.get_mut(v)) {
        *slot += count;
    }
}

/// Score counts of the answers given in `[start_ms, end_ms)`.
pub(crate) async fn scores_in(
    conn: &mut AnyConnection,
    start_ms: i64,
    end_ms: i64,
    question: Option<&str>,
) -> Result<[i64; 11], sqlx::Error> {
    let sql = format!(
        "SELECT value, COUNT(*) FROM survey_answers WHERE answered_at_ms >= $1 AND answered_at_ms < $2 \
         AND value IS NOT NULL{} GROUP BY value",
        score_filter(question)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(start_ms).bind(end_ms);
    if let Some(question) = question {
        query = query.bind(question.to_owned());
    }
    let mut scores = [0; 11];
    for row in query.fetch_all(&mut *conn).await? {
        add_score(&mut scores, row.try_get(0)?, row.try_get(1)?);
    }
    Ok(scores)
}

/// Score counts of the answers given in `[start_ms, end_ms)`, by the
/// `column` copied onto each answer.
pub(crate) async fn scores_by(
    conn: &mut AnyConnection,
    column: Column,
    start_ms: i64,
    end_ms: i64,
    question: Option<&str>,
) -> Result<BTreeMap<Option<String>, [i64; 11]>, sqlx::Error> {
    let name = column.name();
    let sql = format!(
        "SELECT {name}, value, COUNT(*) FROM survey_answers WHERE answered_at_ms >= $1 AND answered_at_ms < $2 \
         AND value IS NOT NULL{} GROUP BY {name}, value",
        score_filter(question)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(start_ms).bind(end_ms);
    if let Some(question) = question {
        query = query.bind(question.to_owned());
    }
    let mut out: BTreeMap<Option<String>, [i64; 11]> = BTreeMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        let group: Option<String> = row.try_get(0)?;
        add_score(out.entry(group).or_default(), row.try_get(1)?, row.try_get(2)?);
    }
    Ok(out)
}

/// Agents' ready intervals overlapping `[start_ms, end_ms)`, as stored
/// (not cut): `(agent, from_ms, to_ms)`. One query for the whole report;
/// `staffing::spread` cuts them into the report's intervals.
pub(crate) async fn ready_intervals(
    conn: &mut AnyConnection,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let sql = "SELECT agent, from_ms, to_ms FROM agent_staffing \
               WHERE state = 'ready' AND from_ms < $2 AND to_ms > $1";
    let mut out = Vec::new();
    for row in sqlx::query(sql)
        .bind(start_ms)
        .bind(end_ms)
        .fetch_all(&mut *conn)
        .await?
    {
        out.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
    }
    Ok(out)
}
