-- alerts: rules and channels are org data (writers write; every rule is checked by the
-- alerts.rules_checked trigger). Channel secrets are never readable: users see every column of
-- a channel but its encrypted secret. Firings and deliveries are written only by the platform's
-- stored functions (evaluation in the ingest transaction, the delivery worker); members read them.
GRANT USAGE ON SCHEMA alerts TO chainlake_users;
CALL core.apply_org_data_policies('alerts.rules');
-- A rule's own fields only: never the text evaluation runs (predicate, recomputed from the
-- checked condition by alerts.rules_checked) or the platform's bookkeeping (SECURITY.md 21).
REVOKE INSERT, UPDATE ON alerts.rules FROM chainlake_users;
GRANT INSERT (org_id, name, dataset, condition, severity, enabled, channels, dedup_key,
              throttle_seconds, confirmation, window_blocks, group_by, chain_id, description)
    ON alerts.rules TO chainlake_users;
GRANT UPDATE (org_id, name, dataset, condition, severity, enabled, channels, dedup_key,
              throttle_seconds, confirmation, window_blocks, group_by, chain_id, description)
    ON alerts.rules TO chainlake_users;

CALL core.apply_org_data_policies('alerts.channels');
REVOKE SELECT ON alerts.channels FROM chainlake_users;
GRANT SELECT (id, org_id, name, kind, target, config, created_by, created_at)
    ON alerts.channels TO chainlake_users;

DROP POLICY IF EXISTS "members read their orgs firings" ON alerts.firings;
DROP POLICY IF EXISTS "members read their orgs deliveries" ON alerts.deliveries;
CALL core.apply_org_readonly_policies('alerts.firings');
CALL core.apply_org_readonly_policies('alerts.deliveries');

-- Rules set aside while their writer held them locked: the platform's stored functions alone
-- read and write them (alerts.set_aside, alerts.settle_set_aside); nobody locks them.
CALL core.force_rls('alerts.held_aside');
DROP POLICY IF EXISTS "nobody reads held-aside marks" ON alerts.held_aside;
CREATE POLICY "nobody reads held-aside marks" ON alerts.held_aside
    FOR SELECT TO chainlake_users USING (false);

-- Alert evaluation (the alerts.match_* functions, owned by chainlake_evaluator) reads the chain
-- tables and nothing else.
GRANT USAGE ON SCHEMA chain TO chainlake_evaluator;
DO $evaluator$
DECLARE
    tbl text;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['chain.blocks', 'chain.transactions', 'chain.logs'] LOOP
        EXECUTE format('GRANT SELECT ON %s TO chainlake_evaluator', tbl);
        EXECUTE format('DROP POLICY IF EXISTS "alert evaluation reads chain data" ON %s', tbl);
        EXECUTE format('CREATE POLICY "alert evaluation reads chain data" ON %s FOR SELECT TO chainlake_evaluator USING (true)', tbl);
    END LOOP;
END
$evaluator$;
