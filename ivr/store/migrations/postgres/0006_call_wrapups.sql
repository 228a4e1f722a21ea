-- Schema v6 (postgres): what an operator recorded when they finished wrap-up
-- in the console: a disposition code from the console's configured list and
-- optional free-text notes (at most 2,000 characters, checked in Rust by
-- src/wrapup.rs). One row per call and agent: a call transferred between
-- operators can have a wrap-up from each. finished_at_ms is epoch
-- milliseconds (UTC); wrap_up_ms is how long the agent was in wrap-up (NULL:
-- unknown, the ACD had already ended wrap-up when the agent's form arrived).
-- Written by the server's wrap-up writer with ON CONFLICT DO NOTHING, so a
-- retried insert adds no row. No foreign key to calls: the call's record may
-- still be on its way through the record journal when the wrap-up arrives.
CREATE TABLE call_wrapups (
    call_id           TEXT     NOT NULL,
    agent             TEXT     NOT NULL,
    disposition_code  TEXT     NOT NULL,
    notes             TEXT,
    finished_at_ms    BIGINT   NOT NULL,
    wrap_up_ms        BIGINT,
    PRIMARY KEY (call_id, agent)
);

-- Reports by disposition code over a time range.
CREATE INDEX call_wrapups_code ON call_wrapups (finished_at_ms, disposition_code);
