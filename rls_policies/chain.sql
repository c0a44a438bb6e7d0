-- chain: global data. Every authenticated user reads it; only the ingest role writes it.
GRANT USAGE ON SCHEMA chain TO chainlake_users, chainlake_ingest;

CREATE OR REPLACE PROCEDURE chain.apply_global_policies(tbl regclass, writable boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    CALL core.force_rls(tbl);
    EXECUTE format('GRANT SELECT ON %s TO chainlake_users, chainlake_ingest', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "authenticated users read chain data" ON %s', tbl);
    EXECUTE format('CREATE POLICY "authenticated users read chain data" ON %s FOR SELECT TO chainlake_users USING ((SELECT core.caller_may_read_global()))', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "runners write chain data" ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "ingest reads and writes chain data" ON %s', tbl);
    IF writable THEN
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO chainlake_ingest', tbl);
        EXECUTE format('CREATE POLICY "ingest reads and writes chain data" ON %s FOR ALL TO chainlake_ingest USING (true) WITH CHECK (true)', tbl);
    ELSE
        EXECUTE format('CREATE POLICY "ingest reads and writes chain data" ON %s FOR SELECT TO chainlake_ingest USING (true)', tbl);
    END IF;
END
$$;

-- Hot tables are written by COPY; the bookkeeping tables only through chain.* functions.
CALL chain.apply_global_policies('chain.blocks', true);
CALL chain.apply_global_policies('chain.transactions', true);
CALL chain.apply_global_policies('chain.logs', true);
CALL chain.apply_global_policies('chain.chains', false);
CALL chain.apply_global_policies('chain.reorgs', false);
CALL chain.apply_global_policies('chain.events', false);
CALL chain.apply_global_policies('chain.chunks', false);

-- The RPC endpoints' health: the operator's, never a tenant's (it names the endpoints' hosts).
-- Written through chain.report_rpc_health, read by the system alerts' definer functions only.
CALL core.force_rls('chain.rpc_health');

-- The last integrity check of each chain: global, read like the chain; written through
-- chain.report_check only.
CALL chain.apply_global_policies('chain.check_reports', false);
