-- pii: personal data. The user-private rules decide who may write which rows (anyone keeps
-- private rows, writers share them with the org); nobody reads the tables directly: SELECT,
-- UPDATE and DELETE (which read rows) are not granted, so every read is an audited function
-- (pii.labels) and deletes and redactions are pii.delete_subject / pii.redact_subject
-- (sql/pii/88_pii.sql). The policies for those commands stay, as the rule they would follow.
CALL core.apply_user_private_policies('pii.address_labels');
REVOKE SELECT, INSERT, UPDATE, DELETE ON pii.address_labels FROM chainlake_users;
GRANT INSERT (org_id, owner_id, address, kind, label, visibility) ON pii.address_labels
    TO chainlake_users;
