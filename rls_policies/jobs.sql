-- jobs: definitions are org data.
GRANT USAGE ON SCHEMA jobs TO chainlake_users;
CALL core.apply_org_data_policies('jobs.definitions');
CALL core.apply_org_data_policies('jobs.schedules');

-- Webhook secrets: admins see which jobs have one (never the ciphertext); they are set and read
-- only through jobs.set_webhook_secret and jobs.webhook_secret (the API's, for verification).
CALL core.force_rls('jobs.webhook_secrets');
GRANT SELECT (org_id, job_name, created_at, created_by) ON jobs.webhook_secrets TO chainlake_users;
DROP POLICY IF EXISTS "admins see which jobs have webhook secrets" ON jobs.webhook_secrets;
CREATE POLICY "admins see which jobs have webhook secrets" ON jobs.webhook_secrets
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('admin'))::uuid[]));

-- Job secrets: writers set and delete them; members see their names, never their values (the
-- runner reads values through jobs.secret_values, for the org it acts for).
CALL core.apply_org_data_policies('jobs.secrets');
REVOKE SELECT ON jobs.secrets FROM chainlake_users;
GRANT SELECT (org_id, name, created_by, updated_at) ON jobs.secrets TO chainlake_users;
DROP POLICY IF EXISTS "members read their orgs rows" ON jobs.secrets;
DROP POLICY IF EXISTS "members see their orgs secret names" ON jobs.secrets;
CREATE POLICY "members see their orgs secret names" ON jobs.secrets
    FOR SELECT TO chainlake_users
    USING (org_id = ANY ((SELECT core.caller_org_ids('member'))::uuid[]));
