-- Alerts: a rule's details, the checked predicate it compiles to, its channels; firings (one row
-- per matched row and rule, unique so a replay never fires twice); deliveries (one per firing or
-- retraction and channel, with attempts and a dead letter); channels (where alerts go, with an
-- encrypted secret).
ALTER TABLE alerts.rules
    ADD COLUMN description      text NOT NULL DEFAULT '',
    ADD COLUMN chain_id         bigint,
    ADD COLUMN channels         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN dedup_key        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN throttle_seconds integer NOT NULL DEFAULT 0,
    ADD COLUMN confirmation     text NOT NULL DEFAULT 'provisional',
    ADD COLUMN window_blocks    integer,
    ADD COLUMN group_by         text[] NOT NULL DEFAULT '{}',
    ADD COLUMN predicate        text,
    ADD COLUMN last_error       text,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT rules_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    ADD CONSTRAINT rules_severity CHECK (severity IN ('info', 'warning', 'critical')),
    ADD CONSTRAINT rules_confirmation CHECK (confirmation IN ('provisional', 'safe', 'finalized')),
    ADD CONSTRAINT rules_throttle CHECK (throttle_seconds BETWEEN 0 AND 604800),
    ADD CONSTRAINT rules_window CHECK (window_blocks IS NULL OR window_blocks BETWEEN 1 AND 10000);

CREATE TABLE alerts.channels (
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL,
    target      text NOT NULL,
    config      jsonb NOT NULL DEFAULT '{}',
    secret_enc  bytea,
    created_by  uuid REFERENCES core.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT channels_name_key UNIQUE (org_id, name),
    CONSTRAINT channels_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    CONSTRAINT channels_kind CHECK (kind IN ('webhook', 'email', 'sms', 'slack'))
);

CREATE TABLE alerts.firings (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    rule_id       uuid NOT NULL,
    chain_id      bigint NOT NULL,
    from_block    bigint NOT NULL,
    to_block      bigint NOT NULL,
    block_hash    bytea NOT NULL,
    match_key     text NOT NULL,
    dedup_value   text NOT NULL,
    vals          jsonb NOT NULL DEFAULT '{}',
    backtest      boolean NOT NULL DEFAULT false,
    fired_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    retracted_at  timestamptz,
    PRIMARY KEY (org_id, id)
);
-- A replay never fires twice; a retracted firing does not block the same row's block coming
-- back (a reorg there and back fires again).
CREATE UNIQUE INDEX firings_once ON alerts.firings (rule_id, chain_id, block_hash, match_key, backtest)
    WHERE retracted_at IS NULL;
CREATE INDEX firings_rule_idx ON alerts.firings (rule_id, dedup_value, fired_at DESC);
CREATE INDEX firings_live_idx ON alerts.firings (chain_id, to_block) WHERE retracted_at IS NULL;

CREATE TABLE alerts.deliveries (
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    firing_id     uuid NOT NULL,
    channel       text NOT NULL,
    event         text NOT NULL,
    state         text NOT NULL DEFAULT 'pending',
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at  timestamptz,
    PRIMARY KEY (org_id, id),
    CONSTRAINT deliveries_once UNIQUE (firing_id, channel, event),
    CONSTRAINT deliveries_event CHECK (event IN ('fired', 'retracted')),
    CONSTRAINT deliveries_state CHECK (state IN ('pending', 'delivered', 'dead'))
);

SELECT pgmq.create('alert_deliveries');

-- One row of the platform's own health, what system alert rules (dataset platform.health) see.
CREATE TYPE alerts.platform_health_row AS (metric text, subject text, value double precision);
