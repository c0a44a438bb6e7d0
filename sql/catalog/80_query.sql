-- The query service's view of the catalog: each dataset the caller may read (RLS decides: its
-- own orgs' and those granted to them), with the files of its current content: every current
-- block range (never a superseded one: sql/catalog/58_supersession.sql), and the newest version of each
-- other partition (a partitioned dataset is the union of its partitions).
CREATE OR REPLACE FUNCTION catalog.queryable_datasets()
RETURNS TABLE (org_name text, dataset text, version integer, uris text[], row_count bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH latest AS (
        SELECT DISTINCT ON (d.id, av.partition, av.chain_id)
               o.name AS org_name, d.name AS dataset, d.id, av.version, av.uris, av.row_count
        FROM catalog.datasets d
        JOIN core.orgs o ON o.id = d.org_id
        JOIN catalog.asset_versions av ON av.org_id = d.org_id AND av.dataset_id = d.id
        WHERE cardinality(av.uris) > 0 AND av.superseded_at IS NULL
        ORDER BY d.id, av.partition, av.chain_id, av.version DESC
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
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT id FROM core.users WHERE email = lower(p_email) AND disabled_at IS NULL
$$;
GRANT EXECUTE ON FUNCTION core.user_for_email(text) TO chainlake_api;

-- Datasets the caller may read, a page at a time (keyset: after the last org and name seen),
-- with how many of their versions are marked for rebuild (PII deleted or redacted: docs/tenancy.md).
DROP FUNCTION IF EXISTS catalog.list_datasets(text, integer);  -- its columns changed
CREATE FUNCTION catalog.list_datasets(p_after text, p_limit integer)
RETURNS TABLE (org text, name text, current_version integer, description text,
               updated_at timestamptz, needs_rebuild integer)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, d.name, d.current_version, d.description, d.updated_at,
           (SELECT count(*)::integer FROM catalog.asset_versions v
            WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.needs_rebuild_at IS NOT NULL)
    FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
    WHERE p_after IS NULL OR (o.name || '/' || d.name) > p_after
    ORDER BY o.name || '/' || d.name
    LIMIT least(greatest(p_limit, 1), 1000)
$$;
GRANT EXECUTE ON FUNCTION catalog.list_datasets(text, integer) TO chainlake_users;

-- Saved queries: the caller's own (any visibility) and those its orgs share ('org'), by RLS.
-- Saving checks nothing about the SQL itself: the query service checks it when it runs, as the
-- caller who runs it.
CREATE OR REPLACE FUNCTION catalog.save_query(
    p_org text, p_name text, p_sql text, p_visibility catalog.visibility,
    p_description text DEFAULT '', p_params jsonb DEFAULT '{}'
) RETURNS catalog.saved_queries
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := (SELECT id FROM core.orgs WHERE name = p_org);
    saved catalog.saved_queries;
BEGIN
    IF org IS NULL OR NOT org = ANY (core.caller_org_ids('member')) THEN
        RAISE EXCEPTION 'unknown org "%"', p_org USING ERRCODE = '42704',
            HINT = 'save a query in an org you belong to';
    END IF;
    IF length(coalesce(p_sql, '')) = 0 THEN
        RAISE EXCEPTION 'a saved query needs its SQL' USING ERRCODE = '22023';
    END IF;
    INSERT INTO catalog.saved_queries AS q (org_id, owner_id, name, sql, visibility, description,
                                            params)
    VALUES (org, core.caller_user_id(), p_name, p_sql, p_visibility, coalesce(p_description, ''),
            coalesce(p_params, '{}'))
    ON CONFLICT (org_id, owner_id, name) DO UPDATE
        SET sql = excluded.sql, visibility = excluded.visibility,
            description = excluded.description, params = excluded.params, updated_at = now()
    RETURNING * INTO saved;
    RETURN saved;
END
$$;

-- A saved query by name: the caller's own first, then one shared with the caller's orgs.
CREATE OR REPLACE FUNCTION catalog.find_query(p_org text, p_name text)
RETURNS SETOF catalog.saved_queries
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT q.* FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
    WHERE o.name = p_org AND q.name = p_name
    ORDER BY (q.owner_id = core.caller_user_id()) DESC, q.updated_at DESC
    LIMIT 1
$$;

CREATE OR REPLACE FUNCTION catalog.list_queries(p_after text, p_limit integer)
RETURNS TABLE (org text, name text, owner text, visibility catalog.visibility,
               description text, params jsonb, sql text, updated_at timestamptz, cursor text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, q.name, u.email, q.visibility, q.description, q.params, q.sql, q.updated_at,
           o.name || '/' || q.name || '/' || q.id
    FROM catalog.saved_queries q
    JOIN core.orgs o ON o.id = q.org_id
    LEFT JOIN core.users u ON u.id = q.owner_id
    WHERE p_after IS NULL OR (o.name || '/' || q.name || '/' || q.id) > p_after
    ORDER BY o.name || '/' || q.name || '/' || q.id
    LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- SECURITY DEFINER: people hold no DELETE privilege (it would also let them LOCK the table);
-- the check is the table's DELETE policy's (its owner, a member of the org).
CREATE OR REPLACE FUNCTION catalog.delete_query(p_org text, p_name text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone integer;
BEGIN
    DELETE FROM catalog.saved_queries q USING core.orgs o
    WHERE o.id = q.org_id AND o.name = p_org AND q.name = p_name
      AND q.owner_id = core.caller_user_id() AND q.org_id = ANY (core.caller_org_ids('member'));
    GET DIAGNOSTICS gone = ROW_COUNT;
    IF gone = 0 THEN
        RAISE EXCEPTION 'you have no saved query "%" in org "%"', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
    RETURN gone;
END
$$;

GRANT EXECUTE ON FUNCTION
    catalog.save_query(text, text, text, catalog.visibility, text, jsonb),
    catalog.find_query(text, text),
    catalog.list_queries(text, integer),
    catalog.delete_query(text, text)
TO chainlake_users;

-- The current definition of every job the caller may see.
CREATE OR REPLACE FUNCTION jobs.current_definitions_visible() RETURNS SETOF jobs.definitions
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT ON (org_id, name) * FROM jobs.definitions ORDER BY org_id, name, applied_at DESC
$$;

-- Catalog search within what the caller may see (RLS): datasets by name, description and tag,
-- their columns by name, jobs by name, description and type, saved queries by name and
-- description. Case-insensitive substring match; best matches (name hits) first.
CREATE OR REPLACE FUNCTION catalog.search(p_term text, p_limit integer DEFAULT 50)
RETURNS TABLE (kind text, org text, name text, matched text, description text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH term AS (SELECT '%' || replace(replace(replace(lower(p_term), '\', '\\'), '%', '\%'),
                                         '_', '\_') || '%' AS pattern),
    hits AS (
        SELECT 'dataset' AS kind, o.name AS org, d.name,
               CASE WHEN lower(d.name) LIKE t.pattern THEN 'name'
                    WHEN lower(d.description) LIKE t.pattern THEN 'description'
                    ELSE 'tag' END AS matched, d.description
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id, term t
        WHERE lower(d.name) LIKE t.pattern OR lower(d.description) LIKE t.pattern
           OR EXISTS (SELECT 1 FROM unnest(d.tags) tag WHERE lower(tag) LIKE t.pattern)
        UNION ALL
        SELECT 'column', o.name, d.name || '.' || (c ->> 'name'), 'column', d.description
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id, term t,
             jsonb_array_elements(CASE WHEN jsonb_typeof(d.schema) = 'array' THEN d.schema
                                       ELSE '[]' END) c
        WHERE lower(c ->> 'name') LIKE t.pattern
        UNION ALL
        SELECT 'job', o.name, j.name,
               CASE WHEN lower(j.name) LIKE t.pattern THEN 'name' ELSE 'description' END,
               coalesce(j.spec ->> 'description', '')
        FROM jobs.current_definitions_visible() j JOIN core.orgs o ON o.id = j.org_id, term t
        WHERE lower(j.name) LIKE t.pattern
           OR lower(coalesce(j.spec ->> 'description', '')) LIKE t.pattern
           OR lower(coalesce(j.spec ->> 'type', '')) LIKE t.pattern
        UNION ALL
        SELECT 'saved_query', q.org, q.name,
               CASE WHEN lower(q.name) LIKE t.pattern THEN 'name' ELSE 'description' END,
               q.description
        FROM catalog.list_queries(NULL, 1000) q, term t
        WHERE lower(q.name) LIKE t.pattern OR lower(q.description) LIKE t.pattern
    )
    SELECT kind, org, name, matched, description FROM hits
    ORDER BY (matched = 'name') DESC, kind, org, name
    LIMIT least(greatest(p_limit, 1), 500)
$$;

GRANT EXECUTE ON FUNCTION catalog.search(text, integer), jobs.current_definitions_visible()
TO chainlake_users;

-- Everything a query session is built from, but the hot rows, in one round trip, as the caller
-- (RLS decides): the org quota for query time and memory (the most generous of the caller's
-- orgs), each chain's watermark and version (its newest chain.events id: ingest, a reorg, an
-- archive and a repair each add one, so an unchanged version means unchanged hot rows), the
-- cold chunk files under the watermarks, the readable datasets and the saved queries. The query
-- service reuses a session only while this answer is unchanged.
-- Saved queries come in the order their views are made: the caller's own, then the rest of the
-- caller's orgs', then those other orgs share with them (`shared`: the query service names
-- these `saved."<org>.<name>"`, so a grant never lands in or shadows the grantee's namespace).
CREATE OR REPLACE FUNCTION catalog.query_context() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    me uuid := core.caller_user_id();
    mine uuid[] := core.caller_org_ids('member');
BEGIN  -- plpgsql: its plan is cached per session (a sql function is planned on every call)
    RETURN jsonb_build_object(
        'limits', (SELECT jsonb_build_object('timeout_ms', max(q.query_timeout_ms),
                                             'memory_mb', max(q.query_memory_mb))
                   FROM core.quotas q),
        'chains', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'chain_id', c.chain_id, 'archived_to', c.archived_to,
                       'version', (SELECT max(e.id) FROM chain.events e
                                   WHERE e.chain_id = c.chain_id)) ORDER BY c.chain_id)
            FROM chain.chains c), '[]'),
        'cold', coalesce((
            SELECT jsonb_agg(k.files ORDER BY k.chain_id, k.from_block)
            FROM chain.chunks k JOIN chain.chains c USING (chain_id)
            WHERE k.to_block <= c.archived_to), '[]'),
        'datasets', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', d.org_name, 'name', d.dataset,
                                                'uris', d.uris) ORDER BY d.n)
            FROM catalog.queryable_datasets() WITH ORDINALITY
                 AS d(org_name, dataset, version, uris, row_count, n)), '[]'),
        'saved', coalesce((
            SELECT jsonb_agg(jsonb_build_object('org', s.org, 'name', s.name, 'sql', s.sql,
                                                'params', s.params, 'shared', s.rank = 2)
                             ORDER BY s.rank, s.org, s.name, s.id)
            FROM (SELECT o.name AS org, q.name, q.sql, q.params, q.id,
                         CASE WHEN q.owner_id = me THEN 0
                              WHEN q.org_id = ANY (mine) THEN 1 ELSE 2 END AS rank
                  FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
                  ORDER BY 6, 1, 2, q.id
                  LIMIT 1000) s), '[]'));
END
$$;
GRANT EXECUTE ON FUNCTION catalog.query_context() TO chainlake_users;
