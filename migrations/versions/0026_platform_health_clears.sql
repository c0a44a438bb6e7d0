-- A platform.health firing is open until the condition that fired it stops holding: then it is
-- cleared (alerts.evaluate_platform), and the clearing is delivered like the firing.
ALTER TABLE alerts.firings ADD COLUMN IF NOT EXISTS cleared_at timestamptz;
-- what fired before this revision is history, not open: nothing clears it later
UPDATE alerts.firings f SET cleared_at = f.fired_at
FROM alerts.rules r
WHERE r.org_id = f.org_id AND r.id = f.rule_id AND r.dataset = 'platform.health'
  AND f.cleared_at IS NULL;
CREATE INDEX IF NOT EXISTS firings_org_cleared_idx ON alerts.firings (org_id, cleared_at)
    WHERE cleared_at IS NOT NULL;
ALTER TABLE alerts.deliveries DROP CONSTRAINT IF EXISTS deliveries_event;
ALTER TABLE alerts.deliveries ADD CONSTRAINT deliveries_event
    CHECK (event IN ('fired', 'retracted', 'cleared'));

-- The health of each RPC endpoint of a chain, as its live ingest sees it: down since when, and
-- why (one line, never the endpoint's path or query, which may hold a key). Written only by
-- chain.report_rpc_health; read only by the platform's definer functions (system alerts).
CREATE TABLE IF NOT EXISTS chain.rpc_health (
    chain_id bigint NOT NULL REFERENCES chain.chains (chain_id) ON DELETE CASCADE,
    position integer NOT NULL,
    address text NOT NULL,
    down_since timestamptz,
    reason text,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, position),
    CONSTRAINT rpc_health_position CHECK (position >= 1)
);
