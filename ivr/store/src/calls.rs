//! Writing and reading whole calls: the `calls` row, its timeline, survey
//! answers and callback request, always together in one transaction.
//!
//! # Idempotence (what a second insert of the same call does)
//! - `calls`: the first record of a call wins, with one exception: a
//!   *provisional* row (closed as `interrupted` by start-up recovery) is
//!   replaced by a later non-provisional record of the same call. A
//!   provisional record never replaces anything.
//! - `call_events` (`call_id`, `seq`), `survey_answers` (`call_id`,
//!   `question`) and `callback_requests` (`call_id`): the first row wins;
//!   a replayed row is a no-op.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Row};

use crate::report::summary;
use crate::{
    Backend, CallDetails, CallEvent, CallRecord, CallbackRequest, FinishedCall, Store, StoreError, SurveyAnswer, SurveyScore,
};

/// The `calls` columns, in bind order.
const CALL_COLUMNS: [&str; 31] = [
    "call_id",
    "dialled",
    "started_at_ms",
    "answered_at_ms",
    "ended_at_ms",
    "end_reason",
    "sip_status",
    "codec",
    "language",
    "digits_rfc4733",
    "digits_sip_info",
    "digits_inband",
    "rtp_packets_sent",
    "rtp_packets_received",
    "rtp_packets_lost",
    "caller_pseudonym",
    "dialplan_version",
    "ivr_path",
    "topic",
    "queue",
    "queued_at_ms",
    "wait_ms",
    "agent",
    "answered_by_agent_at_ms",
    "talk_ms",
    "hold_ms",
    "wrap_up_ms",
    "disposition",
    "failure_sip_status",
    "message_recording",
    "provisional",
];

/// Bound parameters per multi-row statement, near each backend's limit
/// (PostgreSQL 65,535; SQLite 32,766): with anonymous placeholders on
/// SQLite the largest statements are the fastest on both
/// (`examples/insert_bench.rs`, debug build, 10,000 full calls: SQLite 2,600
/// calls/s at 320 parameters, 4,900 at 3,200, 6,600 at 30,000).
fn max_params(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 30_000,
        Backend::Postgres => 30_000,
    }
}

/// A later non-provisional record replaces a provisional one; otherwise the
/// first record of a call wins.
static CALL_CONFLICT: LazyLock<String> = LazyLock::new(|| {
    let updates: Vec<String> = CALL_COLUMNS[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "ON CONFLICT (call_id) DO UPDATE SET {} WHERE calls.provisional = 1 AND excluded.provisional = 0",
        updates.join(", ")
    )
});

const EVENT_COLUMNS: [&str; 5] = ["call_id", "seq", "at_ms", "kind", "detail"];
const SURVEY_COLUMNS: [&str; 8] =
    ["call_id", "question", "value", "answered_at_ms", "agent", "queue", "topic", "language"];
const CALLBACK_COLUMNS: [&str; 6] =
    ["call_id", "queue", "number_clear", "requested_at_ms", "purge_after_ms", "state"];

/// `INSERT INTO table (columns) VALUES ($1, ..), (..) conflict` for `rows` rows.
/// SQLite gets anonymous `?` placeholders (bound in order): with `$N`, sqlx
/// looks every parameter up by name, a scan per parameter that made large
/// statements cost the square of their size (profiled by the simulated year).
pub(crate) fn insert_sql(backend: Backend, table: &str, columns: &[&str], rows: usize, conflict: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns.len() {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${n}")),
            }
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(conflict);
    sql
}

static SELECT_CALL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM calls WHERE call_id = $1", CALL_COLUMNS.join(", ")));

pub(crate) static SELECT_CALLS_BY_PSEUDONYM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM calls WHERE caller_pseudonym = $1 ORDER BY started_at_ms, call_id",
        CALL_COLUMNS.join(", ")
    )
});

const SELECT_EVENTS: &str = "SELECT seq, at_ms, kind, detail FROM call_events WHERE call_id = $1 ORDER BY seq";

const SELECT_SURVEY_ANSWERS: &str = "SELECT question, value, answered_at_ms, agent, queue, topic, language \
     FROM survey_answers WHERE call_id = $1 ORDER BY answered_at_ms, question";

const SELECT_CALLBACK: &str = "SELECT queue, number_clear, requested_at_ms, purge_after_ms, state \
     FROM callback_requests WHERE call_id = $1";

impl Store {
    /// Inserts `records` (engine records without v2 data) in one
    /// transaction; see [`Store::insert_finished`].
    pub async fn insert_calls(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        let calls: Vec<FinishedCall> = records.iter().cloned().map(FinishedCall::from).collect();
        self.insert_finished(&calls).await
    }

