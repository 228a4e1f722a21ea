//! Caller pseudonyms: HMAC-SHA256 of the normalised number under a secret
//! from the configuration, so that statistics can count repeat callers and
//! a right-of-access request can find a caller's records, while the tables
//! used for statistics hold no number.
//!
//! Also the store's privacy operations: the purge of clear numbers whose
//! retention has passed, logged access to a clear number, and the
//! right-of-access export.
//!
//! Never here: storing or logging the number or the secret (`Debug` hides
//! both).

use std::fmt;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::calls::{SELECT_CALLS_BY_PSEUDONYM, call_from_row, load_children};
use crate::wrapup::wrap_ups_of_call;
use crate::{CallWrapUp, CallbackRequest, CallbackState, FinishedCall, Store, StoreError};

/// Hex characters kept of the 64 of an HMAC-SHA256: 128 bits, far beyond
/// any chance of two callers colliding, half the width in every index.
pub const PSEUDONYM_HEX_LEN: usize = 32;
/// Shortest secret accepted: 128 bits.
pub const MIN_SECRET_LEN: usize = 16;

/// Turns caller numbers into keyed pseudonyms. The same secret must be used
/// by every server writing to one database, and kept: with a new secret the
/// same caller gets a new pseudonym (repeat-caller windows and right-of-access
/// exports then miss the older records).
#[derive(Clone)]
pub struct Pseudonymizer {
    key: Hmac<Sha256>,
}

/// The configured secret is too short to resist guessing every phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pseudonym secret has {len} bytes; at least {MIN_SECRET_LEN} are needed")]
pub struct SecretTooShort {
    pub len: usize,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer(***)")
    }
}

impl Pseudonymizer {
    /// Phone numbers are few enough to be enumerated, so the secret is what
    /// protects them: it must be at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Pseudonymizer, SecretTooShort> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort { len: secret.len() });
        }
        let key = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        Ok(Pseudonymizer { key })
    }

    /// The pseudonym of `number`: lowercase hex, [`PSEUDONYM_HEX_LEN`]
    /// characters. Spaces and the separators `-` `.` `(` `)` are ignored, so
    /// "+34 600 11 12 22" and "+34600111222" are the same caller.
    pub fn pseudonym(&self, number: &str) -> String {
        let mut mac = self.key.clone();
        mac.update(normalise(number).as_bytes());
        let mut hex = hex::encode(mac.finalize().into_bytes());
        hex.truncate(PSEUDONYM_HEX_LEN);
        hex
    }
}

fn normalise(number: &str) -> String {
    number.chars().filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')')).collect()
}

/// Who asked to see a clear number, and why; stored in
/// `clear_number_access_log` with the time and the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access<'a> {
    pub who: &'a str,
    pub why: &'a str,
    pub at_ms: i64,
}

/// One caller's data, for a right-of-access request: every call stored
/// under the caller's pseudonym, with its events, survey answers and
/// callback request (which holds the number, if not yet purged), and the
/// operators' wrap-ups of those calls (disposition code and notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerExport {
    pub pseudonym: String,
    pub calls: Vec<FinishedCall>,
    /// The wrap-ups of `calls`, in the order of the calls, then as finished.
    pub wrap_ups: Vec<CallWrapUp>,
}

impl CallerExport {
    /// The callback requests among the calls.
    pub fn callbacks(&self) -> impl Iterator<Item = &CallbackRequest> {
        self.calls.iter().filter_map(|call| call.callback.as_ref())
    }
}

const PURGE_EXPIRED: &str = "UPDATE callback_requests SET number_clear = NULL \
     WHERE purge_after_ms <= $1 AND number_clear IS NOT NULL";
const SELECT_NUMBER: &str = "SELECT number_clear FROM callback_requests WHERE call_id = $1";
const LOG_ACCESS: &str = "INSERT INTO clear_number_access_log (who, at_ms, why, call_id) VALUES ($1, $2, $3, $4)";
const SET_CALLBACK_STATE: &str = "UPDATE callback_requests SET state = $1 WHERE call_id = $2";

