-- One dataset or saved query shared with another org (read), listed and revocable by its
-- grantor. org_id is the grantor (the object's org).
CREATE TABLE catalog.object_grants (
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    object_kind     text NOT NULL,
    object_id       uuid NOT NULL,
    grantee_org_id  uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    privilege       text NOT NULL DEFAULT 'read',
    created_by      uuid REFERENCES core.users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT object_grants_key UNIQUE (object_kind, object_id, grantee_org_id),
    CONSTRAINT object_grants_kind CHECK (object_kind IN ('dataset', 'saved_query')),
    CONSTRAINT object_grants_privilege CHECK (privilege = 'read'),
    CONSTRAINT object_grants_not_self CHECK (org_id <> grantee_org_id)
);
CREATE INDEX object_grants_grantee_idx ON catalog.object_grants (grantee_org_id, object_kind);

-- The grantee's read policies match shared objects by id: without these indexes the OR of the
-- org policy and the grant policy would scan every row.
CREATE INDEX datasets_id_idx ON catalog.datasets (id);
CREATE INDEX saved_queries_id_idx ON catalog.saved_queries (id);
CREATE INDEX asset_versions_dataset_idx ON catalog.asset_versions (dataset_id);