    /// Inserts `calls`, each with its events, survey answers and callback
    /// request, in one transaction: all of them are stored or none. A call
    /// already stored is skipped (or replaces a provisional row; see the
    /// module comment), so a batch retried after an ambiguous failure, or
    /// replayed from the journal, stores nothing twice.
    pub async fn insert_finished(&self, calls: &[FinishedCall]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let statements = bulk_statements(self.backend, calls);
        self.run_bulk(calls, statements, "insert_finished").await
    }

    /// Binds the statements that store `calls`, without touching the
    /// database (plain CPU work, on the caller's thread); see
    /// [`Store::insert_bound`].
    pub fn bind_batch(&self, calls: Vec<FinishedCall>) -> BoundBatch {
        let statements = bulk_statements(self.backend, &calls);
        BoundBatch { calls, statements, backend: self.backend }
    }

    /// [`Store::insert_finished`] for a batch bound by
    /// [`Store::bind_batch`] (on a store of the same backend); gives the
    /// calls back.
    pub async fn insert_bound(&self, batch: BoundBatch) -> Result<Vec<FinishedCall>, StoreError> {
        let BoundBatch { calls, statements, backend } = batch;
        if backend != self.backend {
            return Err(StoreError::BackendMismatch { bound_for: backend, store: self.backend });
        }
        if !calls.is_empty() {
            self.run_bulk(&calls, statements, "insert_bound").await?;
        }
        Ok(calls)
    }

    /// One transaction: the bulk statements of `calls`, then the summaries.
    async fn run_bulk(&self, calls: &[FinishedCall], statements: Vec<Statement>, op: &'static str) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op, source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        insert_all(&mut tx, calls, statements, self.backend).await.map_err(query_error)?;
        tx.commit().await.map_err(query_error)
    }

    /// Adds survey answers to a stored (or not yet stored) call; an answer
    /// to a question already answered for the call is skipped.
    pub async fn insert_survey_answers(&self, call_id: &str, answers: &[SurveyAnswer]) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "insert_survey_answers", source };
        let rows: Vec<(&str, &SurveyAnswer)> = answers.iter().map(|answer| (call_id, answer)).collect();
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        let before = summary::stored(&mut tx, self.backend, &[call_id]).await.map_err(query_error)?;
        for statement in survey_answer_statements(self.backend, &rows) {
            statement.execute(&mut *tx).await.map_err(query_error)?;
        }
        summary::apply_batch(&mut tx, self.backend, &before, &[], &rows).await.map_err(query_error)?;
        tx.commit().await.map_err(query_error)
    }

    /// The stored `calls` row (v1 columns) for `call_id`, if any.
    pub async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        Ok(self.finished_call(call_id).await?.map(|call| call.record))
    }

    /// Everything stored for `call_id`: the record, its timeline in `seq`
    /// order, survey answers and callback request.
    pub async fn finished_call(&self, call_id: &str) -> Result<Option<FinishedCall>, StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "finished_call", source };
        let mut conn = self.pool.acquire().await.map_err(query_error)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(SELECT_CALL.as_str()))
            .bind(call_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(query_error)?;
        let Some(row) = row else { return Ok(None) };
        let (record, details) = call_from_row(&row).map_err(query_error)?;
        load_children(&mut conn, record, details).await.map(Some).map_err(query_error)
    }

    /// How many calls are stored.
    pub async fn count_calls(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM calls")
            .fetch_one(&self.pool)
            .await
            .map_err(|source| StoreError::Query { backend: self.backend, op: "count_calls", source })
    }
}

