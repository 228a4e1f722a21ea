-- Schema v4: the console's users (agents, supervisors, administrators).
-- The password is an Argon2id PHC string made by the console, never clear
-- text. `agent_login` names the ACD agent a user of role `agent` acts as.
-- `disabled` is 0 or 1. Timestamps are epoch milliseconds (UTC).
CREATE TABLE console_users (
    login          TEXT    NOT NULL PRIMARY KEY,
    display_name   TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    agent_login    TEXT,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
) STRICT;
