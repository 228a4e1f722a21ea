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

use std::sync::LazyLock;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row};

use crate::{
    CallDetails, CallEvent, CallRecord, CallbackRequest, FinishedCall, Store, StoreError, SurveyAnswer, SurveyScore,
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

static INSERT_CALL: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=CALL_COLUMNS.len()).map(|n| format!("${n}")).collect();
    let updates: Vec<String> = CALL_COLUMNS[1..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO calls ({}) VALUES ({}) ON CONFLICT (call_id) DO UPDATE SET {} \
         WHERE calls.provisional = 1 AND excluded.provisional = 0",
        CALL_COLUMNS.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
});

static SELECT_CALL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM calls WHERE call_id = $1", CALL_COLUMNS.join(", ")));

pub(crate) static SELECT_CALLS_BY_PSEUDONYM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM calls WHERE caller_pseudonym = $1 ORDER BY started_at_ms, call_id",
        CALL_COLUMNS.join(", ")
    )
});

const INSERT_EVENT: &str = "INSERT INTO call_events (call_id, seq, at_ms, kind, detail) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id, seq) DO NOTHING";
const SELECT_EVENTS: &str = "SELECT seq, at_ms, kind, detail FROM call_events WHERE call_id = $1 ORDER BY seq";

const INSERT_SURVEY_ANSWER: &str = "INSERT INTO survey_answers \
     (call_id, question, value, answered_at_ms, agent, queue, topic, language) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_id, question) DO NOTHING";
const SELECT_SURVEY_ANSWERS: &str = "SELECT question, value, answered_at_ms, agent, queue, topic, language \
     FROM survey_answers WHERE call_id = $1 ORDER BY answered_at_ms, question";

const INSERT_CALLBACK: &str = "INSERT INTO callback_requests \
     (call_id, queue, number_clear, requested_at_ms, purge_after_ms, state) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id) DO NOTHING";
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
        let query_error = |source| StoreError::Query { backend: self.backend, op: "insert_finished", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for call in calls {
            insert_one(&mut tx, call).await.map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    /// Adds survey answers to a stored (or not yet stored) call; an answer
    /// to a question already answered for the call is skipped.
    pub async fn insert_survey_answers(&self, call_id: &str, answers: &[SurveyAnswer]) -> Result<(), StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "insert_survey_answers", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for answer in answers {
            insert_survey_answer(&mut tx, call_id, answer).await.map_err(query_error)?;
        }
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

async fn insert_one(conn: &mut AnyConnection, call: &FinishedCall) -> Result<(), sqlx::Error> {
    let (r, d) = (&call.record, &call.details);
    sqlx::query(sqlx::AssertSqlSafe(INSERT_CALL.as_str()))
        .bind(&r.call_id)
        .bind(&r.dialled)
        .bind(r.started_at_ms)
        .bind(r.answered_at_ms)
        .bind(r.ended_at_ms)
        .bind(&r.end_reason)
        .bind(r.sip_status)
        .bind(&r.codec)
        .bind(&r.language)
        .bind(r.digits_rfc4733)
        .bind(r.digits_sip_info)
        .bind(r.digits_inband)
        .bind(r.rtp_packets_sent)
        .bind(r.rtp_packets_received)
        .bind(r.rtp_packets_lost)
        .bind(&d.caller_pseudonym)
        .bind(&d.dialplan_version)
        .bind(&d.ivr_path)
        .bind(&d.topic)
        .bind(&d.queue)
        .bind(d.queued_at_ms)
        .bind(d.wait_ms)
        .bind(&d.agent)
        .bind(d.answered_by_agent_at_ms)
        .bind(d.talk_ms)
        .bind(d.hold_ms)
        .bind(d.wrap_up_ms)
        .bind(call.disposition().as_str())
        .bind(d.failure_sip_status)
        .bind(&d.message_recording)
        .bind(i64::from(d.provisional))
        .execute(&mut *conn)
        .await?;
    for event in &call.events {
        sqlx::query(INSERT_EVENT)
            .bind(&r.call_id)
            .bind(event.seq)
            .bind(event.at_ms)
            .bind(event.kind.as_str())
            .bind(&event.detail)
            .execute(&mut *conn)
            .await?;
    }
    for answer in &call.survey_answers {
        insert_survey_answer(conn, &r.call_id, answer).await?;
    }
    if let Some(callback) = &call.callback {
        sqlx::query(INSERT_CALLBACK)
            .bind(&r.call_id)
            .bind(&callback.queue)
            .bind(&callback.number_clear)
            .bind(callback.requested_at_ms)
            .bind(callback.purge_after_ms)
            .bind(callback.state.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_survey_answer(conn: &mut AnyConnection, call_id: &str, answer: &SurveyAnswer) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_SURVEY_ANSWER)
        .bind(call_id)
        .bind(&answer.question)
        .bind(answer.value.map(i64::from))
        .bind(answer.answered_at_ms)
        .bind(&answer.agent)
        .bind(&answer.queue)
        .bind(&answer.topic)
        .bind(&answer.language)
        .execute(&mut *conn)
        .await?;
    Ok(())
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
