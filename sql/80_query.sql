-- The query service's view of the catalog: each dataset the caller may read (RLS decides: its
-- own orgs' and those granted to them), with the files of its current content: the newest
-- version of each partition (a partitioned dataset is the union of its partitions).
CREATE OR REPLACE FUNCTION catalog.queryable_datasets()
RETURNS TABLE (org_name text, dataset text, version integer, uris text[], row_count bigint)
LANGUAGE sql STABLE SET search_path = '' AS $$
    WITH latest AS (
        SELECT DISTINCT ON (d.id, av.partition)
               o.name AS org_name, d.name AS dataset, d.id, av.version, av.uris, av.row_count
        FROM catalog.datasets d
        JOIN core.orgs o ON o.id = d.org_id
        JOIN catalog.asset_versions av ON av.org_id = d.org_id AND av.dataset_id = d.id
        WHERE cardinality(av.uris) > 0
        ORDER BY d.id, av.partition, av.version DESC
    )
    SELECT l.org_name, l.dataset, max(l.version),
           (SELECT array_agg(u ORDER BY u) FROM latest l2 CROSS JOIN LATERAL unnest(l2.uris) u
            WHERE l2.id = l.id),
           sum(l.row_count)::bigint
    FROM latest l
    GROUP BY l.org_name, l.dataset, l.id
    ORDER BY l.org_name, l.dataset
$$;
GRANT EXECUTE ON FUNCTION catalog.queryable_datasets() TO chainlake_users;

-- The API maps an OIDC token to a user by its e-mail claim (issue 8 adds issuer/subject links).
CREATE OR REPLACE FUNCTION core.user_for_email(p_email text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT id FROM core.users WHERE email = lower(p_email) AND disabled_at IS NULL
$$;
GRANT EXECUTE ON FUNCTION core.user_for_email(text) TO chainlake_api;

-- Datasets the caller may read, a page at a time (keyset: after the last org and name seen).
CREATE OR REPLACE FUNCTION catalog.list_datasets(p_after text, p_limit integer)
RETURNS TABLE (org text, name text, current_version integer, description text,
               updated_at timestamptz)
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT o.name, d.name, d.current_version, d.description, d.updated_at
    FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE p_after IS NULL OR (o.name || '/' || d.name) > p_after
    ORDER BY o.name || '/' || d.name
    LIMIT least(greatest(p_limit, 1), 1000)
$$;
GRANT EXECUTE ON FUNCTION catalog.list_datasets(text, integer) TO chainlake_users;
