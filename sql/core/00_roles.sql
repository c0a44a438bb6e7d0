-- Platform roles (cluster-wide; created once, re-checked on every apply).
-- None is a superuser, none has BYPASSRLS, none owns a table or a function.
--   chainlake_users          NOLOGIN  holds what people may do; every user's login role is a member
--   chainlake_authenticated  NOLOGIN  the API's per-request role (SET LOCAL ROLE), a member of users
--   chainlake_api            LOGIN    the API's connection role; may only become authenticated
--   chainlake_runner         LOGIN    the runners' role; acts for one org per transaction
--   chainlake_ingest         LOGIN    chain ingestion (the system org's jobs): writes chain.* only
--   chainlake_alerts         LOGIN    alert delivery (the system org's job): reads its tasks, records
--                                     attempts, through alerts.* functions only
--   chainlake_watchdog       NOLOGIN  owns the watchdog (core.end_overdue_sessions) and nothing
--                                     else: it may read every session's state and end sessions
DO $roles$
DECLARE
    spec record;
BEGIN
    FOR spec IN
        SELECT * FROM (VALUES
            ('chainlake_users', 'NOLOGIN NOINHERIT'),
            ('chainlake_authenticated', 'NOLOGIN INHERIT'),
            ('chainlake_api', 'LOGIN NOINHERIT'),
            ('chainlake_runner', 'LOGIN INHERIT'),
            ('chainlake_ingest', 'LOGIN NOINHERIT'),
            ('chainlake_alerts', 'LOGIN NOINHERIT'),
            ('chainlake_watchdog', 'NOLOGIN INHERIT')
        ) AS r (name, options)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = spec.name) THEN
            EXECUTE format('CREATE ROLE %I %s', spec.name, spec.options);
        END IF;
        EXECUTE format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION',
                       spec.name);
    END LOOP;
END
$roles$;

GRANT chainlake_users TO chainlake_authenticated;
GRANT chainlake_users TO chainlake_runner;
GRANT chainlake_authenticated TO chainlake_api;
GRANT pg_signal_backend, pg_read_all_stats TO chainlake_watchdog;

-- Nothing is reachable by default.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA pgmq FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgmq FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgmq FROM PUBLIC;
GRANT USAGE ON SCHEMA pgmq TO chainlake_runner;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgmq TO chainlake_runner;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pgmq TO chainlake_runner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgmq TO chainlake_runner;
-- Queues are created by the operator (migrations, stored functions), never by the runners, so
-- that the runners own nothing; each new queue table is the runners' to use.
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chainlake_runner;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT USAGE, SELECT ON SEQUENCES TO chainlake_runner;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq REVOKE ALL ON TABLES FROM PUBLIC;

-- Column statistics show sample values of every org's rows (most_common_vals): hide them.
REVOKE SELECT ON pg_catalog.pg_stats FROM PUBLIC;
REVOKE SELECT ON pg_catalog.pg_stats_ext FROM PUBLIC;
REVOKE SELECT ON pg_catalog.pg_stats_ext_exprs FROM PUBLIC;

-- Advisory locks are the migrator's only (a superuser): a key anyone could compute, or read in
-- pg_locks, would let a tenant hold what the platform waits on, and a flood of them fills the
-- shared lock table. Stored functions lock rows of core.row_locks instead (sql/core/31_blocking.sql).
DO $advisory$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg\_%advisory%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
    END LOOP;
END
$advisory$;

-- Functions created from here on are not executable by PUBLIC unless granted.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
