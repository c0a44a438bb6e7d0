-- Managing alerts as the caller (RLS decides: members read, writers write): rules and channels
-- by org and name, recent firings with their deliveries. Every rule passes alerts.check_rule.

CREATE OR REPLACE FUNCTION alerts.text_array(p_value jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(v ORDER BY n), '{}')
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p_value) = 'array' THEN p_value
                                        ELSE '[]' END) WITH ORDINALITY AS e(v, n)
$$;

-- Create or replace rule p_name of org p_org from a JSON spec: dataset and condition (required),
-- severity, channels, dedup_key, throttle_seconds, confirmation, window_blocks, group_by,
-- chain_id, description, enabled.
CREATE OR REPLACE FUNCTION alerts.save_rule(p_org text, p_name text, p_spec jsonb)
RETURNS alerts.rules
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := core.member_org(p_org);
    unknown text;
    saved alerts.rules;
BEGIN
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(p_spec) k
    WHERE k NOT IN ('dataset', 'condition', 'severity', 'channels', 'dedup_key',
                    'throttle_seconds', 'confirmation', 'window_blocks', 'group_by', 'chain_id',
                    'description', 'enabled');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown rule field(s): %', unknown USING ERRCODE = '22023';
    END IF;
    IF coalesce(p_spec ->> 'dataset', '') = '' OR coalesce(p_spec ->> 'condition', '') = '' THEN
        RAISE EXCEPTION 'a rule needs a dataset and a condition' USING ERRCODE = '22023',
            HINT = 'e.g. dataset chain.transactions, condition value > 1000000000000000000';
    END IF;
    INSERT INTO alerts.rules AS r (org_id, name, dataset, condition, severity, channels,
        dedup_key, throttle_seconds, confirmation, window_blocks, group_by, chain_id,
        description, enabled)
    VALUES (org, p_name, p_spec ->> 'dataset', p_spec ->> 'condition',
        coalesce(p_spec ->> 'severity', 'info'), alerts.text_array(p_spec -> 'channels'),
        alerts.text_array(p_spec -> 'dedup_key'),
        coalesce((p_spec ->> 'throttle_seconds')::integer, 0),
        coalesce(p_spec ->> 'confirmation', 'provisional'),
        (p_spec ->> 'window_blocks')::integer, alerts.text_array(p_spec -> 'group_by'),
        (p_spec ->> 'chain_id')::bigint, coalesce(p_spec ->> 'description', ''),
        coalesce((p_spec ->> 'enabled')::boolean, true))
    ON CONFLICT (org_id, name) DO UPDATE SET
        dataset = excluded.dataset, condition = excluded.condition,
        severity = excluded.severity, channels = excluded.channels,
        dedup_key = excluded.dedup_key, throttle_seconds = excluded.throttle_seconds,
        confirmation = excluded.confirmation, window_blocks = excluded.window_blocks,
        group_by = excluded.group_by, chain_id = excluded.chain_id,
        description = excluded.description, enabled = excluded.enabled
    RETURNING * INTO saved;
    RETURN saved;
END
$$;

CREATE OR REPLACE FUNCTION alerts.set_enabled(p_org text, p_name text, p_enabled boolean)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE alerts.rules SET enabled = p_enabled
    WHERE org_id = core.member_org(p_org) AND name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may change', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;

