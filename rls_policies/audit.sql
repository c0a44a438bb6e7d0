-- audit: admins read their orgs' events. Nobody writes except through audit.record; the
-- append-only triggers (sql/audit/20_audit.sql) refuse UPDATE, DELETE and TRUNCATE even to owners.
CALL core.force_rls('audit.events');
GRANT SELECT ON audit.events TO chainlake_users;
DROP POLICY IF EXISTS "admins read their orgs audit events" ON audit.events;
CREATE POLICY "admins read their orgs audit events" ON audit.events
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));
