-- Operator functions: create orgs and users, manage memberships and cross-org grants.
-- Executable only by the operator's admin connection (EXECUTE is not granted to any other role).
-- Each validates its input and raises a message written for the user (SQLSTATE 22023 invalid
-- input, 42704 unknown object, 23505 duplicate); each runs in one transaction, so a refused
-- call leaves nothing half-created.

CREATE OR REPLACE FUNCTION core.org_by_name(p_name text) RETURNS core.orgs
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    match core.orgs;
BEGIN
    SELECT * INTO match FROM core.orgs WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown org "%"', p_name USING ERRCODE = '42704',
            HINT = 'list orgs with `chainlake org list`; create one with `chainlake org create NAME`';
    END IF;
    RETURN match;
END
$$;

CREATE OR REPLACE FUNCTION core.user_by_email(p_email text) RETURNS core.users
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    match core.users;
BEGIN
    SELECT * INTO match FROM core.users WHERE email = lower(trim(p_email));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown user "%"', p_email USING ERRCODE = '42704',
            HINT = 'list users with `chainlake user list`';
    END IF;
    RETURN match;
END
$$;

CREATE OR REPLACE FUNCTION core.check_member_role(p_role text) RETURNS core.member_role
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_role IS NULL OR p_role NOT IN ('reader', 'writer', 'admin') THEN
        RAISE EXCEPTION 'unknown role "%": use reader, writer or admin', coalesce(p_role, '')
            USING ERRCODE = '22023';
    END IF;
    RETURN p_role::core.member_role;
END
$$;

CREATE OR REPLACE FUNCTION core.create_org(p_name text, p_display_name text DEFAULT NULL)
RETURNS core.orgs
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    created core.orgs;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid org name "%": use up to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
            coalesce(p_name, '') USING ERRCODE = '22023';
    END IF;
    INSERT INTO core.orgs (name, display_name) VALUES (p_name, p_display_name)
    ON CONFLICT (name) DO NOTHING
    RETURNING * INTO created;
    IF created.id IS NULL THEN
        RAISE EXCEPTION 'org "%" already exists', p_name USING ERRCODE = '23505';
    END IF;
    INSERT INTO core.quotas (org_id) VALUES (created.id);
    PERFORM audit.record(created.id, 'org.create', p_name);
    RETURN created;
END
$$;

-- Adds an existing user to an org with a role.
CREATE OR REPLACE FUNCTION core.add_member(p_email text, p_org text, p_role text)
RETURNS core.memberships
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role core.member_role := core.check_member_role(p_role);
    v_user core.users := core.user_by_email(p_email);
    v_org core.orgs := core.org_by_name(p_org);
    created core.memberships;
BEGIN
    INSERT INTO core.memberships (org_id, user_id, role) VALUES (v_org.id, v_user.id, v_role)
    ON CONFLICT (org_id, user_id) DO NOTHING
    RETURNING * INTO created;
    IF created.org_id IS NULL THEN
        RAISE EXCEPTION 'user "%" is already a member of org "%"', v_user.email, p_org
            USING ERRCODE = '23505';
    END IF;
    RETURN created;
END
$$;

-- A fresh name for a user's login role: random, so that pg_roles (readable by every role) tells
-- nobody a user's id.
CREATE OR REPLACE FUNCTION core.new_login_role_name() RETURNS name
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ('clu_' || replace(gen_random_uuid()::text, '-', ''))::name
$$;

-- Creates a user, their login role for direct SQL (member of chainlake_users only), and their
-- first membership. (Membership and grant changes are audited by triggers: sql/core/40_stamps_and_audit_triggers.sql.)
CREATE OR REPLACE FUNCTION core.create_user(p_email text, p_org text, p_role text)
RETURNS core.users
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_email text := lower(trim(coalesce(p_email, '')));
    v_role core.member_role := core.check_member_role(p_role);
    v_org core.orgs := core.org_by_name(p_org);
    v_id uuid := gen_random_uuid();
    v_db_role name := core.new_login_role_name();
    created core.users;
BEGIN
    IF v_email !~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' THEN
        RAISE EXCEPTION 'malformed email "%": expected name@domain.tld', coalesce(p_email, '')
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM core.users WHERE email = v_email) THEN
        RAISE EXCEPTION 'user "%" already exists', v_email USING ERRCODE = '23505',
            HINT = 'to add them to another org: `chainlake user add EMAIL --org ORG --role ROLE`';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN INHERIT IN ROLE chainlake_users', v_db_role);
    INSERT INTO core.users (id, email, db_role) VALUES (v_id, v_email, v_db_role)
    RETURNING * INTO created;
    INSERT INTO core.memberships (org_id, user_id, role) VALUES (v_org.id, v_id, v_role);
    PERFORM audit.record(v_org.id, 'user.create', v_email, jsonb_build_object('role', v_role));
    RETURN created;
END
$$;

-- Org-wide read access from one org to another.
CREATE OR REPLACE FUNCTION core.grant_org_read(p_from text, p_to text) RETURNS core.org_grants
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_from core.orgs := core.org_by_name(p_from);
    v_to core.orgs := core.org_by_name(p_to);
    created core.org_grants;
