-- Blocking primitives and shared workers (SECURITY.md items 22 and 23).

-- What a user's own login role (direct SQL: `chainlake psql --as`) may hold: the most generous
-- of the user's orgs applies (core.apply_session_limits, sql/31_blocking.sql).
ALTER TABLE core.quotas
    ADD COLUMN sql_connections_per_user    integer NOT NULL DEFAULT 10,
    ADD COLUMN sql_statement_timeout_ms    integer NOT NULL DEFAULT 60000,
    ADD COLUMN sql_lock_timeout_ms         integer NOT NULL DEFAULT 5000,
    ADD COLUMN sql_idle_in_transaction_ms  integer NOT NULL DEFAULT 60000,
    ADD COLUMN sql_transaction_max_seconds integer NOT NULL DEFAULT 300,
    ADD CONSTRAINT quotas_sql_session_limits CHECK (
        sql_connections_per_user BETWEEN 1 AND 1000
        AND sql_statement_timeout_ms >= 100 AND sql_lock_timeout_ms >= 10
        AND sql_idle_in_transaction_ms >= 100 AND sql_transaction_max_seconds >= 1);

-- The API's path (chainlake_api's sessions, every org's requests): one row, set by the operator.
CREATE TABLE core.platform_limits (
    singleton                   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    api_statement_timeout_ms    integer NOT NULL DEFAULT 30000 CHECK (api_statement_timeout_ms >= 100),
    api_lock_timeout_ms         integer NOT NULL DEFAULT 2000 CHECK (api_lock_timeout_ms >= 10),
    api_idle_in_transaction_ms  integer NOT NULL DEFAULT 30000 CHECK (api_idle_in_transaction_ms >= 100),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO core.platform_limits DEFAULT VALUES;

-- Rows the platform's stored functions lock to serialize work on one subject (an org's run
-- claims, its storage, a dataset's versions) until their transaction ends. No tenant may see
-- or lock them, whatever key it computes (advisory locks are closed to every role but the
-- operator: sql/00_roles.sql).
CREATE TABLE core.row_locks (
    purpose  text NOT NULL,
    subject  uuid NOT NULL,
    PRIMARY KEY (purpose, subject)
);

-- A schedule the scheduler could not evaluate is set aside with its reason (shown by `job
-- list`) until its job is applied again; every other schedule keeps firing.
ALTER TABLE jobs.schedules ADD COLUMN last_error text;
