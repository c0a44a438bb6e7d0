-- alerts: rules and channels are org data (writers write; every rule is checked by the
-- alerts.rules_checked trigger). Channel secrets are never readable: users see every column of
-- a channel but its encrypted secret. Firings and deliveries are written only by the platform's
-- stored functions (evaluation in the ingest transaction, the delivery worker); members read them.
GRANT USAGE ON SCHEMA alerts TO chainlake_users;
CALL core.apply_org_data_policies('alerts.rules');

CALL core.apply_org_data_policies('alerts.channels');
REVOKE SELECT ON alerts.channels FROM chainlake_users;
GRANT SELECT (id, org_id, name, kind, target, config, created_by, created_at)
    ON alerts.channels TO chainlake_users;

DROP POLICY IF EXISTS "members read their orgs firings" ON alerts.firings;
DROP POLICY IF EXISTS "members read their orgs deliveries" ON alerts.deliveries;
CALL core.apply_org_readonly_policies('alerts.firings');
CALL core.apply_org_readonly_policies('alerts.deliveries');