-- SECURITY DEFINER: people hold no DELETE privilege (it would also let them LOCK the table);
-- the check is the table's DELETE policy's (writers of the org).
CREATE OR REPLACE FUNCTION alerts.delete_rule(p_org text, p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM alerts.rules WHERE org_id = core.member_org(p_org) AND name = p_name
      AND org_id = ANY (core.caller_org_ids('write'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may delete', p_name, p_org
            USING ERRCODE = '42704';
    END IF;
END
$$;

DROP FUNCTION IF EXISTS alerts.list_rules(text, integer);  -- its columns changed
CREATE FUNCTION alerts.list_rules(p_after text, p_limit integer)
RETURNS TABLE (org text, name text, dataset text, condition text, severity text,
               enabled boolean, channels text[], confirmation text, window_blocks integer,
               group_by text[], dedup_key text[], throttle_seconds integer, chain_id bigint,
               description text, last_error text, firings bigint, last_fired timestamptz,
               cursor text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, r.name, r.dataset, r.condition, r.severity, r.enabled, r.channels,
           r.confirmation, r.window_blocks, r.group_by, r.dedup_key, r.throttle_seconds,
           r.chain_id, r.description, r.last_error,
           (SELECT count(*) FROM alerts.firings f
            WHERE f.org_id = r.org_id AND f.rule_id = r.id AND NOT f.backtest),
           (SELECT max(f.fired_at) FROM alerts.firings f
            WHERE f.org_id = r.org_id AND f.rule_id = r.id AND NOT f.backtest),
           o.name || '/' || r.name
    FROM alerts.rules r JOIN core.orgs o ON o.id = r.org_id
    WHERE p_after IS NULL OR o.name || '/' || r.name > p_after
    ORDER BY o.name || '/' || r.name
    LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- Recent firings (newest first) of the caller's orgs, optionally of one org and rule, with the
-- state of each delivery.
CREATE OR REPLACE FUNCTION alerts.recent_firings(p_org text, p_rule text, p_limit integer)
RETURNS TABLE (id uuid, org text, rule text, severity text, chain_id bigint, from_block bigint,
               to_block bigint, block_hash text, match_key text, vals jsonb,
               fired_at timestamptz, retracted_at timestamptz, deliveries jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.id, o.name, r.name, r.severity, f.chain_id, f.from_block, f.to_block,
           '0x' || encode(f.block_hash, 'hex'), f.match_key, f.vals, f.fired_at, f.retracted_at,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'channel', d.channel, 'event', d.event, 'state', d.state,
                         'attempts', d.attempts, 'last_error', d.last_error)
                         ORDER BY d.created_at, d.channel)
                     FROM alerts.deliveries d WHERE d.org_id = f.org_id AND d.firing_id = f.id),
                    '[]')
    FROM alerts.firings f
    JOIN core.orgs o ON o.id = f.org_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    WHERE NOT f.backtest AND (p_org IS NULL OR o.name = p_org)
      AND (p_rule IS NULL OR r.name = p_rule)
    ORDER BY f.fired_at DESC
    LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- Create or replace channel p_name (its secret encrypted by the caller with the platform key;
-- NULL keeps the stored one). SECURITY DEFINER because users may not read secret_enc, which
-- keeping the stored secret reads; so it checks the writer role itself.
CREATE OR REPLACE FUNCTION alerts.save_channel(
    p_org text, p_name text, p_kind text, p_target text, p_config jsonb, p_secret_enc bytea
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    org uuid := core.writable_org(p_org, 'manage its alert channels');
    saved uuid;
BEGIN
    INSERT INTO alerts.channels AS c (org_id, name, kind, target, config, secret_enc,
                                      created_by)
    VALUES (org, p_name, p_kind, p_target, coalesce(p_config, '{}'), p_secret_enc,
            core.caller_user_id())
    ON CONFLICT (org_id, name) DO UPDATE SET kind = excluded.kind, target = excluded.target,
        config = excluded.config, secret_enc = coalesce(excluded.secret_enc, c.secret_enc)
    RETURNING id INTO saved;
    RETURN saved;
END
$$;

CREATE OR REPLACE FUNCTION alerts.list_channels()
RETURNS TABLE (org text, name text, kind text, target text, config jsonb, has_secret boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, c.name, c.kind, c.target, c.config, c.secret_enc IS NOT NULL
    FROM alerts.channels c JOIN core.orgs o ON o.id = c.org_id
    WHERE c.org_id = ANY (core.caller_org_ids('read'))
    ORDER BY o.name, c.name
$$;

GRANT EXECUTE ON FUNCTION
    alerts.text_array(jsonb),
    alerts.save_rule(text, text, jsonb),
    alerts.set_enabled(text, text, boolean),
    alerts.delete_rule(text, text),
    alerts.list_rules(text, integer),
    alerts.recent_firings(text, text, integer),
    alerts.save_channel(text, text, text, text, jsonb, bytea),
    alerts.list_channels()
TO chainlake_users;

-- Firings and retractions of the orgs whose firings the caller may read (or of p_org), that
-- happened after p_after, oldest first, at most p_limit: what an API listen stream reads each
-- time its orgs' channels say something changed (a notice is only that hint: whatever it
-- carried, this reads through RLS, so a forged or replayed notice shows nothing new).
CREATE OR REPLACE FUNCTION alerts.events_after(p_org text, p_after timestamptz, p_limit integer)
RETURNS TABLE (at timestamptz, event text, firing uuid, org text, rule text, severity text,
               chain_id bigint, to_block bigint, match_key text, vals jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH mine AS (
        SELECT o.id, o.name FROM core.orgs o
        WHERE o.id = ANY (core.caller_org_ids('read')) AND (p_org IS NULL OR o.name = p_org)
    ), happened AS (
        SELECT f.org_id, f.id, f.rule_id, f.fired_at AS at, 'fired' AS event
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.fired_at > p_after
        UNION ALL
        SELECT f.org_id, f.id, f.rule_id, f.retracted_at, 'retracted'
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.retracted_at > p_after
        UNION ALL
        SELECT f.org_id, f.id, f.rule_id, f.cleared_at, 'cleared'
        FROM alerts.firings f JOIN mine ON mine.id = f.org_id WHERE f.cleared_at > p_after
    )
    SELECT h.at, h.event, f.id, mine.name, r.name, r.severity, f.chain_id, f.to_block,
           f.match_key, f.vals
    FROM happened h
    JOIN alerts.firings f ON f.org_id = h.org_id AND f.id = h.id
    JOIN mine ON mine.id = h.org_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    ORDER BY h.at, f.id
    LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;
GRANT EXECUTE ON FUNCTION alerts.events_after(text, timestamptz, integer) TO chainlake_users;

-- The notification channel of each org whose firings the caller may read (or of p_org), on
-- which firings and retractions are announced (`chainlake alert listen`, the API's listen).
CREATE OR REPLACE FUNCTION alerts.notice_channels(p_org text)
RETURNS TABLE (org text, channel text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.name, alerts.channel_name(o.id) FROM core.orgs o
    WHERE o.id = ANY (core.caller_org_ids('read')) AND (p_org IS NULL OR o.name = p_org)
    ORDER BY o.name
$$;
GRANT EXECUTE ON FUNCTION alerts.notice_channels(text) TO chainlake_users;
