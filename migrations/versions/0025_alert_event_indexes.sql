-- A listen stream reads an org's firings and retractions after a moment
-- (alerts.events_after, sql/alerts/86_alerts_api.sql): by org and time, not by a scan.
CREATE INDEX IF NOT EXISTS firings_org_fired_idx ON alerts.firings (org_id, fired_at);
CREATE INDEX IF NOT EXISTS firings_org_retracted_idx ON alerts.firings (org_id, retracted_at)
    WHERE retracted_at IS NOT NULL;
