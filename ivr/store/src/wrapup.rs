//! Operators' wrap-ups: the disposition code and notes an agent records in
//! the console when they finish wrap-up after a call.
//!
//! # What it owns
//! - The `call_wrapups` table (migration 0006) and every statement on it.
//! - The checks a wrap-up must pass before it is stored
//!   ([`CallWrapUp::check`]): a code that is a short snake_case name, notes
//!   of at most [`MAX_NOTES_CHARS`] characters without control characters
//!   (line breaks and tabs allowed), a call id and an agent.
//!
//! # What it must never do
//! - Decide which codes the line uses: that list is the console's
//!   configuration; the console refuses an unknown code before anything
//!   reaches the store.
//! - Print the notes: they are free text an operator typed and may name the
//!   caller. [`CallWrapUp`]'s `Debug` shows only their length.
//!
//! # Invariants
//! - One row per (call, agent). Inserting it again is a no-op (the first
//!   wins), so the server's writer may retry an insert whose commit was in
//!   doubt.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Backend, Store, StoreError};

/// The longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 2_000;
/// The longest disposition code, in bytes (ASCII only).
pub const MAX_CODE_LEN: usize = 64;
/// The longest call id and agent login.
pub const MAX_ID_LEN: usize = 128;

/// What an agent recorded when they finished wrap-up for one call.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallWrapUp {
    /// The call's record id (`calls.call_id`).
    pub call_id: String,
    /// The agent's login.
    pub agent: String,
    /// One of the console's configured codes, e.g. `resolved`.
    pub disposition_code: String,
    /// Free text, at most [`MAX_NOTES_CHARS`] characters.
    pub notes: Option<String>,
    /// When the agent finished wrap-up, epoch milliseconds (UTC).
    pub finished_at_ms: i64,
    /// How long the agent was in wrap-up, milliseconds; `None` when unknown
    /// (the ACD had already ended wrap-up when the agent's form arrived).
    pub wrap_up_ms: Option<i64>,
}

impl fmt::Debug for CallWrapUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallWrapUp")
            .field("call_id", &self.call_id)
            .field("agent", &self.agent)
            .field("disposition_code", &self.disposition_code)
            .field("notes_chars", &self.notes.as_ref().map(|n| n.chars().count()))
            .field("finished_at_ms", &self.finished_at_ms)
            .field("wrap_up_ms", &self.wrap_up_ms)
            .finish()
    }
}

/// Why a wrap-up was refused or could not be stored. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WrapUpError {
    #[error("invalid disposition code {code:?}: 1 to 64 lowercase letters, digits or '_'")]
    InvalidCode { code: String },
    #[error("notes have {chars} characters; at most {MAX_NOTES_CHARS} are kept")]
    NotesTooLong { chars: usize },
    #[error("notes must not be blank or hold control characters other than line breaks and tabs")]
    InvalidNotes,
    #[error("invalid {field}: 1 to 128 characters, no control characters")]
    InvalidId { field: &'static str },
    #[error("negative wrap-up time {wrap_up_ms} ms")]
    NegativeDuration { wrap_up_ms: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `code` has the shape of a disposition code: lowercase ASCII
/// letters, digits and `_`, 1 to [`MAX_CODE_LEN`] long.
pub fn is_valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks notes as they come from an HTTP body.
pub fn check_notes(notes: &str) -> Result<(), WrapUpError> {
    let chars = notes.chars().count();
    if chars > MAX_NOTES_CHARS {
        return Err(WrapUpError::NotesTooLong { chars });
    }
    if notes.trim().is_empty() || notes.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(WrapUpError::InvalidNotes);
    }
    Ok(())
}

fn check_id(field: &'static str, id: &str) -> Result<(), WrapUpError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(WrapUpError::InvalidId { field });
    }
    Ok(())
}

