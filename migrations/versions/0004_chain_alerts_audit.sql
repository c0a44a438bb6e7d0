-- chain (global data), alerts (rules), audit (append-only events).
CREATE SCHEMA chain;
CREATE SCHEMA alerts;
CREATE SCHEMA audit;

CREATE TABLE chain.blocks (
    chain_id     bigint NOT NULL,
    number       bigint NOT NULL,
    hash         bytea NOT NULL,
    parent_hash  bytea NOT NULL,
    timestamp    timestamptz NOT NULL,
    PRIMARY KEY (chain_id, number)
);
COMMENT ON TABLE chain.blocks IS '@tenancy global: canonical blocks at the hot tip, readable by every authenticated user';

CREATE TABLE alerts.rules (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    dataset     text NOT NULL,
    condition   text NOT NULL,
    severity    text NOT NULL DEFAULT 'info',
    enabled     boolean NOT NULL DEFAULT true,
    created_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT rules_name_key UNIQUE (org_id, name)
);

-- Who did what, when. org_id is NULL for platform-level events (seen by no user role).
CREATE TABLE audit.events (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    org_id         uuid,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  uuid,
    actor_db_role  name NOT NULL DEFAULT session_user,
    action         text NOT NULL,
    target         text NOT NULL DEFAULT '',
    detail         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (id)
);
CREATE INDEX events_org_at_idx ON audit.events (org_id, at DESC);
