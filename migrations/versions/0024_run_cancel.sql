-- A person may cancel a queued or running run (runs.cancel, sql/51_runs_domain.sql): its status
-- becomes `cancelled`, a final status like succeeded, failed and dead.
ALTER TABLE runs.runs DROP CONSTRAINT runs_status;
ALTER TABLE runs.runs ADD CONSTRAINT runs_status CHECK (status IN
    ('queued', 'running', 'retrying', 'succeeded', 'failed', 'dead', 'cancelled'));
