-- Fairness: runners take tasks round-robin across orgs (runs.take_tasks), each org's oldest
-- visible first; this index finds an org's tasks without reading the others'.
CREATE INDEX run_tasks_org_idx ON pgmq.q_run_tasks ((message ->> 'org_id'), msg_id);
-- ... and the org served longest ago (its latest run start) goes first.
CREATE INDEX runs_org_started_idx ON runs.runs (org_id, started_at DESC NULLS LAST);

-- API rate limits: requests per user and minute (core.charge_api_request).
CREATE TABLE core.api_requests (
    user_id   uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    minute    timestamptz NOT NULL,
    count     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, minute)
);
COMMENT ON TABLE core.api_requests IS '@tenancy platform: API request counts per user and minute, written only by core.charge_api_request';
