-- catalog: datasets are org data; saved queries and address labels are private to their owner
-- unless shared with the org.
GRANT USAGE ON SCHEMA catalog TO chainlake_users;
CALL core.apply_org_data_policies('catalog.datasets');
CALL core.apply_user_private_policies('catalog.saved_queries');
CALL core.apply_user_private_policies('catalog.address_labels');
CALL core.apply_org_platform_policies('catalog.asset_versions');
