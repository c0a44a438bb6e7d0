-- Partitions: block ranges (ranges, not one row per block) or days. A backfill is one run per
-- partition; status and gaps are queries over the partition keys a range implies.

-- The partition keys covering [p_from, p_to]: block ranges as 'lo-hi' (inclusive, aligned to
-- the size), days as 'YYYY-MM-DD'.
CREATE OR REPLACE FUNCTION catalog.partition_keys(p_spec jsonb, p_from text, p_to text)
RETURNS TABLE (key text, lo text, hi text)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    size bigint;
BEGIN
    IF p_spec ->> 'kind' = 'block_range' THEN
        size := (p_spec ->> 'size')::bigint;
        IF p_from !~ '^[0-9]+$' OR p_to !~ '^[0-9]+$' OR p_from::bigint > p_to::bigint THEN
            RAISE EXCEPTION 'a block range needs FROM <= TO, both block numbers (got % .. %)',
                p_from, p_to USING ERRCODE = '22023';
        END IF;
        IF (p_to::bigint - p_from::bigint) / size >= 100000 THEN
            RAISE EXCEPTION 'a range of at most 100000 partitions (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        RETURN QUERY
            SELECT s::text || '-' || (s + size - 1)::text, s::text, (s + size - 1)::text
            FROM generate_series((p_from::bigint / size) * size, p_to::bigint, size) s;
    ELSIF p_spec ->> 'kind' = 'date' THEN
        IF p_from !~ '^\d{4}-\d{2}-\d{2}$' OR p_to !~ '^\d{4}-\d{2}-\d{2}$' OR p_from > p_to THEN
            RAISE EXCEPTION 'a date range needs FROM <= TO as YYYY-MM-DD (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        BEGIN
            PERFORM p_from::date, p_to::date;
        EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
            RAISE EXCEPTION 'not a date: % .. %', p_from, p_to USING ERRCODE = '22023';
        END;
        IF p_to::date - p_from::date >= 100000 THEN
            RAISE EXCEPTION 'a range of at most 100000 partitions (got % .. %)', p_from, p_to
                USING ERRCODE = '22023';
        END IF;
        RETURN QUERY
            SELECT d::date::text, d::date::text, d::date::text
            FROM generate_series(p_from::date, p_to::date, interval '1 day') d;
    ELSE
        RAISE EXCEPTION 'this dataset is not partitioned' USING ERRCODE = '22023',
            HINT = 'declare `partitions: {kind: block_range, size: N}` or `{kind: date}` in its job';
    END IF;
END
$$;

-- The job (current definition) that writes a dataset, for backfills and status.
CREATE OR REPLACE FUNCTION jobs.producer(p_org_id uuid, p_dataset text) RETURNS jobs.definitions
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def jobs.definitions;
BEGIN
    SELECT * INTO def FROM jobs.current_definitions(p_org_id) d
    WHERE p_dataset = ANY (d.output_datasets) ORDER BY d.name LIMIT 1;
    IF def.id IS NULL THEN
        RAISE EXCEPTION 'no job of this org writes dataset "%"', p_dataset USING ERRCODE = '42704',
            HINT = 'a job declares the datasets it writes in output_datasets';
    END IF;
    RETURN def;
END
$$;

-- One run per partition of [p_from, p_to] of the dataset's producing job: all of them fit the
-- org's queue quota, or none is queued.
CREATE OR REPLACE FUNCTION runs.backfill(p_org_id uuid, p_dataset text, p_from text, p_to text)
RETURNS TABLE (backfill_id uuid, runs integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def jobs.definitions;
    part record;
    id uuid := gen_random_uuid();
    queued integer := 0;
BEGIN
    IF NOT core.caller_may_write(p_org_id) THEN
        RAISE EXCEPTION 'you may not run jobs in this org' USING ERRCODE = '42501';
    END IF;
    def := jobs.producer(p_org_id, p_dataset);
    PERFORM runs.check_queue_quota(p_org_id, (
        SELECT count(*)::integer FROM catalog.partition_keys(def.spec -> 'partitions', p_from, p_to)));
    FOR part IN SELECT * FROM catalog.partition_keys(def.spec -> 'partitions', p_from, p_to) LOOP
        PERFORM runs.enqueue(p_org_id, def.name,
            jsonb_build_object('partition', part.key, 'from', part.lo, 'to', part.hi),
            jsonb_build_object('kind', 'backfill', 'backfill', id, 'dataset', p_dataset),
            '[]'::jsonb, format('backfill:%s:%s', id, part.key));
        queued := queued + 1;
    END LOOP;
    PERFORM audit.record(p_org_id, 'asset.backfill', p_dataset,
                         jsonb_build_object('from', p_from, 'to', p_to, 'runs', queued));
    RETURN QUERY SELECT id, queued;
END
$$;

-- Every partition of a range with its current version (latest), files, and its latest run's
-- status. Missing partitions have no version; the caller checks the files still exist.
CREATE OR REPLACE FUNCTION catalog.partitions(p_org_id uuid, p_dataset text, p_from text, p_to text)
RETURNS TABLE (key text, version integer, uris text[], run_status text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH producer AS (
        SELECT (jobs.producer(p_org_id, p_dataset)).*
    ), latest_runs AS (
        SELECT DISTINCT ON (r.params ->> 'partition') r.params ->> 'partition' AS key, r.status
        FROM runs.runs r, producer
        WHERE r.org_id = p_org_id AND r.job_name = producer.name
          AND r.params ? 'partition'
        ORDER BY r.params ->> 'partition', r.created_at DESC
    ), latest_versions AS (
        SELECT DISTINCT ON (av.partition) av.partition AS key, av.version, av.uris
        FROM catalog.asset_versions av
        JOIN catalog.datasets d ON d.org_id = av.org_id AND d.id = av.dataset_id
        WHERE av.org_id = p_org_id AND d.name = p_dataset AND av.superseded_at IS NULL
        ORDER BY av.partition, av.version DESC
    )
    SELECT k.key, v.version, v.uris, lr.status
    FROM producer,
         catalog.partition_keys(producer.spec -> 'partitions', p_from, p_to)
             WITH ORDINALITY AS k (key, lo, hi, n)
    LEFT JOIN latest_versions v ON v.key = k.key
    LEFT JOIN latest_runs lr ON lr.key = k.key
    ORDER BY k.n
$$;

GRANT EXECUTE ON FUNCTION
    catalog.partition_keys(jsonb, text, text),
    jobs.producer(uuid, text),
    runs.backfill(uuid, text, text, text),
    catalog.partitions(uuid, text, text, text)
TO chainlake_users;
