//! The schema's indexes, as SQLite's planner uses them: every index is one
//! a query needs, and the queries the reports and the privacy export run
//! seek an index instead of scanning the table. Migration 0007 dropped the
//! indexes no query used (each one cost every stored call a B-tree insert);
//! this keeps a later migration from adding one back unused, or from
//! dropping one that a query seeks.

use sqlx::{Connection, Row, SqliteConnection};

use crate::Database;

/// The indexes each table keeps (SQLite's automatic primary-key indexes
/// aside).
const EXPECTED: [(&str, &[&str]); 4] = [
    ("calls", &["calls_caller_pseudonym", "calls_report"]),
    ("call_events", &[]),
    ("survey_answers", &["survey_answers_report"]),
    ("callback_requests", &["callback_requests_purge_after_ms"]),
];

/// A query shape and the index its plan must name.
const SEEKS: [(&str, &str); 6] = [
    // A report interval, overall and by a dimension (the partial hours at
    // the edges of a range; whole hours come from the hourly summary).
    ("SELECT COUNT(*), SUM(wait_ms) FROM calls WHERE started_at_ms >= 1 AND started_at_ms < 2", "calls_report"),
    ("SELECT topic, COUNT(*) FROM calls WHERE started_at_ms >= 1 AND started_at_ms < 2 GROUP BY topic", "calls_report"),
    (
        "SELECT agent, value, COUNT(*) FROM survey_answers WHERE answered_at_ms >= 1 AND answered_at_ms < 2 \
         AND value IS NOT NULL GROUP BY agent, value",
        "survey_answers_report",
    ),
    // Repeat callers and the right-of-access export.
    ("SELECT call_id FROM calls WHERE caller_pseudonym = 'p' ORDER BY started_at_ms, call_id", "calls_caller_pseudonym"),
    // Clear callback numbers due for purging.
    ("SELECT call_id FROM callback_requests WHERE purge_after_ms <= 5 AND number_clear IS NOT NULL", "callback_requests_purge_after_ms"),
    // A call's timeline, by its primary key.
    ("SELECT seq, at_ms, kind, detail FROM call_events WHERE call_id = 'c' ORDER BY seq", "sqlite_autoindex_call_events_1"),
];

async fn sqlite_connection() -> (Database, SqliteConnection) {
    let database = Database::sqlite().await;
    let Some(file) = database.sqlite_file() else { panic!("a SQLite database has a file") };
    let conn = SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.expect("second connection");
    (database, conn)
}

#[tokio::test]
async fn each_table_keeps_only_the_indexes_a_query_uses() {
    let (database, mut conn) = sqlite_connection().await;
    for (table, expected) in EXPECTED {
        let rows = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? \
             AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name",
        )
        .bind(table)
        .fetch_all(&mut conn)
        .await
        .expect("list indexes");
        let names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        assert_eq!(names, expected, "indexes of {table}");
    }
    conn.close().await.expect("close");
    database.finish().await;
}

#[tokio::test]
async fn report_and_privacy_queries_seek_an_index() {
    let (database, mut conn) = sqlite_connection().await;
    for (sql, index) in SEEKS {
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&mut conn)
            .await
            .expect("plan")
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect();
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH") && step.contains(index)),
            "{sql}\nshould seek {index}, but its plan is {plan:?}"
        );
        assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{sql}\nscans: {plan:?}");
    }
    conn.close().await.expect("close");
    database.finish().await;
}
