-- Fairness and quotas in stored logic.

-- The runners' next tasks, round-robin across orgs: each org's oldest visible task first, then
-- each org's second, and so on; among orgs, the one served longest ago (its latest run start)
-- first. So a flood from one org delays another by at most one slot.
-- A runner keeps slots of its own for the system org's jobs (always_on ingest and delivery,
-- which never end): p_platform takes the system org's tasks only, else the tenants' only, so the
-- platform never takes a tenant's slot nor waits for one. p_per_org caps what one org may hold
-- of the runner's tenant slots (p_busy: {org id: slots it holds now}), below the runner's
-- capacity, so one org's long runs never take every slot while another org waits.
-- Like pgmq.read, a taken task is hidden for p_vt seconds and its read count goes up.
DROP FUNCTION IF EXISTS runs.take_tasks(integer, integer);
CREATE OR REPLACE FUNCTION runs.take_tasks(
    p_limit integer, p_vt integer, p_platform boolean, p_per_org integer DEFAULT NULL,
    p_busy jsonb DEFAULT '{}'
) RETURNS TABLE (msg_id bigint, read_ct integer, message jsonb)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH heads AS (
        SELECT t.msg_id, row_number() OVER (PARTITION BY o.id ORDER BY t.msg_id) AS turn,
               (SELECT max(r.started_at) FROM runs.runs r WHERE r.org_id = o.id) AS served
        FROM core.orgs o
        CROSS JOIN LATERAL (
            SELECT q.msg_id FROM pgmq.q_run_tasks q
            WHERE q.message ->> 'org_id' = o.id::text AND q.vt <= clock_timestamp()
            ORDER BY q.msg_id
            LIMIT greatest(least(p_limit, p_per_org - coalesce((p_busy ->> o.id::text)::integer, 0)), 0)
            FOR UPDATE SKIP LOCKED
        ) t
        WHERE o.system = p_platform
    ), chosen AS (
        SELECT h.msg_id FROM heads h
        ORDER BY h.turn, h.served NULLS FIRST, h.msg_id
        LIMIT greatest(p_limit, 0)
    )
    UPDATE pgmq.q_run_tasks q
    SET vt = clock_timestamp() + make_interval(secs => p_vt), read_ct = q.read_ct + 1
    FROM chosen c
    WHERE q.msg_id = c.msg_id
    RETURNING q.msg_id, q.read_ct, q.message
$$;
REVOKE EXECUTE ON FUNCTION runs.take_tasks(integer, integer, boolean, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runs.take_tasks(integer, integer, boolean, integer, jsonb)
    TO chainlake_runner;

-- One API request of the caller, counted against the most generous api_requests_per_minute of
-- the caller's orgs. Over the limit: SQLSTATE 53400 with the seconds to wait in the detail
-- (the API answers 429 with Retry-After). Counts older than ten minutes are dropped. Each
-- person may read their own counts (core.api_requests).
CREATE OR REPLACE FUNCTION core.charge_api_request() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller uuid := core.caller_user_id();
    this_minute timestamptz := date_trunc('minute', now());
    allowed integer;
    used integer;
    wait integer;
BEGIN
    IF caller IS NULL THEN
        RETURN 0;
    END IF;
    SELECT coalesce(max(q.api_requests_per_minute), 600) INTO allowed
    FROM core.quotas q JOIN core.memberships m ON m.org_id = q.org_id
    WHERE m.user_id = caller;
    INSERT INTO core.api_requests AS a (user_id, minute, count) VALUES (caller, this_minute, 1)
    ON CONFLICT (user_id, minute) DO UPDATE SET count = a.count + 1
    RETURNING a.count INTO used;
    IF used = 1 THEN
        DELETE FROM core.api_requests
        WHERE user_id = caller AND minute < this_minute - interval '10 minutes';
    END IF;
    IF used > allowed THEN
        wait := greatest(1, ceil(extract(epoch FROM this_minute + interval '1 minute' - now()))::integer);
        RAISE EXCEPTION 'rate limit: % API requests a minute', allowed
            USING ERRCODE = '53400', DETAIL = format('retry_after=%s', wait),
            HINT = 'wait for the next minute, or ask the operator for a higher api_requests_per_minute quota';
    END IF;
    RETURN allowed - used;
END
$$;
REVOKE EXECUTE ON FUNCTION core.charge_api_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.charge_api_request() TO chainlake_authenticated;

-- How many of an org's runs wait in the queue (queued or retrying), against max_queued_tasks,
-- before p_adding more are queued. Every path that queues on a person's behalf checks it once
-- for everything it would queue (a request, a replay, a backfill, a rerun, a rerun from
-- failure, a webhook delivery), and one org's checks are taken one at a time (a row lock on
-- the org), so a refused call queues nothing and concurrent ones cannot overshoot. The
-- platform's own dispatch (a completed run's reactive dependants, schedules, always_on, chain
-- batches: the runners' and ingest's sessions) is not refused, since refusing it would fail a
-- run that succeeded and lose the refresh it triggers.
DROP FUNCTION IF EXISTS runs.check_queue_quota(uuid);
CREATE OR REPLACE FUNCTION runs.check_queue_quota(p_org_id uuid, p_adding integer DEFAULT 1)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed integer := coalesce((SELECT max_queued_tasks FROM core.quotas
                                 WHERE org_id = p_org_id), 100000);
    waiting integer;
