-- chain: global data. Every authenticated user reads it; only the runners (ingest) write it.
GRANT USAGE ON SCHEMA chain TO chainlake_users;

CALL core.force_rls('chain.blocks');
GRANT SELECT ON chain.blocks TO chainlake_users;
GRANT INSERT, UPDATE, DELETE ON chain.blocks TO chainlake_runner;
DROP POLICY IF EXISTS "authenticated users read chain data" ON chain.blocks;
CREATE POLICY "authenticated users read chain data" ON chain.blocks
    FOR SELECT TO chainlake_users
    USING ((SELECT core.caller_may_read_global()));
DROP POLICY IF EXISTS "runners write chain data" ON chain.blocks;
CREATE POLICY "runners write chain data" ON chain.blocks
    FOR ALL TO chainlake_runner
    USING (true) WITH CHECK (true);
