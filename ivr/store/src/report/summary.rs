//! The hourly report summaries (`call_summary_hourly`,
//! `survey_summary_hourly`, migration 0005): kept by the record writer in
//! the transaction of each batch, filled from the records once at start-up
//! (`backfill`), and read by the reports instead of the records.
//!
//! # What it owns
//! - A call's contribution to a summary row ([`call_tally`]), the same
//!   definitions as the record SQL in `query.rs` (`docs/metrics.md`); the
//!   report tests check that both give the same figures on both backends.
//! - Keeping the summaries equal to the records: a batch adds the
//!   contributions of the calls and scores it actually inserts (a call or
//!   answer already stored, e.g. from a journal replay, adds nothing); a
//!   provisional record replaced by the final one makes its hours be
//!   rebuilt from the records (a maximum cannot be subtracted).
//!
//! # What it must never do
//! - Commit outside the caller's transaction: every write here takes the
//!   batch's connection, so the summaries and the records commit together.
//! - Count a stored record twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::query::{Column, call_aggregates};
use super::{SERVICE_LEVEL_MS, SHORT_ABANDON_MS, Tally};
use crate::calls::insert_sql;
use crate::{Backend, Disposition, FinishedCall, Store, StoreError, SurveyAnswer};

/// A summary row covers one UTC hour. Europe/Madrid's offsets are whole
/// hours, so its local hours, days and weeks are unions of these.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Times before this (some 146 million years BC; no report can ask for
/// them) share one summary row, so that no hour computation overflows.
const LOWEST_HOUR: i64 = -(1 << 62);

/// The UTC hour `at_ms` falls in (also before 1970).
pub(crate) fn hour_of(at_ms: i64) -> i64 {
    if at_ms < LOWEST_HOUR { LOWEST_HOUR } else { at_ms - at_ms.rem_euclid(HOUR_MS) }
}

/// The same in SQL, for both backends (whose `%` truncates).
fn hour_sql(column: &str) -> String {
    format!(
        "(CASE WHEN {column} < {LOWEST_HOUR} THEN {LOWEST_HOUR} \
         ELSE {column} - ((({column} % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS}) END)"
    )
}

/// How a summary row groups: every call, or by one record column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Dimension {
    All,
    By(Column),
}

const DIMENSIONS: [Dimension; 5] = [
    Dimension::All,
    Dimension::By(Column::Queue),
    Dimension::By(Column::Topic),
    Dimension::By(Column::Language),
    Dimension::By(Column::Agent),
];

impl Dimension {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::By(column) => column.name(),
        }
    }
}

/// One summary row's key: (dimension, hour, group value), borrowing the
/// group from the batch's calls (copied once per row when bound, not once
/// per call and dimension).
type Key<'a> = (Dimension, i64, Option<&'a str>);

/// The summary columns after the key, in `Tally` field order.
const TALLY_COLUMNS: [&str; 16] = [
    "offered",
    "ivr_completed",
    "ivr_abandoned",
    "out_of_hours",
    "queued",
    "answered",
    "answered_in_sl",
    "answer_wait_ms",
    "abandoned",
    "short_abandoned",
    "abandoned_in_sl",
    "called_back",
    "talk_ms",
    "hold_ms",
    "wrap_up_ms",
    "longest_wait_ms",
];

/// What one stored call adds to its summary rows (`query.rs`'s
/// `call_aggregates` over that single row).
pub(crate) fn call_tally(call: &FinishedCall) -> Tally {
    let d = &call.details;
    let disposition = call.disposition();
    let wait = d.wait_ms;
    let answered = d.answered_by_agent_at_ms.is_some() && disposition != Disposition::CalledBack;
    let abandoned = disposition == Disposition::AbandonedInQueue;
    let count = |condition: bool| i64::from(condition);
    let when_answered = |value: Option<i64>| if answered { value.unwrap_or(0) } else { 0 };
    Tally {
        offered: 1,
        ivr_completed: count(disposition == Disposition::CompletedInIvr),
        ivr_abandoned: count(disposition == Disposition::AbandonedInIvr),
        out_of_hours: count(disposition == Disposition::OutOfHours),
        queued: count(d.queued_at_ms.is_some()),
        answered: count(answered),
        answered_in_sl: count(answered && wait.is_some_and(|w| w <= SERVICE_LEVEL_MS)),
        answer_wait_ms: when_answered(wait),
        abandoned: count(abandoned),
        short_abandoned: count(abandoned && wait.is_some_and(|w| w < SHORT_ABANDON_MS)),
        abandoned_in_sl: count(abandoned && wait.is_some_and(|w| (SHORT_ABANDON_MS..=SERVICE_LEVEL_MS).contains(&w))),
        called_back: count(disposition == Disposition::CalledBack),
        talk_ms: when_answered(d.talk_ms),
        hold_ms: when_answered(d.hold_ms),
        wrap_up_ms: when_answered(d.wrap_up_ms),
        longest_wait_ms: d.queued_at_ms.and(wait),
        staffed_ms: None,
        scores: [0; 11],
    }
}

