-- runs: run history is org data.
GRANT USAGE ON SCHEMA runs TO chainlake_users;
CALL core.apply_org_data_policies('runs.runs');
