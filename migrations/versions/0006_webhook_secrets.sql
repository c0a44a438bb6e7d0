-- Webhook activation: one HMAC secret per job, stored encrypted (the key never reaches Postgres).
CREATE TABLE jobs.webhook_secrets (
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    job_name    text NOT NULL,
    secret_enc  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    PRIMARY KEY (org_id, job_name)
);
