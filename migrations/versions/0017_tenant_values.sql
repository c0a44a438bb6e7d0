-- Tenant values in paths (SECURITY.md item 19), held for every writer. An output's partition
-- key holds a plain name (the contract's rule, chainlake/contract/event.schema.json
-- $defs.partition_key), or '' for none; a dataset's name the contract's rule for
-- input_datasets and output_datasets (job_definition.schema.json). The runner refuses other
-- values before recording them. NOT VALID: rows written before stay as they are.
ALTER TABLE catalog.asset_versions
    ADD CONSTRAINT asset_versions_partition_key
    CHECK (partition = '' OR partition ~ '\A[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}\Z') NOT VALID;
ALTER TABLE catalog.datasets
    ADD CONSTRAINT datasets_name_format
    CHECK (name ~ '\A[a-z0-9][a-z0-9_.-]{0,62}\Z') NOT VALID;
