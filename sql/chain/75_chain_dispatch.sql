-- Chain data as a job input. A reactive job whose input_datasets name chain.blocks,
-- chain.transactions or chain.logs runs on ingested block ranges: each ingest batch
-- (chain.commit_batch) queues one run per such job, or widens the range of its run still queued
-- (so a slow job gets one run covering everything since its last one, never a backlog). A run's
-- range starts after the last range the job was given, or at the fork when a reorg rewrote blocks
-- it had been given (the reorg itself queues the recompute of what its superseded partitions and
-- runs in flight covered: sql/catalog/58_supersession.sql). The runner hands the rows over as files.

CREATE OR REPLACE FUNCTION runs.dispatch_chain_batch(
    p_chain_id bigint, p_from bigint, p_to bigint, p_event_id bigint
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    pending runs.runs;
    last_to bigint;
    first bigint;
    last_at timestamptz;
    gap float8;
    queued integer := 0;
BEGIN
    FOR d IN SELECT * FROM runs.chain_jobs(p_chain_id) LOOP
      -- one job's trouble (a definition applied without the schema's checks) never stops the
      -- ingest batch that called us: it is skipped, with a warning in the server log
      BEGIN
        gap := coalesce(d.gap_text::float8, 0);
        -- (a run planned before a reorg of its blocks is not widened: its output will not
        -- become current, and the recompute the reorg queued covers its range)
        SELECT * INTO pending FROM runs.runs q
        WHERE q.org_id = d.org_id AND q.job_name = d.name AND q.status = 'queued'
          AND q.trigger ->> 'kind' = 'chain' AND (q.trigger ->> 'chain_id')::bigint = p_chain_id
          AND runs.overtaken_by(q) IS NULL
        ORDER BY q.created_at DESC LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE runs.runs SET inputs = (
                SELECT jsonb_agg(i || jsonb_build_object(
                    'from_block', least((i ->> 'from_block')::bigint, p_from),
                    'to_block', p_to))
                FROM jsonb_array_elements(pending.inputs) i),
                trigger = trigger || jsonb_build_object('event', p_event_id)
            WHERE org_id = pending.org_id AND id = pending.id;
            CONTINUE;
        END IF;
        -- what the job was last given (a dead-lettered range comes back by replaying it)
        SELECT (r.inputs -> 0 ->> 'to_block')::bigint, r.created_at INTO last_to, last_at
        FROM runs.runs r
        WHERE r.org_id = d.org_id AND r.job_name = d.name AND r.trigger ->> 'kind' = 'chain'
          AND (r.trigger ->> 'chain_id')::bigint = p_chain_id
        ORDER BY r.created_at DESC LIMIT 1;
        first := least(coalesce(last_to + 1, p_from), p_from);
        PERFORM runs.enqueue(
            d.org_id, d.name, '{}'::jsonb,
            jsonb_build_object('kind', 'chain', 'chain_id', p_chain_id, 'event', p_event_id),
            runs.chain_inputs_of(d.input_datasets, p_chain_id, first, p_to),
            format('chain:%s:%s:%s', p_chain_id, d.name, p_event_id),
            -- at most one run per min_interval_seconds: wait out the rest of the interval
            CASE WHEN last_at IS NULL THEN 0
                 ELSE ceil(greatest(0, least(gap, 86400)
                                       - extract(epoch FROM now() - last_at)))::integer END);
        queued := queued + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'chain batch %..% of chain %: job % of org % skipped: %', p_from, p_to,
            p_chain_id, d.name, d.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN queued;
END
$$;
REVOKE EXECUTE ON FUNCTION runs.dispatch_chain_batch(bigint, bigint, bigint, bigint) FROM PUBLIC;

-- The platform credentials a run may be handed (the runner asks before every launch):
-- chain_writer (the chain-writing role's URL) and alert_sender (the delivery role's URL and the
-- secrets key), to the system org's runs only.
CREATE OR REPLACE FUNCTION core.platform_credential_allowed(p_org_id uuid, p_name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_name IN ('chain_writer', 'alert_sender')
       AND coalesce((SELECT system FROM core.orgs WHERE id = p_org_id), false)
$$;
DROP FUNCTION IF EXISTS core.org_is_system(uuid);
GRANT EXECUTE ON FUNCTION core.platform_credential_allowed(uuid, text) TO chainlake_runner;

-- The operator marks the platform's own org (chainlake up does, for the org `chainlake`).
CREATE OR REPLACE FUNCTION core.set_system_org(p_name text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id uuid;
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator marks the system org' USING ERRCODE = '42501';
    END IF;
    UPDATE core.orgs SET system = true WHERE name = p_name RETURNING id INTO found_id;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704';
    END IF;
    PERFORM audit.record(found_id, 'org.system', p_name);
    RETURN found_id;
END
$$;
