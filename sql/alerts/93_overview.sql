-- What an operator watches (`chainlake top`): the platform as one JSON document, across every
-- org. The operator's only (EXECUTE revoked from PUBLIC, granted to no role): it names every
-- org's load.
CREATE OR REPLACE FUNCTION alerts.platform_overview() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'at', now(),
        'runs', (
            SELECT jsonb_build_object(
                'queued', count(*) FILTER (WHERE status IN ('queued', 'retrying')),
                'running', count(*) FILTER (WHERE status = 'running'),
                'succeeded_5m', count(*) FILTER (WHERE status = 'succeeded'
                                                   AND finished_at > now() - interval '5 minutes'),
                'failed_5m', count(*) FILTER (WHERE status IN ('failed', 'dead')
                                                AND finished_at > now() - interval '5 minutes'),
                'finished_per_second_1m', round((count(*) FILTER (
                    WHERE status IN ('succeeded', 'failed', 'dead')
                      AND finished_at > now() - interval '1 minute'))::numeric / 60, 2))
            FROM runs.runs
            WHERE status IN ('queued', 'retrying', 'running')
               OR finished_at > now() - interval '5 minutes'),
        'queues', jsonb_build_array(
            (SELECT jsonb_build_object('name', 'run_tasks', 'depth', count(*),
                                       'oldest_seconds',
                                       round(coalesce(extract(epoch FROM now() - min(enqueued_at)), 0), 1))
             FROM pgmq.q_run_tasks),
            (SELECT jsonb_build_object('name', 'alert_deliveries', 'depth', count(*),
                                       'oldest_seconds',
                                       round(coalesce(extract(epoch FROM now() - min(enqueued_at)), 0), 1))
             FROM pgmq.q_alert_deliveries)),
        'chains', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'chain_id', c.chain_id, 'name', c.name, 'head', c.head,
                       'finalized', c.finalized, 'archived_to', c.archived_to,
                       'stored_tip', t.tip,
                       'lag_blocks', CASE WHEN c.head IS NOT NULL AND t.tip IS NOT NULL
                                          THEN greatest(c.head - t.tip, 0) END,
                       'lag_seconds', round(extract(epoch FROM now() - t.ingested)::numeric, 1),
                       'stopped', c.stopped_reason,
                       'endpoints_down', (SELECT count(*) FROM chain.rpc_health h
                                          WHERE h.chain_id = c.chain_id
                                            AND h.down_since IS NOT NULL))
                   ORDER BY c.chain_id)
            FROM chain.chains c
            LEFT JOIN LATERAL (SELECT max(b.number) AS tip, max(b.ingested_at) AS ingested
                               FROM chain.blocks b WHERE b.chain_id = c.chain_id) t ON true), '[]'),
        'alerts', (
            SELECT jsonb_build_object(
                'delivered_15m', count(*),
                'latency_p50_ms', round((percentile_cont(0.5) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - f.fired_at)) * 1000)::numeric),
                'latency_p95_ms', round((percentile_cont(0.95) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - f.fired_at)) * 1000)::numeric),
                'pending', (SELECT count(*) FROM alerts.deliveries WHERE state = 'pending'),
                'dead_1h', (SELECT count(*) FROM alerts.deliveries
                            WHERE state = 'dead' AND created_at > now() - interval '1 hour'),
                'open_system_alerts', (SELECT count(*) FROM alerts.firings x
                                       JOIN alerts.rules r ON r.org_id = x.org_id AND r.id = x.rule_id
                                       WHERE r.dataset = 'platform.health'
                                         AND x.cleared_at IS NULL AND NOT x.backtest))
            FROM alerts.deliveries d JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
            WHERE d.state = 'delivered' AND d.event = 'fired'
              AND d.delivered_at > now() - interval '15 minutes'),
        'busiest_orgs', coalesce((
            SELECT jsonb_agg(b ORDER BY b.running DESC, b.queued DESC, b.finished_15m DESC, b.org)
            FROM (SELECT o.name AS org,
                         count(*) FILTER (WHERE r.status = 'running') AS running,
                         count(*) FILTER (WHERE r.status IN ('queued', 'retrying')) AS queued,
                         count(*) FILTER (WHERE r.finished_at > now() - interval '15 minutes')
                             AS finished_15m,
                         count(*) FILTER (WHERE r.status IN ('failed', 'dead')
                                            AND r.finished_at > now() - interval '15 minutes')
                             AS failed_15m
                  FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
                  WHERE r.status IN ('queued', 'retrying', 'running')
                     OR r.finished_at > now() - interval '15 minutes'
                  GROUP BY o.name
                  ORDER BY 2 DESC, 3 DESC, 4 DESC, 1
                  LIMIT 10) b), '[]')
    )
$$;

REVOKE EXECUTE ON FUNCTION alerts.platform_overview() FROM PUBLIC;
