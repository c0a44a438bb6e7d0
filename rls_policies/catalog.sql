-- catalog: datasets are org data; saved queries are private to their owner unless shared with
-- the org. (Address labels are PII: rls_policies/pii.sql.)
GRANT USAGE ON SCHEMA catalog TO chainlake_users;
CALL core.apply_org_data_policies('catalog.datasets');
CALL core.apply_user_private_policies('catalog.saved_queries');
CALL core.apply_org_platform_policies('catalog.asset_versions');

-- Objects shared with another org (catalog.object_grants): the grantee's members read the
-- dataset (with its versions) or the saved query. Permissive: added to the policies above.
DROP POLICY IF EXISTS "orgs granted a dataset read it" ON catalog.datasets;
CREATE POLICY "orgs granted a dataset read it" ON catalog.datasets
    FOR SELECT TO chainlake_users
    USING (id = ANY ((SELECT catalog.granted_object_ids('dataset'))::uuid[]));
DROP POLICY IF EXISTS "orgs granted a dataset read its versions" ON catalog.asset_versions;
CREATE POLICY "orgs granted a dataset read its versions" ON catalog.asset_versions
    FOR SELECT TO chainlake_users
    USING (dataset_id = ANY ((SELECT catalog.granted_object_ids('dataset'))::uuid[]));
DROP POLICY IF EXISTS "orgs granted a query read it" ON catalog.saved_queries;
CREATE POLICY "orgs granted a query read it" ON catalog.saved_queries
    FOR SELECT TO chainlake_users
    USING (id = ANY ((SELECT catalog.granted_object_ids('saved_query'))::uuid[]));

-- The grants themselves: the grantor org's admins and the grant's author see a grant, and so do
-- the grantee's members; whoever may share an object (catalog.may_grant) grants and revokes it.
CALL core.force_rls('catalog.object_grants');
-- Every column but the grantee's id (a grantor reads the grantee's name: catalog.list_grants);
-- grants are revoked with catalog.revoke_read.
REVOKE SELECT ON catalog.object_grants FROM chainlake_users;
GRANT SELECT (id, org_id, object_kind, object_id, privilege, created_by, created_at)
    ON catalog.object_grants TO chainlake_users;
GRANT INSERT (org_id, object_kind, object_id, grantee_org_id, privilege)
    ON catalog.object_grants TO chainlake_users;
DROP POLICY IF EXISTS "grantors and grantees see grants" ON catalog.object_grants;
CREATE POLICY "grantors and grantees see grants" ON catalog.object_grants
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[])
           OR created_by = (SELECT core.caller_user_id())
           OR grantee_org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));
DROP POLICY IF EXISTS "sharers grant their objects" ON catalog.object_grants;
CREATE POLICY "sharers grant their objects" ON catalog.object_grants
    FOR INSERT TO chainlake_users
    WITH CHECK (catalog.may_grant(object_kind, object_id, org_id));
DROP POLICY IF EXISTS "sharers and admins revoke grants" ON catalog.object_grants;
CREATE POLICY "sharers and admins revoke grants" ON catalog.object_grants
    FOR DELETE TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[])
           OR catalog.may_grant(object_kind, object_id, org_id));

-- What each query through the query service cost (issue 22, cost per org): written only by
-- catalog.record_query_usage; members read their orgs' rows.
CALL core.force_rls('catalog.query_usage');
GRANT SELECT ON catalog.query_usage TO chainlake_users;
DROP POLICY IF EXISTS "members read their orgs query usage" ON catalog.query_usage;
CREATE POLICY "members read their orgs query usage" ON catalog.query_usage
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));
