-- The run lifecycle. Every state change of a run is one of these functions, so the rules hold
-- for every client: the CLI and API request runs, runners start, complete and fail them.
--
--   runs.request   (users, runners)  a queued run and its task, idempotent per key
--   runs.start     (runners)         claim an attempt; refuse a duplicate or a run at its limit
--   runs.complete  (runners)         outputs + reactive dispatch + task ack, one transaction
--   runs.fail      (runners)         retry with backoff and jitter, or dead-letter
--
-- Runners call these in a transaction where they act for the run's org (core.runner_org_id),
-- so row-level security applies to them like to anyone.

-- The operator's own connection (a superuser session) may act in any org.
CREATE OR REPLACE FUNCTION core.caller_is_operator() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user), false)
$$;

-- The check every run-changing function makes: may the caller write in this org?
CREATE OR REPLACE FUNCTION core.caller_may_write(p_org_id uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_org_id IS NOT NULL
       AND (p_org_id = ANY (core.caller_org_ids('write')) OR core.caller_is_operator())
$$;

-- The current version of every job of an org.
CREATE OR REPLACE FUNCTION jobs.current_definitions(p_org_id uuid) RETURNS SETOF jobs.definitions
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT ON (name) * FROM jobs.definitions
    WHERE org_id = p_org_id ORDER BY name, applied_at DESC
$$;

CREATE OR REPLACE FUNCTION jobs.current_definition(p_org_id uuid, p_name text)
RETURNS jobs.definitions
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM jobs.definitions
    WHERE org_id = p_org_id AND name = p_name
    ORDER BY applied_at DESC LIMIT 1
$$;

-- Queue a run of the current version of a job, for an org the caller may write (or the
-- operator). Returns the run (an existing one when the idempotency key was seen before: a
-- duplicate request never creates a second run).
CREATE OR REPLACE FUNCTION runs.request(
    p_org_id uuid,
    p_job text,
    p_params jsonb DEFAULT '{}',
    p_trigger jsonb DEFAULT '{"kind": "manual"}',
    p_inputs jsonb DEFAULT '[]',
    p_idempotency_key text DEFAULT NULL,
    p_delay_seconds integer DEFAULT 0
) RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not run jobs in this org' USING ERRCODE = '42501',
            HINT = 'running a job needs the writer or admin role in its org';
    END IF;
    PERFORM runs.check_queue_quota(p_org_id);  -- sql/87: over it, refused; nothing queued
    PERFORM runs.check_cpu_quota(p_org_id);  -- sql/93: the daily CPU-seconds quota
    -- Inputs name versions of the org's own datasets; their URIs, rows and schema come from the
    -- catalog, never from the caller (a caller-supplied URI could point at another org's files).
    RETURN runs.enqueue(p_org_id, p_job, p_params, p_trigger,
                        runs.resolve_inputs(p_org_id, p_inputs), p_idempotency_key,
                        p_delay_seconds);
END
$$;

CREATE OR REPLACE FUNCTION runs.resolve_inputs(p_org_id uuid, p_inputs jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    given jsonb;
    resolved jsonb;
    result jsonb := '[]';
BEGIN
    FOR given IN SELECT * FROM jsonb_array_elements(coalesce(p_inputs, '[]')) LOOP
        resolved := catalog.version_as_input(p_org_id, given ->> 'dataset',
                                             core.try_int(given ->> 'version'));
        IF resolved IS NULL THEN
            RAISE EXCEPTION 'unknown input: dataset "%" version %', given ->> 'dataset',
                coalesce(given ->> 'version', '(none)') USING ERRCODE = '42704',
                HINT = 'an input names a version of one of the org''s datasets: {"dataset": D, "version": N}';
        END IF;
        result := result || jsonb_build_array(resolved);
    END LOOP;
    RETURN result;
END
$$;

-- The queueing itself, for the platform's own callers (runs.request, dispatch, the scheduler).
CREATE OR REPLACE FUNCTION runs.enqueue(
    p_org_id uuid,
    p_job text,
    p_params jsonb,
    p_trigger jsonb,
    p_inputs jsonb,
    p_idempotency_key text,
    p_delay_seconds integer DEFAULT 0
) RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def jobs.definitions;
    created runs.runs;
    msg bigint;
BEGIN
    def := jobs.current_definition(p_org_id, p_job);
    IF def.id IS NULL THEN
        RAISE EXCEPTION 'unknown job "%"', p_job USING ERRCODE = '42704',
            HINT = 'apply its definition with `chainlake job apply FILE`';
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO created FROM runs.runs
        WHERE org_id = p_org_id AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN created;
        END IF;
    END IF;
    INSERT INTO runs.runs (org_id, job_name, job_version, definition_id, params, trigger, config,
                           inputs, max_attempts, idempotency_key, initiated_by)
    VALUES (p_org_id, def.name, def.version, def.id, coalesce(p_params, '{}'),
            coalesce(p_trigger, '{}'), coalesce(def.spec -> 'config', '{}'),
            coalesce(p_inputs, '[]'),
            coalesce((def.spec -> 'retries' ->> 'max_attempts')::integer, 3),
            p_idempotency_key, core.caller_user_id())
    ON CONFLICT ON CONSTRAINT runs_idempotency_key DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN  -- a concurrent request with the same key won
        SELECT * INTO created FROM runs.runs
        WHERE org_id = p_org_id AND idempotency_key = p_idempotency_key;
        RETURN created;
    END IF;
    msg := pgmq.send('run_tasks', jsonb_build_object('run_id', created.id, 'org_id', p_org_id),
                     jsonb_build_object('x-chainlake-org', p_org_id), greatest(p_delay_seconds, 0));
    UPDATE runs.runs SET msg_id = msg WHERE org_id = p_org_id AND id = created.id
    RETURNING * INTO created;
    RETURN created;
END
$$;

-- Claim the next attempt of a run for a runner. Returns the run with status 'running' and the
-- new attempt number, or the run unchanged when it must not run now: already finished
-- (a duplicate delivery), or its org at its concurrency quota ('throttled' in metadata).
-- A run whose attempts were all used up by runners that vanished is dead-lettered here.
DROP FUNCTION IF EXISTS runs.start(uuid, text);  -- superseded by the lease-taking version
CREATE OR REPLACE FUNCTION runs.start(p_run_id uuid, p_runner text, p_lease_seconds integer)
RETURNS TABLE (run jsonb, definition jsonb, verdict text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
    def jobs.definitions;
    running integer;
    quota integer;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::jsonb, NULL::jsonb, 'unknown'::text;
        RETURN;
    END IF;
    SELECT * INTO def FROM jobs.definitions WHERE org_id = r.org_id AND id = r.definition_id;
    IF r.status IN ('succeeded', 'failed', 'dead', 'cancelled') THEN
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'finished'::text;
        RETURN;
    END IF;
    IF r.attempt >= r.max_attempts THEN
        PERFORM runs.dead_letter(r, jsonb_build_object(
            'type', 'LeaseExpired',
            'message', format('no attempt of %s finished: its runner stopped or lost the lease',
                              r.max_attempts)));
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'dead'::text;
        RETURN;
    END IF;
    -- One claim per org at a time, so two runners cannot both see a free slot (a row lock no
    -- tenant can take: sql/core/31_blocking.sql).
    PERFORM core.lock_until_commit('runs.start', r.org_id);
    -- Count the org's other runs whose runner is alive (its lease is being renewed); a run
    -- left behind by a dead runner stops counting when its lease runs out, so orphans never
    -- fill the quota and block their own recovery.
    SELECT count(*) INTO running FROM runs.runs
    WHERE org_id = r.org_id AND status = 'running' AND id <> r.id AND lease_until > now();
    SELECT max_concurrent_runs INTO quota FROM core.quotas WHERE org_id = r.org_id;
    IF running >= coalesce(quota, 8) THEN
        RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'throttled'::text;
        RETURN;
    END IF;
    UPDATE runs.attempts SET status = 'lost', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    UPDATE runs.runs SET status = 'running', attempt = attempt + 1,
                         started_at = coalesce(started_at, now()),
                         lease_until = now() + p_lease_seconds * interval '1 second'
    WHERE org_id = r.org_id AND id = r.id RETURNING * INTO r;
    INSERT INTO runs.attempts (org_id, run_id, attempt, runner) VALUES (r.org_id, r.id, r.attempt, p_runner);
    PERFORM audit.record(r.org_id, 'job.launch', r.job_name,
                         jsonb_build_object('run_id', r.id, 'attempt', r.attempt,
                                            'version', r.job_version, 'runner', p_runner));
    RETURN QUERY SELECT to_jsonb(r), to_jsonb(def), 'run'::text;
END
$$;

CREATE OR REPLACE FUNCTION runs.dead_letter(r runs.runs, p_error jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE runs.runs SET status = 'dead', error = p_error, finished_at = now()
    WHERE org_id = r.org_id AND id = r.id;
    UPDATE runs.attempts SET status = 'lost', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND status = 'running';
    INSERT INTO runs.dead_letters (org_id, run_id, job_name, attempts, error)
    VALUES (r.org_id, r.id, r.job_name, r.attempt, p_error);
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
END
$$;

-- A runner's heartbeat: renew the lease of the attempt it holds (the run's and its task's).
-- False when the attempt is no longer current (another runner took over).
CREATE OR REPLACE FUNCTION runs.heartbeat(p_run_id uuid, p_attempt integer, p_lease_seconds integer)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
BEGIN
    UPDATE runs.runs SET lease_until = now() + p_lease_seconds * interval '1 second'
    WHERE id = p_run_id AND status = 'running' AND attempt = p_attempt
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.set_vt('run_tasks', r.msg_id, p_lease_seconds);
    END IF;
    RETURN true;
END
$$;

-- Whether a container an engine still holds for this attempt has outlived it (runner/docker_engine.py
-- reaps those): the run is visible and this attempt is no longer running under a live lease (it
-- ended, was cancelled, was retried, or its runner stopped renewing). A run not visible (another
-- deployment's, on a shared engine) is never said to be over: NULL.
CREATE OR REPLACE FUNCTION runs.attempt_outlived(p_run_id uuid, p_attempt integer)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT NOT (r.status = 'running' AND r.attempt = p_attempt AND r.lease_until > now())
    FROM runs.runs r WHERE r.id = p_run_id
$$;

-- Refresh propagation, the one place it happens (runs.complete, catalog.rollback): queue every
-- reactive job of the org that reads a dataset in p_changed. Its inputs: the version given in
-- p_given for each changed dataset, the current version of its other input datasets (the last
-- valid one where validators hold the current back: catalog.propagated_version).
CREATE OR REPLACE FUNCTION runs.dispatch_dependants(
    p_org_id uuid, p_changed text[], p_given jsonb, p_trigger jsonb, p_key_prefix text
) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dependant record;
    queued integer := 0;
BEGIN
    FOR dependant IN
        SELECT d.name,
               (SELECT coalesce(jsonb_agg(given), '[]') FROM (
                    SELECT coalesce(
                        (SELECT g FROM jsonb_array_elements(p_given) g
                         WHERE g ->> 'dataset' = wanted LIMIT 1),
                        catalog.version_as_input(p_org_id, wanted,
                            catalog.propagated_version(p_org_id, wanted))) AS given
                    FROM unnest(d.input_datasets) wanted) inputs_now
                WHERE given IS NOT NULL) AS inputs
        FROM jobs.current_definitions(p_org_id) d
        WHERE d.kind = 'reactive' AND d.input_datasets && p_changed
          AND catalog.may_dispatch(p_org_id, d, p_changed, p_given, p_trigger)  -- validation gates
    LOOP
        PERFORM runs.request(p_org_id, dependant.name, '{}'::jsonb, p_trigger, dependant.inputs,
                             format('%s:%s', p_key_prefix, dependant.name));
        queued := queued + 1;
    END LOOP;
    RETURN queued;
END
$$;

-- Record a successful attempt: its input versions, each output as a new version of its
-- dataset (or the existing version with the same content), then a run of every reactive job of
-- the org whose input_datasets include a dataset whose current version changed (its inputs:
-- the new versions, and the current version of its other input datasets), then the task's ack.
-- Rerunning on unchanged inputs changes no current version, so nothing downstream reruns.
-- One transaction: a crash loses nothing or commits everything. A stale attempt (its lease
-- expired and another runner took over) changes nothing and returns false.
CREATE OR REPLACE FUNCTION runs.complete(
    p_run_id uuid, p_attempt integer, p_outputs jsonb, p_metadata jsonb DEFAULT '{}'
) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
    output jsonb;
    recorded record;
    recorded_outputs jsonb := '[]';
    changed text[] := '{}';
    duration_ms bigint;
    refused text;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.attempt <> p_attempt THEN
        RETURN false;
    END IF;
    -- no invalidation of the chains the run was built from commits while its outputs are checked
    -- and recorded (sql/chain/70_chain.sql); each statement after this sees one that came before
    PERFORM chain.hold_steady(ARRAY(SELECT g.chain_id FROM runs.given_ranges(r) g
                                    WHERE g.chain_id IS NOT NULL));
    -- a partition that is not the block range it was given, or that overlaps a current one it
    -- was not asked to replace, fails the run and records nothing (sql/catalog/58_supersession.sql)
    refused := catalog.output_problem(r, p_outputs);
    IF refused IS NOT NULL THEN
        PERFORM runs.fail(p_run_id, p_attempt,
                          jsonb_build_object('type', 'PartitionRejected', 'message', refused), false);
        RETURN false;
    END IF;
    duration_ms := (extract(epoch FROM now() - coalesce(r.started_at, now())) * 1000)::bigint;
    PERFORM runs.record_inputs(r.org_id, r.id, r.inputs);
    FOR output IN SELECT * FROM jsonb_array_elements(coalesce(p_outputs, '[]')) LOOP
        SELECT * INTO recorded FROM catalog.record_output(r.org_id, r.id, output, duration_ms);
        recorded_outputs := recorded_outputs || jsonb_build_array((output - 'manifest')
            || jsonb_build_object('version', recorded.version, 'new', recorded.is_new));
        IF recorded.current_changed THEN
            changed := changed || (output ->> 'dataset');
        END IF;
    END LOOP;
    UPDATE runs.runs SET status = 'succeeded', outputs = recorded_outputs,
                         metadata = coalesce(p_metadata, '{}'), error = NULL, finished_at = now()
    WHERE org_id = r.org_id AND id = r.id;
    UPDATE runs.attempts SET status = 'succeeded', finished_at = now()
    WHERE org_id = r.org_id AND run_id = r.id AND attempt = p_attempt;
    PERFORM runs.dispatch_dependants(
        r.org_id, changed, recorded_outputs,
        jsonb_build_object('kind', 'reactive', 'upstream_run', r.id, 'upstream_job', r.job_name,
                           'root_run', coalesce(r.trigger ->> 'root_run', r.id::text)),
        format('reactive:%s', r.id));
    PERFORM catalog.release_validated(r);  -- a validator passed a version: its dependants run
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.archive('run_tasks', r.msg_id);
    END IF;
    RETURN true;
END
$$;

-- Record a failed attempt. Retryable failures before the last attempt make the task visible
-- again after an exponential backoff with full jitter (base * 2^(attempt-1), capped); the rest
-- go to the dead letter with the last error.
CREATE OR REPLACE FUNCTION runs.fail(
    p_run_id uuid, p_attempt integer, p_error jsonb, p_retryable boolean DEFAULT true
) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r runs.runs;
    def jobs.definitions;
    base_s double precision;
    cap_s double precision;
    delay_s integer;
BEGIN
    SELECT * INTO r FROM runs.runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR r.status <> 'running' OR r.attempt <> p_attempt THEN
        RETURN 'stale';
    END IF;
    UPDATE runs.attempts SET status = 'failed', finished_at = now(), error = p_error
    WHERE org_id = r.org_id AND run_id = r.id AND attempt = p_attempt;
    IF NOT p_retryable OR r.attempt >= r.max_attempts THEN
        PERFORM runs.dead_letter(r, p_error);
        RETURN 'dead';
    END IF;
    SELECT * INTO def FROM jobs.definitions WHERE org_id = r.org_id AND id = r.definition_id;
    base_s := coalesce((def.spec -> 'retries' ->> 'backoff_seconds')::double precision, 1);
    cap_s := coalesce((def.spec -> 'retries' ->> 'max_backoff_seconds')::double precision, 300);
    delay_s := ceil(random() * least(cap_s, base_s * 2 ^ (r.attempt - 1)))::integer;
    UPDATE runs.runs SET status = 'retrying', error = p_error
    WHERE org_id = r.org_id AND id = r.id;
    IF r.msg_id IS NOT NULL THEN
        PERFORM pgmq.set_vt('run_tasks', r.msg_id, delay_s);
    END IF;
    RETURN 'retrying';
END
$$;

-- Append events a job emitted to its run's log.
CREATE OR REPLACE FUNCTION runs.append_log(p_run_id uuid, p_attempt integer, p_events jsonb)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO runs.logs (org_id, run_id, attempt, event)
    SELECT r.org_id, r.id, p_attempt, e
    FROM runs.runs r, jsonb_array_elements(p_events) e
    WHERE r.id = p_run_id
$$;

-- Replay a dead letter: a new run of the same job with the same params and inputs.
CREATE OR REPLACE FUNCTION runs.replay_dead_letter(p_org_id uuid, p_id bigint)
RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dl runs.dead_letters;
    old runs.runs;
    created runs.runs;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'unknown dead letter %', p_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    SELECT * INTO dl FROM runs.dead_letters WHERE org_id = p_org_id AND id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dead letter %', p_id USING ERRCODE = '42704',
            HINT = 'list them with `chainlake deadletter list`';
    END IF;
    IF dl.replayed_at IS NOT NULL THEN
        RAISE EXCEPTION 'dead letter % was already replayed as run %', p_id, dl.replay_run_id
            USING ERRCODE = '23505';
    END IF;
    SELECT * INTO old FROM runs.runs WHERE org_id = p_org_id AND id = dl.run_id;
    created := runs.request(p_org_id, old.job_name, old.params,
                            jsonb_build_object('kind', 'replay', 'dead_letter', p_id,
                                               'replayed_run', old.id),
                            old.inputs);
    UPDATE runs.dead_letters SET replayed_at = now(), replay_run_id = created.id
    WHERE org_id = p_org_id AND id = p_id;
    RETURN created;
END
$$;

GRANT USAGE ON SCHEMA runs, jobs TO chainlake_runner, chainlake_users;
GRANT EXECUTE ON FUNCTION
    runs.request(uuid, text, jsonb, jsonb, jsonb, text, integer),
    runs.replay_dead_letter(uuid, bigint),
    jobs.current_definition(uuid, text),
    jobs.current_definitions(uuid),
    core.caller_may_write(uuid)
TO chainlake_users;
GRANT EXECUTE ON FUNCTION
    runs.start(uuid, text, integer),
    runs.heartbeat(uuid, integer, integer),
    runs.attempt_outlived(uuid, integer),
    runs.complete(uuid, integer, jsonb, jsonb),
    runs.fail(uuid, integer, jsonb, boolean),
    runs.append_log(uuid, integer, jsonb),
    runs.dispatch_dependants(uuid, text[], jsonb, jsonb, text),
    runs.dead_letter(runs.runs, jsonb)
TO chainlake_runner;

-- A cron schedule as the scheduler runs it, checked wherever one is stored (a definition, a
-- schedule row), whoever writes it: five fields (minute hour day-of-month month day-of-week),
-- each `*`, a number or a range `a-b`, either with a step `/n`, or a comma list of those;
-- months and days of the week also by name (jan, mon); or one of @hourly @daily @midnight
-- @weekly @monthly @yearly @annually. Nothing else (seconds, L, W, #, ?, H): the scheduler's
-- parser (croniter) takes more, and what it takes and we did not check once stopped every
-- org's schedules. A schedule that passes and still cannot fire (Feb 30) is set aside by the
-- scheduler (jobs.schedule_failed).
CREATE OR REPLACE FUNCTION jobs.cron_value(p_token text, p_field integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN p_token ~ '^[0-9]{1,2}$' THEN p_token::integer
        WHEN p_field = 4 THEN array_position(
            ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
            p_token)
        WHEN p_field = 5 THEN array_position(
            ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], p_token) - 1
    END
$$;

-- What is wrong with field p_field (1-5) of a schedule, or NULL.
CREATE OR REPLACE FUNCTION jobs.cron_field_problem(p_value text, p_field integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name constant text := (ARRAY['minute', 'hour', 'day of month', 'month', 'day of week'])[p_field];
    low constant integer := (ARRAY[0, 0, 1, 1, 0])[p_field];
    high constant integer := (ARRAY[59, 23, 31, 12, 7])[p_field];
    item text;
    parts text[];
    bounds integer[];
BEGIN
    FOREACH item IN ARRAY string_to_array(lower(p_value), ',') LOOP
        parts := regexp_match(item, '^(?:\*|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/([0-9]{1,2}))?$');
        IF parts IS NULL THEN
            RETURN format('%s "%s": use *, a number, a range a-b, a step /n, or a list of those',
                          name, item);
        END IF;
        bounds := ARRAY[jobs.cron_value(parts[1], p_field), jobs.cron_value(parts[2], p_field)];
        IF (parts[1] IS NOT NULL AND bounds[1] IS NULL) OR (parts[2] IS NOT NULL AND bounds[2] IS NULL) THEN
            RETURN format('%s "%s" is not a number%s', name, item,
                          CASE WHEN p_field IN (4, 5) THEN ' or a name (jan, mon)' ELSE '' END);
        END IF;
        IF bounds[1] NOT BETWEEN low AND high OR bounds[2] NOT BETWEEN low AND high THEN
            RETURN format('%s "%s" is outside %s-%s', name, item, low, high);
        END IF;
        IF bounds[2] < bounds[1] THEN
            RETURN format('%s range "%s" runs backwards', name, item);
        END IF;
        IF parts[3]::integer NOT BETWEEN 1 AND high THEN
            RETURN format('%s step "%s" is outside 1-%s', name, item, high);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobs.check_cron(p_schedule text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fields constant text[] := regexp_split_to_array(btrim(coalesce(p_schedule, '')), '\s+');
    problem text;
BEGIN
    IF lower(btrim(p_schedule)) IN ('@hourly', '@daily', '@midnight', '@weekly', '@monthly',
                                    '@yearly', '@annually') THEN
        RETURN;
    END IF;
    IF cardinality(fields) <> 5 THEN
        problem := format('it has %s fields, not five (minute hour day-of-month month day-of-week)',
                          CASE WHEN fields = '{""}' THEN 0 ELSE cardinality(fields) END);
    ELSE
        FOR field IN 1..5 LOOP
            problem := jobs.cron_field_problem(fields[field], field);
            EXIT WHEN problem IS NOT NULL;
        END LOOP;
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'schedule "%" is not a cron expression: %', coalesce(p_schedule, ''), problem
            USING ERRCODE = '22023',
            HINT = 'five fields, e.g. "*/5 * * * *" (every five minutes) or "0 3 * * mon" (Mondays at 03:00 UTC)';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION jobs.cron_value(text, integer), jobs.cron_field_problem(text, integer),
    jobs.check_cron(text) TO chainlake_users;

CREATE OR REPLACE FUNCTION jobs.check_schedule_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM jobs.check_cron(NEW.cron);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER schedules_checked BEFORE INSERT OR UPDATE OF cron ON jobs.schedules
    FOR EACH ROW EXECUTE FUNCTION jobs.check_schedule_row();

-- A definition's dispatch columns are derived from its spec, whoever writes it, and the rules
-- that must hold for every client are checked here (the CLI validates the full schema first).
CREATE OR REPLACE FUNCTION jobs.derive_definition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.kind := coalesce(NEW.spec ->> 'kind', 'source');
    IF NEW.kind NOT IN ('source', 'reactive') THEN
        RAISE EXCEPTION 'job "%": kind must be source or reactive, not "%"', NEW.name, NEW.kind
            USING ERRCODE = '22023';
    END IF;
    NEW.input_datasets := ARRAY(SELECT jsonb_array_elements_text(
        coalesce(NEW.spec -> 'input_datasets', '[]')));
    NEW.output_datasets := ARRAY(SELECT jsonb_array_elements_text(
        coalesce(NEW.spec -> 'output_datasets', '[]')));
    IF NEW.kind = 'reactive' AND cardinality(NEW.input_datasets) = 0 THEN
        RAISE EXCEPTION 'job "%": a reactive job needs input_datasets', NEW.name
            USING ERRCODE = '22023';
    END IF;
    IF NEW.spec ->> 'activation' = 'cron' THEN
        PERFORM jobs.check_cron(NEW.spec ->> 'schedule');
    END IF;
    IF NEW.kind = 'reactive' AND jsonb_array_length(coalesce(NEW.spec -> 'network', '[]')) > 0 THEN
        RAISE EXCEPTION 'job "%": only source jobs may reach the network (external data enters at DAG entry points)', NEW.name
            USING ERRCODE = '22023';
    END IF;
    NEW.applied_at := now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER definitions_derive BEFORE INSERT OR UPDATE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION jobs.derive_definition();


-- Apply a job definition (validated against the contract's schema by the client first). A code
-- version is immutable: re-applying it unchanged makes it current again; changing it under the
-- same version is refused. A cron job's schedule is created or moved with it.
CREATE OR REPLACE FUNCTION jobs.apply_definition(
    p_org_id uuid, p_spec jsonb, p_next_fire_at timestamptz DEFAULT NULL
) RETURNS jobs.definitions
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    existing jobs.definitions;
    applied jobs.definitions;
BEGIN
    IF p_spec -> 'secrets' ?| ARRAY['chain_writer', 'alert_sender']
       AND NOT coalesce((SELECT system FROM core.orgs WHERE id = p_org_id), false) THEN
        RAISE EXCEPTION 'secrets: chain_writer and alert_sender are platform credentials of the system org''s jobs'
            USING ERRCODE = '42501',
            HINT = 'chain data and alert deliveries are written by the platform''s own jobs; read chain data with input_datasets: [chain.logs, ...]';
    END IF;
    SELECT * INTO existing FROM jobs.definitions
    WHERE org_id = p_org_id AND name = p_spec ->> 'name' AND version = p_spec ->> 'version';
    IF FOUND AND existing.spec <> p_spec THEN
        RAISE EXCEPTION 'job "%" version "%" exists with a different definition',
            p_spec ->> 'name', p_spec ->> 'version' USING ERRCODE = '23505',
            HINT = 'a version names one exact definition: give the change a new version';
    ELSIF FOUND THEN
        UPDATE jobs.definitions SET spec = p_spec WHERE org_id = p_org_id AND id = existing.id
        RETURNING * INTO applied;
    ELSE
        INSERT INTO jobs.definitions (org_id, name, version, spec)
        VALUES (p_org_id, p_spec ->> 'name', p_spec ->> 'version', p_spec)
        RETURNING * INTO applied;
    END IF;
    IF p_spec ->> 'activation' = 'cron' THEN
        INSERT INTO jobs.schedules (org_id, job_name, cron, next_fire_at)
        VALUES (p_org_id, applied.name, p_spec ->> 'schedule', p_next_fire_at)
        ON CONFLICT (org_id, job_name) DO UPDATE
            SET cron = excluded.cron, next_fire_at = excluded.next_fire_at, last_error = NULL;
    ELSE
        PERFORM jobs.unschedule(p_org_id, applied.name);
    END IF;
    RETURN applied;
END
$$;

-- A job that is no longer cron-activated loses its schedule. SECURITY DEFINER: people hold no
-- DELETE privilege (it would also let them LOCK the table); the check is the DELETE policy's.
CREATE OR REPLACE FUNCTION jobs.unschedule(p_org_id uuid, p_job text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not change jobs in this org' USING ERRCODE = '42501';
    END IF;
    DELETE FROM jobs.schedules WHERE org_id = p_org_id AND job_name = p_job;
END
$$;

GRANT EXECUTE ON FUNCTION core.caller_is_operator() TO chainlake_users, chainlake_api;
GRANT EXECUTE ON FUNCTION jobs.apply_definition(uuid, jsonb, timestamptz), jobs.unschedule(uuid, text)
TO chainlake_users;

-- Cron: fire every due schedule once for its latest due tick, whatever number of schedulers
-- call this at once (SKIP LOCKED, plus an idempotency key per tick). The caller passes the
-- next fire time of each schedule it fired (computed from the cron expression) to
-- jobs.schedule_fired in the same transaction.
CREATE OR REPLACE FUNCTION jobs.due_schedules(p_now timestamptz, p_limit integer DEFAULT 100)
RETURNS TABLE (org_id uuid, job_name text, cron text, tick timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.org_id, s.job_name, s.cron, s.next_fire_at
    FROM jobs.schedules s
    WHERE s.next_fire_at <= p_now AND s.last_error IS NULL  -- not set aside
    ORDER BY s.next_fire_at
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
$$;

CREATE OR REPLACE FUNCTION jobs.schedule_fired(
    p_org_id uuid, p_job text, p_tick timestamptz, p_next timestamptz
) RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fired runs.runs;
BEGIN
    IF (jobs.current_definition(p_org_id, p_job)).id IS NULL THEN  -- its job is gone
        DELETE FROM jobs.schedules WHERE org_id = p_org_id AND job_name = p_job;
        RETURN NULL;
    END IF;
    fired := runs.enqueue(p_org_id, p_job, '{}'::jsonb,
                          jsonb_build_object('kind', 'cron', 'tick', p_tick), '[]'::jsonb,
                          format('cron:%s:%s', p_job, to_char(p_tick AT TIME ZONE 'UTC',
                                                              'YYYY-MM-DD"T"HH24:MI:SS')));
    UPDATE jobs.schedules SET next_fire_at = p_next, last_fired_at = p_tick
    WHERE org_id = p_org_id AND job_name = p_job;
    RETURN fired;
END
$$;

-- A schedule the scheduler could not evaluate or fire: set aside (a schedule with a last_error
-- fires no more) with the reason its org sees (`chainlake job list`), until the job is applied
-- again. Every other schedule keeps firing.
CREATE OR REPLACE FUNCTION jobs.schedule_failed(p_org_id uuid, p_job text, p_error text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE jobs.schedules SET last_error = left(p_error, 1000)
    WHERE org_id = p_org_id AND job_name = p_job
$$;

GRANT EXECUTE ON FUNCTION
    jobs.due_schedules(timestamptz, integer),
    jobs.schedule_fired(uuid, text, timestamptz, timestamptz),
    jobs.schedule_failed(uuid, text, text)
TO chainlake_runner;

-- always_on: keep exactly one active run of every always_on source job. When its run ends (it
-- exited, or it was dead-lettered after its runners kept dying) a new one starts, after a
-- backoff that doubles with each consecutive failure (1 s after a clean exit, at most 60 s).
-- Several supervisors at once start one run: the idempotency key counts the job's runs. One
-- org's definition that cannot be queued (applied without the CLI's checks) is skipped with a
-- warning: it never stops another org's jobs.
CREATE OR REPLACE FUNCTION jobs.supervise_always_on(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def record;
    last runs.runs;
    failures integer;
    backoff_s double precision;
    started integer := 0;
BEGIN
    FOR def IN
        SELECT DISTINCT ON (org_id, name) org_id, name, spec FROM jobs.definitions
        ORDER BY org_id, name, applied_at DESC
    LOOP
      BEGIN
        CONTINUE WHEN def.spec ->> 'activation' IS DISTINCT FROM 'always_on';
        CONTINUE WHEN EXISTS (SELECT 1 FROM runs.runs WHERE org_id = def.org_id
                              AND job_name = def.name
                              AND status IN ('queued', 'running', 'retrying'));
        SELECT * INTO last FROM runs.runs WHERE org_id = def.org_id AND job_name = def.name
        ORDER BY created_at DESC LIMIT 1;
        SELECT count(*) INTO failures FROM (
            SELECT status, bool_and(status <> 'succeeded') OVER (ORDER BY created_at DESC) AS streak
            FROM runs.runs WHERE org_id = def.org_id AND job_name = def.name
            ORDER BY created_at DESC LIMIT 10) recent
        WHERE streak;
        backoff_s := CASE WHEN failures = 0 THEN 1 ELSE least(60, 2 ^ failures) END;
        CONTINUE WHEN last.id IS NOT NULL
                  AND coalesce(last.finished_at, last.created_at)
                      + backoff_s * interval '1 second' > p_now;
        PERFORM runs.enqueue(def.org_id, def.name, '{}'::jsonb,
                             jsonb_build_object('kind', 'always_on', 'restart', failures),
                             '[]'::jsonb,
                             format('always_on:%s:%s', def.name,
                                    (SELECT count(*) FROM runs.runs WHERE org_id = def.org_id
                                     AND job_name = def.name)));
        started := started + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'always_on job % of org % skipped: %', def.name, def.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN started;
END
$$;

GRANT EXECUTE ON FUNCTION jobs.supervise_always_on(timestamptz) TO chainlake_runner;

-- Internal: queue without an access check. Never executable by anyone but its owner.
REVOKE EXECUTE ON FUNCTION runs.enqueue(uuid, text, jsonb, jsonb, jsonb, text, integer) FROM PUBLIC;
