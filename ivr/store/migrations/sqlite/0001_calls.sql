-- One row per call, written after the call ends by the record writer.
-- No caller number: personal data, pseudonymised by a later migration.
-- Timestamps are epoch milliseconds (UTC). STRICT makes SQLite enforce the
-- declared types, as PostgreSQL does. No CHECK constraints: a batch that one
-- row makes fail would be retried and then dropped whole.
CREATE TABLE calls (
    call_id              TEXT    NOT NULL PRIMARY KEY,
    dialled              TEXT    NOT NULL,
    started_at_ms        INTEGER NOT NULL,
    answered_at_ms       INTEGER,
    ended_at_ms          INTEGER NOT NULL,
    end_reason           TEXT    NOT NULL,
    sip_status           INTEGER,
    codec                TEXT,
    language             TEXT    NOT NULL,
    digits_rfc4733       INTEGER NOT NULL,
    digits_sip_info      INTEGER NOT NULL,
    digits_inband        INTEGER NOT NULL,
    rtp_packets_sent     INTEGER NOT NULL,
    rtp_packets_received INTEGER NOT NULL,
    rtp_packets_lost     INTEGER NOT NULL
) STRICT;

CREATE INDEX calls_started_at_ms ON calls (started_at_ms);
