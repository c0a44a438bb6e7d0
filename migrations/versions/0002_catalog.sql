-- catalog: datasets, saved queries, and a user-private example (address labels).
CREATE SCHEMA catalog;

CREATE TYPE catalog.visibility AS ENUM ('private', 'org');

CREATE TABLE catalog.datasets (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    owner_id     uuid REFERENCES core.users (id) ON DELETE SET NULL,
    tags         text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT datasets_name_key UNIQUE (org_id, name)
);

CREATE TABLE catalog.saved_queries (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    owner_id    uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    sql         text NOT NULL,
    visibility  catalog.visibility NOT NULL DEFAULT 'private',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT saved_queries_name_key UNIQUE (org_id, owner_id, name)
);

-- Labels a user attaches to addresses: private to the user unless shared with their org.
CREATE TABLE catalog.address_labels (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    owner_id    uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    address     bytea NOT NULL,
    label       text NOT NULL,
    visibility  catalog.visibility NOT NULL DEFAULT 'private',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT address_labels_key UNIQUE (org_id, owner_id, address, label)
);
