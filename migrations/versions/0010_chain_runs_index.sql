-- runs.dispatch_chain_batch looks up a job's latest run on every ingest batch.
CREATE INDEX runs_job_created_idx ON runs.runs (org_id, job_name, created_at DESC);
