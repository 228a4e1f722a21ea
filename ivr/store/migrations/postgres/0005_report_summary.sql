-- Schema v5 (postgres): hourly report summaries, kept by the record writer in
-- the same transaction as each batch of records (src/report/summary.rs), so
-- that a year's report reads 8,760 hour rows instead of 2 million calls.
--
-- One row per UTC hour (hour_ms, a multiple of 3,600,000) and group:
-- dimension 'all' (every call; grp_present 0, grp ''), or 'queue', 'topic',
-- 'language', 'agent' with the call's value (grp_present 1) or none
-- (grp_present 0, grp ''). Every column is a count or a sum over the calls
-- that started in the hour, as defined in docs/metrics.md, except
-- longest_wait_ms, a maximum (NULL: no queued call).
CREATE TABLE call_summary_hourly (
    dimension       TEXT     NOT NULL,
    hour_ms         BIGINT  NOT NULL,
    grp_present     BIGINT  NOT NULL,
    grp             TEXT     NOT NULL,
    offered         BIGINT  NOT NULL,
    ivr_completed   BIGINT  NOT NULL,
    ivr_abandoned   BIGINT  NOT NULL,
    out_of_hours    BIGINT  NOT NULL,
    queued          BIGINT  NOT NULL,
    answered        BIGINT  NOT NULL,
    answered_in_sl  BIGINT  NOT NULL,
    answer_wait_ms  BIGINT  NOT NULL,
    abandoned       BIGINT  NOT NULL,
    short_abandoned BIGINT  NOT NULL,
    abandoned_in_sl BIGINT  NOT NULL,
    called_back     BIGINT  NOT NULL,
    talk_ms         BIGINT  NOT NULL,
    hold_ms         BIGINT  NOT NULL,
    wrap_up_ms      BIGINT  NOT NULL,
    longest_wait_ms BIGINT,
    PRIMARY KEY (dimension, hour_ms, grp_present, grp)
);

-- Survey scores (answers with a value) by the UTC hour they were given in,
-- group (as above, from the columns copied onto the answer), question and
-- value 0..10.
CREATE TABLE survey_summary_hourly (
    dimension   TEXT     NOT NULL,
    hour_ms     BIGINT  NOT NULL,
    grp_present BIGINT  NOT NULL,
    grp         TEXT     NOT NULL,
    question    TEXT     NOT NULL,
    value       BIGINT  NOT NULL,
    answers     BIGINT  NOT NULL,
    PRIMARY KEY (dimension, hour_ms, grp_present, grp, question, value)
);

-- Whether the summaries have been filled from the records stored before
-- this migration: 0 until the first Store::connect does it (in one
-- transaction with setting it to 1).
CREATE TABLE report_summary_state (
    id         BIGINT  NOT NULL PRIMARY KEY,
    backfilled BIGINT  NOT NULL
);

INSERT INTO report_summary_state (id, backfilled) VALUES (1, 0);