impl CallWrapUp {
    /// Every check [`Store::insert_wrap_up`] makes before it writes.
    pub fn check(&self) -> Result<(), WrapUpError> {
        check_id("call id", &self.call_id)?;
        check_id("agent", &self.agent)?;
        if !is_valid_code(&self.disposition_code) {
            return Err(WrapUpError::InvalidCode { code: self.disposition_code.clone() });
        }
        if let Some(notes) = &self.notes {
            check_notes(notes)?;
        }
        if let Some(wrap_up_ms) = self.wrap_up_ms
            && wrap_up_ms < 0
        {
            return Err(WrapUpError::NegativeDuration { wrap_up_ms });
        }
        Ok(())
    }
}

/// Wrap-ups with one disposition code in a time range, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispositionCount {
    pub disposition_code: String,
    pub wrap_ups: i64,
    /// Sum of their known wrap-up times, milliseconds.
    pub wrap_up_ms: i64,
}

/// The CSV of [`DispositionCount`]s: a header line, then one line per code.
/// Codes are snake_case names, so no field needs quoting.
pub fn disposition_csv(counts: &[DispositionCount]) -> String {
    let mut csv = String::from("disposition_code,wrap_ups,wrap_up_s\n");
    for count in counts {
        let seconds = count.wrap_up_ms as f64 / 1000.0;
        csv.push_str(&format!("{},{},{seconds:.1}\n", count.disposition_code, count.wrap_ups));
    }
    csv
}

const COLUMNS: &str = "call_id, agent, disposition_code, notes, finished_at_ms, wrap_up_ms";
const INSERT: &str = "INSERT INTO call_wrapups \
     (call_id, agent, disposition_code, notes, finished_at_ms, wrap_up_ms) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id, agent) DO NOTHING";
// SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver does not decode.
const COUNT_BY_CODE: &str = "SELECT disposition_code, COUNT(*) AS wrap_ups, CAST(COALESCE(SUM(wrap_up_ms), 0) AS BIGINT) AS wrap_up_ms \
     FROM call_wrapups WHERE finished_at_ms >= $1 AND finished_at_ms < $2 \
     GROUP BY disposition_code ORDER BY disposition_code";

fn wrap_up_from_row(row: &AnyRow) -> Result<CallWrapUp, sqlx::Error> {
    Ok(CallWrapUp {
        call_id: row.try_get("call_id")?,
        agent: row.try_get("agent")?,
        disposition_code: row.try_get("disposition_code")?,
        notes: row.try_get("notes")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
        wrap_up_ms: row.try_get("wrap_up_ms")?,
    })
}

/// The wrap-ups of `call_id`, in the order they were finished; on a
/// connection of the caller's (the right-of-access export reads them in its
/// transaction).
pub(crate) async fn wrap_ups_of_call(conn: &mut AnyConnection, call_id: &str) -> Result<Vec<CallWrapUp>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM call_wrapups WHERE call_id = $1 ORDER BY finished_at_ms, agent");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(call_id).fetch_all(&mut *conn).await?;
    rows.iter().map(wrap_up_from_row).collect()
}

fn query_error(backend: Backend, op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { backend, op, source }
}

impl Store {
    /// Stores a wrap-up after [`CallWrapUp::check`]. `Ok(false)`: this
    /// agent's wrap-up of this call was stored already (the first one stays).
    pub async fn insert_wrap_up(&self, wrap_up: &CallWrapUp) -> Result<bool, WrapUpError> {
        wrap_up.check()?;
        let result = sqlx::query(INSERT)
            .bind(&wrap_up.call_id)
            .bind(&wrap_up.agent)
            .bind(&wrap_up.disposition_code)
            .bind(wrap_up.notes.as_deref())
            .bind(wrap_up.finished_at_ms)
            .bind(wrap_up.wrap_up_ms)
            .execute(&self.pool)
            .await
            .map_err(query_error(self.backend, "insert_wrap_up"))?;
        Ok(result.rows_affected() > 0)
    }

    /// The wrap-ups of one call (one per agent who handled it), in the
    /// order they were finished.
    pub async fn wrap_ups_for_call(&self, call_id: &str) -> Result<Vec<CallWrapUp>, StoreError> {
        let error = query_error(self.backend, "wrap_ups_for_call");
        let mut conn = self.pool.acquire().await.map_err(&error)?;
        wrap_ups_of_call(&mut conn, call_id).await.map_err(error)
    }

