-- Schema v4: the console's users (agents, supervisors, administrators).
-- The password is an Argon2id PHC string made by the console, never clear
-- text. `agent_login` names the ACD agent a user of role `agent` acts as.
-- `disabled` is 0 or 1 (BIGINT: the sqlx Any driver does not decode BOOLEAN).
-- Timestamps are epoch milliseconds (UTC).
CREATE TABLE console_users (
    login          TEXT   NOT NULL PRIMARY KEY,
    display_name   TEXT   NOT NULL,
    role           TEXT   NOT NULL,
    password_hash  TEXT   NOT NULL,
    agent_login    TEXT,
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
