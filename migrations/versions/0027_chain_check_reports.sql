-- The last integrity check of each chain (jobs/system/chain_check): when, how many problems,
-- and the first of them. Global chain data, like chain.chains; written only through
-- chain.report_check.
CREATE TABLE IF NOT EXISTS chain.check_reports (
    chain_id bigint PRIMARY KEY REFERENCES chain.chains (chain_id) ON DELETE CASCADE,
    checked_at timestamptz NOT NULL DEFAULT now(),
    problems integer NOT NULL,
    first_problems jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT check_reports_problems CHECK (problems >= 0)
);
