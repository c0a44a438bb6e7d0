-- Assets: every materialization of a dataset is a version with its manifest; lineage links each
-- run's input versions to the versions it produced.
ALTER TABLE catalog.datasets
    ADD COLUMN current_version integer,
    ADD COLUMN schema jsonb,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE catalog.asset_versions (
    org_id        uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    dataset_id    uuid NOT NULL,
    version       integer NOT NULL,
    partition     text NOT NULL DEFAULT '',
    run_id        uuid NOT NULL,
    content_hash  text NOT NULL,
    uris          text[] NOT NULL DEFAULT '{}',
    manifest      jsonb NOT NULL DEFAULT '{}',
    row_count     bigint,
    bytes         bigint,
    schema        jsonb,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    duration_ms   bigint,
    PRIMARY KEY (org_id, dataset_id, version),
    FOREIGN KEY (org_id, dataset_id) REFERENCES catalog.datasets (org_id, id) ON DELETE CASCADE,
    CONSTRAINT asset_versions_content_key UNIQUE (org_id, dataset_id, partition, content_hash)
);
CREATE INDEX asset_versions_run_idx ON catalog.asset_versions (org_id, run_id);

-- Which exact input versions each run read.
CREATE TABLE runs.run_inputs (
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL,
    dataset_id  uuid NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (org_id, run_id, dataset_id, version)
);
CREATE INDEX run_inputs_version_idx ON runs.run_inputs (org_id, dataset_id, version);
