-- Derived data that stays true through reorgs (issue 16; sql/58_supersession.sql holds the rules).
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A block-range partition is a range of one chain's blocks (chain_id NULL: a backfill's range,
-- its chain not named). A version stays, but stops being current, when it is superseded: by a
-- reorg or a repair that invalidated blocks it covers (superseded_by_event, the chain.events
-- invalidation), or replaced by a newer version of the same range. Versions written before this
-- revision keep partition keys only.
ALTER TABLE catalog.asset_versions
    ADD COLUMN chain_id              bigint,
    ADD COLUMN blocks                int8range,
    ADD COLUMN superseded_at         timestamptz,
    ADD COLUMN superseded_reason     text,
    ADD COLUMN superseded_by_event   bigint,
    ADD COLUMN superseded_by_version integer,
    ADD CONSTRAINT asset_versions_superseded_reason
        CHECK (superseded_reason IN ('reorg', 'replaced')
               AND superseded_at IS NOT NULL OR superseded_reason IS NULL AND superseded_at IS NULL),
    ADD CONSTRAINT asset_versions_chain_has_blocks CHECK (chain_id IS NULL OR blocks IS NOT NULL),
    -- at any moment, the current versions of a dataset's block-range partitions never overlap
    ADD CONSTRAINT asset_versions_current_ranges_disjoint EXCLUDE USING gist (
        org_id WITH =, dataset_id WITH =, (coalesce(chain_id, -1)) WITH =, blocks WITH &&)
        WHERE (blocks IS NOT NULL AND superseded_at IS NULL);
-- what a reorg supersedes: every org's current ranges of one chain
CREATE INDEX asset_versions_current_chain_ranges_idx ON catalog.asset_versions
    USING gist (chain_id, blocks) WHERE (chain_id IS NOT NULL AND superseded_at IS NULL);
-- Identical content is the same version, except one a reorg superseded: it was read from
-- orphaned blocks (its lineage says so), so content rebuilt from the new branch is a new version.
ALTER TABLE catalog.asset_versions DROP CONSTRAINT asset_versions_content_key;
CREATE UNIQUE INDEX asset_versions_content_key
    ON catalog.asset_versions (org_id, dataset_id, partition, content_hash)
    WHERE (superseded_reason IS DISTINCT FROM 'reorg');
CREATE INDEX asset_versions_superseded_event_idx ON catalog.asset_versions (superseded_by_event)
    WHERE superseded_by_event IS NOT NULL;

-- The invalidation event a reorg recorded, so that a superseded version names its reorg.
ALTER TABLE chain.reorgs ADD COLUMN event_id bigint;
CREATE INDEX reorgs_event_idx ON chain.reorgs (event_id);

-- What a run's attempt really read of the chain: the range, the hashes of its first and last
-- blocks, and the newest chain.events id of that chain in the snapshot it was read in (so an
-- invalidation after the read is known to have overtaken it). Written by the runner as it hands
-- the rows over (runs.record_chain_read).
CREATE TABLE runs.chain_inputs (
    org_id          uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    run_id          uuid NOT NULL,
    attempt         integer NOT NULL,
    dataset         text NOT NULL,
    chain_id        bigint NOT NULL,
    from_block      bigint NOT NULL,
    to_block        bigint NOT NULL,
    first_hash      bytea,
    last_hash       bytea,
    events_through  bigint,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, run_id, attempt, dataset),
    CONSTRAINT chain_inputs_range CHECK (from_block <= to_block)
);
