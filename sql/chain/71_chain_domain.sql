-- What people read of the chains (chainlake/domain/chain.py): each chain's status, and of its
-- last reorg the datasets it invalidated that the caller may see (SECURITY INVOKER: row-level
-- security keeps other orgs' datasets out; the operator sees every org's).
-- (chain.reorg_invalidated, every org's datasets for the chain role, gave way to it.)
DROP FUNCTION IF EXISTS chain.reorg_invalidated(bigint);
CREATE OR REPLACE FUNCTION chain.status_for_caller() RETURNS SETOF jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_jsonb(s) || jsonb_build_object('last_reorg', CASE WHEN s.last_reorg IS NOT NULL THEN
        s.last_reorg || jsonb_build_object('invalidated', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', i.org, 'dataset', i.dataset,
                                                'partitions', i.partitions)
                             ORDER BY i.org, i.dataset)
            FROM (SELECT o.name AS org, d.name AS dataset, count(*)::integer AS partitions
                  FROM chain.reorgs g
                  JOIN catalog.asset_versions v ON v.superseded_by_event = g.event_id
                  JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id
                  JOIN core.orgs o ON o.id = v.org_id
                  WHERE g.id = (s.last_reorg ->> 'id')::bigint
                  GROUP BY o.name, d.name) i), '[]'))
        END)
    FROM chain.status() s
$$;
GRANT EXECUTE ON FUNCTION chain.status_for_caller() TO chainlake_ingest, chainlake_users;
