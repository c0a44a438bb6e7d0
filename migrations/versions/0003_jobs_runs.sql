-- jobs and runs: lean now; the jobs issue extends them.
CREATE SCHEMA jobs;
CREATE SCHEMA runs;

CREATE TABLE jobs.definitions (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    version     text NOT NULL,
    spec        jsonb NOT NULL DEFAULT '{}',
    created_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT definitions_name_version_key UNIQUE (org_id, name, version)
);

CREATE TABLE runs.runs (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    job_name      text NOT NULL,
    job_version   text NOT NULL,
    status        text NOT NULL DEFAULT 'queued',
    initiated_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    params        jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX runs_org_created_idx ON runs.runs (org_id, created_at DESC);
