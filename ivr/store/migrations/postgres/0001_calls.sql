-- One row per call, written after the call ends by the record writer.
-- No caller number: personal data, pseudonymised by a later migration.
-- Timestamps are epoch milliseconds (UTC) as BIGINT: the sqlx Any driver does
-- not decode date or BOOLEAN types. No CHECK constraints: a batch that one
-- row makes fail would be retried and then dropped whole.
CREATE TABLE calls (
    call_id              TEXT   NOT NULL PRIMARY KEY,
    dialled              TEXT   NOT NULL,
    started_at_ms        BIGINT NOT NULL,
    answered_at_ms       BIGINT,
    ended_at_ms          BIGINT NOT NULL,
    end_reason           TEXT   NOT NULL,
    sip_status           BIGINT,
    codec                TEXT,
    language             TEXT   NOT NULL,
    digits_rfc4733       BIGINT NOT NULL,
    digits_sip_info      BIGINT NOT NULL,
    digits_inband        BIGINT NOT NULL,
    rtp_packets_sent     BIGINT NOT NULL,
    rtp_packets_received BIGINT NOT NULL,
    rtp_packets_lost     BIGINT NOT NULL
);

CREATE INDEX calls_started_at_ms ON calls (started_at_ms);
