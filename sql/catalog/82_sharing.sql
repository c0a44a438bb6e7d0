-- Sharing one object with another org: a dataset (by an admin of its org) or a saved query (by
-- its owner, a writer of its org), read-only, listed and revocable. RLS on the shared tables
-- reads catalog.granted_object_ids, so a revocation takes effect on the caller's next statement.

-- The ids of the objects of one kind granted to any org the caller belongs to.
CREATE OR REPLACE FUNCTION catalog.granted_object_ids(p_kind text) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result uuid[];
BEGIN
    SELECT coalesce(array_agg(g.object_id), '{}') INTO result
    FROM catalog.object_grants g
    WHERE g.object_kind = p_kind AND g.grantee_org_id = ANY (core.caller_org_ids('member'));
    RETURN result;
END
$$;

-- The orgs that granted the caller's orgs an object: their names are visible to the grantee.
CREATE OR REPLACE FUNCTION catalog.granting_org_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result uuid[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT g.org_id), '{}') INTO result
    FROM catalog.object_grants g
    WHERE g.grantee_org_id = ANY (core.caller_org_ids('member'));
    RETURN result;
END
$$;

-- May the caller share (or stop sharing) this object of this org? A dataset: an admin of its
-- org. A saved query: its owner, as a writer of its org. The policies on catalog.object_grants
-- call this, so direct SQL obeys the same rule as the functions below.
CREATE OR REPLACE FUNCTION catalog.may_grant(p_kind text, p_object_id uuid, p_org_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_kind = 'dataset' THEN
        RETURN p_org_id = ANY (core.caller_org_ids('admin'))
           AND EXISTS (SELECT 1 FROM catalog.datasets d
                       WHERE d.id = p_object_id AND d.org_id = p_org_id);
    ELSIF p_kind = 'saved_query' THEN
        RETURN p_org_id = ANY (core.caller_org_ids('write'))
           AND EXISTS (SELECT 1 FROM catalog.saved_queries q
                       WHERE q.id = p_object_id AND q.org_id = p_org_id
                         AND q.owner_id = core.caller_user_id());
    END IF;
    RETURN false;
END
$$;

-- Any org's id by name, for naming a grantee (an org the caller cannot otherwise see). Only the
-- sharing functions below call it (as their owner): no user may, so that nobody learns another
-- org's id from its name (the id keys its storage paths and its webhooks).
CREATE OR REPLACE FUNCTION catalog.grantee_org_id(p_name text) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs WHERE name = p_name;
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'name the org to share with exactly as it is spelled';
    END IF;
    RETURN found;
END
$$;

-- The grantee org's name of a grant the caller may see (its grantor's admins, its author, the
-- grantee's members): users read names, never the grantee's id (not a column they may select).
CREATE OR REPLACE FUNCTION catalog.grant_grantee(p_grant uuid) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found text;
BEGIN
    SELECT o.name INTO found
    FROM catalog.object_grants g JOIN core.orgs o ON o.id = g.grantee_org_id
    WHERE g.id = p_grant
      AND (g.org_id = ANY (core.caller_org_ids('admin')) OR g.created_by = core.caller_user_id()
           OR g.grantee_org_id = ANY (core.caller_org_ids('member')));
    RETURN found;
END
$$;

-- The object a grant names: (its org, its id), or a clear error.
CREATE OR REPLACE FUNCTION catalog.shareable_object(p_kind text, p_org text, p_name text,
                                                    OUT org_id uuid, OUT object_id uuid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_kind = 'dataset' THEN
        SELECT d.org_id, d.id INTO org_id, object_id
        FROM catalog.datasets d JOIN core.orgs o ON o.id = d.org_id
        WHERE o.name = p_org AND d.name = p_name AND d.org_id = ANY (core.caller_org_ids('member'));
        IF object_id IS NULL THEN
            RAISE EXCEPTION 'org "%" has no dataset "%" that you can see', p_org, p_name
                USING ERRCODE = '42704', HINT = 'list datasets with `chainlake dataset list`';
        END IF;
    ELSIF p_kind = 'saved_query' THEN
        SELECT q.org_id, q.id INTO org_id, object_id
        FROM catalog.saved_queries q JOIN core.orgs o ON o.id = q.org_id
        WHERE o.name = p_org AND q.name = p_name AND q.owner_id = core.caller_user_id();
        IF object_id IS NULL THEN
            RAISE EXCEPTION 'you have no saved query "%" in org "%"', p_name, p_org
                USING ERRCODE = '42704', HINT = 'only the owner of a saved query may share it';
        END IF;
    ELSE
        RAISE EXCEPTION 'cannot share a "%"', p_kind USING ERRCODE = '22023',
            HINT = 'share a dataset or a saved_query';
    END IF;
END
$$;

-- Share an object with an org named by the caller; the answer names, never ids. SECURITY
-- DEFINER so that the grantee's id stays inside (catalog.grantee_org_id); every rule the
-- policies on catalog.object_grants hold is checked here explicitly.
DROP FUNCTION IF EXISTS catalog.grant_read(text, text, text, text);  -- it returned the row
CREATE FUNCTION catalog.grant_read(p_kind text, p_org text, p_name text, p_to_org text)
RETURNS TABLE (kind text, org text, name text, grantee text, created_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target record;
    grantee uuid := catalog.grantee_org_id(p_to_org);
    created catalog.object_grants;
BEGIN
    SELECT * INTO target FROM catalog.shareable_object(p_kind, p_org, p_name);
    IF grantee = target.org_id THEN
        RAISE EXCEPTION 'org "%" already reads its own % "%"', p_to_org, p_kind, p_name
            USING ERRCODE = '22023', HINT = 'share with another org';
    END IF;
    IF NOT catalog.may_grant(p_kind, target.object_id, target.org_id) THEN
        RAISE EXCEPTION 'you may not share % "%" of org "%"', p_kind, p_name, p_org
            USING ERRCODE = '42501',
            HINT = CASE p_kind WHEN 'dataset' THEN 'an admin of the org shares its datasets'
                   ELSE 'the owner shares a saved query, as a writer of its org' END;
    END IF;
    INSERT INTO catalog.object_grants (org_id, object_kind, object_id, grantee_org_id)
    VALUES (target.org_id, p_kind, target.object_id, grantee)
    ON CONFLICT (object_kind, object_id, grantee_org_id) DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN
        RAISE EXCEPTION '% "%" of org "%" is already shared with org "%"', p_kind, p_name, p_org,
            p_to_org USING ERRCODE = '23505';
    END IF;
    RETURN QUERY SELECT p_kind, p_org, p_name, p_to_org, created.created_at;
END
$$;

-- Stop sharing. SECURITY DEFINER like grant_read (people hold no DELETE privilege, which would
-- also let them LOCK the table); the check is the table's DELETE policy's: the object's org's
-- admins and the sharer may, the grantee's admins may not.
CREATE OR REPLACE FUNCTION catalog.revoke_read(p_kind text, p_org text, p_name text,
                                               p_from_org text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target record;
    grantee uuid := catalog.grantee_org_id(p_from_org);
BEGIN
    SELECT * INTO target FROM catalog.shareable_object(p_kind, p_org, p_name);
    DELETE FROM catalog.object_grants g
    WHERE g.object_kind = p_kind AND g.object_id = target.object_id
      AND g.grantee_org_id = grantee
      AND (g.org_id = ANY (core.caller_org_ids('admin'))
           OR catalog.may_grant(g.object_kind, g.object_id, g.org_id));
    IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" of org "%" is not shared with org "%" (or you may not revoke it)',
            p_kind, p_name, p_org, p_from_org USING ERRCODE = '42704';
    END IF;
END
$$;

-- Grants the caller gave or received, a page at a time.
CREATE OR REPLACE FUNCTION catalog.list_grants(p_after text, p_limit integer)
RETURNS TABLE (kind text, org text, name text, grantee text, granted_by text,
               created_at timestamptz, cursor text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT g.object_kind, o.name, coalesce(d.name, q.name), catalog.grant_grantee(g.id),
           u.email, g.created_at, g.created_at::text || '/' || g.id
    FROM catalog.object_grants g
    JOIN core.orgs o ON o.id = g.org_id
    LEFT JOIN catalog.datasets d ON g.object_kind = 'dataset' AND d.id = g.object_id
    LEFT JOIN catalog.saved_queries q ON g.object_kind = 'saved_query' AND q.id = g.object_id
    LEFT JOIN core.users u ON u.id = g.created_by
    WHERE p_after IS NULL OR (g.created_at::text || '/' || g.id) > p_after
    ORDER BY g.created_at::text || '/' || g.id
    LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- Deleting a shared object deletes its grants (they name it by id, not by a foreign key).
CREATE OR REPLACE FUNCTION catalog.drop_object_grants() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM catalog.object_grants g
    WHERE g.object_kind = TG_ARGV[0] AND g.object_id = OLD.id;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER datasets_drop_grants AFTER DELETE ON catalog.datasets
    FOR EACH ROW EXECUTE FUNCTION catalog.drop_object_grants('dataset');
CREATE OR REPLACE TRIGGER saved_queries_drop_grants AFTER DELETE ON catalog.saved_queries
    FOR EACH ROW EXECUTE FUNCTION catalog.drop_object_grants('saved_query');

CREATE OR REPLACE TRIGGER object_grants_stamp_creator BEFORE INSERT OR UPDATE
    ON catalog.object_grants FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');
CREATE OR REPLACE TRIGGER object_grants_audited AFTER INSERT OR UPDATE OR DELETE
    ON catalog.object_grants FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();

GRANT EXECUTE ON FUNCTION
    catalog.granted_object_ids(text),
    catalog.granting_org_ids(),
    catalog.may_grant(text, uuid, uuid),
    catalog.grant_grantee(uuid),
    catalog.shareable_object(text, text, text),
    catalog.grant_read(text, text, text, text),
    catalog.revoke_read(text, text, text, text),
    catalog.list_grants(text, integer)
TO chainlake_users;
REVOKE EXECUTE ON FUNCTION catalog.grantee_org_id(text) FROM chainlake_users;
DROP FUNCTION IF EXISTS catalog.grantee_name(uuid);  -- took an org id: grant_grantee takes a grant