    /// Wrap-ups finished in `[from_ms, to_ms)`, oldest first.
    pub async fn wrap_ups_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<CallWrapUp>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_wrapups WHERE finished_at_ms >= $1 AND finished_at_ms < $2 \
             ORDER BY finished_at_ms, call_id, agent"
        );
        let error = query_error(self.backend, "wrap_ups_between");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(&error)?;
        rows.iter().map(wrap_up_from_row).collect::<Result<_, _>>().map_err(error)
    }

    /// How many wrap-ups each disposition code had in `[from_ms, to_ms)`,
    /// and their total wrap-up time, by code.
    pub async fn disposition_counts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<DispositionCount>, StoreError> {
        let error = query_error(self.backend, "disposition_counts");
        let rows =
            sqlx::query(COUNT_BY_CODE).bind(from_ms).bind(to_ms).fetch_all(&self.pool).await.map_err(&error)?;
        rows.iter()
            .map(|row| {
                Ok(DispositionCount {
                    disposition_code: row.try_get("disposition_code")?,
                    wrap_ups: row.try_get("wrap_ups")?,
                    wrap_up_ms: row.try_get("wrap_up_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap_up() -> CallWrapUp {
        CallWrapUp {
            call_id: "c-1".into(),
            agent: "marta".into(),
            disposition_code: "resolved".into(),
            notes: Some("Li he explicat el tràmit.\nTornarà a trucar.".into()),
            finished_at_ms: 1_000,
            wrap_up_ms: Some(12_000),
        }
    }

    #[test]
    fn codes_are_short_snake_case_names() {
        for good in ["resolved", "callback_needed", "x1"] {
            assert!(is_valid_code(good), "{good}");
        }
        for bad in ["", "Resolved", "wrong number", "resolt-ok", "à", &"a".repeat(65)] {
            assert!(!is_valid_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn notes_are_limited_to_2000_characters_not_bytes() {
        assert!(check_notes(&"à".repeat(MAX_NOTES_CHARS)).is_ok(), "2,000 two-byte characters fit");
        assert!(matches!(check_notes(&"a".repeat(MAX_NOTES_CHARS + 1)), Err(WrapUpError::NotesTooLong { chars: 2_001 })));
        assert!(matches!(check_notes("  \n "), Err(WrapUpError::InvalidNotes)));
        assert!(matches!(check_notes("bell\u{7}"), Err(WrapUpError::InvalidNotes)));
        assert!(check_notes("line one\r\n\tline two").is_ok());
    }

    #[test]
    fn a_wrap_up_is_checked_whole_and_debug_hides_the_notes() {
        assert!(wrap_up().check().is_ok());
        assert!(CallWrapUp { wrap_up_ms: None, notes: None, ..wrap_up() }.check().is_ok());
        assert!(matches!(CallWrapUp { call_id: String::new(), ..wrap_up() }.check(), Err(WrapUpError::InvalidId { .. })));
        assert!(matches!(CallWrapUp { wrap_up_ms: Some(-1), ..wrap_up() }.check(), Err(WrapUpError::NegativeDuration { .. })));
        let debug = format!("{:?}", wrap_up());
        assert!(!debug.contains("tràmit") && debug.contains("notes_chars: Some(43)"), "{debug}");
    }

    #[test]
    fn the_csv_has_one_line_per_code_with_seconds() {
        let counts = [
            DispositionCount { disposition_code: "complaint".into(), wrap_ups: 1, wrap_up_ms: 30_000 },
            DispositionCount { disposition_code: "resolved".into(), wrap_ups: 2, wrap_up_ms: 25_500 },
        ];
        assert_eq!(disposition_csv(&counts), "disposition_code,wrap_ups,wrap_up_s\ncomplaint,1,30.0\nresolved,2,25.5\n");
    }
}
