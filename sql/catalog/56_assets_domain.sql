-- What people read of datasets and their versions, one function per operation of the domain
-- layer (chainlake/domain/assets.py, lineage.py). SECURITY INVOKER: row-level security decides
-- what the caller sees; another org's dataset is as unknown as one that does not exist.

-- A dataset of an org the caller can see, by names (42704 when it is not one).
CREATE OR REPLACE FUNCTION catalog.dataset_named(p_org text, p_dataset text)
RETURNS catalog.datasets
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    match catalog.datasets;
BEGIN
    SELECT d.* INTO match FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE o.name = p_org AND d.name = p_dataset;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown dataset "%" in org "%"', p_dataset, p_org USING ERRCODE = '42704',
            HINT = 'list datasets with `chainlake asset list --org ORG`';
    END IF;
    RETURN match;
END
$$;

-- The caller's orgs' datasets with their current version, how many versions they have and how
-- many of those need a rebuild, a page at a time after "org/name" p_after.
CREATE OR REPLACE FUNCTION catalog.list_assets(
    p_org text DEFAULT NULL, p_after text DEFAULT NULL, p_limit integer DEFAULT 1000
) RETURNS TABLE (org text, name text, current_version integer, versions bigint,
                 needs_rebuild bigint, updated_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, d.name, d.current_version,
           (SELECT count(*) FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id),
           (SELECT count(*) FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.needs_rebuild_at IS NOT NULL),
           d.updated_at
    FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE (p_org IS NULL OR o.name = p_org)
      AND (p_after IS NULL OR o.name || '/' || d.name > p_after)
    ORDER BY o.name || '/' || d.name
    LIMIT least(greatest(coalesce(p_limit, 1000), 1), 10000)
$$;

-- Every version of a dataset; a block range's is current until a reorg or a newer version of
-- its range supersedes it (`state` says which), any other's while the dataset points at it.
CREATE OR REPLACE FUNCTION catalog.asset_versions_of(p_org text, p_dataset text)
RETURNS TABLE (version integer, current boolean, partition text, run_id uuid, job_name text,
               job_version text, row_count bigint, bytes bigint, content_hash text,
               schema jsonb, metadata jsonb, created_at timestamptz, duration_ms bigint,
               uris text[], needs_rebuild_at timestamptz, rebuild_reason text, state jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT v.version, CASE WHEN v.blocks IS NULL THEN v.version = d.current_version
                      ELSE v.superseded_at IS NULL END,
           v.partition, v.run_id, r.job_name, r.job_version, v.row_count::bigint,
           v.bytes::bigint, v.content_hash::text, v.schema::jsonb, v.metadata::jsonb,
           v.created_at, v.duration_ms::bigint, v.uris, v.needs_rebuild_at,
           v.rebuild_reason::text, catalog.version_state(v)
    FROM catalog.dataset_named(p_org, p_dataset) d
    JOIN catalog.asset_versions v ON v.org_id = d.org_id AND v.dataset_id = d.id
    LEFT JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
    ORDER BY v.version
$$;

-- One version of a dataset (the current one when p_version and p_partition are NULL; the
-- latest of a partition), with its files and manifest: what preview and verify read.
CREATE OR REPLACE FUNCTION catalog.asset_version(
    p_org text, p_dataset text, p_version integer DEFAULT NULL, p_partition text DEFAULT NULL
) RETURNS TABLE (version integer, partition text, uris text[], manifest jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d catalog.datasets := catalog.dataset_named(p_org, p_dataset);
BEGIN
    RETURN QUERY
    SELECT v.version, nullif(v.partition, ''), v.uris, v.manifest::jsonb
    FROM catalog.asset_versions v
    WHERE v.org_id = d.org_id AND v.dataset_id = d.id
      AND (p_version IS NULL OR v.version = p_version)
      AND (p_partition IS NULL OR v.partition = p_partition)
      AND (p_version IS NOT NULL OR p_partition IS NOT NULL OR v.version = d.current_version)
    ORDER BY v.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'dataset "%" has no such version or partition', p_dataset
            USING ERRCODE = '42704',
            HINT = 'list its versions with `chainlake asset versions DATASET`';
    END IF;
END
$$;

-- Each dataset's staleness, the blocks its current ranges cover, the partitions a reorg
-- superseded (and which wait for their recompute), the versions validation holds back.
CREATE OR REPLACE FUNCTION catalog.asset_status(p_org text) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := runs.org_id(p_org);
BEGIN
    RETURN QUERY
    SELECT to_jsonb(s) || jsonb_build_object(
        'coverage', coalesce((SELECT jsonb_agg(to_jsonb(c))
                              FROM catalog.coverage(org, s.dataset) c), '[]'),
        'superseded', coalesce((SELECT jsonb_agg(to_jsonb(p) - 'dataset')
                                FROM catalog.superseded_partitions(org) p
                                WHERE p.dataset = s.dataset), '[]'),
        'held', coalesce((SELECT jsonb_agg(to_jsonb(h) - 'dataset')
                          FROM catalog.validation_holds(org) h WHERE h.dataset = s.dataset),
                         '[]'))
    FROM catalog.staleness(org) s ORDER BY s.dataset;
END
$$;

GRANT EXECUTE ON FUNCTION
    catalog.dataset_named(text, text),
    catalog.list_assets(text, text, integer),
    catalog.asset_versions_of(text, text),
    catalog.asset_version(text, text, integer, text),
    catalog.asset_status(text)
TO chainlake_users;
