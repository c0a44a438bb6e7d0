-- What people read and do with jobs and runs, one function per operation of the domain layer
-- (chainlake/domain/jobs.py, runs.py), so that the CLI and the API call the same thing. The
-- readers are SECURITY INVOKER: row-level security decides what the caller sees, and a run or a
-- job of an org the caller is not a member of is as unknown as one that does not exist.

-- An org the caller can see, by name (core.orgs is RLS: others' orgs are unknown).
CREATE OR REPLACE FUNCTION runs.org_id(p_name text) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs WHERE name = p_name;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'list your orgs with `chainlake org list`';
    END IF;
    RETURN found;
END
$$;

-- Each job's current version, with its schedule's next tick and, when the scheduler set it
-- aside, why (schedule_error).
CREATE OR REPLACE FUNCTION jobs.list(p_org text DEFAULT NULL)
RETURNS TABLE (org text, name text, version text, kind text, type text, activation text,
               input_datasets text[], output_datasets text[], next_fire_at timestamptz,
               schedule_error text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT ON (o.name, d.name) o.name, d.name, d.version, d.kind, d.spec ->> 'type',
           d.spec ->> 'activation', d.input_datasets, d.output_datasets, s.next_fire_at,
           s.last_error
    FROM jobs.definitions d JOIN core.orgs o ON o.id = d.org_id
    LEFT JOIN jobs.schedules s ON s.org_id = d.org_id AND s.job_name = d.name
    WHERE p_org IS NULL OR o.name = p_org
    ORDER BY o.name, d.name, d.applied_at DESC
$$;

-- One job: its current definition and every version applied, newest first.
CREATE OR REPLACE FUNCTION jobs.show(p_org text, p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := (SELECT o.id FROM core.orgs o WHERE o.name = p_org);
    found jsonb;
BEGIN
    SELECT jsonb_build_object(
        'org', p_org, 'name', p_name,
        'current', (array_agg(jsonb_build_object('version', d.version, 'kind', d.kind,
                                                 'applied_at', d.applied_at, 'spec', d.spec)
                              ORDER BY d.applied_at DESC))[1],
        'versions', jsonb_agg(jsonb_build_object('version', d.version, 'kind', d.kind,
                                                 'applied_at', d.applied_at)
                              ORDER BY d.applied_at DESC))
    INTO found
    FROM jobs.definitions d WHERE d.org_id = org AND d.name = p_name
    HAVING count(*) > 0;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown job "%" in org "%"', p_name, p_org USING ERRCODE = '42704',
            HINT = 'list jobs with `chainlake job list`';
    END IF;
    RETURN found || jsonb_build_object('schedule', (
        SELECT jsonb_build_object('cron', s.cron, 'next_fire_at', s.next_fire_at,
                                  'error', s.last_error)
        FROM jobs.schedules s WHERE s.org_id = org AND s.job_name = p_name));
END
$$;

-- Runs, newest first, a page at a time: after the run p_after (its id, the previous page's
-- `next`), at most p_limit, filtered by org, job, status, trigger kind and creation time.
CREATE OR REPLACE FUNCTION runs.list(
    p_org text DEFAULT NULL, p_job text DEFAULT NULL, p_status text DEFAULT NULL,
    p_trigger text DEFAULT NULL, p_since timestamptz DEFAULT NULL, p_after text DEFAULT NULL,
    p_limit integer DEFAULT 50
) RETURNS TABLE (id uuid, org text, job_name text, job_version text, status text,
                 attempt integer, trigger text, created_at timestamptz, finished_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_at timestamptz;
    last_id uuid;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'limit: % is not between 1 and 1000', p_limit USING ERRCODE = '22023';
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT r.created_at, r.id INTO last_at, last_id FROM runs.runs r
        WHERE r.id = core.try_uuid(p_after);
        IF last_id IS NULL THEN
            RAISE EXCEPTION 'after: % is not a run of yours', p_after USING ERRCODE = 'P0002',
                HINT = 'pass the `next` of the previous page';
        END IF;
    END IF;
    RETURN QUERY
    SELECT r.id, o.name, r.job_name, r.job_version, r.status, r.attempt, r.trigger ->> 'kind',
           r.created_at, r.finished_at
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE (p_org IS NULL OR o.name = p_org) AND (p_job IS NULL OR r.job_name = p_job)
      AND (p_status IS NULL OR r.status = p_status)
      AND (p_trigger IS NULL OR r.trigger ->> 'kind' = p_trigger)
      AND (p_since IS NULL OR r.created_at >= p_since)
      AND (last_id IS NULL OR (r.created_at, r.id) < (last_at, last_id))
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT p_limit;
END
$$;

-- Everything about one run: trigger, params, inputs, outputs, its attempts; NULL when the
-- caller cannot see it. plpgsql so that its plan is kept per session (a sql function with a SET
-- clause is planned again on every call, RLS policies included: a third of a millisecond).
CREATE OR REPLACE FUNCTION runs.show(p_run_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT to_jsonb(r) - 'org_id' - 'msg_id' - 'lease_until' - 'idempotency_key'
               || jsonb_build_object(
                   'org', o.name, 'initiated_by_email', u.email,
                   'duration_seconds', extract(epoch FROM r.finished_at - r.started_at),
                   'attempts', coalesce((
                       SELECT jsonb_agg(jsonb_build_object(
                           'attempt', a.attempt, 'runner', a.runner, 'status', a.status,
                           'started_at', a.started_at, 'finished_at', a.finished_at,
                           'error', a.error) ORDER BY a.attempt)
                       FROM runs.attempts a WHERE a.org_id = r.org_id AND a.run_id = r.id), '[]'))
        FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
        LEFT JOIN core.users u ON u.id = r.initiated_by
        WHERE r.id = core.try_uuid(p_run_id));
END
$$;

-- A run's events after sequence number p_after_seq, at most p_limit, and the run's status (so
-- that a follower knows when to stop). Unknown run: 42704.
CREATE OR REPLACE FUNCTION runs.logs_after(
    p_run_id text, p_after_seq bigint DEFAULT 0, p_limit integer DEFAULT 1000
) RETURNS TABLE (seq bigint, attempt integer, at timestamptz, event jsonb, run_status text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit: % is not between 1 and 10000', p_limit USING ERRCODE = '22023';
    END IF;
    SELECT * INTO r FROM runs.runs WHERE id = core.try_uuid(p_run_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    RETURN QUERY
    SELECT l.seq, l.attempt, l.at, l.event, r.status FROM runs.logs l
    WHERE l.org_id = r.org_id AND l.run_id = r.id AND l.seq > coalesce(p_after_seq, 0)
    ORDER BY l.seq LIMIT p_limit;
    IF NOT FOUND THEN  -- no event: still say the run's status
        RETURN QUERY SELECT NULL::bigint, NULL::integer, NULL::timestamptz, NULL::jsonb, r.status;
    END IF;
END
$$;

-- Cancel a queued, retrying or running run (writers of its org): it becomes `cancelled`, its
-- task leaves the queue, and a runner still running it can no longer complete or fail it (its
-- heartbeat stops renewing; runs.complete and runs.fail refuse a run that is not running).
CREATE OR REPLACE FUNCTION runs.cancel(p_run_id text) RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = core.try_uuid(p_run_id) FOR UPDATE;
    IF NOT FOUND OR NOT core.caller_may_write(r.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    IF r.status NOT IN ('queued', 'retrying', 'running') THEN
        RAISE EXCEPTION 'run % is already %', r.id, r.status USING ERRCODE = '55000';
    END IF;
    UPDATE runs.runs SET status = 'cancelled', finished_at = now(),
           error = jsonb_build_object('type', 'Cancelled', 'message', 'cancelled by a person')
    WHERE org_id = r.org_id AND id = r.id RETURNING * INTO r;
    UPDATE runs.attempts SET status = 'cancelled', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
    PERFORM audit.record(r.org_id, 'run.cancel', r.job_name, jsonb_build_object('run_id', r.id));
    RETURN r;
END
$$;
GRANT EXECUTE ON FUNCTION runs.cancel(text) TO chainlake_users;

-- Dead letters with their last error, newest first, after the letter p_after (its id).
CREATE OR REPLACE FUNCTION runs.list_dead_letters(
    p_org text DEFAULT NULL, p_after bigint DEFAULT NULL, p_limit integer DEFAULT 100
) RETURNS TABLE (id bigint, org text, run_id uuid, job_name text, attempts integer,
                 error_type text, error text, created_at timestamptz, replay_run_id uuid)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.id, o.name, d.run_id, d.job_name, d.attempts, d.error ->> 'type',
           d.error ->> 'message', d.created_at, d.replay_run_id
    FROM runs.dead_letters d JOIN core.orgs o ON o.id = d.org_id
    WHERE (p_org IS NULL OR o.name = p_org) AND (p_after IS NULL OR d.id < p_after)
    ORDER BY d.id DESC LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;

-- How far a backfill got: its runs by status.
CREATE OR REPLACE FUNCTION runs.backfill_progress(p_backfill_id text)
RETURNS TABLE (status text, runs bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.status, count(*) FROM runs.runs r
    WHERE r.trigger ->> 'backfill' = p_backfill_id GROUP BY r.status ORDER BY r.status
$$;

-- Replay a dead letter by its id alone (its org is the one RLS shows it in).
CREATE OR REPLACE FUNCTION runs.replay(p_letter_id bigint) RETURNS runs.runs
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := (SELECT d.org_id FROM runs.dead_letters d WHERE d.id = p_letter_id);
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'unknown dead letter %', p_letter_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    RETURN runs.replay_dead_letter(org, p_letter_id);
END
$$;

GRANT EXECUTE ON FUNCTION
    runs.org_id(text),
    jobs.list(text),
    jobs.show(text, text),
    runs.list(text, text, text, text, timestamptz, text, integer),
    runs.show(text),
    runs.logs_after(text, bigint, integer),
    runs.list_dead_letters(text, bigint, integer),
    runs.backfill_progress(text),
    runs.replay(bigint)
TO chainlake_users;
