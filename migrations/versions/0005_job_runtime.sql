-- The job runtime: definitions that dispatch can query, runs with attempts, logs, dead letters,
-- cron schedules, and the task queue.
ALTER TABLE jobs.definitions
    ADD COLUMN kind text NOT NULL DEFAULT 'source',
    ADD COLUMN input_datasets text[] NOT NULL DEFAULT '{}',
    ADD COLUMN output_datasets text[] NOT NULL DEFAULT '{}',
    ADD COLUMN applied_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT definitions_kind CHECK (kind IN ('source', 'reactive'));
CREATE INDEX definitions_inputs_idx ON jobs.definitions USING gin (input_datasets);
CREATE INDEX definitions_current_idx ON jobs.definitions (org_id, name, applied_at DESC);

CREATE TABLE jobs.schedules (
    org_id        uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    job_name      text NOT NULL,
    cron          text NOT NULL,
    next_fire_at  timestamptz NOT NULL,
    last_fired_at timestamptz,
    PRIMARY KEY (org_id, job_name)
);
CREATE INDEX schedules_due_idx ON jobs.schedules (next_fire_at);

ALTER TABLE runs.runs
    ADD COLUMN definition_id    uuid,
    ADD COLUMN trigger          jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN config           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN inputs           jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN outputs          jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN metadata         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN error            jsonb,
    ADD COLUMN attempt          integer NOT NULL DEFAULT 0,
    ADD COLUMN max_attempts     integer NOT NULL DEFAULT 3,
    ADD COLUMN idempotency_key  text,
    ADD COLUMN msg_id           bigint,
    ADD COLUMN started_at       timestamptz,
    ADD COLUMN finished_at      timestamptz,
    ADD CONSTRAINT runs_status CHECK (status IN
        ('queued', 'running', 'retrying', 'succeeded', 'failed', 'dead')),
    ADD CONSTRAINT runs_idempotency_key UNIQUE (org_id, idempotency_key);
CREATE INDEX runs_org_status_idx ON runs.runs (org_id, status);

CREATE TABLE runs.attempts (
    org_id       uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    run_id       uuid NOT NULL,
    attempt      integer NOT NULL,
    runner       text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running',
    error        jsonb,
    PRIMARY KEY (org_id, run_id, attempt)
);

CREATE TABLE runs.logs (
    org_id   uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    run_id   uuid NOT NULL,
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    attempt  integer NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    event    jsonb NOT NULL,
    PRIMARY KEY (org_id, run_id, seq)
);

CREATE TABLE runs.dead_letters (
    org_id       uuid NOT NULL REFERENCES core.orgs (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    run_id       uuid NOT NULL,
    job_name     text NOT NULL,
    attempts     integer NOT NULL,
    error        jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz,
    replay_run_id uuid,
    PRIMARY KEY (org_id, id)
);

SELECT pgmq.create('run_tasks');
SELECT pgmq.enable_notify_insert('run_tasks', 0);
