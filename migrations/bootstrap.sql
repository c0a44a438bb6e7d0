-- Run by `chainlake migrate` before anything else: the migration ledger itself.
CREATE SCHEMA IF NOT EXISTS chainlake_meta;
REVOKE ALL ON SCHEMA chainlake_meta FROM PUBLIC;
CREATE TABLE IF NOT EXISTS chainlake_meta.applied_files (
    path        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
