-- What a runner's /metrics reads from Postgres at scrape time, in one statement (chainlake/observe/
-- collector.py): values that live here already, aggregated, never a row of a tenant's. Labels
-- are bounded: a queue name, an org's name, a chain's name, a channel kind.
--   queue_depth               per queue: messages in it (leased ones included)
--   queue_oldest_age_seconds  per queue: the oldest message's age (0 when empty)
--   dead_letters              per org: dead letters not replayed
--   ingest_head_block         per chain: the highest block in hot storage
--   ingest_lag_seconds        per chain: now minus the timestamp of that block
--   reorgs                    per chain: reorgs corrected (a count that only grows)
--   reorg_depth               per chain: a histogram of their depths over p_depth_bounds
--   alert_firings             per org: firings (backtests left out; a count that only grows)
--   alert_delivery_seconds    per channel kind: a histogram of created-to-delivered seconds over
--                             p_latency_bounds
-- A histogram row carries its sum in `value` and its cumulative bucket counts in `buckets` (one
-- per bound, then the total count).
DROP FUNCTION IF EXISTS core.metrics_snapshot(integer[], double precision[]);
CREATE OR REPLACE FUNCTION core.metrics_snapshot(
    p_depth_bounds integer[], p_latency_bounds double precision[]
) RETURNS TABLE (family text, labels jsonb, value double precision, buckets bigint[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'queue_depth', jsonb_build_object('queue', q.name), q.depth::double precision, NULL::bigint[]
    FROM (SELECT 'run_tasks' AS name, count(*) AS depth FROM pgmq.q_run_tasks
          UNION ALL
          SELECT 'alert_deliveries', count(*) FROM pgmq.q_alert_deliveries) q
    UNION ALL
    SELECT 'queue_oldest_age_seconds', jsonb_build_object('queue', q.name),
           coalesce(extract(epoch FROM now() - q.oldest), 0)::double precision, NULL
    FROM (SELECT 'run_tasks' AS name, (SELECT min(enqueued_at) FROM pgmq.q_run_tasks) AS oldest
          UNION ALL
          SELECT 'alert_deliveries', (SELECT min(enqueued_at) FROM pgmq.q_alert_deliveries)) q
    UNION ALL
    SELECT 'dead_letters', jsonb_build_object('org', o.name), count(d.id)::double precision, NULL
    FROM core.orgs o JOIN runs.dead_letters d ON d.org_id = o.id AND d.replayed_at IS NULL
    GROUP BY o.name
    UNION ALL
    SELECT 'ingest_head_block', jsonb_build_object('chain', c.name), c.head::double precision,
           NULL
    FROM chain.chains c WHERE c.head IS NOT NULL
    UNION ALL
    SELECT 'ingest_lag_seconds', jsonb_build_object('chain', c.name),
           greatest(0, extract(epoch FROM now() - b.timestamp))::double precision, NULL
    FROM chain.chains c JOIN chain.blocks b ON b.chain_id = c.chain_id AND b.number = c.head
    UNION ALL
    SELECT 'reorgs', jsonb_build_object('chain', c.name), count(r.id)::double precision, NULL
    FROM chain.chains c LEFT JOIN chain.reorgs r ON r.chain_id = c.chain_id
    GROUP BY c.name
    UNION ALL
    SELECT 'reorg_depth', jsonb_build_object('chain', k.name),
           coalesce((SELECT sum(d) FROM unnest(k.depths) d), 0)::double precision,
           ARRAY(SELECT count(d) FILTER (WHERE d <= bound)
                 FROM unnest(p_depth_bounds) bound LEFT JOIN unnest(k.depths) d ON true
                 GROUP BY bound ORDER BY bound) || cardinality(k.depths)::bigint
    FROM (SELECT c.name, array_remove(array_agg(r.depth), NULL) AS depths
          FROM chain.chains c LEFT JOIN chain.reorgs r ON r.chain_id = c.chain_id
          GROUP BY c.chain_id, c.name) k
    UNION ALL
    SELECT 'alert_firings', jsonb_build_object('org', o.name), count(*)::double precision, NULL
    FROM alerts.firings f JOIN core.orgs o ON o.id = f.org_id
    WHERE NOT f.backtest
    GROUP BY o.name
    UNION ALL
    SELECT 'alert_delivery_seconds', jsonb_build_object('kind', k.kind),
           (SELECT sum(s) FROM unnest(k.seconds) s),
           ARRAY(SELECT count(s) FILTER (WHERE s <= bound)
                 FROM unnest(p_latency_bounds) bound LEFT JOIN unnest(k.seconds) s ON true
                 GROUP BY bound ORDER BY bound) || cardinality(k.seconds)::bigint
    FROM (SELECT ch.kind,
                 array_agg(extract(epoch FROM dl.delivered_at - dl.created_at)::double precision)
                     AS seconds
          FROM alerts.deliveries dl
          JOIN alerts.channels ch ON ch.org_id = dl.org_id AND ch.name = dl.channel
          WHERE dl.state = 'delivered' AND dl.delivered_at IS NOT NULL
          GROUP BY ch.kind) k
$$;
REVOKE EXECUTE ON FUNCTION core.metrics_snapshot(integer[], double precision[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.metrics_snapshot(integer[], double precision[]) TO chainlake_runner;

-- An org's name, for the runner's counters of runs (labels name orgs, never their ids).
CREATE OR REPLACE FUNCTION core.org_label(p_org_id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT name FROM core.orgs WHERE id = p_org_id
$$;
REVOKE EXECUTE ON FUNCTION core.org_label(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.org_label(uuid) TO chainlake_runner;

-- Readiness (/health/ready of the API and of a runner): NULL when the run and delivery queues
-- answer, else what is wrong, in one line.
CREATE OR REPLACE FUNCTION core.queues_problem() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(q, ', ') INTO missing
    FROM unnest(ARRAY['run_tasks', 'alert_deliveries']) q
    WHERE NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = q);
    IF missing IS NOT NULL THEN
        RETURN 'queue(s) missing: ' || missing || ' (run `chainlake migrate`)';
    END IF;
    PERFORM 1 FROM pgmq.q_run_tasks LIMIT 1;
    PERFORM 1 FROM pgmq.q_alert_deliveries LIMIT 1;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION core.queues_problem() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.queues_problem() TO chainlake_runner, chainlake_api;
