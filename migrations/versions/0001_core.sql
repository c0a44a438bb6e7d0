-- core: orgs (tenants), users, memberships with a role, cross-org grants, quotas.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA core;

CREATE TYPE core.member_role AS ENUM ('reader', 'writer', 'admin');
CREATE TYPE core.access AS ENUM ('member', 'read', 'write', 'admin');

CREATE TABLE core.orgs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orgs_name_key UNIQUE (name),
    CONSTRAINT orgs_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$')
);
COMMENT ON TABLE core.orgs IS '@tenancy org-root: one row per tenant; its id is every org_id';

CREATE TABLE core.users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email        text NOT NULL,
    db_role      name NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_db_role_key UNIQUE (db_role),
    CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email))
);
COMMENT ON TABLE core.users IS '@tenancy identity: a person, member of one or more orgs';

CREATE TABLE core.memberships (
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    role        core.member_role NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON core.memberships (user_id, org_id);

-- Org-wide read access from one org (org_id, the grantor) to another (grantee_org_id).
CREATE TABLE core.org_grants (
    org_id          uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    grantee_org_id  uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    privilege       text NOT NULL DEFAULT 'read',
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid REFERENCES core.users (id) ON DELETE SET NULL,
    PRIMARY KEY (org_id, grantee_org_id, privilege),
    CONSTRAINT org_grants_privilege CHECK (privilege IN ('read')),
    CONSTRAINT org_grants_not_self CHECK (org_id <> grantee_org_id)
);
CREATE INDEX org_grants_grantee_idx ON core.org_grants (grantee_org_id, org_id);

CREATE TABLE core.quotas (
    org_id                   uuid PRIMARY KEY REFERENCES core.orgs (id) ON DELETE CASCADE,
    max_concurrent_runs      integer NOT NULL DEFAULT 8,
    max_queued_tasks         integer NOT NULL DEFAULT 100000,
    api_requests_per_minute  integer NOT NULL DEFAULT 600,
    query_timeout_ms         integer NOT NULL DEFAULT 30000,
    query_memory_mb          integer NOT NULL DEFAULT 1024,
    storage_bytes            bigint  NOT NULL DEFAULT 107374182400,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
