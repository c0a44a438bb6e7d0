-- Fairness: runners take tasks round-robin across orgs (runs.take_tasks), each org's oldest
-- visible first; this index finds an org's tasks without reading the others'.
CREATE INDEX run_tasks_org_idx ON pgmq.q_run_tasks ((message ->> 'org_id'), msg_id);
-- ... and the org served longest ago (its latest run start) goes first.
CREATE INDEX runs_org_started_idx ON runs.runs (org_id, started_at DESC NULLS LAST);

-- API rate limits: requests per user and minute (core.charge_api_request).
CREATE TABLE core.api_requests (
    user_id   uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    minute    timestamptz NOT NULL,
    count     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, minute)
);
COMMENT ON TABLE core.api_requests IS '@tenancy platform: API request counts per user and minute, written only by core.charge_api_request';

-- Job secrets: encrypted outside Postgres (the platform key), injected at launch as
-- CHAINLAKE_SECRET_<NAME>, never readable by any role (members see names only).
CREATE TABLE jobs.secrets (
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    value_enc   bytea NOT NULL,
    created_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name),
    CONSTRAINT secrets_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- not a platform credential, nor `key` (CHAINLAKE_SECRET_KEY is the platform's key)
    CONSTRAINT secrets_not_platform CHECK (name NOT IN ('chain_writer', 'alert_sender', 'key'))
);
