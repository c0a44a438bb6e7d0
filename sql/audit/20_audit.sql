-- audit: append-only events. Written only through audit.record (and by the operator's functions).

CREATE OR REPLACE FUNCTION audit.record(
    p_org_id uuid, p_action text, p_target text DEFAULT '', p_detail jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO audit.events (org_id, actor_user_id, actor_db_role, action, target, detail)
    VALUES (p_org_id, core.caller_user_id(), session_user, p_action, coalesce(p_target, ''),
            coalesce(p_detail, '{}'))
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only: % is not allowed', TG_OP
        USING ERRCODE = '42501';
END
$$;

CREATE OR REPLACE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE OR REPLACE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

GRANT USAGE ON SCHEMA audit TO chainlake_users, chainlake_api;
-- Platform roles record events (the API for requests, runners for launches); users do not.
GRANT EXECUTE ON FUNCTION audit.record(uuid, text, text, jsonb) TO chainlake_api, chainlake_runner;

-- Data access through the query service (the API's per-request role calls it after a query
-- ran): one `data.query` event in each org whose datasets the SQL named and the caller may
-- read, or one platform-level event (org NULL) when it read chain data only.
CREATE OR REPLACE FUNCTION audit.record_query(p_orgs text[], p_detail jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org record;
    n integer := 0;
BEGIN
    FOR org IN SELECT o.id FROM core.orgs o
               WHERE o.name = ANY (p_orgs)
                 AND (o.id = ANY (core.caller_org_ids('read'))
                      OR o.id = ANY (catalog.granting_org_ids())) LOOP  -- a shared dataset's org
        PERFORM audit.record(org.id, 'data.query', '', p_detail);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        PERFORM audit.record(NULL, 'data.query', '', p_detail);
    END IF;
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION audit.record_query(text[], jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.record_query(text[], jsonb) TO chainlake_authenticated;

-- Audit events the caller may read (RLS: admins their orgs' events; the operator all), newest
-- first, a page at a time: events older than p_before (an event id), optionally of one org and
-- one action. Shared by `chainlake audit list` and GET /v1/audit/events.
CREATE OR REPLACE FUNCTION audit.list_events(
    p_org text, p_action text, p_before bigint, p_limit integer
) RETURNS TABLE (id bigint, at timestamptz, org text, actor text, actor_db_role text,
                 action text, target text, detail jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.id, e.at, o.name, u.email, e.actor_db_role::text, e.action, e.target, e.detail
    FROM audit.events e
    LEFT JOIN core.orgs o ON o.id = e.org_id
    LEFT JOIN core.users u ON u.id = e.actor_user_id
    WHERE (p_org IS NULL OR o.name = p_org)
      AND (p_action IS NULL OR e.action = p_action)
      AND (p_before IS NULL OR e.id < p_before)
    ORDER BY e.id DESC
    LIMIT least(greatest(coalesce(p_limit, 100), 1), 10000)
$$;
GRANT EXECUTE ON FUNCTION audit.list_events(text, text, bigint, integer) TO chainlake_users;
