-- audit: append-only events. Written only through audit.record (and by the operator's functions).

CREATE OR REPLACE FUNCTION audit.record(
    p_org_id uuid, p_action text, p_target text DEFAULT '', p_detail jsonb DEFAULT '{}'
) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
    INSERT INTO audit.events (org_id, actor_user_id, actor_db_role, action, target, detail)
    VALUES (p_org_id, core.caller_user_id(), session_user, p_action, coalesce(p_target, ''),
            coalesce(p_detail, '{}'))
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
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
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
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
