//! Agents' staffed time (`agent_staffing`), the denominator of occupancy,
//! and the schema the reports need beyond v2 (migration 0003).

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::{Backend, Store, StoreError};

/// Migration 0003 for `backend`, idempotent (`IF NOT EXISTS`); stores
/// migrated by `Store::migrate` have it, and [`Store::apply_report_schema`]
/// applies it to a store that was not.
pub fn report_schema(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => include_str!("../../migrations/sqlite/0003_reports.sql"),
        Backend::Postgres => include_str!("../../migrations/postgres/0003_reports.sql"),
    }
}

/// What an agent was doing over `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffingState {
    /// Logged in and not on break: idle, ringing, on a call, in wrap-up.
    Ready,
    Break,
}

impl StaffingState {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffingState::Ready => "ready",
            StaffingState::Break => "break",
        }
    }
}

/// One interval of an agent's shift, built by the shell from the queue
/// log's AGENTLOGIN/AGENTLOGOFF/PAUSE/UNPAUSE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffingInterval {
    pub agent: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub state: StaffingState,
}

const INSERT_STAFFING: &str = "INSERT INTO agent_staffing (agent, from_ms, to_ms, state) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (agent, from_ms) DO NOTHING";

impl Store {
    /// Applies [`report_schema`] (idempotent). For tests and the benchmark
    /// until the schema is a registered migration.
    pub async fn apply_report_schema(&self) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "apply_report_schema", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for statement in report_schema(self.backend).split(';').filter(|s| has_sql(s)) {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut *tx).await.map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    /// Stores agents' staffing intervals in one transaction; an interval
    /// already stored (same agent and start) is skipped, so replays are
    /// harmless.
    pub async fn insert_staffing(&self, intervals: &[StaffingInterval]) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "insert_staffing", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for interval in intervals {
            sqlx::query(INSERT_STAFFING)
                .bind(&interval.agent)
                .bind(interval.from_ms)
                .bind(interval.to_ms)
                .bind(interval.state.as_str())
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }
}

/// Whether a statement piece has anything but comments and blanks.
fn has_sql(piece: &str) -> bool {
    piece.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with("--"))
}

/// Whether `agent_staffing` exists (the schema above was applied): without
/// it occupancy is unknown rather than an error.
pub(crate) async fn staffing_recorded(conn: &mut AnyConnection, backend: Backend) -> Result<bool, sqlx::Error> {
    let sql = match backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'agent_staffing'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'agent_staffing'"
        }
    };
    let count: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await?;
    Ok(count > 0)
}

/// How much of `intervals` (each `[from_ms, to_ms)`) falls in each of
/// `buckets`, which are sorted, contiguous or not, and do not overlap.
/// Each interval visits only the buckets it overlaps.
pub(crate) fn spread(
    buckets: &[(i64, i64)],
    intervals: impl IntoIterator<Item = (i64, i64)>,
) -> Vec<i64> {
    let mut out = vec![0; buckets.len()];
    for (from_ms, to_ms) in intervals {
        let first = buckets.partition_point(|&(_, end)| end <= from_ms);
        for (slot, &(start, end)) in out[first..].iter_mut().zip(&buckets[first..]) {
            if start >= to_ms {
                break;
            }
            *slot += to_ms.min(end) - from_ms.max(start);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_cut_at_bucket_edges() {
        let hours = [(0, 60), (60, 120), (120, 180)];
        // 30..150 spans three buckets; 170..400 runs past the end; 500.. misses.
        assert_eq!(
            spread(&hours, [(30, 150), (170, 400), (500, 600)]),
            [30, 60, 40]
        );
        assert_eq!(spread(&hours, []), [0, 0, 0]);
        // Buckets with a gap (a range cut) do not count the gap.
        assert_eq!(spread(&[(0, 10), (20, 30)], [(0, 30)]), [10, 10]);
    }
}