BEGIN
    IF v_from.id = v_to.id THEN
        RAISE EXCEPTION 'an org cannot grant access to itself' USING ERRCODE = '22023';
    END IF;
    INSERT INTO core.org_grants (org_id, grantee_org_id, privilege) VALUES (v_from.id, v_to.id, 'read')
    ON CONFLICT DO NOTHING
    RETURNING * INTO created;
    IF created.org_id IS NULL THEN
        RAISE EXCEPTION 'org "%" already grants read access to org "%"', p_from, p_to
            USING ERRCODE = '23505';
    END IF;
    RETURN created;
END
$$;

-- Take back an org-wide grant: the operator, or an admin of the granting org. SECURITY DEFINER
-- because people hold no DELETE privilege (it would also let them LOCK the table); the check
-- is the table's DELETE policy's ("admins revoke their grants").
CREATE OR REPLACE FUNCTION core.revoke_org_read(p_from text, p_to text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM core.org_grants g USING core.orgs f, core.orgs t
    WHERE f.name = p_from AND t.name = p_to AND g.org_id = f.id AND g.grantee_org_id = t.id
      AND (core.caller_is_operator() OR g.org_id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'org "%" grants no access to org "%" that you may revoke', p_from, p_to
            USING ERRCODE = '42704';
    END IF;
END
$$;

-- Remove a member from an org: the operator, or an admin of the org (the DELETE policy's
-- rule, "admins remove members"; SECURITY DEFINER for the reason above).
CREATE OR REPLACE FUNCTION core.remove_member(p_email text, p_org text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM core.memberships m USING core.users u, core.orgs o
    WHERE u.email = lower(trim(p_email)) AND o.name = p_org
      AND m.user_id = u.id AND m.org_id = o.id
      AND (core.caller_is_operator() OR m.org_id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no member "%" in org "%" that you may remove', p_email, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION core.revoke_org_read(text, text), core.remove_member(text, text)
    TO chainlake_users;

-- Rename an org (its display name): the operator, or an admin of the org (the UPDATE policy's
-- rule, "admins rename their orgs"). A function rather than an UPDATE privilege on core.orgs:
-- whoever may update a table may lock its rows FOR UPDATE, and every tenant row's foreign key
-- check waits for a lock on its org's row, in ingest's batch and on the API's pooled
-- connections too (SECURITY.md item 23).
CREATE OR REPLACE FUNCTION core.rename_org(p_org text, p_display_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE core.orgs SET display_name = p_display_name
    WHERE name = p_org AND (core.caller_is_operator() OR id = ANY (core.caller_org_ids('admin')));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no org "%" that you may rename', p_org USING ERRCODE = '42501',
            HINT = 'an admin of the org renames it';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION core.rename_org(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.rename_org(text, text) TO chainlake_users;

-- Sets a login role's password, optionally valid only for a while (`chainlake psql --as` on a
-- server reached over TCP uses a fresh two-minute password each time). Only platform roles and
-- users' own login roles may be given one.
CREATE OR REPLACE FUNCTION core.set_login_password(
    p_role name, p_password text, p_valid_for interval DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_role NOT IN ('chainlake_api', 'chainlake_runner', 'chainlake_ingest', 'chainlake_alerts')
       AND NOT EXISTS (SELECT 1 FROM core.users WHERE db_role = p_role) THEN
        RAISE EXCEPTION 'role "%" is neither a platform role nor a user''s login role', p_role
            USING ERRCODE = '42704';
    END IF;
    IF p_valid_for IS NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L VALID UNTIL ''infinity''', p_role, p_password);
    ELSE
        EXECUTE format('ALTER ROLE %I PASSWORD %L VALID UNTIL %L', p_role, p_password,
                       now() + p_valid_for);
    END IF;
END
$$;

-- An org the caller belongs to, by name, or a clear error (for functions that take an org name).
CREATE OR REPLACE FUNCTION core.member_org(p_org text) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found uuid;
BEGIN
    SELECT id INTO found FROM core.orgs
    WHERE name = p_org AND id = ANY (core.caller_org_ids('member'));
    IF found IS NULL THEN
        RAISE EXCEPTION 'unknown org "%"', p_org USING ERRCODE = '42704',
            HINT = 'name an org you belong to';
    END IF;
    RETURN found;
END
$$;
GRANT EXECUTE ON FUNCTION core.member_org(text) TO chainlake_users;

-- An org the caller may write (writer or admin), by name, or a clear error.
CREATE OR REPLACE FUNCTION core.writable_org(p_org text, p_what text) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := core.member_org(p_org);
BEGIN
    IF NOT org = ANY (core.caller_org_ids('write')) THEN
        RAISE EXCEPTION 'only writers and admins of org "%" %', p_org, p_what
            USING ERRCODE = '42501';
    END IF;
    RETURN org;
END
$$;
GRANT EXECUTE ON FUNCTION core.writable_org(text, text) TO chainlake_users;

-- Login roles named after their user's id (clu_<id>, as every one was named before) are renamed
-- at this file's next apply: the user keeps the role, its memberships and its password, under a
-- name that reveals nothing.
DO $rename$
DECLARE
    legacy record;
    fresh name;
BEGIN
    FOR legacy IN
        SELECT u.id, u.db_role FROM core.users u
        WHERE u.db_role = 'clu_' || replace(u.id::text, '-', '')
          AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = u.db_role)
    LOOP
        fresh := core.new_login_role_name();
        EXECUTE format('ALTER ROLE %I RENAME TO %I', legacy.db_role, fresh);
        UPDATE core.users SET db_role = fresh WHERE id = legacy.id;
    END LOOP;
END
$rename$;
