-- Derived data that stays true through reorgs, and validation that gates propagation.
--
-- A block-range partition is a range (catalog.asset_versions.blocks, of chain_id): the range the
-- run was given, from its chain inputs, a backfill's params, or the one ranged input version it
-- was built from. At any moment the current versions of a dataset's ranges never overlap (an
-- exclusion constraint, migration 0017). When chain data from block F up is invalidated (a reorg
-- in chain.rewind, a repair in chain.drop_hot_from), every current range of that chain reaching
-- F, in every org and every dataset, is superseded in the same transaction, and each job fed by
-- the chain is queued to recompute from the start of its first superseded range. A run that read
-- (or was planned on) blocks invalidated meanwhile records its outputs as superseded versions:
-- they never become current. Downstream datasets follow through the normal propagation.

-- 'A-B' (block numbers, A <= B) as the range [A, B]; NULL for any other partition key.
CREATE OR REPLACE FUNCTION catalog.range_of_key(p_key text) RETURNS int8range
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT int8range(split_part(p_key, '-', 1)::bigint, split_part(p_key, '-', 2)::bigint, '[]')
    WHERE p_key ~ '^[0-9]{1,18}-[0-9]{1,18}$'
      AND split_part(p_key, '-', 1)::bigint <= split_part(p_key, '-', 2)::bigint
$$;

CREATE OR REPLACE FUNCTION catalog.key_of_range(p_blocks int8range) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT lower(p_blocks)::text || '-' || (upper(p_blocks) - 1)::text
$$;

-- The block ranges a run was given: its chain inputs' range per chain, a backfill's
-- params.from..to, or the ranges of the input versions it read.
CREATE OR REPLACE FUNCTION runs.given_ranges(p_run runs.runs)
RETURNS TABLE (chain_id bigint, blocks int8range)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (i ->> 'chain_id')::bigint,
           int8range(min((i ->> 'from_block')::bigint), max((i ->> 'to_block')::bigint), '[]')
    FROM jsonb_array_elements(p_run.inputs) i
    WHERE i ? 'chain_id'
    GROUP BY 1
    UNION
    SELECT NULL, catalog.range_of_key((p_run.params ->> 'from') || '-' || (p_run.params ->> 'to'))
    WHERE p_run.params ? 'partition'
      AND catalog.range_of_key((p_run.params ->> 'from') || '-' || (p_run.params ->> 'to')) IS NOT NULL
    UNION
    SELECT v.chain_id, v.blocks
    FROM jsonb_array_elements(p_run.inputs) i
    JOIN catalog.datasets d ON d.org_id = p_run.org_id AND d.name = i ->> 'dataset'
    JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = core.try_int(i ->> 'version')
    WHERE v.blocks IS NOT NULL
$$;