BEGIN
    IF session_user::text IN ('chainlake_runner', 'chainlake_ingest') THEN
        RETURN;
    END IF;
    PERFORM core.lock_until_commit('runs.queue', p_org_id);
    SELECT count(*) INTO waiting FROM (
        SELECT 1 FROM runs.runs
        WHERE org_id = p_org_id AND status IN ('queued', 'retrying')
        LIMIT allowed) w;
    IF waiting + coalesce(p_adding, 0) > allowed THEN
        RAISE EXCEPTION 'queue quota: the org has % of % runs waiting; this would queue % more',
            waiting, allowed, p_adding
            USING ERRCODE = '53400', DETAIL = 'retry_after=5',
            HINT = 'let the queue drain, or ask the operator for a higher max_queued_tasks quota';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION runs.check_queue_quota(uuid, integer) FROM PUBLIC;

-- Job secrets: the encrypted values of the named secrets of the org the runner acts for.
CREATE OR REPLACE FUNCTION jobs.secret_values(p_names text[])
RETURNS TABLE (name text, value_enc bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.name, s.value_enc FROM jobs.secrets s
    WHERE s.org_id = core.runner_org_id() AND s.name = ANY (p_names)
$$;
REVOKE EXECUTE ON FUNCTION jobs.secret_values(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobs.secret_values(text[]) TO chainlake_runner;

-- Set (create or replace) a secret of an org the caller writes; the value arrives encrypted.
-- SECURITY DEFINER: replacing a value reads the new one (excluded.value_enc), which no user
-- role may select; so it checks the writer role itself.
CREATE OR REPLACE FUNCTION jobs.set_secret(p_org text, p_name text, p_value_enc bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := core.writable_org(p_org, 'set its secrets');
BEGIN
    INSERT INTO jobs.secrets AS s (org_id, name, value_enc, created_by)
    VALUES (org, p_name, p_value_enc, core.caller_user_id())
    ON CONFLICT (org_id, name) DO UPDATE SET value_enc = excluded.value_enc, updated_at = now();
END
$$;

-- SECURITY DEFINER: people hold no DELETE privilege (it would also let them LOCK the table);
-- the check is the DELETE policy's (writers of the org).
CREATE OR REPLACE FUNCTION jobs.delete_secret(p_org text, p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM jobs.secrets WHERE org_id = core.member_org(p_org) AND name = p_name
      AND org_id = ANY (core.caller_org_ids('write'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no secret "%" in org "%" that you may delete', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION jobs.set_secret(text, text, bytea), jobs.delete_secret(text, text)
    TO chainlake_users;

CREATE OR REPLACE TRIGGER secrets_stamp_creator BEFORE INSERT OR UPDATE ON jobs.secrets
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

-- Storage: the bytes of every asset version an org keeps (catalog.asset_versions.bytes), against
-- its storage_bytes quota. catalog.record_output checks a new version here, so a run past the
-- quota fails (QuotaExceeded, not retried) and the dataset keeps its current version. SQLSTATE
-- 53100 (disk_full), so that the runner tells it from the other quotas (53400). One org's
-- versions are checked one at a time (a row lock per org: sql/core/31_blocking.sql).
CREATE OR REPLACE FUNCTION core.check_storage_quota(p_org_id uuid, p_new_bytes bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed bigint;
    used bigint;
BEGIN
    PERFORM core.lock_until_commit('core.storage', p_org_id);
    SELECT q.storage_bytes INTO allowed FROM core.quotas q WHERE q.org_id = p_org_id;
    SELECT coalesce(sum(v.bytes), 0) INTO used
    FROM catalog.asset_versions v WHERE v.org_id = p_org_id;
    IF allowed IS NOT NULL AND used + coalesce(p_new_bytes, 0) > allowed THEN
        RAISE EXCEPTION 'storage quota: this version of % bytes would bring the org to % of its % bytes',
            coalesce(p_new_bytes, 0), used + coalesce(p_new_bytes, 0), allowed
            USING ERRCODE = '53100', DETAIL = 'retry_after=3600',
            HINT = 'delete asset versions the org no longer needs, or ask the operator for a higher storage_bytes quota';
    END IF;
    RETURN coalesce(allowed, 0) - used - coalesce(p_new_bytes, 0);
END
$$;
REVOKE EXECUTE ON FUNCTION core.check_storage_quota(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.check_storage_quota(uuid, bigint) TO chainlake_runner;
