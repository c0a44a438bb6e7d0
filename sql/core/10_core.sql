-- core: who is calling, and which orgs they may read, write or administer.
--
-- Identity reaches Postgres one of two ways:
--   * a user's own login role (direct SQL): the user whose core.users.db_role = session_user;
--   * the API's path: session_user is chainlake_api, the request ran SET LOCAL ROLE
--     chainlake_authenticated and put verified JWT claims in request.jwt.claims.
-- Any role can set a custom GUC, so claims are read only on a platform role's own session; on a
-- user's login role they are ignored. Identity follows session_user, which SET ROLE cannot change.
-- Revocable facts (membership, role, grants, a disabled user) are read from tables, never from
-- the claims. Nothing here raises on bad context: junk claims mean "nobody".

CREATE OR REPLACE FUNCTION core.try_uuid(value text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN value::uuid
    END
$$;

CREATE OR REPLACE FUNCTION core.try_int(value text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN value ~ '^[0-9]{1,9}$' THEN value::integer END
$$;

CREATE OR REPLACE FUNCTION core.request_claims() RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    raw text;
    parsed jsonb;
BEGIN
    IF session_user::text NOT IN ('chainlake_api', 'chainlake_runner') THEN
        RETURN NULL;
    END IF;
    raw := current_setting('request.jwt.claims', true);
    IF raw IS NULL OR raw = '' THEN
        RETURN NULL;
    END IF;
    BEGIN
        parsed := raw::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(parsed) <> 'object' THEN
        RETURN NULL;
    END IF;
    RETURN parsed;
END
$$;

-- plpgsql, not sql: its statements' plans are cached per session, where a sql function's body
-- is planned again on every call, and this runs once per statement under RLS.
CREATE OR REPLACE FUNCTION core.caller_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found uuid;
BEGIN
    IF session_user = 'chainlake_api' THEN
        SELECT u.id INTO found FROM core.users u
        WHERE u.id = core.try_uuid(core.request_claims() ->> 'sub') AND u.disabled_at IS NULL;
    ELSIF session_user::text <> 'chainlake_runner' THEN
        SELECT u.id INTO found FROM core.users u
        WHERE u.db_role = session_user AND u.disabled_at IS NULL;
    END IF;
    RETURN found;
END
$$;

-- The org a runner acts for in this transaction (NULL off the runner's own session).
CREATE OR REPLACE FUNCTION core.runner_org_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT core.try_uuid(c ->> 'org_id')
    FROM (SELECT core.request_claims() AS c) claims
    WHERE session_user = 'chainlake_runner' AND c ->> 'platform' = 'runner'
$$;

-- The role a membership of org p_org acts with under a token's org roles (OIDC claims mapped by
-- the API's configuration: `org_roles` = {org id or "*": role}; NULL: not narrowed): the lower
-- of the two, or NULL when the token does not name the org. A token can narrow what a membership allows, never widen
-- it: memberships stay the revocable fact, read from the table.
DROP FUNCTION IF EXISTS core.narrow_role(core.member_role, text);
CREATE OR REPLACE FUNCTION core.narrow_role(p_role core.member_role, p_scope jsonb, p_org uuid)
RETURNS core.member_role
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_scope IS NULL THEN p_role
                WHEN named IN ('reader', 'writer', 'admin') THEN least(p_role, named::core.member_role)
           END
    FROM (SELECT coalesce(p_scope ->> p_org::text, p_scope ->> '*') AS named) token
$$;

-- The org roles a request's token narrows the caller to (NULL: not narrowed). Claims count only
-- on the API's own session, as everywhere (core.request_claims).
CREATE OR REPLACE FUNCTION core.token_org_roles() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(c -> 'org_roles') = 'object' THEN c -> 'org_roles'
                WHEN c ? 'org_roles' THEN '{}'::jsonb END
    FROM (SELECT core.request_claims() AS c) claims
    WHERE session_user = 'chainlake_api'
$$;

-- THE answer to "which orgs may the caller <access>": member (any role), read (members and
-- orgs that granted the caller's orgs read access), write (writer or admin), admin. Roles are
-- narrowed by the token's org roles, if it has any.
CREATE OR REPLACE FUNCTION core.caller_org_ids(access core.access) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    runner_org uuid;
    caller uuid;
    scope jsonb;
    result uuid[];
BEGIN
    IF session_user = 'chainlake_runner' THEN
        runner_org := core.runner_org_id();
    ELSE
        caller := core.caller_user_id();
        scope := core.token_org_roles();
    END IF;
    IF runner_org IS NULL AND caller IS NULL THEN
        RETURN '{}';
    END IF;
    WITH mine AS (
        SELECT m.org_id, core.narrow_role(m.role, scope, m.org_id) AS role
        FROM core.memberships m WHERE m.user_id = caller
        UNION ALL
        SELECT runner_org, 'writer'::core.member_role WHERE runner_org IS NOT NULL
    ), allowed AS (
        SELECT org_id FROM mine
        WHERE role IS NOT NULL AND CASE access
            WHEN 'member' THEN true
            WHEN 'read' THEN true
            WHEN 'write' THEN role IN ('writer', 'admin')
            WHEN 'admin' THEN role = 'admin'
        END
        UNION
        SELECT g.org_id FROM core.org_grants g
        JOIN mine ON g.grantee_org_id = mine.org_id AND mine.role IS NOT NULL
        WHERE access = 'read' AND g.privilege = 'read'
    )
    SELECT coalesce(array_agg(org_id ORDER BY org_id), '{}') INTO result FROM allowed;
    RETURN result;
END
$$;

-- Global data (chain tables) is readable by every authenticated user and by the runners.
CREATE OR REPLACE FUNCTION core.caller_may_read_global() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT session_user = 'chainlake_runner' OR core.caller_user_id() IS NOT NULL
$$;

-- Who am I? One row per membership, with the role this request acts with (a token's org roles
-- narrow it; a membership the token does not name is left out). A user with no membership gets
-- one row with NULL org.
CREATE OR REPLACE FUNCTION core.whoami()
RETURNS TABLE (user_id uuid, email text, org text, role core.member_role)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller uuid := core.caller_user_id();
    scope jsonb := core.token_org_roles();
BEGIN
    RETURN QUERY
    WITH acting AS (
        SELECT m.org_id, core.narrow_role(m.role, scope, m.org_id) AS role
        FROM core.memberships m
        WHERE m.user_id = caller
    )
    SELECT u.id, u.email, o.name, a.role
    FROM core.users u
    LEFT JOIN acting a ON a.role IS NOT NULL
    LEFT JOIN core.orgs o ON o.id = a.org_id
    WHERE u.id = caller
    ORDER BY o.name;
END
$$;

GRANT USAGE ON SCHEMA core TO chainlake_users, chainlake_api;
GRANT EXECUTE ON FUNCTION
    core.try_uuid(text),
    core.try_int(text),
    core.request_claims(),
    core.caller_user_id(),
    core.runner_org_id(),
    core.caller_org_ids(core.access),
    core.caller_may_read_global(),
    core.narrow_role(core.member_role, jsonb, uuid),
    core.token_org_roles(),
    core.whoami()
TO chainlake_users, chainlake_api;
