-- PII: personal data about a subject (an address) lives in its own schema. People write it
-- under RLS but never SELECT it: every read goes through an audited function (sql/88_pii.sql).
CREATE SCHEMA pii;

-- Address labels move here with their data. `kind` makes room for similar enrichments (a name,
-- an e-mail, a note about an address) in the same table: `label` is the value of that kind.
ALTER TABLE catalog.address_labels SET SCHEMA pii;
ALTER TABLE pii.address_labels
    ADD COLUMN kind text NOT NULL DEFAULT 'label',
    ADD COLUMN redacted_at timestamptz,
    ADD CONSTRAINT address_labels_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- an EVM address; rows from before this revision are not re-checked
    ADD CONSTRAINT address_labels_address_length CHECK (octet_length(address) = 20) NOT VALID;
-- Redacted rows all say '[REDACTED]': uniqueness holds among the unredacted ones only.
ALTER TABLE pii.address_labels DROP CONSTRAINT address_labels_key;
CREATE UNIQUE INDEX address_labels_key ON pii.address_labels (org_id, owner_id, address, kind, label)
    WHERE redacted_at IS NULL;
CREATE INDEX address_labels_subject_idx ON pii.address_labels (org_id, address);

-- Asset versions built from PII that was later deleted or redacted: when, and why (never the
-- subject itself). Set only by pii.delete_subject / pii.redact_subject.
ALTER TABLE catalog.asset_versions
    ADD COLUMN needs_rebuild_at timestamptz,
    ADD COLUMN rebuild_reason text;
