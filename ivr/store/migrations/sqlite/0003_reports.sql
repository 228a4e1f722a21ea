-- Schema v3 (proposed migration 0003_reports, SQLite): what the reports
-- need beyond v2. Written with IF NOT EXISTS so that it can be applied by
-- hand before it is registered in migrations.rs.

-- Covering index for reports over a time range: the per-interval aggregate
-- reads only these columns, in start order, without touching the table rows
-- (a year's report by day reads 2 million index entries instead of 2 million
-- wide rows).
CREATE INDEX IF NOT EXISTS calls_report ON calls (
    started_at_ms, disposition, queued_at_ms, answered_by_agent_at_ms, wait_ms, talk_ms, hold_ms, wrap_up_ms
);

-- The same for satisfaction by time: the per-interval score count reads
-- the index alone.
CREATE INDEX IF NOT EXISTS survey_answers_report ON survey_answers (answered_at_ms, question, value);

-- Agents' staffed time, from the queue log (AGENTLOGIN/AGENTLOGOFF,
-- PAUSE/UNPAUSE): one row per interval in one state. state is 'ready'
-- (logged in, not on break: idle, ringing, on a call or in wrap-up) or
-- 'break'. Occupancy = handle time / ready time.
CREATE TABLE IF NOT EXISTS agent_staffing (
    agent   TEXT    NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms   INTEGER NOT NULL,
    state   TEXT    NOT NULL,
    PRIMARY KEY (agent, from_ms)
) STRICT;

CREATE INDEX IF NOT EXISTS agent_staffing_from_ms ON agent_staffing (from_ms);