fn call_group(call: &FinishedCall, dimension: Dimension) -> Option<&str> {
    let (r, d) = (&call.record, &call.details);
    match dimension {
        Dimension::All => None,
        Dimension::By(Column::Queue) => d.queue.as_deref(),
        Dimension::By(Column::Topic) => d.topic.as_deref(),
        Dimension::By(Column::Language) => Some(&r.language),
        Dimension::By(Column::Agent) => d.agent.as_deref(),
    }
}

fn answer_group(answer: &SurveyAnswer, dimension: Dimension) -> Option<&str> {
    match dimension {
        Dimension::All => None,
        Dimension::By(Column::Queue) => answer.queue.as_deref(),
        Dimension::By(Column::Topic) => answer.topic.as_deref(),
        Dimension::By(Column::Language) => Some(&answer.language),
        Dimension::By(Column::Agent) => answer.agent.as_deref(),
    }
}

/// `?` on SQLite, `$n` on PostgreSQL, for the `n`th parameter from 1.
fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// Parameters per statement, well under both backends' limits.
const MAX_PARAMS: usize = 10_000;

/// What a batch finds already stored, read in its transaction before it
/// inserts anything.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// Call id → (provisional, started_at_ms) of the stored row.
    calls: HashMap<String, (bool, i64)>,
    /// (call id, question) of stored survey answers.
    answers: HashSet<(String, String)>,
}

/// Reads which of `call_ids` have a stored row and which of their survey
/// questions are answered.
pub(crate) async fn stored(
    conn: &mut AnyConnection,
    backend: Backend,
    call_ids: &[&str],
) -> Result<Stored, sqlx::Error> {
    let mut out = Stored::default();
    for chunk in call_ids.chunks(MAX_PARAMS) {
        let list: Vec<String> = (1..=chunk.len()).map(|n| placeholder(backend, n)).collect();
        let list = list.join(", ");
        let sql = format!("SELECT call_id, provisional, started_at_ms FROM calls WHERE call_id IN ({list})");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let provisional: i64 = row.try_get(1)?;
            out.calls.insert(row.try_get(0)?, (provisional != 0, row.try_get(2)?));
        }
        let sql = format!("SELECT call_id, question FROM survey_answers WHERE call_id IN ({list})");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            out.answers.insert((row.try_get(0)?, row.try_get(1)?));
        }
    }
    Ok(out)
}

/// Brings the summaries up to date with a batch just inserted on `conn`:
/// `surviving` are the calls' final records in the batch (see `calls.rs`),
/// `answers` every survey answer of the batch in order, `before` what was
/// stored before the batch.
pub(crate) async fn apply_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    before: &Stored,
    surviving: &[&FinishedCall],
    answers: &[(&str, &SurveyAnswer)],
) -> Result<(), sqlx::Error> {
    let mut calls: BTreeMap<Key, Tally> = BTreeMap::new();
    let mut rebuild_hours: Vec<i64> = Vec::new();
    for call in surviving {
        match before.calls.get(call.call_id()) {
            None => {
                let tally = call_tally(call);
                let hour = hour_of(call.record.started_at_ms);
                for dimension in DIMENSIONS {
                    calls.entry((dimension, hour, call_group(call, dimension))).or_default().add(&tally);
                }
            }
            // A provisional row replaced by the final record.
            Some(&(true, old_started)) if !call.details.provisional => {
                rebuild_hours.push(hour_of(old_started));
                rebuild_hours.push(hour_of(call.record.started_at_ms));
            }
            Some(_) => {}
        }
    }
    add_calls(conn, backend, &calls).await?;
    rebuild_hours.sort_unstable();
    rebuild_hours.dedup();
    for hour in rebuild_hours {
        rebuild_calls(conn, hour, hour + HOUR_MS).await?;
    }

    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut scores: BTreeMap<(Key, &str, i64), i64> = BTreeMap::new();
    for &(call_id, answer) in answers {
        if !seen.insert((call_id, answer.question.as_str()))
            || (!before.answers.is_empty()
                && before.answers.contains(&(call_id.to_owned(), answer.question.clone())))
        {
            continue;
        }
        let Some(value) = answer.value else { continue };
        let hour = hour_of(answer.answered_at_ms);
        for dimension in DIMENSIONS {
            let key = (dimension, hour, answer_group(answer, dimension));
            *scores.entry((key, answer.question.as_str(), i64::from(value))).or_default() += 1;
        }
    }
    add_scores(conn, backend, &scores).await
}