-- Where an output of a run lies: its range (when it has one), its partition key, and what is
-- wrong with it (NULL when nothing is). A job that reports no partition gets the one range it
-- was given; a block-range key must be a range it was given; other keys (dates) are not ranges.
CREATE OR REPLACE FUNCTION catalog.output_range(p_run runs.runs, p_output jsonb)
RETURNS TABLE (chain_id bigint, blocks int8range, partition text, problem text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key text := coalesce(p_output ->> 'partition', '');
    reported int8range := catalog.range_of_key(key);
    given_count integer;
    given_keys text;
    matched_chain bigint;
BEGIN
    SELECT count(*), string_agg(catalog.key_of_range(g.blocks)
                                || coalesce(' of chain ' || g.chain_id, ''), ', '
                                ORDER BY lower(g.blocks))
    INTO given_count, given_keys FROM runs.given_ranges(p_run) g;
    IF key = '' AND given_count = 1 THEN
        RETURN QUERY SELECT g.chain_id, g.blocks, catalog.key_of_range(g.blocks), NULL::text
                     FROM runs.given_ranges(p_run) g;
        RETURN;
    END IF;
    IF reported IS NULL OR given_count = 0 THEN
        RETURN QUERY SELECT NULL::bigint, NULL::int8range, key, NULL::text;
        RETURN;
    END IF;
    SELECT count(*), min(g.chain_id) INTO given_count, matched_chain FROM runs.given_ranges(p_run) g
    WHERE g.blocks = reported;
    IF given_count = 0 THEN
        RETURN QUERY SELECT NULL::bigint, NULL::int8range, key,
            format('output %s reports partition %s, which is not the block range it was given (%s)',
                   p_output ->> 'dataset', key, given_keys);
        RETURN;
    END IF;
    -- the same numbers of two chains: which chain is not known, so the key is not a range
    RETURN QUERY SELECT CASE WHEN given_count = 1 THEN matched_chain END,
                        CASE WHEN given_count = 1 THEN reported END, key, NULL::text;
END
$$;

-- An invalidation of blocks a run read, or was planned on, after it read them or was planned
-- (the chain.events id), or an input version a reorg superseded; NULL when the run is current.
CREATE OR REPLACE FUNCTION runs.overtaken_by(p_run runs.runs) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT min(found.event) FROM (
        SELECT e.id AS event
        FROM jsonb_array_elements(p_run.inputs) i
        LEFT JOIN runs.chain_inputs ci
          ON ci.org_id = p_run.org_id AND ci.run_id = p_run.id AND ci.attempt = p_run.attempt
         AND ci.dataset = i ->> 'dataset'
        JOIN chain.events e
          ON e.chain_id = (i ->> 'chain_id')::bigint AND e.kind = 'invalidated'
         AND e.from_block <= (i ->> 'to_block')::bigint AND e.to_block >= (i ->> 'from_block')::bigint
         AND e.id > least(ci.events_through, CASE WHEN p_run.trigger ->> 'kind' = 'chain'
                                                  THEN (p_run.trigger ->> 'event')::bigint END)
        WHERE i ? 'chain_id'
        UNION ALL
        SELECT v.superseded_by_event
        FROM jsonb_array_elements(p_run.inputs) i
        JOIN catalog.datasets d ON d.org_id = p_run.org_id AND d.name = i ->> 'dataset'
        JOIN catalog.asset_versions v
          ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = core.try_int(i ->> 'version')
        WHERE v.superseded_reason = 'reorg'
    ) found
$$;

-- The Bad-input rule, checked before a run's outputs are recorded: each output's partition is
-- the range it was given, and overlaps no current range it was not asked to replace (the same
-- range is replaced). Returns the first problem, naming both ranges, or NULL. Takes each
-- written dataset's version lock, in a fixed order, so two runs cannot both pass.
CREATE OR REPLACE FUNCTION catalog.output_problem(p_run runs.runs, p_outputs jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    output jsonb;
    placed record;
    clash record;
    ds uuid;
BEGIN
    PERFORM core.lock_until_commit('catalog.version', d.id)
    FROM (SELECT DISTINCT catalog.dataset_id(p_run.org_id, o ->> 'dataset', false) AS id
          FROM jsonb_array_elements(coalesce(p_outputs, '[]')) o) d
    WHERE d.id IS NOT NULL ORDER BY d.id;
    FOR output IN SELECT * FROM jsonb_array_elements(coalesce(p_outputs, '[]')) LOOP
        SELECT * INTO placed FROM catalog.output_range(p_run, output);
        IF placed.problem IS NOT NULL THEN
            RETURN placed.problem;
        END IF;
        CONTINUE WHEN placed.blocks IS NULL OR runs.overtaken_by(p_run) IS NOT NULL;
        ds := catalog.dataset_id(p_run.org_id, output ->> 'dataset', false);
        SELECT v.version, v.blocks INTO clash FROM catalog.asset_versions v
        WHERE v.org_id = p_run.org_id AND v.dataset_id = ds AND v.superseded_at IS NULL
          AND coalesce(v.chain_id, -1) = coalesce(placed.chain_id, -1)
          AND v.blocks && placed.blocks AND v.blocks <> placed.blocks
        ORDER BY lower(v.blocks) LIMIT 1;
        IF FOUND THEN
            RETURN format('output %s partition %s overlaps the current partition %s (version %s), '
                          'which this run was not asked to replace', output ->> 'dataset',
                          placed.partition, catalog.key_of_range(clash.blocks), clash.version);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- A version becomes the current one of its range: the version current there is replaced.
CREATE OR REPLACE FUNCTION catalog.take_range(
    p_org_id uuid, p_dataset_id uuid, p_chain_id bigint, p_blocks int8range, p_version integer
) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE catalog.asset_versions v
    SET superseded_at = now(), superseded_reason = 'replaced', superseded_by_version = p_version,
        superseded_by_event = NULL
    WHERE v.org_id = p_org_id AND v.dataset_id = p_dataset_id AND v.superseded_at IS NULL
      AND coalesce(v.chain_id, -1) = coalesce(p_chain_id, -1) AND v.blocks = p_blocks
      AND v.version <> p_version;
    UPDATE catalog.asset_versions v
    SET superseded_at = NULL, superseded_reason = NULL, superseded_by_version = NULL,
        superseded_by_event = NULL
    WHERE v.org_id = p_org_id AND v.dataset_id = p_dataset_id AND v.version = p_version;
$$;

-- Why a version may not be made current again by a rollback, or NULL: a range whose blocks a
-- reorg (or repair) invalidated after it was written, or that overlaps another current range.
CREATE OR REPLACE FUNCTION catalog.rollback_problem(p_version catalog.asset_versions) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
        (SELECT format('version %s (blocks %s of chain %s) was built from blocks that the '
                       'invalidation of blocks %s..%s of chain %s removed', p_version.version,
                       p_version.partition, p_version.chain_id, e.from_block, e.to_block,
                       e.chain_id)
         FROM chain.events e
         WHERE p_version.chain_id IS NOT NULL AND e.chain_id = p_version.chain_id
           AND e.kind = 'invalidated' AND int8range(e.from_block, e.to_block, '[]') && p_version.blocks
           AND (e.id = p_version.superseded_by_event OR e.at >= p_version.created_at)
         ORDER BY e.id LIMIT 1),
        (SELECT format('version %s (partition %s) overlaps the current partition %s (version %s)',
                       p_version.version, p_version.partition, catalog.key_of_range(c.blocks),
                       c.version)
         FROM catalog.asset_versions c
         WHERE c.org_id = p_version.org_id AND c.dataset_id = p_version.dataset_id
           AND c.superseded_at IS NULL AND c.version <> p_version.version
           AND coalesce(c.chain_id, -1) = coalesce(p_version.chain_id, -1)
           AND c.blocks && p_version.blocks AND c.blocks <> p_version.blocks
         ORDER BY lower(c.blocks) LIMIT 1))
$$;

-- Is this version what dependants and queries take: the dataset's current version, or for a
-- range, not superseded?
CREATE OR REPLACE FUNCTION catalog.is_current_version(p_org_id uuid, p_dataset text, p_version integer)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(bool_or(CASE WHEN v.blocks IS NOT NULL THEN v.superseded_at IS NULL
                                 ELSE v.version = d.current_version END), false)
    FROM catalog.datasets d JOIN catalog.asset_versions v
      ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = p_version
    WHERE d.org_id = p_org_id AND d.name = p_dataset
$$;

-- What the runner records as it hands a chain range to an attempt: the hashes of the range's
-- first and last blocks and the chain's newest event id, as read in the export's snapshot.
CREATE OR REPLACE FUNCTION runs.record_chain_read(
    p_run_id uuid, p_attempt integer, p_dataset text, p_chain_id bigint, p_from bigint,
    p_to bigint, p_first_hash bytea, p_last_hash bytea, p_events_through bigint
) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO runs.chain_inputs (org_id, run_id, attempt, dataset, chain_id, from_block, to_block,
                                   first_hash, last_hash, events_through)
    SELECT r.org_id, r.id, p_attempt, p_dataset, p_chain_id, p_from, p_to, p_first_hash,
           p_last_hash, p_events_through
    FROM runs.runs r WHERE r.id = p_run_id AND r.status = 'running' AND r.attempt = p_attempt
    ON CONFLICT (org_id, run_id, attempt, dataset) DO UPDATE
        SET chain_id = excluded.chain_id, from_block = excluded.from_block,
            to_block = excluded.to_block, first_hash = excluded.first_hash,
            last_hash = excluded.last_hash, events_through = excluded.events_through,
            read_at = now()
$$;

-- The reactive jobs fed by a chain (current definitions whose input_datasets name chain data
-- and whose chain_input.chain_ids, if any, include it).
CREATE OR REPLACE FUNCTION runs.chain_jobs(p_chain_id bigint)
RETURNS TABLE (org_id uuid, name text, input_datasets text[], gap_text text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.org_id, c.name, c.input_datasets, c.gap_text FROM (
        SELECT DISTINCT ON (d.org_id, d.name) d.org_id, d.name, d.kind, d.input_datasets,
               d.spec -> 'chain_input' ->> 'min_interval_seconds' AS gap_text,
               d.spec -> 'chain_input' -> 'chain_ids' AS chain_ids
        FROM jobs.definitions d ORDER BY d.org_id, d.name, d.applied_at DESC) c
    WHERE c.kind = 'reactive'
      AND c.input_datasets && ARRAY['chain.blocks', 'chain.transactions', 'chain.logs']
      AND (c.chain_ids IS NULL OR c.chain_ids @> to_jsonb(p_chain_id))
$$;

-- A chain job's inputs: each chain dataset it reads, blocks p_from..p_to of one chain.
CREATE OR REPLACE FUNCTION runs.chain_inputs_of(
    p_datasets text[], p_chain_id bigint, p_from bigint, p_to bigint
) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_agg(jsonb_build_object('dataset', ds, 'chain_id', p_chain_id,
                                        'from_block', p_from, 'to_block', p_to, 'format', 'jsonl'))
    FROM unnest(p_datasets) ds
    WHERE ds IN ('chain.blocks', 'chain.transactions', 'chain.logs')
$$;

-- Blocks p_from up of a chain were invalidated (event p_event_id): supersede every current range
-- reaching them, in every org, and queue each chain job's recompute from the start of its first
-- superseded range (or of a run in flight over the invalidated blocks, whose outputs will not
-- become current), up to the last block still stored; the ingest batch that follows in the same
-- transaction widens it to the new branch. Runs as the rewind's definer.
CREATE OR REPLACE FUNCTION catalog.on_invalidated(
    p_chain_id bigint, p_from bigint, p_event_id bigint
) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    superseded integer;
BEGIN
    UPDATE catalog.asset_versions v
    SET superseded_at = now(), superseded_reason = 'reorg', superseded_by_event = p_event_id
    WHERE v.chain_id = p_chain_id AND v.superseded_at IS NULL AND v.blocks && int8range(p_from, NULL);
    GET DIAGNOSTICS superseded = ROW_COUNT;
    IF superseded > 0 THEN  -- what dependants are given as "current" is never superseded
        UPDATE catalog.datasets d
        SET current_version = (SELECT max(c.version) FROM catalog.asset_versions c
                               WHERE c.org_id = d.org_id AND c.dataset_id = d.id
                                 AND c.superseded_at IS NULL),
            updated_at = now()
        WHERE (d.org_id, d.id) IN (SELECT v.org_id, v.dataset_id FROM catalog.asset_versions v
                                   WHERE v.superseded_by_event = p_event_id);
    END IF;
    PERFORM runs.queue_recomputes(p_chain_id, p_from, p_event_id);
    RETURN superseded;
END
$$;

CREATE OR REPLACE FUNCTION runs.queue_recomputes(p_chain_id bigint, p_from bigint, p_event_id bigint)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job record;
    first bigint;
    queued integer := 0;
BEGIN
    FOR job IN SELECT * FROM runs.chain_jobs(p_chain_id) LOOP
      BEGIN  -- one job's trouble never stops the rewind that called us (see dispatch_chain_batch)
        SELECT least(p_from,
                     (SELECT min(lower(v.blocks)) FROM catalog.asset_versions v
                      JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
                      WHERE v.org_id = job.org_id AND v.superseded_by_event = p_event_id
                        AND r.job_name = job.name),
                     (SELECT min((r.inputs -> 0 ->> 'from_block')::bigint) FROM runs.runs r
                      WHERE r.org_id = job.org_id AND r.job_name = job.name
                        AND r.status IN ('queued', 'running', 'retrying')
                        AND (r.inputs -> 0 ->> 'chain_id')::bigint = p_chain_id
                        AND (r.inputs -> 0 ->> 'to_block')::bigint >= p_from))
        INTO first;
        CONTINUE WHEN first >= p_from;  -- nothing below the invalidated blocks to redo
        PERFORM runs.enqueue(
            job.org_id, job.name, '{}'::jsonb,
            jsonb_build_object('kind', 'chain', 'chain_id', p_chain_id, 'event', p_event_id,
                               'recompute', true),
            runs.chain_inputs_of(job.input_datasets, p_chain_id, first, p_from - 1),
            format('recompute:%s:%s:%s', p_chain_id, job.name, p_event_id));
        queued := queued + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'recompute of chain % from block %: job % of org % skipped: %', p_chain_id,
            p_from, job.name, job.org_id, SQLERRM;
      END;
    END LOOP;
    RETURN queued;
END
$$;

-- Validation that gates: a reactive job of type `validate` reading a dataset checks each of its
-- versions (created after the validator was first applied) before the version propagates. Its
-- verdict on a version is its latest run on it.
CREATE OR REPLACE FUNCTION catalog.verdicts(p_org_id uuid, p_dataset text, p_version integer)
RETURNS TABLE (job text, run_id uuid, status text, error jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT val.name, last.id, coalesce(last.status, 'not run'), last.error
    FROM jobs.current_definitions(p_org_id) val
    JOIN catalog.datasets d ON d.org_id = p_org_id AND d.name = p_dataset
    JOIN catalog.asset_versions v ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = p_version
    LEFT JOIN LATERAL (
        SELECT r.id, r.status, r.error FROM runs.runs r
        WHERE r.org_id = p_org_id AND r.job_name = val.name
          AND r.inputs @> jsonb_build_array(jsonb_build_object('dataset', p_dataset,
                                                               'version', p_version))
        ORDER BY r.created_at DESC LIMIT 1) last ON true
    WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
      AND p_dataset = ANY (val.input_datasets)
      AND v.created_at >= (SELECT min(f.created_at) FROM jobs.definitions f
                           WHERE f.org_id = p_org_id AND f.name = val.name
                             AND f.spec ->> 'type' = 'validate')
$$;

-- 'none' (no validator checks it), 'passed', 'failed' or 'pending'.
CREATE OR REPLACE FUNCTION catalog.validation_state(p_org_id uuid, p_dataset text, p_version integer)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN count(*) = 0 THEN 'none'
                WHEN bool_or(v.status IN ('dead', 'failed')) THEN 'failed'
                WHEN bool_and(v.status = 'succeeded') THEN 'passed'
                ELSE 'pending' END
    FROM catalog.verdicts(p_org_id, p_dataset, p_version) v
$$;

-- The version of a dataset its dependants are given: the current one, or with validators, the
-- newest one up to it that passed (or that no validator checks); never one a reorg superseded.
CREATE OR REPLACE FUNCTION catalog.propagated_version(p_org_id uuid, p_dataset text)
RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM jobs.current_definitions(p_org_id) val
                         WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
                           AND p_dataset = ANY (val.input_datasets))
        THEN d.current_version
        ELSE (SELECT v.version FROM catalog.asset_versions v
              WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.version <= d.current_version
                AND v.superseded_reason IS DISTINCT FROM 'reorg'
                AND catalog.validation_state(p_org_id, p_dataset, v.version) IN ('none', 'passed')
              ORDER BY v.version DESC LIMIT 1) END
    FROM catalog.datasets d WHERE d.org_id = p_org_id AND d.name = p_dataset
$$;

-- May refresh propagation queue this job now? A validator runs on every new version (but not
-- again when a version it passed is released); any other job waits until each changed input it
-- reads has passed its validators.
CREATE OR REPLACE FUNCTION catalog.may_dispatch(
    p_org_id uuid, p_job jobs.definitions, p_changed text[], p_given jsonb, p_trigger jsonb
) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_job.spec ->> 'type' = 'validate'
                THEN p_trigger ->> 'kind' IS DISTINCT FROM 'validated'
                ELSE NOT EXISTS (
                    SELECT 1 FROM unnest(p_changed) changed
                    WHERE changed = ANY (p_job.input_datasets)
                      AND catalog.validation_state(p_org_id, changed, coalesce(
                              (SELECT core.try_int(g ->> 'version')
                               FROM jsonb_array_elements(p_given) g
                               WHERE g ->> 'dataset' = changed LIMIT 1),
                              catalog.propagated_version(p_org_id, changed)))
                          NOT IN ('none', 'passed'))
           END
$$;

-- A validator's run succeeded: each input version it read that has now passed every validator,
-- and is still current, is released to its other dependants (once: the key names the version).
CREATE OR REPLACE FUNCTION catalog.release_validated(p_run runs.runs) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    given jsonb;
    released integer := 0;
BEGIN
    IF (SELECT f.spec ->> 'type' FROM jobs.definitions f
        WHERE f.org_id = p_run.org_id AND f.id = p_run.definition_id) IS DISTINCT FROM 'validate' THEN
        RETURN 0;
    END IF;
    FOR given IN SELECT i FROM jsonb_array_elements(p_run.inputs) i WHERE i ? 'version' LOOP
        -- validators of one version finishing at once: the last one sees the others' verdicts
        PERFORM core.lock_until_commit('catalog.validate', md5(format('%s:%s:%s',
            p_run.org_id, given ->> 'dataset', given ->> 'version'))::uuid);
        CONTINUE WHEN catalog.validation_state(p_run.org_id, given ->> 'dataset',
                                               core.try_int(given ->> 'version')) <> 'passed'
                   OR NOT catalog.is_current_version(p_run.org_id, given ->> 'dataset',
                                                     core.try_int(given ->> 'version'));
        released := released + runs.dispatch_dependants(
            p_run.org_id, ARRAY[given ->> 'dataset'],
            jsonb_build_array(catalog.version_as_input(p_run.org_id, given ->> 'dataset',
                                                       core.try_int(given ->> 'version'))),
            jsonb_build_object('kind', 'validated', 'dataset', given ->> 'dataset',
                               'version', core.try_int(given ->> 'version'),
                               'upstream_run', p_run.id,
                               'root_run', coalesce(p_run.trigger ->> 'root_run', p_run.id::text)),
            format('validated:%s:%s', given ->> 'dataset', given ->> 'version'));
    END LOOP;
    RETURN released;
END
$$;

-- What `asset status` shows beside staleness. Partitions a reorg superseded (the 20 newest of
-- each dataset, and every one still waiting for its recompute: no current range covers its
-- first block yet).
CREATE OR REPLACE FUNCTION catalog.superseded_partitions(p_org_id uuid)
RETURNS TABLE (dataset text, version integer, partition text, chain_id bigint, reorg_id bigint,
               invalidated_from bigint, superseded_at timestamptz, waiting boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.dataset, s.version, s.partition, s.chain_id, s.reorg_id, s.invalidated_from,
           s.superseded_at, s.waiting
    FROM (
        SELECT d.name AS dataset, v.version, v.partition, v.chain_id, g.id AS reorg_id,
               e.from_block AS invalidated_from, v.superseded_at,
               NOT EXISTS (SELECT 1 FROM catalog.asset_versions c
                           WHERE c.org_id = v.org_id AND c.dataset_id = v.dataset_id
                             AND c.chain_id = v.chain_id AND c.superseded_at IS NULL
                             AND c.blocks @> lower(v.blocks)) AS waiting,
               row_number() OVER (PARTITION BY d.id ORDER BY v.superseded_at DESC, v.version DESC) AS n
        FROM catalog.asset_versions v
        JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
        LEFT JOIN chain.events e ON e.id = v.superseded_by_event
        LEFT JOIN chain.reorgs g ON g.event_id = v.superseded_by_event
        WHERE v.org_id = p_org_id AND v.superseded_reason = 'reorg') s
    WHERE s.waiting OR s.n <= 20
    ORDER BY s.dataset, s.version
$$;

-- Versions validation holds back: the latest verdict of a validator on a still-current version
-- is a failure (held: dependants read `dependants_read`) or not in yet (pending).
CREATE OR REPLACE FUNCTION catalog.validation_holds(p_org_id uuid)
RETURNS TABLE (dataset text, version integer, state text, job text, run_id uuid, error text,
               dependants_read integer)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH latest AS (
        SELECT DISTINCT ON (val.name, i ->> 'dataset', core.try_int(i ->> 'version'))
               val.name AS job, i ->> 'dataset' AS dataset, core.try_int(i ->> 'version') AS version,
               r.id, r.status, r.error
        FROM jobs.current_definitions(p_org_id) val
        JOIN runs.runs r ON r.org_id = p_org_id AND r.job_name = val.name
        CROSS JOIN LATERAL jsonb_array_elements(r.inputs) i
        WHERE val.kind = 'reactive' AND val.spec ->> 'type' = 'validate'
          AND i ->> 'dataset' = ANY (val.input_datasets) AND i ? 'version'
        ORDER BY val.name, i ->> 'dataset', core.try_int(i ->> 'version'), r.created_at DESC
    )
    SELECT l.dataset, l.version,
           CASE WHEN l.status IN ('dead', 'failed') THEN 'failed' ELSE 'pending' END, l.job, l.id,
           l.error ->> 'message', catalog.propagated_version(p_org_id, l.dataset)
    FROM latest l
    WHERE l.status <> 'succeeded' AND catalog.is_current_version(p_org_id, l.dataset, l.version)
    ORDER BY l.dataset, l.version, l.job
$$;

-- The blocks a dataset's current ranges cover, per chain: first and last block, how many
-- partitions, and how many blocks between them no current range covers.
CREATE OR REPLACE FUNCTION catalog.coverage(p_org_id uuid, p_dataset text)
RETURNS TABLE (chain_id bigint, first_block bigint, last_block bigint, partitions integer,
               missing_blocks bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT v.chain_id, min(lower(v.blocks)), max(upper(v.blocks)) - 1, count(*)::integer,
           (max(upper(v.blocks)) - min(lower(v.blocks)) - sum(upper(v.blocks) - lower(v.blocks)))::bigint
    FROM catalog.asset_versions v
    JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
    WHERE d.org_id = p_org_id AND d.name = p_dataset AND v.blocks IS NOT NULL
      AND v.superseded_at IS NULL
    GROUP BY v.chain_id
    ORDER BY v.chain_id
$$;

GRANT EXECUTE ON FUNCTION
    runs.record_chain_read(uuid, integer, text, bigint, bigint, bigint, bytea, bytea, bigint),
    runs.given_ranges(runs.runs),
    catalog.output_range(runs.runs, jsonb),
    runs.overtaken_by(runs.runs),
    catalog.output_problem(runs.runs, jsonb),
    catalog.take_range(uuid, uuid, bigint, int8range, integer),
    catalog.may_dispatch(uuid, jobs.definitions, text[], jsonb, jsonb),
    catalog.release_validated(runs.runs)
TO chainlake_runner;
GRANT EXECUTE ON FUNCTION
    catalog.range_of_key(text),
    catalog.key_of_range(int8range),
    catalog.is_current_version(uuid, text, integer),
    catalog.verdicts(uuid, text, integer),
    catalog.validation_state(uuid, text, integer),
    catalog.propagated_version(uuid, text),
    catalog.superseded_partitions(uuid),
    catalog.validation_holds(uuid),
    catalog.coverage(uuid, text)
TO chainlake_users;
