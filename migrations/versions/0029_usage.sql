-- What an attempt used, as its launcher measured it (NULL where the launcher could not tell):
-- CPU seconds (user + system) and peak memory in bytes; usage_source names the measure
-- (rusage, cgroup, docker-stats); usage_recorded_at: recorded, once (runs.record_usage).
ALTER TABLE runs.attempts
    ADD COLUMN cpu_seconds        double precision,
    ADD COLUMN peak_memory_bytes  bigint,
    ADD COLUMN usage_source       text,
    ADD COLUMN usage_recorded_at  timestamptz,
    ADD CONSTRAINT attempts_usage CHECK (
        (cpu_seconds IS NULL OR cpu_seconds >= 0)
        AND (peak_memory_bytes IS NULL OR peak_memory_bytes >= 0));

-- One row per query through the query service: who, how long, how many rows, and how many
-- bytes: scanned where DuckDB says, else the bytes of the answer sent (result_bytes). row_count
-- is NULL for a streamed answer (counted in bytes only).
CREATE TABLE catalog.query_usage (
    org_id          uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    user_id         uuid,
    at              timestamptz NOT NULL DEFAULT now(),
    seconds         double precision NOT NULL,
    row_count       bigint,
    bytes_scanned   bigint,
    result_bytes    bigint,
    PRIMARY KEY (org_id, id),
    CONSTRAINT query_usage_figures CHECK (seconds >= 0 AND row_count >= 0)
);
CREATE INDEX query_usage_org_at_idx ON catalog.query_usage (org_id, at);
CREATE INDEX attempts_org_started_idx ON runs.attempts (org_id, started_at);

-- A daily CPU-seconds quota per org (UTC days); NULL: unlimited.
ALTER TABLE core.quotas
    ADD COLUMN cpu_seconds_per_day double precision,
    ADD CONSTRAINT quotas_cpu_seconds_per_day CHECK (cpu_seconds_per_day > 0);
