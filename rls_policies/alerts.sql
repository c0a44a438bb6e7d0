-- alerts: rules are org data.
GRANT USAGE ON SCHEMA alerts TO chainlake_users;
CALL core.apply_org_data_policies('alerts.rules');
