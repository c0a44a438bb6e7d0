-- Assets: versions, lineage, rollback and reruns. A run's outputs become versions in
-- runs.complete (sql/runs/50_runs.sql) through catalog.record_output; identical content (the same
-- content hash, computed from the files' SHA-256 in the run's manifest) is recognised as the
-- version that already holds it, which becomes current again: no duplicate version.

CREATE OR REPLACE FUNCTION catalog.dataset_id(p_org_id uuid, p_name text, p_create boolean)
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id uuid;
BEGIN
    SELECT id INTO found_id FROM catalog.datasets WHERE org_id = p_org_id AND name = p_name;
    IF found_id IS NULL AND p_create THEN
        INSERT INTO catalog.datasets (org_id, name) VALUES (p_org_id, p_name)
        ON CONFLICT ON CONSTRAINT datasets_name_key DO NOTHING
        RETURNING id INTO found_id;
        IF found_id IS NULL THEN
            SELECT id INTO found_id FROM catalog.datasets WHERE org_id = p_org_id AND name = p_name;
        END IF;
    END IF;
    RETURN found_id;
END
$$;

CREATE OR REPLACE FUNCTION catalog.record_output(
    p_org_id uuid, p_run_id uuid, p_output jsonb, p_duration_ms bigint
) RETURNS TABLE (version integer, is_new boolean, current_changed boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    was_current integer;
    ds uuid := catalog.dataset_id(p_org_id, p_output ->> 'dataset', true);
    run runs.runs;
    placed record;
    overtaken bigint;
    hash text := coalesce(p_output ->> 'content_hash',
                          md5(coalesce(p_output -> 'uris', '[]')::text));
    existing catalog.asset_versions;
    next_version integer;
BEGIN
    -- a block-range output (sql/catalog/58_supersession.sql): its range, and whether an invalidation of
    -- blocks the run read overtook it (then it is kept as a superseded version, never current)
    SELECT * INTO run FROM runs.runs r WHERE r.org_id = p_org_id AND r.id = p_run_id;
    SELECT * INTO placed FROM catalog.output_range(run, p_output);
    overtaken := runs.overtaken_by(run);
    PERFORM core.lock_until_commit('catalog.version', ds);  -- one new version at a time
    SELECT d.current_version INTO was_current FROM catalog.datasets d
    WHERE d.org_id = p_org_id AND d.id = ds;
    SELECT * INTO existing FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = ds AND v.partition = placed.partition
      AND v.content_hash = hash AND v.superseded_reason IS DISTINCT FROM 'reorg';
    IF existing.version IS NOT NULL AND overtaken IS NULL THEN
        IF existing.superseded_at IS NOT NULL THEN  -- a range it was replaced in: back
            PERFORM catalog.take_range(p_org_id, ds, existing.chain_id, existing.blocks,
                                       existing.version);
        END IF;
        IF existing.blocks IS NULL OR existing.superseded_at IS NOT NULL THEN
            UPDATE catalog.datasets SET current_version = existing.version, updated_at = now()
            WHERE org_id = p_org_id AND id = ds;
        END IF;
        RETURN QUERY SELECT existing.version, false,
            CASE WHEN existing.blocks IS NULL THEN existing.version IS DISTINCT FROM was_current
                 ELSE existing.superseded_at IS NOT NULL END;
        RETURN;
    END IF;
    PERFORM core.check_storage_quota(p_org_id, (p_output ->> 'bytes')::bigint);
    SELECT coalesce(max(v.version), 0) + 1 INTO next_version FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = ds;
    IF placed.blocks IS NOT NULL AND overtaken IS NULL THEN
        PERFORM catalog.take_range(p_org_id, ds, placed.chain_id, placed.blocks, next_version);
    END IF;
    INSERT INTO catalog.asset_versions (org_id, dataset_id, version, partition, run_id,
        content_hash, uris, manifest, row_count, bytes, schema, metadata, duration_ms, chain_id,
        blocks, superseded_at, superseded_reason, superseded_by_event)
    VALUES (p_org_id, ds, next_version, placed.partition, p_run_id, hash,
            ARRAY(SELECT jsonb_array_elements_text(coalesce(p_output -> 'uris', '[]'))),
            coalesce(p_output -> 'manifest', '{}'), (p_output ->> 'rows')::bigint,
            (p_output ->> 'bytes')::bigint, p_output -> 'schema',
            coalesce(p_output -> 'metadata', '{}'), p_duration_ms, placed.chain_id, placed.blocks,
            CASE WHEN overtaken IS NOT NULL THEN now() END,
            CASE WHEN overtaken IS NOT NULL THEN 'reorg' END, overtaken);
    IF overtaken IS NOT NULL THEN
        RETURN QUERY SELECT next_version, true, false;
        RETURN;
    END IF;
    UPDATE catalog.datasets SET current_version = next_version, updated_at = now(),
                                schema = coalesce(p_output -> 'schema', schema)
    WHERE org_id = p_org_id AND id = ds;
    RETURN QUERY SELECT next_version, true, true;
END
$$;

-- Remember which exact versions a run read (its inputs name dataset and version).
CREATE OR REPLACE FUNCTION runs.record_inputs(p_org_id uuid, p_run_id uuid, p_inputs jsonb)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO runs.run_inputs (org_id, run_id, dataset_id, version)
    SELECT p_org_id, p_run_id, d.id, (i ->> 'version')::integer
    FROM jsonb_array_elements(coalesce(p_inputs, '[]')) i
    JOIN catalog.datasets d ON d.org_id = p_org_id AND d.name = i ->> 'dataset'
    WHERE i ->> 'version' IS NOT NULL
    ON CONFLICT DO NOTHING
$$;

-- The inputs a dependant receives for one version of a dataset.
CREATE OR REPLACE FUNCTION catalog.version_as_input(p_org_id uuid, p_dataset text, p_version integer)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('dataset', d.name, 'version', v.version,
                              'partition', nullif(v.partition, ''), 'uris', to_jsonb(v.uris),
                              'rows', v.row_count, 'schema', v.schema)
    FROM catalog.datasets d JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id
    WHERE d.org_id = p_org_id AND d.name = p_dataset AND v.version = p_version
$$;

-- Make an older version current and propagate like a refresh: every reactive job reading the
-- dataset runs again on that version (and produces, or recognises, its own versions).
CREATE OR REPLACE FUNCTION catalog.rollback(p_org_id uuid, p_dataset text, p_version integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    input jsonb;
    queued integer;
    target catalog.asset_versions;
    refused text;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'unknown dataset "%"', p_dataset USING ERRCODE = '42704';
    END IF;
    IF catalog.dataset_id(p_org_id, p_dataset, false) IS NULL THEN
        RAISE EXCEPTION 'unknown dataset "%"', p_dataset USING ERRCODE = '42704',
            HINT = 'list datasets with `chainlake asset list`';
    END IF;
    input := catalog.version_as_input(p_org_id, p_dataset, p_version);
    IF input IS NULL THEN
        RAISE EXCEPTION 'dataset "%" has no version %', p_dataset, p_version USING ERRCODE = '42704',
            HINT = 'list its versions with `chainlake asset versions DATASET`';
    END IF;
    SELECT * INTO target FROM catalog.asset_versions v
    WHERE v.org_id = p_org_id AND v.dataset_id = catalog.dataset_id(p_org_id, p_dataset, false)
      AND v.version = p_version;
    refused := catalog.rollback_problem(target);  -- a block range: sql/catalog/58_supersession.sql
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION '%', refused USING ERRCODE = '55000',
            HINT = 'roll back to a version of a range still on the chain, or rerun its job';
    END IF;
    IF target.blocks IS NOT NULL THEN
        PERFORM catalog.take_range(p_org_id, target.dataset_id, target.chain_id, target.blocks,
                                   p_version);
    END IF;
    UPDATE catalog.datasets SET current_version = p_version, updated_at = now()
    WHERE org_id = p_org_id AND name = p_dataset;
    queued := runs.dispatch_dependants(
        p_org_id, ARRAY[p_dataset], jsonb_build_array(input),
        jsonb_build_object('kind', 'rerun', 'rollback', p_dataset, 'version', p_version),
        format('rollback:%s', gen_random_uuid()));
    PERFORM audit.record(p_org_id, 'asset.rollback', p_dataset, jsonb_build_object('version', p_version));
    RETURN queued;
END
$$;

-- Selective rerun: the same job (its current version), params and inputs; nothing upstream.
-- Held to the org's queue quota like every run a person asks for.
CREATE OR REPLACE FUNCTION runs.rerun(p_run_id uuid) RETURNS runs.runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old runs.runs;
BEGIN
    SELECT * INTO old FROM runs.runs WHERE id = p_run_id;
    IF NOT FOUND OR NOT core.caller_may_write(old.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_run_id USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    PERFORM runs.check_queue_quota(old.org_id);
    RETURN runs.enqueue(old.org_id, old.job_name, old.params,
                        jsonb_build_object('kind', 'rerun', 'of', old.id), old.inputs,
                        format('rerun:%s:%s', old.id, gen_random_uuid()));
END
$$;

-- Re-execute a DAG run from failure: every failed or dead run that the root run set off (and
-- the root itself) runs again with its inputs and its job's current version, unless it was
-- already re-run successfully or is being re-run; their dependants that never ran follow
-- reactively when they succeed. Nothing that succeeded runs again. All of them fit the org's
-- queue quota, or none is queued.
CREATE OR REPLACE FUNCTION runs.rerun_failed(p_root uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    root runs.runs;
    failed runs.runs;
    to_rerun runs.runs[];
    queued integer := 0;
BEGIN
    SELECT * INTO root FROM runs.runs WHERE id = p_root;
    IF NOT FOUND OR NOT core.caller_may_write(root.org_id) THEN
        RAISE EXCEPTION 'unknown run %', p_root USING ERRCODE = '42704',
            HINT = 'list runs with `chainlake run list`';
    END IF;
    to_rerun := ARRAY(
        SELECT f FROM runs.runs f
        WHERE f.org_id = root.org_id AND (f.id = root.id OR f.trigger ->> 'root_run' = root.id::text)
          AND f.status IN ('failed', 'dead')
          AND NOT EXISTS (SELECT 1 FROM runs.runs again
                          WHERE again.org_id = f.org_id AND again.trigger ->> 'of' = f.id::text
                            AND again.status NOT IN ('failed', 'dead'))
        ORDER BY f.created_at);
    PERFORM runs.check_queue_quota(root.org_id, cardinality(to_rerun));
    FOREACH failed IN ARRAY to_rerun
    LOOP
        PERFORM runs.enqueue(failed.org_id, failed.job_name, failed.params,
                             jsonb_build_object('kind', 'rerun', 'of', failed.id,
                                                'root_run', root.id),
                             failed.inputs, format('rerun:%s:%s', failed.id, gen_random_uuid()));
        queued := queued + 1;
    END LOOP;
    RETURN queued;
END
$$;

GRANT EXECUTE ON FUNCTION runs.rerun_failed(uuid) TO chainlake_users;

-- A chain input of a run as lineage shows it: the chain and blocks, the hashes of the first and
-- last blocks as the run read them (runs.chain_inputs), and the first invalidation of any of those
-- blocks after the run read them (or was planned on them), with its reorg.
CREATE OR REPLACE FUNCTION catalog.chain_read(p_run runs.runs, p_input jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'chain_id', (p_input ->> 'chain_id')::bigint,
        'from_block', (p_input ->> 'from_block')::bigint,
        'to_block', (p_input ->> 'to_block')::bigint,
        'first_hash', '0x' || encode(ci.first_hash, 'hex'),
        'last_hash', '0x' || encode(ci.last_hash, 'hex'),
        'events_through', ci.events_through,
        'invalidated_by', (
            SELECT jsonb_build_object('event', e.id, 'from_block', e.from_block, 'at', e.at,
                                      'reorg', g.id, 'fork_block', g.fork_block, 'depth', g.depth)
            FROM chain.events e LEFT JOIN chain.reorgs g ON g.event_id = e.id
            WHERE e.chain_id = (p_input ->> 'chain_id')::bigint AND e.kind = 'invalidated'
              AND e.from_block <= (p_input ->> 'to_block')::bigint
              AND e.to_block >= (p_input ->> 'from_block')::bigint
              AND e.id > least(ci.events_through, CASE WHEN p_run.trigger ->> 'kind' = 'chain'
                                                       THEN (p_run.trigger ->> 'event')::bigint END)
            ORDER BY e.id LIMIT 1))
    FROM (SELECT 1) one
    LEFT JOIN runs.chain_inputs ci
      ON ci.org_id = p_run.org_id AND ci.run_id = p_run.id AND ci.attempt = p_run.attempt
     AND ci.dataset = p_input ->> 'dataset'
$$;

-- A version's range (block-range partitions) and, when it is no longer current, what superseded
-- it: a reorg (or repair) that invalidated its blocks, or a newer version of the same range.
CREATE OR REPLACE FUNCTION catalog.version_state(p_version catalog.asset_versions) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'range', CASE WHEN p_version.blocks IS NOT NULL THEN jsonb_build_object(
                     'chain_id', p_version.chain_id, 'from_block', lower(p_version.blocks),
                     'to_block', upper(p_version.blocks) - 1) END,
        'superseded', CASE WHEN p_version.superseded_at IS NOT NULL THEN jsonb_build_object(
                          'reason', p_version.superseded_reason, 'at', p_version.superseded_at,
                          'by_version', p_version.superseded_by_version,
                          'event', p_version.superseded_by_event,
                          'from_block', e.from_block, 'chain_id', e.chain_id, 'reorg', g.id,
                          'fork_block', g.fork_block, 'depth', g.depth) END)
    FROM (SELECT 1) one
    LEFT JOIN chain.events e ON e.id = p_version.superseded_by_event
    LEFT JOIN chain.reorgs g ON g.event_id = p_version.superseded_by_event
$$;

-- Lineage from one version: edges (input -> run -> output version), walking upstream (what it
-- was built from) or downstream (what was built from it), up to p_depth hops. An input is a
-- version of a dataset, or a range of a chain (input_range: chain, blocks, the hashes of its
-- first and last blocks as the run read them, and the reorg that later invalidated any of them);
-- output_state says whether the output is current, or what superseded it (a reorg, a newer
-- version of its range).
DROP FUNCTION IF EXISTS catalog.lineage(uuid, text, integer, boolean, integer);  -- columns changed
CREATE FUNCTION catalog.lineage(
    p_org_id uuid, p_dataset text, p_version integer, p_downstream boolean, p_depth integer
) RETURNS TABLE (depth integer, input_dataset text, input_version integer, input_range jsonb,
                 run_id uuid, job text, job_version text, output_dataset text,
                 output_version integer, output_partition text, output_state jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE inputs AS (
        SELECT i.org_id, i.run_id, di.name AS input_dataset, i.version AS input_version,
               NULL::jsonb AS input_range
        FROM runs.run_inputs i
        JOIN catalog.datasets di ON di.org_id = i.org_id AND di.id = i.dataset_id
        WHERE i.org_id = p_org_id
        UNION ALL
        SELECT r.org_id, r.id, c ->> 'dataset', NULL, catalog.chain_read(r, c)
        FROM runs.runs r CROSS JOIN LATERAL jsonb_array_elements(r.inputs) c
        WHERE r.org_id = p_org_id AND r.status = 'succeeded' AND c ? 'chain_id'
    ), edges AS (
        SELECT i.input_dataset, i.input_version, i.input_range, r.id AS run_id, r.job_name,
               r.job_version, dv.name AS output_dataset, v.version AS output_version,
               v.partition AS output_partition, catalog.version_state(v) AS output_state
        FROM inputs i
        JOIN runs.runs r ON r.org_id = i.org_id AND r.id = i.run_id
        JOIN catalog.asset_versions v ON v.org_id = r.org_id AND v.run_id = r.id
        JOIN catalog.datasets dv ON dv.org_id = v.org_id AND dv.id = v.dataset_id
    ), walk AS (
        SELECT 1 AS depth, e.* FROM edges e
        WHERE CASE WHEN p_downstream
                   THEN e.input_dataset = p_dataset AND e.input_version = p_version
                   ELSE e.output_dataset = p_dataset AND e.output_version = p_version END
        UNION
        SELECT w.depth + 1, e.* FROM walk w JOIN edges e
          ON CASE WHEN p_downstream
                  THEN e.input_dataset = w.output_dataset AND e.input_version = w.output_version
                  ELSE e.output_dataset = w.input_dataset AND e.output_version = w.input_version END
        WHERE w.depth < p_depth
    )
    SELECT depth, input_dataset, input_version, input_range, run_id, job_name, job_version,
           output_dataset, output_version, output_partition, output_state
    FROM walk ORDER BY depth, input_dataset, output_dataset, output_version
$$;

GRANT USAGE ON SCHEMA catalog TO chainlake_runner;
GRANT EXECUTE ON FUNCTION
    catalog.dataset_id(uuid, text, boolean),
    catalog.record_output(uuid, uuid, jsonb, bigint),
    runs.record_inputs(uuid, uuid, jsonb),
    catalog.version_as_input(uuid, text, integer)
TO chainlake_runner;
GRANT EXECUTE ON FUNCTION
    catalog.rollback(uuid, text, integer),
    runs.rerun(uuid),
    catalog.lineage(uuid, text, integer, boolean, integer),
    catalog.chain_read(runs.runs, jsonb),
    catalog.version_state(catalog.asset_versions),
    catalog.version_as_input(uuid, text, integer)
TO chainlake_users;

-- Staleness of every dataset of an org: its current version is stale when an input it was built
-- from has a newer current version, or when the job that wrote it has a new code version.
CREATE OR REPLACE FUNCTION catalog.staleness(p_org_id uuid)
RETURNS TABLE (dataset text, current_version integer, job text, built_with text,
               job_now text, stale boolean, reasons text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH cur AS (
        SELECT d.id, d.name, d.current_version, v.run_id, r.job_name, r.job_version
        FROM catalog.datasets d
        JOIN catalog.asset_versions v
          ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = d.current_version
        LEFT JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
        WHERE d.org_id = p_org_id
    ), reasons AS (
        SELECT c.id,
               array_remove(ARRAY(
                   SELECT format('input %s is at version %s; this was built from version %s',
                                 di.name, di.current_version, i.version)
                   FROM runs.run_inputs i
                   JOIN catalog.datasets di ON di.org_id = i.org_id AND di.id = i.dataset_id
                   WHERE i.org_id = p_org_id AND i.run_id = c.run_id
                     AND di.current_version IS DISTINCT FROM i.version
                   ORDER BY di.name)
                 || CASE WHEN (jobs.current_definition(p_org_id, c.job_name)).version
                              IS DISTINCT FROM c.job_version
                         THEN format('job %s is at version %s; this was built by version %s',
                                     c.job_name,
                                     (jobs.current_definition(p_org_id, c.job_name)).version,
                                     c.job_version)
                    END, NULL) AS why
        FROM cur c
    )
    SELECT c.name, c.current_version, c.job_name, c.job_version,
           (jobs.current_definition(p_org_id, c.job_name)).version,
           cardinality(r.why) > 0, r.why
    FROM cur c JOIN reasons r ON r.id = c.id
    ORDER BY c.name
$$;

GRANT EXECUTE ON FUNCTION catalog.staleness(uuid) TO chainlake_users;
