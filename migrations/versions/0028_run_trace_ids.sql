-- A run's trace id (32 lowercase hex digits, W3C trace context). The API sets the request's
-- (its `traceparent`, else one it made) as the transaction-local setting chainlake.trace_id
-- (chainlake/db.py, claims_transaction); runs queued elsewhere (the scheduler, dependants, the
-- runner's own) get a fresh one.
ALTER TABLE runs.runs ADD COLUMN IF NOT EXISTS trace_id text NOT NULL
    DEFAULT coalesce(nullif(current_setting('chainlake.trace_id', true), ''),
                     replace(gen_random_uuid()::text, '-', ''));
ALTER TABLE runs.runs DROP CONSTRAINT IF EXISTS runs_trace_id;
ALTER TABLE runs.runs ADD CONSTRAINT runs_trace_id CHECK (trace_id ~ '^[0-9a-f]{32}$');
