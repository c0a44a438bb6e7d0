-- Chain data (global: every authenticated user reads it; only the ingest role writes it).
-- Encoding, one for all chain tables (docs/chain.md): hashes, addresses, topics and call data
-- are bytea (raw bytes, not hex text); uint256 quantities are numeric(78,0), exact; block
-- numbers, indexes, gas and nonces that fit are bigint.

CREATE TABLE chain.chains (
    chain_id        bigint PRIMARY KEY,
    name            text NOT NULL,
    start_block     bigint NOT NULL DEFAULT 0,
    finality_depth  integer NOT NULL DEFAULT 64,
    chunk_size      integer NOT NULL DEFAULT 1000,
    finalized       bigint,              -- the node's finalized block, as last seen by ingest
    archived_to     bigint,              -- the watermark: cold holds start_block..archived_to
    head            bigint,              -- the highest block in hot storage
    stopped_reason  text,                -- set when ingestion stopped itself (deep reorg)
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chains_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    CONSTRAINT chains_chunk_size CHECK (chunk_size > 0),
    CONSTRAINT chains_finality_depth CHECK (finality_depth >= 0)
);
COMMENT ON TABLE chain.chains IS '@tenancy global: the chains the platform ingests, their watermark and finality';

ALTER TABLE chain.blocks
    ADD COLUMN miner             bytea,
    ADD COLUMN gas_used          bigint,
    ADD COLUMN gas_limit         bigint,
    ADD COLUMN base_fee_per_gas  numeric(78, 0),
    ADD COLUMN transaction_count integer,
    ADD COLUMN ingested_at       timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE UNIQUE INDEX blocks_hash_idx ON chain.blocks (chain_id, hash);

CREATE TABLE chain.transactions (
    chain_id          bigint NOT NULL,
    block_number      bigint NOT NULL,
    transaction_index integer NOT NULL,
    hash              bytea NOT NULL,
    from_address      bytea NOT NULL,
    to_address        bytea,
    value             numeric(78, 0) NOT NULL,
    gas_limit         bigint NOT NULL,
    gas_price         numeric(78, 0),
    nonce             bigint NOT NULL,
    input             bytea NOT NULL,
    status            smallint,
    gas_used          bigint,
    contract_address  bytea,
    PRIMARY KEY (chain_id, block_number, transaction_index),
    FOREIGN KEY (chain_id, block_number) REFERENCES chain.blocks (chain_id, number) ON DELETE CASCADE
);
COMMENT ON TABLE chain.transactions IS '@tenancy global: transactions of the hot blocks, with their receipts';
CREATE INDEX transactions_hash_idx ON chain.transactions (chain_id, hash);

CREATE TABLE chain.logs (
    chain_id          bigint NOT NULL,
    block_number      bigint NOT NULL,
    log_index         integer NOT NULL,
    transaction_index integer NOT NULL,
    transaction_hash  bytea NOT NULL,
    address           bytea NOT NULL,
    topic0            bytea,
    topic1            bytea,
    topic2            bytea,
    topic3            bytea,
    data              bytea NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index),
    FOREIGN KEY (chain_id, block_number) REFERENCES chain.blocks (chain_id, number) ON DELETE CASCADE
);
COMMENT ON TABLE chain.logs IS '@tenancy global: event logs of the hot blocks';
CREATE INDEX logs_address_idx ON chain.logs (chain_id, address, block_number);
CREATE INDEX logs_topic0_idx ON chain.logs (chain_id, topic0, block_number);

CREATE TABLE chain.reorgs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id     bigint NOT NULL,
    fork_block   bigint NOT NULL,         -- the last block both branches share
    depth        integer NOT NULL,        -- how many stored blocks were orphaned
    old_hashes   bytea[] NOT NULL,        -- orphaned blocks, fork_block + 1 upward
    new_hashes   bytea[] NOT NULL,        -- the new branch as first written
    detected_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE chain.reorgs IS '@tenancy global: every reorg ingestion corrected';
CREATE INDEX reorgs_chain_idx ON chain.reorgs (chain_id, detected_at DESC);

-- One row per committed ingest batch or invalidation: the dataset events reactive jobs and
-- alerts follow (NOTIFY chain_events carries the id).
CREATE TABLE chain.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id    bigint NOT NULL,
    kind        text NOT NULL,
    from_block  bigint NOT NULL,
    to_block    bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_kind CHECK (kind IN ('ingested', 'invalidated', 'archived')),
    CONSTRAINT events_range CHECK (from_block <= to_block)
);
COMMENT ON TABLE chain.events IS '@tenancy global: ingested, invalidated and archived block ranges';
CREATE INDEX events_chain_idx ON chain.events (chain_id, id);

-- Cold storage: one chunk per aligned block range, three Parquet files (blocks, transactions,
-- logs) plus a manifest. A chunk is immutable; a repair replaces its row.
CREATE TABLE chain.chunks (
    chain_id           bigint NOT NULL,
    from_block         bigint NOT NULL,
    to_block           bigint NOT NULL,
    first_parent_hash  bytea NOT NULL,
    last_hash          bytea NOT NULL,
    prefix             text NOT NULL,     -- storage key prefix of the chunk's files
    files              jsonb NOT NULL,    -- {dataset: {key, rows, bytes, sha256}}
    source             text NOT NULL,     -- 'archive' (from hot) or 'rpc' (backfill, repair)
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, from_block),
    CONSTRAINT chunks_range CHECK (from_block <= to_block),
    CONSTRAINT chunks_source CHECK (source IN ('archive', 'rpc'))
);
COMMENT ON TABLE chain.chunks IS '@tenancy global: cold Parquet chunks of finalized chain data';

-- The platform's own org (which runs ingestion) may hand jobs the chain-writing credential.
ALTER TABLE core.orgs ADD COLUMN system boolean NOT NULL DEFAULT false;
