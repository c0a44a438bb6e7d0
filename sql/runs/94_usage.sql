-- Cost per org (issue 22 item 2): what each attempt used, what each query cost, summed per org
-- and day in one place (runs.usage), and the daily CPU-seconds quota checked where runs are
-- requested (runs.request, sql/runs/50_runs.sql).

-- The runner records what an attempt used, once, while it holds the attempt (the run is
-- running this attempt, on this runner, under a live lease; false, and nothing recorded, when it
-- does not, like runs.complete). NULL figures: the launcher could not measure them.
CREATE OR REPLACE FUNCTION runs.record_usage(
    p_run_id uuid, p_attempt integer, p_runner text,
    p_cpu_seconds double precision, p_peak_memory_bytes bigint, p_source text
) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a runs.attempts;
BEGIN
    SELECT t.* INTO a FROM runs.attempts t JOIN runs.runs r ON r.org_id = t.org_id AND r.id = t.run_id
    WHERE t.run_id = p_run_id AND t.attempt = p_attempt AND t.runner = p_runner
      AND r.status = 'running' AND r.attempt = p_attempt AND r.lease_until > now()
    FOR UPDATE OF t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF a.usage_recorded_at IS NOT NULL THEN
        RAISE EXCEPTION 'the usage of attempt % of run % is recorded already', p_attempt, p_run_id
            USING ERRCODE = '23505', HINT = 'an attempt''s usage is recorded once';
    END IF;
    UPDATE runs.attempts SET cpu_seconds = p_cpu_seconds, peak_memory_bytes = p_peak_memory_bytes,
                             usage_source = p_source, usage_recorded_at = now()
    WHERE org_id = a.org_id AND run_id = a.run_id AND attempt = a.attempt;
    RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION runs.record_usage(uuid, integer, text, double precision, bigint, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runs.record_usage(uuid, integer, text, double precision, bigint, text)
    TO chainlake_runner;

-- A query through the query service, charged to one org of the caller's: one whose datasets it
-- read (p_orgs, by name; the first by name), else the caller's first org by name.
CREATE OR REPLACE FUNCTION catalog.record_query_usage(
    p_orgs text[], p_seconds double precision, p_rows bigint, p_bytes_scanned bigint,
    p_result_bytes bigint
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    charged uuid;
BEGIN
    SELECT o.id INTO charged FROM core.orgs o
    WHERE o.id = ANY (core.caller_org_ids('member'))
    ORDER BY o.name = ANY (coalesce(p_orgs, '{}')) DESC, o.name
    LIMIT 1;
    IF charged IS NULL THEN
        RETURN NULL;  -- the operator, or a caller of no org: nothing to charge
    END IF;
    INSERT INTO catalog.query_usage (org_id, user_id, seconds, row_count, bytes_scanned,
                                     result_bytes)
    VALUES (charged, core.caller_user_id(), greatest(p_seconds, 0), CASE WHEN p_rows >= 0 THEN p_rows END,
            p_bytes_scanned, p_result_bytes);
    RETURN charged;
END
$$;
REVOKE EXECUTE ON FUNCTION catalog.record_query_usage(text[], double precision, bigint, bigint, bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION catalog.record_query_usage(text[], double precision, bigint, bigint, bigint)
    TO chainlake_authenticated;

-- The one place usage is summed: per org and UTC day, over the last p_days days (today
-- included), for the orgs the caller is a member of (the operator: every org), or only p_org.
-- CPU seconds and peak memory of the attempts started that day, bytes of the dataset versions
-- recorded that day, seconds, bytes scanned and answer bytes of the queries run that day.
CREATE OR REPLACE FUNCTION runs.usage(p_org text DEFAULT NULL, p_days integer DEFAULT 7)
RETURNS TABLE (org text, day date, attempts bigint, cpu_seconds double precision,
               peak_memory_bytes bigint, bytes_written bigint, queries bigint,
               query_seconds double precision, bytes_scanned bigint, result_bytes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    since date;
BEGIN
    IF p_days IS NULL OR p_days < 1 OR p_days > 366 THEN
        RAISE EXCEPTION 'days must be between 1 and 366, not %', coalesce(p_days::text, 'none')
            USING ERRCODE = '22023', HINT = 'e.g. --days 7';
    END IF;
    IF p_org IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM core.orgs o WHERE o.name = p_org
          AND (o.id = ANY (core.caller_org_ids('member')) OR core.caller_is_operator())) THEN
        RAISE EXCEPTION 'no org "%" among the orgs you are a member of', p_org
            USING ERRCODE = '42704', HINT = 'list your orgs with `chainlake org list`';
    END IF;
    since := (now() AT TIME ZONE 'UTC')::date - (p_days - 1);
    RETURN QUERY
    WITH orgs AS (
        SELECT o.id, o.name FROM core.orgs o
        WHERE (p_org IS NULL OR o.name = p_org)
          AND (o.id = ANY (core.caller_org_ids('member')) OR core.caller_is_operator())
    ), cpu AS (
        SELECT a.org_id, (a.started_at AT TIME ZONE 'UTC')::date AS d, count(*) AS n,
               sum(a.cpu_seconds) AS cpu, max(a.peak_memory_bytes) AS mem
        FROM runs.attempts a JOIN orgs ON orgs.id = a.org_id
        WHERE a.started_at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), written AS (
        SELECT v.org_id, (v.created_at AT TIME ZONE 'UTC')::date AS d, sum(v.bytes) AS b
        FROM catalog.asset_versions v JOIN orgs ON orgs.id = v.org_id
        WHERE v.created_at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), queried AS (
        SELECT q.org_id, (q.at AT TIME ZONE 'UTC')::date AS d, count(*) AS n,
               sum(q.seconds) AS s, sum(q.bytes_scanned) AS scanned, sum(q.result_bytes) AS sent
        FROM catalog.query_usage q JOIN orgs ON orgs.id = q.org_id
        WHERE q.at >= since::timestamp AT TIME ZONE 'UTC'
        GROUP BY 1, 2
    ), keys AS (
        SELECT org_id, d FROM cpu UNION SELECT org_id, d FROM written
        UNION SELECT org_id, d FROM queried
    )
    SELECT orgs.name, k.d, coalesce(cpu.n, 0), coalesce(cpu.cpu, 0), cpu.mem,
           coalesce(written.b, 0)::bigint, coalesce(queried.n, 0), coalesce(queried.s, 0),
           queried.scanned::bigint, coalesce(queried.sent, 0)::bigint
    FROM keys k JOIN orgs ON orgs.id = k.org_id
    LEFT JOIN cpu ON cpu.org_id = k.org_id AND cpu.d = k.d
    LEFT JOIN written ON written.org_id = k.org_id AND written.d = k.d
    LEFT JOIN queried ON queried.org_id = k.org_id AND queried.d = k.d
    ORDER BY orgs.name, k.d DESC;
END
$$;
REVOKE EXECUTE ON FUNCTION runs.usage(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION runs.usage(text, integer) TO chainlake_users;

-- The daily CPU-seconds quota: an org whose attempts started today (UTC) used more CPU seconds
-- than core.quotas.cpu_seconds_per_day allows may not request another run today (53400, like
-- the other quotas). The platform's own dispatch is not refused (runs.check_queue_quota says why).
CREATE OR REPLACE FUNCTION runs.check_cpu_quota(p_org_id uuid) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed double precision := (SELECT cpu_seconds_per_day FROM core.quotas
                                 WHERE org_id = p_org_id);
    used double precision;
BEGIN
    IF allowed IS NULL OR session_user::text IN ('chainlake_runner', 'chainlake_ingest') THEN
        RETURN;
    END IF;
    SELECT coalesce(sum(cpu_seconds), 0) INTO used FROM runs.attempts
    WHERE org_id = p_org_id AND started_at >= (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC';
    IF used > allowed THEN
        RAISE EXCEPTION 'CPU quota: the org used % CPU seconds today (UTC), over its cpu_seconds_per_day quota of %',
            round(used::numeric, 1), allowed
            USING ERRCODE = '53400',
            HINT = 'wait for tomorrow (UTC), or ask the operator for a higher cpu_seconds_per_day quota';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION runs.check_cpu_quota(uuid) FROM PUBLIC;
