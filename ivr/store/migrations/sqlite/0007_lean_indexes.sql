-- Schema v7: drop the indexes no query uses. Every record written pays for
-- each index of its tables, and the reports, since 0003 and 0005, read the
-- covering indexes (calls_report, survey_answers_report) and the hourly
-- summaries, never these: the per-dimension indexes led with the group
-- column, which a report's range on time cannot seek; the single-column
-- time indexes are prefixes of the covering ones; and nothing reads the
-- timeline by time (it is read by call, through its primary key). Dropping
-- them halves the index entries a finished call writes (from 17 to 8 for a
-- call with its survey), measured with the simulated year
-- (docs/benchmarks.md). Kept: calls_caller_pseudonym (repeat callers,
-- right of access), the primary keys, calls_report, survey_answers_report.
DROP INDEX IF EXISTS calls_started_at_ms;
DROP INDEX IF EXISTS calls_agent;
DROP INDEX IF EXISTS calls_queue;
DROP INDEX IF EXISTS calls_topic;
DROP INDEX IF EXISTS calls_language;
DROP INDEX IF EXISTS call_events_at_ms;
DROP INDEX IF EXISTS survey_answers_answered_at_ms;
DROP INDEX IF EXISTS survey_answers_agent;
DROP INDEX IF EXISTS survey_answers_queue;
DROP INDEX IF EXISTS survey_answers_topic;
DROP INDEX IF EXISTS survey_answers_language;
