-- An output's partition key becomes part of what jobs and people name paths and queries by: it
-- holds a plain name (the contract's rule, chainlake/contract/event.schema.json
-- $defs.partition_key), or '' for none. The runner refuses other keys before recording them;
-- this holds for every writer. NOT VALID: rows recorded before stay as they are.
ALTER TABLE catalog.asset_versions
    ADD CONSTRAINT asset_versions_partition_key
    CHECK (partition = '' OR partition ~ '\A[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}\Z') NOT VALID;