/// The record each call of `calls` ends up with, as if they were inserted
/// one by one: the first, unless it is provisional and a later one is not.
fn surviving_records(calls: &[FinishedCall]) -> Vec<&FinishedCall> {
    let mut chosen: Vec<&FinishedCall> = Vec::with_capacity(calls.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(calls.len());
    for call in calls {
        match index.get(call.call_id()) {
            None => {
                index.insert(call.call_id(), chosen.len());
                chosen.push(call);
            }
            Some(&at) => {
                if chosen[at].details.provisional && !call.details.provisional {
                    chosen[at] = call;
                }
            }
        }
    }
    chosen
}

/// A multi-row statement with its parameters bound, ready to run.
type Statement = sqlx::query::Query<'static, Any, AnyArguments>;

/// The multi-row statements that insert `calls` and their children: a few
/// statements per batch instead of nine per call. Binding is plain CPU work
/// and needs no connection, so it can be done ahead of the transaction
/// ([`Store::bind_batch`]).
fn bulk_statements(backend: Backend, calls: &[FinishedCall]) -> Vec<Statement> {
    let max_params = max_params(backend);
    let mut statements = Vec::new();
    for chunk in surviving_records(calls).chunks(max_params / CALL_COLUMNS.len()) {
        let sql = insert_sql(backend, "calls", &CALL_COLUMNS, chunk.len(), &CALL_CONFLICT);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for call in chunk {
            let (r, d) = (&call.record, &call.details);
            query = query
                .bind(r.call_id.clone())
                .bind(r.dialled.clone())
                .bind(r.started_at_ms)
                .bind(r.answered_at_ms)
                .bind(r.ended_at_ms)
                .bind(r.end_reason.clone())
                .bind(r.sip_status)
                .bind(r.codec.clone())
                .bind(r.language.clone())
                .bind(r.digits_rfc4733)
                .bind(r.digits_sip_info)
                .bind(r.digits_inband)
                .bind(r.rtp_packets_sent)
                .bind(r.rtp_packets_received)
                .bind(r.rtp_packets_lost)
                .bind(d.caller_pseudonym.clone())
                .bind(d.dialplan_version.clone())
                .bind(d.ivr_path.clone())
                .bind(d.topic.clone())
                .bind(d.queue.clone())
                .bind(d.queued_at_ms)
                .bind(d.wait_ms)
                .bind(d.agent.clone())
                .bind(d.answered_by_agent_at_ms)
                .bind(d.talk_ms)
                .bind(d.hold_ms)
                .bind(d.wrap_up_ms)
                .bind(call.disposition().as_str())
                .bind(d.failure_sip_status)
                .bind(d.message_recording.clone())
                .bind(i64::from(d.provisional));
        }
        statements.push(query);
    }

    let events: Vec<(&str, &CallEvent)> =
        calls.iter().flat_map(|call| call.events.iter().map(move |event| (call.call_id(), event))).collect();
    for chunk in events.chunks(max_params / EVENT_COLUMNS.len()) {
        let sql = insert_sql(backend, "call_events", &EVENT_COLUMNS, chunk.len(), "ON CONFLICT (call_id, seq) DO NOTHING");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (call_id, event) in chunk {
            query = query
                .bind(call_id.to_string())
                .bind(event.seq)
                .bind(event.at_ms)
                .bind(event.kind.as_str())
                .bind(event.detail.clone());
        }
        statements.push(query);
    }

    statements.extend(survey_answer_statements(backend, &answers_of(calls)));

    let callbacks: Vec<(&str, &CallbackRequest)> =
        calls.iter().filter_map(|call| call.callback.as_ref().map(|callback| (call.call_id(), callback))).collect();
    for chunk in callbacks.chunks(max_params / CALLBACK_COLUMNS.len()) {
        let sql = insert_sql(backend, "callback_requests", &CALLBACK_COLUMNS, chunk.len(), "ON CONFLICT (call_id) DO NOTHING");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (call_id, callback) in chunk {
            query = query
                .bind(call_id.to_string())
                .bind(callback.queue.clone())
                .bind(callback.number_clear.clone())
                .bind(callback.requested_at_ms)
                .bind(callback.purge_after_ms)
                .bind(callback.state.as_str());
        }
        statements.push(query);
    }
    statements
}

/// Every survey answer of `calls`, with its call's id, in order.
fn answers_of(calls: &[FinishedCall]) -> Vec<(&str, &SurveyAnswer)> {
    calls.iter().flat_map(|call| call.survey_answers.iter().map(move |answer| (call.call_id(), answer))).collect()
}

/// Runs a batch's bulk `statements` (from [`bulk_statements`] on `calls`)
/// on `conn`, inside the caller's transaction, and brings the report
/// summaries up to date with what they stored.
async fn insert_all(
    conn: &mut AnyConnection,
    calls: &[FinishedCall],
    statements: Vec<Statement>,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    let surviving = surviving_records(calls);
    let ids: Vec<&str> = surviving.iter().map(|call| call.call_id()).collect();
    let before = summary::stored(conn, backend, &ids).await?;
    for statement in statements {
        statement.execute(&mut *conn).await?;
    }
    summary::apply_batch(conn, backend, &before, &surviving, &answers_of(calls)).await
}

/// Calls whose statements are bound, ready for [`Store::insert_bound`]:
/// made by [`Store::bind_batch`] on any thread, so that a bulk writer can
/// bind the next batch while the database stores this one.
pub struct BoundBatch {
    calls: Vec<FinishedCall>,
    statements: Vec<Statement>,
    backend: Backend,
}

impl BoundBatch {
    /// The calls of the batch.
    pub fn calls(&self) -> &[FinishedCall] {
        &self.calls
    }
}

impl std::fmt::Debug for BoundBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundBatch")
            .field("calls", &self.calls.len())
            .field("statements", &self.statements.len())
            .field("backend", &self.backend)
            .finish()
    }
}

