-- jobs: definitions are org data.
GRANT USAGE ON SCHEMA jobs TO chainlake_users;
CALL core.apply_org_data_policies('jobs.definitions');
CALL core.apply_org_data_policies('jobs.schedules');
