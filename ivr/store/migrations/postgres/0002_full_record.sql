-- Schema v2: the full call record, its timeline, survey answers, callback
-- requests (the only place a caller's number is kept in clear) and the log of
-- who read a clear number. Same rules as 0001: epoch milliseconds (UTC) as
-- BIGINT, enums as TEXT checked in Rust, no CHECK constraints (one bad row
-- must not make a whole batch fail).

-- provisional is 1 for a record closed by start-up recovery ("interrupted"):
-- the only kind of row a later record for the same call may replace.
ALTER TABLE calls
    ADD COLUMN caller_pseudonym TEXT,
    ADD COLUMN dialplan_version TEXT,
    ADD COLUMN ivr_path TEXT NOT NULL DEFAULT '',
    ADD COLUMN topic TEXT,
    ADD COLUMN queue TEXT,
    ADD COLUMN queued_at_ms BIGINT,
    ADD COLUMN wait_ms BIGINT,
    ADD COLUMN agent TEXT,
    ADD COLUMN answered_by_agent_at_ms BIGINT,
    ADD COLUMN talk_ms BIGINT,
    ADD COLUMN hold_ms BIGINT,
    ADD COLUMN wrap_up_ms BIGINT,
    ADD COLUMN disposition TEXT NOT NULL DEFAULT 'completed_in_ivr',
    ADD COLUMN failure_sip_status BIGINT,
    ADD COLUMN message_recording TEXT,
    ADD COLUMN provisional BIGINT NOT NULL DEFAULT 0;

-- Version-1 rows knew only the end reason; the same inference as
-- Disposition::infer in record.rs.
UPDATE calls SET disposition = CASE
    WHEN end_reason = 'rejected' THEN 'failed'
    WHEN end_reason IN ('signalling', 'media_timeout') THEN 'failed'
    WHEN end_reason = 'cancelled' THEN 'abandoned_in_ivr'
    WHEN end_reason = 'shutdown' THEN 'interrupted'
    ELSE 'completed_in_ivr'
END;
UPDATE calls SET failure_sip_status = sip_status WHERE end_reason = 'rejected';

CREATE INDEX calls_agent ON calls (agent, started_at_ms);
CREATE INDEX calls_queue ON calls (queue, started_at_ms);
CREATE INDEX calls_topic ON calls (topic, started_at_ms);
CREATE INDEX calls_language ON calls (language, started_at_ms);
CREATE INDEX calls_caller_pseudonym ON calls (caller_pseudonym);

-- The call's timeline: queue log, DTMF (sensitive digits masked before they
-- get here), prompts, transfers. seq orders the events of one call.
CREATE TABLE call_events (
    call_id TEXT    NOT NULL,
    seq     BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL,
    kind    TEXT    NOT NULL,
    detail  TEXT    NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE INDEX call_events_at_ms ON call_events (at_ms);

-- value is 0..10, or NULL when the question was not answered (timeout,
-- invalid keys). agent, queue, topic and language are copied from the call so
-- that satisfaction reports need no join.
CREATE TABLE survey_answers (
    call_id        TEXT    NOT NULL,
    question       TEXT    NOT NULL,
    value          BIGINT,
    answered_at_ms BIGINT NOT NULL,
    agent          TEXT,
    queue          TEXT,
    topic          TEXT,
    language       TEXT    NOT NULL,
    PRIMARY KEY (call_id, question)
);

CREATE INDEX survey_answers_answered_at_ms ON survey_answers (answered_at_ms);
CREATE INDEX survey_answers_agent ON survey_answers (agent, answered_at_ms);
CREATE INDEX survey_answers_queue ON survey_answers (queue, answered_at_ms);
CREATE INDEX survey_answers_topic ON survey_answers (topic, answered_at_ms);
CREATE INDEX survey_answers_language ON survey_answers (language, answered_at_ms);

-- The only table with a clear caller number. number_clear becomes NULL when
-- purge_after_ms has passed (Store::purge_expired_numbers).
CREATE TABLE callback_requests (
    call_id         TEXT    NOT NULL PRIMARY KEY,
    queue           TEXT    NOT NULL,
    number_clear    TEXT,
    requested_at_ms BIGINT NOT NULL,
    purge_after_ms  BIGINT NOT NULL,
    state           TEXT    NOT NULL
);

CREATE INDEX callback_requests_purge_after_ms ON callback_requests (purge_after_ms);

-- Every read of a clear number: who, when, why, for which call.
CREATE TABLE clear_number_access_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    who     TEXT    NOT NULL,
    at_ms   BIGINT NOT NULL,
    why     TEXT    NOT NULL,
    call_id TEXT
);

CREATE INDEX clear_number_access_log_at_ms ON clear_number_access_log (at_ms);
