-- runs: run history, attempts, logs and dead letters are written by the runners (acting for the
-- run's org) and by the run-lifecycle functions in sql/runs/50_runs.sql; members read them.
GRANT USAGE ON SCHEMA runs TO chainlake_users;
CALL core.apply_org_platform_policies('runs.runs');
CALL core.apply_org_platform_policies('runs.attempts');
CALL core.apply_org_platform_policies('runs.logs');
CALL core.apply_org_platform_policies('runs.dead_letters');
CALL core.apply_org_platform_policies('runs.run_inputs');
-- what each attempt read of the chain (runs.record_chain_read, issue 16)
CALL core.apply_org_platform_policies('runs.chain_inputs');