impl Store {
    /// Erases every clear number whose `purge_after_ms` is at or before
    /// `now_ms` (the callback request itself stays, without the number, for
    /// statistics). Returns how many numbers were erased. The server runs
    /// it on a schedule; running it twice is harmless.
    pub async fn purge_expired_numbers(&self, now_ms: i64) -> Result<u64, StoreError> {
        let result = sqlx::query(PURGE_EXPIRED)
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Query { backend: self.backend, op: "purge_expired_numbers", source })?;
        Ok(result.rows_affected())
    }

    /// The clear number of `call_id`'s callback request, if it has one not
    /// yet purged. Every call is logged in `clear_number_access_log` (who,
    /// when, why, which call), in the same transaction as the read, found
    /// or not.
    pub async fn clear_number_for(&self, call_id: &str, access: &Access<'_>) -> Result<Option<String>, StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "clear_number_for", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        log_access(&mut tx, access, Some(call_id)).await.map_err(query_error)?;
        let number: Option<Option<String>> = sqlx::query_scalar(SELECT_NUMBER)
            .bind(call_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(number.flatten())
    }

    /// Right of access: every call stored under `number`'s pseudonym, whole
    /// (record, timeline, survey answers, callback request with the number
    /// if not yet purged, operators' wrap-ups), oldest first. The export is logged as an access
    /// to clear numbers (with no `call_id`: it concerns a caller, not a call).
    pub async fn export_caller(
        &self,
        pseudonymizer: &Pseudonymizer,
        number: &str,
        access: &Access<'_>,
    ) -> Result<CallerExport, StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "export_caller", source };
        let pseudonym = pseudonymizer.pseudonym(number);
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        log_access(&mut tx, access, None).await.map_err(query_error)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(SELECT_CALLS_BY_PSEUDONYM.as_str()))
            .bind(&pseudonym)
            .fetch_all(&mut *tx)
            .await
            .map_err(query_error)?;
        let mut calls = Vec::with_capacity(rows.len());
        let mut wrap_ups = Vec::new();
        for row in &rows {
            let (record, details) = call_from_row(row).map_err(query_error)?;
            wrap_ups.extend(wrap_ups_of_call(&mut tx, &record.call_id).await.map_err(query_error)?);
            calls.push(load_children(&mut tx, record, details).await.map_err(query_error)?);
        }
        tx.commit().await.map_err(query_error)?;
        Ok(CallerExport { pseudonym, calls, wrap_ups })
    }

    /// Records how a callback request ended. `false` when the call has none.
    pub async fn set_callback_state(&self, call_id: &str, state: CallbackState) -> Result<bool, StoreError> {
        let result = sqlx::query(SET_CALLBACK_STATE)
            .bind(state.as_str())
            .bind(call_id)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Query { backend: self.backend, op: "set_callback_state", source })?;
        Ok(result.rows_affected() > 0)
    }
}

async fn log_access(conn: &mut sqlx::AnyConnection, access: &Access<'_>, call_id: Option<&str>) -> Result<(), sqlx::Error> {
    tracing::info!(who = access.who, why = access.why, call = call_id, "clear caller number accessed");
    sqlx::query(LOG_ACCESS)
        .bind(access.who)
        .bind(access.at_ms)
        .bind(access.why)
        .bind(call_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of the 012 line, 32 by.";

    #[test]
    fn the_pseudonym_is_keyed_stable_and_ignores_formatting() {
        let p = Pseudonymizer::new(SECRET).expect("long enough");
        let a = p.pseudonym("+34600111222");
        assert_eq!(a.len(), PSEUDONYM_HEX_LEN);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(p.pseudonym("+34 600-11.12 22"), a);
        assert_ne!(p.pseudonym("+34600111223"), a);
        let other = Pseudonymizer::new(b"another secret, also long enough").expect("long enough");
        assert_ne!(other.pseudonym("+34600111222"), a, "a different secret gives a different pseudonym");
        assert!(!a.contains("600111222"));
    }

    #[test]
    fn the_pseudonym_is_hmac_sha256_truncated() {
        // Expected value computed independently with Python's hmac module:
        // hmac.new(b"\x0b" * 20, b"+34600111222", hashlib.sha256).hexdigest()[:32]
        let p = Pseudonymizer::new(&[0x0b; 20]).expect("20 bytes");
        assert_eq!(p.pseudonym("+34 600 111 222"), "a0314d012746ce2c8493f0fd90f966d5");
    }

    #[test]
    fn a_short_secret_is_refused_and_debug_hides_the_key() {
        assert_eq!(Pseudonymizer::new(b"short").err(), Some(SecretTooShort { len: 5 }));
        let p = Pseudonymizer::new(SECRET).expect("long enough");
        assert_eq!(format!("{p:?}"), "Pseudonymizer(***)");
    }
}