/// The statements that insert `answers` (each with its call's id).
fn survey_answer_statements(backend: Backend, answers: &[(&str, &SurveyAnswer)]) -> Vec<Statement> {
    let mut statements = Vec::new();
    for chunk in answers.chunks(max_params(backend) / SURVEY_COLUMNS.len()) {
        let sql = insert_sql(backend, "survey_answers", &SURVEY_COLUMNS, chunk.len(), "ON CONFLICT (call_id, question) DO NOTHING");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (call_id, answer) in chunk {
            query = query
                .bind(call_id.to_string())
                .bind(answer.question.clone())
                .bind(answer.value.map(i64::from))
                .bind(answer.answered_at_ms)
                .bind(answer.agent.clone())
                .bind(answer.queue.clone())
                .bind(answer.topic.clone())
                .bind(answer.language.clone());
        }
        statements.push(query);
    }
    statements
}

/// Parses a stored enum name, as a decode error if it is unknown.
fn parse<T: std::str::FromStr>(text: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse().map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

pub(crate) fn call_from_row(row: &AnyRow) -> Result<(CallRecord, CallDetails), sqlx::Error> {
    let record = CallRecord {
        call_id: row.try_get("call_id")?,
        dialled: row.try_get("dialled")?,
        started_at_ms: row.try_get("started_at_ms")?,
        answered_at_ms: row.try_get("answered_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        end_reason: row.try_get("end_reason")?,
        sip_status: row.try_get("sip_status")?,
        codec: row.try_get("codec")?,
        language: row.try_get("language")?,
        digits_rfc4733: row.try_get("digits_rfc4733")?,
        digits_sip_info: row.try_get("digits_sip_info")?,
        digits_inband: row.try_get("digits_inband")?,
        rtp_packets_sent: row.try_get("rtp_packets_sent")?,
        rtp_packets_received: row.try_get("rtp_packets_received")?,
        rtp_packets_lost: row.try_get("rtp_packets_lost")?,
    };
    let disposition: String = row.try_get("disposition")?;
    let provisional: i64 = row.try_get("provisional")?;
    let details = CallDetails {
        caller_pseudonym: row.try_get("caller_pseudonym")?,
        dialplan_version: row.try_get("dialplan_version")?,
        ivr_path: row.try_get("ivr_path")?,
        topic: row.try_get("topic")?,
        queue: row.try_get("queue")?,
        queued_at_ms: row.try_get("queued_at_ms")?,
        wait_ms: row.try_get("wait_ms")?,
        agent: row.try_get("agent")?,
        answered_by_agent_at_ms: row.try_get("answered_by_agent_at_ms")?,
        talk_ms: row.try_get("talk_ms")?,
        hold_ms: row.try_get("hold_ms")?,
        wrap_up_ms: row.try_get("wrap_up_ms")?,
        disposition: Some(parse(&disposition)?),
        failure_sip_status: row.try_get("failure_sip_status")?,
        message_recording: row.try_get("message_recording")?,
        provisional: provisional != 0,
    };
    Ok((record, details))
}

/// Reads the timeline, survey answers and callback request of a call.
pub(crate) async fn load_children(
    conn: &mut <Any as sqlx::Database>::Connection,
    record: CallRecord,
    details: CallDetails,
) -> Result<FinishedCall, sqlx::Error> {
    let call_id = record.call_id.as_str();
    let mut events = Vec::new();
    for row in sqlx::query(SELECT_EVENTS).bind(call_id).fetch_all(&mut *conn).await? {
        let kind: String = row.try_get("kind")?;
        events.push(CallEvent {
            seq: row.try_get("seq")?,
            at_ms: row.try_get("at_ms")?,
            kind: parse(&kind)?,
            detail: row.try_get("detail")?,
        });
    }
    let mut survey_answers = Vec::new();
    for row in sqlx::query(SELECT_SURVEY_ANSWERS).bind(call_id).fetch_all(&mut *conn).await? {
        let value: Option<i64> = row.try_get("value")?;
        survey_answers.push(SurveyAnswer {
            question: row.try_get("question")?,
            value: value
                .map(SurveyScore::try_from)
                .transpose()
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
            answered_at_ms: row.try_get("answered_at_ms")?,
            agent: row.try_get("agent")?,
            queue: row.try_get("queue")?,
            topic: row.try_get("topic")?,
            language: row.try_get("language")?,
        });
    }
    let callback = match sqlx::query(SELECT_CALLBACK).bind(call_id).fetch_optional(&mut *conn).await? {
        Some(row) => {
            let state: String = row.try_get("state")?;
            Some(CallbackRequest {
                queue: row.try_get("queue")?,
                number_clear: row.try_get("number_clear")?,
                requested_at_ms: row.try_get("requested_at_ms")?,
                purge_after_ms: row.try_get("purge_after_ms")?,
                state: parse(&state)?,
            })
        }
        None => None,
    };
    Ok(FinishedCall { record, details, events, survey_answers, callback })
}
