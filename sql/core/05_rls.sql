-- The two standard row-level security patterns, written once. rls_policies/*.sql call these for
-- ordinary tenant tables; identity and admin tables spell their policies out by hand.
-- Every predicate wraps the context function in a scalar subquery, so it runs once per query
-- (an InitPlan), not once per row.

-- Every tenant table: RLS enabled and forced, and nothing granted until its policies say so;
-- the platform's definer functions (owned by chainlake_definer, sql/core/01_function_owners.sql) read and write it.
CREATE OR REPLACE PROCEDURE core.force_rls(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, chainlake_users, chainlake_authenticated, chainlake_api, chainlake_runner, chainlake_ingest, chainlake_alerts', tbl);
    CALL core.admit_definer(tbl);
END
$$;

-- What people may change of a table they write: every column, column by column. A table-level
-- UPDATE, DELETE or TRUNCATE would also let them LOCK the table in a mode that stops everyone
-- (SECURITY.md #23); so people hold column-level UPDATE only, and delete through stored
-- functions that check the same rule as the table's DELETE policy (kept, as the rule's record).
-- A column added later is writable once its table's rls_policies file is applied again (the
-- migrator re-applies them after any new revision).
CREATE OR REPLACE PROCEDURE core.grant_people_writes(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON %s TO chainlake_users', tbl);
    EXECUTE format('GRANT UPDATE (%s) ON %s TO chainlake_users',
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped),
                   tbl);
END
$$;

-- org data: members (and orgs granted read) read; writers and admins write; rows cannot move
-- to an org the caller may not write.
CREATE OR REPLACE PROCEDURE core.apply_org_data_policies(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
    writable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    CALL core.grant_people_writes(tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
    EXECUTE format('DROP POLICY IF EXISTS "writers add rows to their orgs" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers add rows to their orgs" ON %s FOR INSERT TO chainlake_users WITH CHECK (%s)', tbl, writable);
    EXECUTE format('DROP POLICY IF EXISTS "writers change their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers change their orgs rows" ON %s FOR UPDATE TO chainlake_users USING (%s) WITH CHECK (%s)', tbl, writable, writable);
    EXECUTE format('DROP POLICY IF EXISTS "writers delete their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "writers delete their orgs rows" ON %s FOR DELETE TO chainlake_users USING (%s)', tbl, writable);
END
$$;

-- user-private rows (owner_id, visibility): the owner sees and changes their own rows; rows
-- shared with the org ('org' visibility) are seen by its members; anyone in the org may keep
-- private rows, only writers share them; admins may delete shared rows.
CREATE OR REPLACE PROCEDURE core.apply_user_private_policies(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    member constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''member''))::uuid[])';
    mine constant text := 'owner_id = (SELECT core.caller_user_id())';
    shares_ok constant text := '(visibility = ''private'' OR org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[]))';
    admin_shared constant text := '(visibility = ''org'' AND org_id = ANY ((SELECT core.caller_org_ids(''admin''))::uuid[]))';
BEGIN
    CALL core.force_rls(tbl);
    CALL core.grant_people_writes(tbl);
    EXECUTE format('DROP POLICY IF EXISTS "owners and their org read shared rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners and their org read shared rows" ON %s FOR SELECT TO chainlake_users USING (%s AND (visibility = ''org'' OR %s))', tbl, member, mine);
    EXECUTE format('DROP POLICY IF EXISTS "members add their own rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members add their own rows" ON %s FOR INSERT TO chainlake_users WITH CHECK (%s AND %s AND %s)', tbl, member, mine, shares_ok);
    EXECUTE format('DROP POLICY IF EXISTS "owners change their own rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners change their own rows" ON %s FOR UPDATE TO chainlake_users USING (%s AND %s) WITH CHECK (%s AND %s AND %s)', tbl, member, mine, member, mine, shares_ok);
    EXECUTE format('DROP POLICY IF EXISTS "owners or admins delete rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "owners or admins delete rows" ON %s FOR DELETE TO chainlake_users USING (%s AND (%s OR %s))', tbl, member, mine, admin_shared);
END
$$;

-- platform-written org data (runs, attempts, logs, dead letters): members (and orgs granted
-- read) read; only the runners write, acting for one org at a time; people change these rows
-- only through the run-lifecycle functions.
CREATE OR REPLACE PROCEDURE core.apply_org_platform_policies(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
    writable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''write''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users', tbl);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO chainlake_runner', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
    EXECUTE format('DROP POLICY IF EXISTS "runners write for the org they act for" ON %s', tbl);
    EXECUTE format('CREATE POLICY "runners write for the org they act for" ON %s FOR ALL TO chainlake_runner USING (%s) WITH CHECK (%s)', tbl, writable, writable);
    -- the standard set, if an earlier version of this table had it
    EXECUTE format('DROP POLICY IF EXISTS "writers add rows to their orgs" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "writers change their orgs rows" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "writers delete their orgs rows" ON %s', tbl);
END
$$;

-- platform-written org data no platform role writes directly either (alert firings and
-- deliveries: only the platform's SECURITY DEFINER functions write them): members (and orgs
-- granted read) read; nobody else does anything.
CREATE OR REPLACE PROCEDURE core.apply_org_readonly_policies(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    readable constant text := 'org_id = ANY ((SELECT core.caller_org_ids(''read''))::uuid[])';
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "members read their orgs rows" ON %s', tbl);
    EXECUTE format('CREATE POLICY "members read their orgs rows" ON %s FOR SELECT TO chainlake_users USING (%s)', tbl, readable);
END
$$;
