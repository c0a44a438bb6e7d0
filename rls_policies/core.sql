-- core: orgs, users, memberships, grants, quotas. Identity and admin tables: explicit policies.
-- Users are created only by the operator's functions (sql/core/30_tenancy.sql), never by INSERT.

CALL core.force_rls('core.orgs');
GRANT SELECT ON core.orgs TO chainlake_users;
-- No UPDATE: it would let a user lock the org's row, which every tenant row's foreign key check
-- waits for (in ingest's and the API's shared transactions too); admins rename their org
-- through core.rename_org (the policy below stays, as the rule's record).
REVOKE UPDATE ON core.orgs FROM chainlake_users;
REVOKE UPDATE (display_name) ON core.orgs FROM chainlake_users;
DROP POLICY IF EXISTS "members see their orgs and orgs that share with them" ON core.orgs;
CREATE POLICY "members see their orgs and orgs that share with them" ON core.orgs
    FOR SELECT TO chainlake_users
    USING (id = ANY ((SELECT core.caller_org_ids('read'))::uuid[]));
DROP POLICY IF EXISTS "admins rename their orgs" ON core.orgs;
CREATE POLICY "admins rename their orgs" ON core.orgs
    FOR UPDATE TO chainlake_users
    USING (id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]))
    WITH CHECK (id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));

CALL core.force_rls('core.users');
GRANT SELECT ON core.users TO chainlake_users;
DROP POLICY IF EXISTS "people see themselves and members of their orgs" ON core.users;
CREATE POLICY "people see themselves and members of their orgs" ON core.users
    FOR SELECT TO chainlake_users
    USING (
        id = (SELECT core.caller_user_id())
        OR id IN (SELECT m.user_id FROM core.memberships m
                  WHERE m.org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]))
    );

CALL core.force_rls('core.memberships');
-- Admins change roles and remove members (core.remove_member: no DELETE privilege, which would
-- also allow a blocking LOCK). Nobody adds members by INSERT: that would let an admin pull any
-- user of any org into theirs; the operator's core.add_member does it.
GRANT SELECT ON core.memberships TO chainlake_users;
GRANT UPDATE (role) ON core.memberships TO chainlake_users;
DROP POLICY IF EXISTS "members see their orgs memberships" ON core.memberships;
CREATE POLICY "members see their orgs memberships" ON core.memberships
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));
DROP POLICY IF EXISTS "admins add members" ON core.memberships;
DROP POLICY IF EXISTS "admins change roles" ON core.memberships;
CREATE POLICY "admins change roles" ON core.memberships
    FOR UPDATE TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]))
    WITH CHECK (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));
DROP POLICY IF EXISTS "admins remove members" ON core.memberships;
CREATE POLICY "admins remove members" ON core.memberships
    FOR DELETE TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));

CALL core.force_rls('core.org_grants');
GRANT SELECT ON core.org_grants TO chainlake_users;  -- revoked with core.revoke_org_read
GRANT INSERT (org_id, grantee_org_id, privilege) ON core.org_grants TO chainlake_users;
DROP POLICY IF EXISTS "admins see grants they gave; members see grants they got" ON core.org_grants;
CREATE POLICY "admins see grants they gave; members see grants they got" ON core.org_grants
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[])
           OR grantee_org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));
DROP POLICY IF EXISTS "admins grant their orgs data" ON core.org_grants;
CREATE POLICY "admins grant their orgs data" ON core.org_grants
    FOR INSERT TO chainlake_users
    WITH CHECK (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));
DROP POLICY IF EXISTS "admins revoke their grants" ON core.org_grants;
CREATE POLICY "admins revoke their grants" ON core.org_grants
    FOR DELETE TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));

-- Quotas are set by the operator; members read their own.
CALL core.force_rls('core.quotas');
GRANT SELECT ON core.quotas TO chainlake_users;
DROP POLICY IF EXISTS "members read their orgs quotas" ON core.quotas;
CREATE POLICY "members read their orgs quotas" ON core.quotas
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));

-- An org that shared an object with the caller's org is visible by name to its members.
DROP POLICY IF EXISTS "members see orgs that shared an object with them" ON core.orgs;
CREATE POLICY "members see orgs that shared an object with them" ON core.orgs
    FOR SELECT TO chainlake_users
    USING (id = ANY ((SELECT catalog.granting_org_ids())::uuid[]));

-- API request counts: written only by core.charge_api_request; each person reads their own.
CALL core.force_rls('core.api_requests');
GRANT SELECT ON core.api_requests TO chainlake_users;
DROP POLICY IF EXISTS "people read their own request counts" ON core.api_requests;
CREATE POLICY "people read their own request counts" ON core.api_requests
    FOR SELECT TO chainlake_users
    USING (user_id = (SELECT core.caller_user_id()));

-- Sign-ins: written only by core.note_sign_in; each person reads their own.
CALL core.force_rls('core.sign_ins');
GRANT SELECT ON core.sign_ins TO chainlake_users;
DROP POLICY IF EXISTS "people read their own sign-ins" ON core.sign_ins;
CREATE POLICY "people read their own sign-ins" ON core.sign_ins
    FOR SELECT TO chainlake_users
    USING (user_id = (SELECT core.caller_user_id()));

-- Platform tables. The rows the platform's stored functions lock (core.lock_until_commit):
-- nobody reads them. The API path's limits (core.platform_limits): people may read them.
CALL core.force_rls('core.row_locks');
DROP POLICY IF EXISTS "nobody reads lock rows" ON core.row_locks;
CREATE POLICY "nobody reads lock rows" ON core.row_locks
    FOR SELECT TO chainlake_users USING (false);
CALL core.force_rls('core.platform_limits');
GRANT SELECT ON core.platform_limits TO chainlake_users;
DROP POLICY IF EXISTS "people read the platform's limits" ON core.platform_limits;
CREATE POLICY "people read the platform's limits" ON core.platform_limits
    FOR SELECT TO chainlake_users USING ((SELECT core.caller_user_id()) IS NOT NULL);