/// Adds `rows` to the call summary (one upsert per chunk; keys sorted, so
/// concurrent writers lock rows in the same order).
async fn add_calls(conn: &mut AnyConnection, backend: Backend, rows: &BTreeMap<Key<'_>, Tally>) -> Result<(), sqlx::Error> {
    let width = 4 + TALLY_COLUMNS.len();
    let rows: Vec<(&Key, &Tally)> = rows.iter().collect();
    for chunk in rows.chunks(MAX_PARAMS / width) {
        let mut updates: Vec<String> =
            TALLY_COLUMNS[..15].iter().map(|c| format!("{c} = call_summary_hourly.{c} + excluded.{c}")).collect();
        updates.push(
            "longest_wait_ms = CASE WHEN call_summary_hourly.longest_wait_ms IS NULL \
             OR excluded.longest_wait_ms > call_summary_hourly.longest_wait_ms \
             THEN excluded.longest_wait_ms ELSE call_summary_hourly.longest_wait_ms END"
                .to_owned(),
        );
        let conflict =
            format!("ON CONFLICT (dimension, hour_ms, grp_present, grp) DO UPDATE SET {}", updates.join(", "));
        let sql = insert_sql(backend, "call_summary_hourly", &call_columns(), chunk.len(), &conflict);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((dimension, hour, group), t) in chunk {
            query = query
                .bind(dimension.name())
                .bind(*hour)
                .bind(i64::from(group.is_some()))
                .bind(group.unwrap_or_default());
            for value in [
                t.offered,
                t.ivr_completed,
                t.ivr_abandoned,
                t.out_of_hours,
                t.queued,
                t.answered,
                t.answered_in_sl,
                t.answer_wait_ms,
                t.abandoned,
                t.short_abandoned,
                t.abandoned_in_sl,
                t.called_back,
                t.talk_ms,
                t.hold_ms,
                t.wrap_up_ms,
            ] {
                query = query.bind(value);
            }
            query = query.bind(t.longest_wait_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn add_scores(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: &BTreeMap<(Key<'_>, &str, i64), i64>,
) -> Result<(), sqlx::Error> {
    let columns = ["dimension", "hour_ms", "grp_present", "grp", "question", "value", "answers"];
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(MAX_PARAMS / columns.len()) {
        let sql = insert_sql(
            backend,
            "survey_summary_hourly",
            &columns,
            chunk.len(),
            "ON CONFLICT (dimension, hour_ms, grp_present, grp, question, value) \
             DO UPDATE SET answers = survey_summary_hourly.answers + excluded.answers",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (((dimension, hour, group), question, value), answers) in chunk {
            query = query
                .bind(dimension.name())
                .bind(*hour)
                .bind(i64::from(group.is_some()))
                .bind(group.unwrap_or_default())
                .bind(*question)
                .bind(*value)
                .bind(**answers);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn call_columns() -> Vec<&'static str> {
    ["dimension", "hour_ms", "grp_present", "grp"].into_iter().chain(TALLY_COLUMNS).collect()
}

/// `(grp_present, grp)` of `column` (the key's group value) in SQL.
fn group_sql(dimension: Dimension) -> (String, String) {
    match dimension {
        Dimension::All => ("0".to_owned(), "''".to_owned()),
        Dimension::By(column) => {
            let name = column.name();
            (format!("CASE WHEN {name} IS NULL THEN 0 ELSE 1 END"), format!("COALESCE({name}, '')"))
        }
    }
}

fn group_by_sql(dimension: Dimension) -> String {
    match dimension {
        Dimension::All => "h".to_owned(),
        Dimension::By(column) => format!("h, {}", column.name()),
    }
}

/// Replaces the call summary of the hours in `[from_ms, to_ms)` (whole
/// hours) with the records' figures.
async fn rebuild_calls(conn: &mut AnyConnection, from_ms: i64, to_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM call_summary_hourly WHERE hour_ms >= $1 AND hour_ms < $2")
        .bind(from_ms)
        .bind(to_ms)
        .execute(&mut *conn)
        .await?;
    for dimension in DIMENSIONS {
        let (present, group) = group_sql(dimension);
        let sql = format!(
            "INSERT INTO call_summary_hourly ({}) SELECT '{}', {} AS h, {present}, {group}, {} FROM calls \
             WHERE started_at_ms >= $1 AND started_at_ms < $2 GROUP BY {}",
            call_columns().join(", "),
            dimension.name(),
            hour_sql("started_at_ms"),
            call_aggregates(),
            group_by_sql(dimension),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from_ms).bind(to_ms).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Replaces the whole score summary with the records' figures.
async fn rebuild_scores(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM survey_summary_hourly").execute(&mut *conn).await?;
    for dimension in DIMENSIONS {
        let (present, group) = group_sql(dimension);
        let sql = format!(
            "INSERT INTO survey_summary_hourly (dimension, hour_ms, grp_present, grp, question, value, answers) \
             SELECT '{}', {} AS h, {present}, {group}, question, value, COUNT(*) FROM survey_answers \
             WHERE value IS NOT NULL GROUP BY {}, question, value",
            dimension.name(),
            hour_sql("answered_at_ms"),
            group_by_sql(dimension),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Fills the summaries from the records stored before migration 0005, once:
/// the first caller flips `report_summary_state.backfilled` and rebuilds in
/// the same transaction (`conn` must be in one); later callers find it done.
/// Returns whether this call did it.
pub(crate) async fn backfill(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query("UPDATE report_summary_state SET backfilled = 1 WHERE id = 1 AND backfilled = 0")
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    rebuild_calls(conn, i64::MIN, i64::MAX).await?;
    rebuild_scores(conn).await?;
    Ok(true)
}

impl Store {
    /// Runs [`backfill`] in a transaction of its own (start-up, after the
    /// migrations).
    pub(crate) async fn backfill_report_summary(&self) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "backfill_report_summary", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        if backfill(&mut tx).await.map_err(query_error)? {
            tx.commit().await.map_err(query_error)?;
            tracing::info!(backend = %self.backend, "report summaries filled from the stored records");
        }
        Ok(())
    }

    /// Replaces both hourly summaries with figures recomputed from the
    /// stored records, in one transaction (after records were changed by
    /// hand; the writer keeps them current otherwise).
    pub async fn rebuild_report_summary(&self) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "rebuild_report_summary", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        rebuild_calls(&mut tx, i64::MIN, i64::MAX).await.map_err(query_error)?;
        rebuild_scores(&mut tx).await.map_err(query_error)?;
        tx.commit().await.map_err(query_error)
    }
}

/// The summed call figures of `dimension` over the whole hours in
/// `[from_ms, to_ms)`, per hour (`per_hour`) or per group.
pub(crate) async fn calls(
    conn: &mut AnyConnection,
    dimension: Dimension,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, Option<String>, Tally)>, sqlx::Error> {
    let sums: Vec<String> = TALLY_COLUMNS[..15].iter().map(|c| format!("CAST(SUM({c}) AS BIGINT)")).collect();
    let (key, group_by) = match dimension {
        Dimension::All => ("hour_ms, CAST(0 AS BIGINT), ''", "hour_ms"),
        Dimension::By(_) => ("CAST(0 AS BIGINT), grp_present, grp", "grp_present, grp"),
    };
    let sql = format!(
        "SELECT {key}, {}, MAX(longest_wait_ms) FROM call_summary_hourly \
         WHERE dimension = $1 AND hour_ms >= $2 AND hour_ms < $3 GROUP BY {group_by}",
        sums.join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(dimension.name())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, group_from_row(row, 1)?, super::query::tally_from_row(row, 3)?)))
        .collect()
}

/// Score counts of `dimension` over the whole hours in `[from_ms, to_ms)`:
/// `(hour or 0, group, value, count)`.
pub(crate) async fn scores(
    conn: &mut AnyConnection,
    dimension: Dimension,
    from_ms: i64,
    to_ms: i64,
    question: Option<&str>,
) -> Result<Vec<(i64, Option<String>, i64, i64)>, sqlx::Error> {
    let (key, group_by) = match dimension {
        Dimension::All => ("hour_ms, CAST(0 AS BIGINT), ''", "hour_ms"),
        Dimension::By(_) => ("CAST(0 AS BIGINT), grp_present, grp", "grp_present, grp"),
    };
    let filter = if question.is_some() { " AND question = $4" } else { "" };
    let sql = format!(
        "SELECT {key}, value, CAST(SUM(answers) AS BIGINT) FROM survey_summary_hourly \
         WHERE dimension = $1 AND hour_ms >= $2 AND hour_ms < $3{filter} GROUP BY {group_by}, value"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dimension.name()).bind(from_ms).bind(to_ms);
    if let Some(question) = question {
        query = query.bind(question.to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, group_from_row(row, 1)?, row.try_get(3)?, row.try_get(4)?)))
        .collect()
}

fn group_from_row(row: &AnyRow, first: usize) -> Result<Option<String>, sqlx::Error> {
    let present: i64 = row.try_get(first)?;
    let group: String = row.try_get(first + 1)?;
    Ok((present != 0).then_some(group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_utc_hours_before_and_after_the_epoch() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(HOUR_MS), HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
        assert_eq!(hour_of(i64::MIN), LOWEST_HOUR);
        assert_eq!(hour_of(i64::MAX), i64::MAX - i64::MAX.rem_euclid(HOUR_MS));
    }
}
