-- Blocking primitives (SECURITY.md item 23): what a tenant could hold to stop everyone, and what
-- bounds it. The locks the platform serializes on are rows no tenant may lock (advisory locks
-- are the migrator's only: sql/core/00_roles.sql); every user's login role and the API's path carry
-- a statement, lock and idle timeout, and each login role a connection limit, from the quotas;
-- and a watchdog (the runners' schedule tick) ends user sessions held in one transaction past
-- their org's bound, since a psql user can turn their own timeouts off.

-- Serialize work on one subject (an org, a dataset) until the transaction ends: a row lock on
-- core.row_locks, which no tenant may see or lock, whatever key it computes.
CREATE OR REPLACE FUNCTION core.lock_until_commit(p_purpose text, p_subject uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM 1 FROM core.row_locks WHERE purpose = p_purpose AND subject = p_subject FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO core.row_locks (purpose, subject) VALUES (p_purpose, p_subject)
        ON CONFLICT DO NOTHING;
        PERFORM 1 FROM core.row_locks WHERE purpose = p_purpose AND subject = p_subject
        FOR UPDATE;
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION core.lock_until_commit(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.lock_until_commit(text, uuid) TO chainlake_runner;

-- A user's session limits: the most generous of their orgs' quotas (like the API rate limit);
-- a user of no org gets the strictest any org has.
DROP FUNCTION IF EXISTS core.session_limits(uuid);
CREATE OR REPLACE FUNCTION core.session_limits(p_user_id uuid)
RETURNS TABLE (connections integer, statement_timeout_ms integer, lock_timeout_ms integer,
               idle_in_transaction_ms integer, transaction_max_seconds integer,
               temp_file_mb integer)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH mine AS (
        SELECT q.* FROM core.quotas q
        WHERE q.org_id IN (SELECT m.org_id FROM core.memberships m WHERE m.user_id = p_user_id)
    )
    SELECT max(sql_connections_per_user), max(sql_statement_timeout_ms),
           max(sql_lock_timeout_ms), max(sql_idle_in_transaction_ms),
           max(sql_transaction_max_seconds), max(sql_temp_file_mb)
    FROM mine HAVING count(*) > 0
    UNION ALL
    SELECT min(sql_connections_per_user), min(sql_statement_timeout_ms),
           min(sql_lock_timeout_ms), min(sql_idle_in_transaction_ms),
           min(sql_transaction_max_seconds), min(sql_temp_file_mb)
    FROM core.quotas WHERE NOT EXISTS (SELECT 1 FROM mine)
$$;

-- A login role's defaults for every new session (the role may still SET them: the watchdog
-- bounds what it does then).
CREATE OR REPLACE FUNCTION core.set_session_timeouts(
    p_role name, p_statement_ms integer, p_lock_ms integer, p_idle_ms integer
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', p_role, p_statement_ms || 'ms');
    EXECUTE format('ALTER ROLE %I SET lock_timeout = %L', p_role, p_lock_ms || 'ms');
    EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_role,
                   p_idle_ms || 'ms');
END
$$;

-- Apply a user's limits to their login role (the operator's functions and triggers call this:
-- ALTER ROLE is the operator's).
CREATE OR REPLACE FUNCTION core.apply_session_limits(p_user_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    login name := (SELECT u.db_role FROM core.users u WHERE u.id = p_user_id);
    limits record;
BEGIN
    SELECT * INTO limits FROM core.session_limits(p_user_id);
    IF login IS NULL OR limits.connections IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', login, limits.connections);
    PERFORM core.set_session_timeouts(login, limits.statement_timeout_ms,
                                      limits.lock_timeout_ms, limits.idle_in_transaction_ms);
    -- temp_file_limit is a superuser's setting: the user cannot lift it in their session
    EXECUTE format('ALTER ROLE %I SET temp_file_limit = %L', login, limits.temp_file_mb || 'MB');
END
$$;

-- The API's path: chainlake_api's sessions, every org's requests.
CREATE OR REPLACE FUNCTION core.apply_platform_limits() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT core.set_session_timeouts('chainlake_api', l.api_statement_timeout_ms,
                                     l.api_lock_timeout_ms, l.api_idle_in_transaction_ms)
    FROM core.platform_limits l
$$;

-- A new membership or a changed quota reaches the login roles it concerns.
CREATE OR REPLACE FUNCTION core.member_limits_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM core.apply_session_limits(NEW.user_id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION core.quota_limits_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM core.apply_session_limits(m.user_id) FROM core.memberships m
    WHERE m.org_id = NEW.org_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION core.platform_limits_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM core.apply_platform_limits();
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER memberships_session_limits AFTER INSERT ON core.memberships
    FOR EACH ROW EXECUTE FUNCTION core.member_limits_changed();
CREATE OR REPLACE TRIGGER quotas_session_limits
    AFTER UPDATE OF sql_connections_per_user, sql_statement_timeout_ms, sql_lock_timeout_ms,
                    sql_idle_in_transaction_ms, sql_transaction_max_seconds, sql_temp_file_mb
    ON core.quotas FOR EACH ROW EXECUTE FUNCTION core.quota_limits_changed();
CREATE OR REPLACE TRIGGER platform_limits_applied AFTER UPDATE ON core.platform_limits
    FOR EACH ROW EXECUTE FUNCTION core.platform_limits_changed();

-- The bounds of the named users' login roles, for the watchdog.
CREATE OR REPLACE FUNCTION core.session_bounds(p_roles name[])
RETURNS TABLE (db_role name, idle_in_transaction_ms integer, transaction_max_seconds integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.db_role, l.idle_in_transaction_ms, l.transaction_max_seconds
    FROM core.users u CROSS JOIN LATERAL core.session_limits(u.id) l
    WHERE u.db_role = ANY (p_roles)
$$;
REVOKE EXECUTE ON FUNCTION core.session_bounds(name[]) FROM PUBLIC;
GRANT USAGE ON SCHEMA core TO chainlake_watchdog;
GRANT EXECUTE ON FUNCTION core.session_bounds(name[]) TO chainlake_watchdog;

-- The watchdog: end every user session that has been in one transaction longer than its
-- transaction bound, or idle in one longer than its idle bound (whatever it SET for itself).
-- A transaction held open holds back vacuum and every lock it took. Owned by
-- chainlake_watchdog, which may read every session's state and end non-superuser sessions and
-- nothing else; the runners call it on their schedule tick.
CREATE OR REPLACE FUNCTION core.end_overdue_sessions()
RETURNS TABLE (pid integer, db_role name, reason text)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH in_transaction AS (
        SELECT a.pid, a.usename, a.state, a.xact_start, a.state_change
        FROM pg_catalog.pg_stat_activity a
        WHERE a.xact_start IS NOT NULL AND a.backend_type = 'client backend'
    ), overdue AS (
        SELECT o.pid, o.usename,
               CASE WHEN o.xact_start < clock_timestamp() - b.transaction_max_seconds * interval '1 second'
                    THEN format('in one transaction for more than %s s', b.transaction_max_seconds)
                    ELSE format('idle in a transaction for more than %s ms', b.idle_in_transaction_ms)
               END AS reason
        FROM in_transaction o
        JOIN core.session_bounds(ARRAY(SELECT DISTINCT usename FROM in_transaction)) b
          ON b.db_role = o.usename
        WHERE o.xact_start < clock_timestamp() - b.transaction_max_seconds * interval '1 second'
           OR (o.state LIKE 'idle in transaction%'
               AND o.state_change < clock_timestamp() - b.idle_in_transaction_ms * interval '1 millisecond')
    )
    SELECT o.pid, o.usename, o.reason FROM overdue o WHERE pg_catalog.pg_terminate_backend(o.pid)
$$;
ALTER FUNCTION core.end_overdue_sessions() OWNER TO chainlake_watchdog;
REVOKE EXECUTE ON FUNCTION core.end_overdue_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.end_overdue_sessions() TO chainlake_runner;

-- Every existing login role and the API's path get their limits when this file is applied.
SELECT core.apply_session_limits(u.id) FROM core.users u;
SELECT core.apply_platform_limits();

-- Every user's login role holds the limits of today's quotas (re-applied when this file
-- changes: a new kind of limit reaches the roles made before it).
SELECT core.apply_session_limits(u.id) FROM core.users u;
