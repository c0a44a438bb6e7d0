-- Alerts: rules are rows, checked when saved; each ingest batch evaluates the active rules over
-- its new rows in its own transaction; a firing is a row, a NOTIFY carrying only opaque ids and
-- a delivery task per channel; a reorg retracts the firings whose rows it removed.

-- What a rule may watch: each chain table, its block-number column and its row identity.
CREATE OR REPLACE FUNCTION alerts.dataset_shape(
    p_dataset text, OUT tbl text, OUT num text, OUT row_key text
)
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
BEGIN
    CASE p_dataset
        WHEN 'chain.transactions' THEN
            tbl := 'chain.transactions'; num := 'block_number';
            row_key := 'encode(t.hash, ''hex'')';
        WHEN 'chain.logs' THEN
            tbl := 'chain.logs'; num := 'block_number';
            row_key := 'encode(t.transaction_hash, ''hex'') || '':'' || t.log_index';
        WHEN 'chain.blocks' THEN
            tbl := 'chain.blocks'; num := 'number'; row_key := 'encode(t.hash, ''hex'')';
        WHEN 'platform.health' THEN  -- system alerts (alerts.platform_health)
            tbl := 'alerts.platform_health_row'; num := NULL;
            row_key := 't.metric || '':'' || t.subject';
        ELSE
            RAISE EXCEPTION 'dataset: alerts watch chain.transactions, chain.logs, chain.blocks or (the system org) platform.health, not "%"',
                p_dataset USING ERRCODE = '22023';
    END CASE;
END
$$;

-- The condition's text stays one self-contained expression wherever it is placed: no statement
-- separators, comments, dollar quotes or escape strings, and its parentheses balance.
CREATE OR REPLACE FUNCTION alerts.check_condition_text(p_condition text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
    bare text;
    depth integer := 0;
    ch text;
BEGIN
    IF coalesce(btrim(p_condition), '') = '' THEN
        RAISE EXCEPTION 'condition: empty' USING ERRCODE = '22023',
            HINT = 'write a predicate over the dataset''s columns, e.g. value > 1000000000000000000';
    END IF;
    IF length(p_condition) > 2000 THEN  -- its cost per row grows with it: keep it a predicate
        RAISE EXCEPTION 'condition: % characters, at most 2000', length(p_condition)
            USING ERRCODE = '22023';
    END IF;
    IF p_condition ~ '(^|[^a-zA-Z0-9_''])[eE]''' OR p_condition ~ '(^|[^a-zA-Z0-9_])[uU]&'
       OR p_condition ~ '\$' THEN
        RAISE EXCEPTION 'condition: escape strings, unicode escapes and $ are not allowed'
            USING ERRCODE = '22023';
    END IF;
    IF position(';' IN p_condition) > 0 THEN  -- anywhere, even in a string: never a statement
        RAISE EXCEPTION 'condition: one expression only (no ";")' USING ERRCODE = '22023';
    END IF;
    -- strings and quoted identifiers in one left-to-right pass (a quote inside the other kind
    -- is just a character)
    bare := regexp_replace(p_condition, '''([^'']|'''')*''|"([^"]|"")*"', '''''', 'g');
    IF bare ~ '(--|/\*)' THEN
        RAISE EXCEPTION 'condition: one expression only (no ";" and no comments)'
            USING ERRCODE = '22023';
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(bare, '') LOOP
        depth := depth + CASE ch WHEN '(' THEN 1 WHEN ')' THEN -1 ELSE 0 END;
        IF depth < 0 THEN
            RAISE EXCEPTION 'condition: unbalanced ")"' USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF depth <> 0 THEN
        RAISE EXCEPTION 'condition: unbalanced "("' USING ERRCODE = '22023';
    END IF;
END
$$;

-- Built-in functions whose cost or output is not bounded by their input's size (repeat('x',
-- 10^9), numeric powers, huge pads and fills, aggregates that build one value of a whole window).
-- Conditions run inside every ingest batch, so a condition may not call them.
CREATE OR REPLACE FUNCTION alerts.amplifies(p_function oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc f
        WHERE f.oid = p_function
          AND (f.proname IN ('repeat', 'lpad', 'rpad', 'array_fill', 'factorial', 'numeric_fac',
                             'numeric_power', 'numeric_exp', 'string_agg', 'array_agg', 'xmlagg',
                             'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg')
               OR f.oid::regprocedure::text IN ('power(numeric,numeric)', 'pow(numeric,numeric)',
                                               'exp(numeric)')))
$$;

-- Parse and check a rule's condition with Postgres itself: compile it as a temporary function
-- of the dataset's row (never visible to another session), then read its parse tree. It may
-- name only the dataset's columns, call only immutable functions (no side effects, no clock, no
-- settings), read no table, and use aggregates only in a window rule.
CREATE OR REPLACE FUNCTION alerts.check_condition(
    p_dataset text, p_condition text, p_group_by text[], p_windowed boolean
) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = '' AS $$
DECLARE
    shape record;
    body text;
    fn oid;
    bad record;
    grouping text := '';
BEGIN
    shape := alerts.dataset_shape(p_dataset);
    PERFORM alerts.check_condition_text(p_condition);
    IF cardinality(p_group_by) > 0 THEN
        IF NOT p_windowed THEN
            RAISE EXCEPTION 'group_by: grouping needs a window (window_blocks)'
                USING ERRCODE = '22023';
        END IF;
        grouping := ' GROUP BY ' || (SELECT string_agg(format('%I', g), ', ') FROM unnest(p_group_by) g);
    END IF;
    BEGIN
        EXECUTE format(
            'CREATE FUNCTION pg_temp.chainlake_condition(t %s) RETURNS boolean LANGUAGE sql '
            'STABLE RETURN (SELECT (%s)::boolean FROM (SELECT (t).*) AS t%s)',
            shape.tbl, p_condition, grouping);
    EXCEPTION
        WHEN undefined_column THEN
            RAISE EXCEPTION 'condition: % in %', SQLERRM, p_dataset USING ERRCODE = '22023',
                HINT = format('its columns: %s', (
                    SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_catalog.pg_attribute
                    WHERE attrelid = shape.tbl::regclass AND attnum > 0 AND NOT attisdropped));
        WHEN syntax_error THEN
            RAISE EXCEPTION 'condition: does not parse: %', SQLERRM USING ERRCODE = '22023';
        WHEN others THEN
            RAISE EXCEPTION 'condition: %', SQLERRM USING ERRCODE = '22023';
    END;
    SELECT p.oid, p.prosqlbody::text INTO fn, body FROM pg_catalog.pg_proc p
    WHERE p.proname = 'chainlake_condition' AND p.pronamespace = pg_catalog.pg_my_temp_schema();
    EXECUTE format('DROP FUNCTION pg_temp.chainlake_condition(%s)', shape.tbl);
    IF body ~ 'SQLVALUEFUNCTION' THEN
        RAISE EXCEPTION 'condition: may not read the clock or the session (current_timestamp, current_user, ...)'
            USING ERRCODE = '22023';
    END IF;
    IF body ~ ':relid [1-9]' OR (SELECT count(*) FROM regexp_matches(body, ':subLinkType', 'g')) > 1 THEN
        RAISE EXCEPTION 'condition: may not read other tables or use subqueries'
            USING ERRCODE = '22023', HINT = format('use only the columns of %s', p_dataset);
    END IF;
    FOR bad IN
        SELECT DISTINCT f.oid::regprocedure AS called, f.provolatile, f.prokind
        FROM regexp_matches(body, ':(?:[a-z]*funcid|aggfnoid|winfnoid) ([0-9]+)', 'g') m
        JOIN pg_catalog.pg_proc f ON f.oid = m[1]::oid
        WHERE f.provolatile <> 'i' OR f.prokind = 'w' OR f.proretset
           OR (f.prokind = 'a' AND NOT p_windowed)
           OR f.pronamespace <> 'pg_catalog'::regnamespace
           OR alerts.amplifies(f.oid)
    LOOP
        RAISE EXCEPTION 'condition: may not call %', bad.called USING ERRCODE = '22023',
            HINT = CASE WHEN bad.prokind = 'a' AND NOT p_windowed THEN 'aggregates need a window (window_blocks)'
                        WHEN alerts.amplifies(bad.called::oid) THEN 'its cost is not bounded by the row''s size, and conditions run in every ingest batch'
                        ELSE 'only pure built-in functions of the row''s values (no side effects, clock or settings)' END;
    END LOOP;
END
$$;

-- Every insert or change of a rule is checked here, whoever makes it and however.
CREATE OR REPLACE FUNCTION alerts.check_rule() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = '' AS $$  -- compiles as whoever saves
DECLARE
    shape record;
    col text;
BEGIN
    shape := alerts.dataset_shape(NEW.dataset);
    IF NEW.dataset = 'platform.health' AND NOT coalesce(
        (SELECT system FROM core.orgs WHERE id = NEW.org_id), false) THEN
        RAISE EXCEPTION 'dataset: platform.health rules belong to the system org'
            USING ERRCODE = '42501';
    END IF;
    IF NEW.dataset = 'platform.health' AND NEW.window_blocks IS NOT NULL THEN
        RAISE EXCEPTION 'window_blocks: platform.health rules are row rules'
            USING ERRCODE = '22023';
    END IF;
    FOREACH col IN ARRAY NEW.dedup_key || NEW.group_by LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                       WHERE attrelid = shape.tbl::regclass AND attname = col AND attnum > 0
                         AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of dedup_key or group_by is not a column of %', col,
                NEW.dataset USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOREACH col IN ARRAY NEW.channels LOOP
        IF NOT EXISTS (SELECT 1 FROM alerts.channels
                       WHERE org_id = NEW.org_id AND name = col) THEN
            RAISE EXCEPTION 'channels: "%" is not a channel of this org', col
                USING ERRCODE = '22023',
                HINT = 'create it first: chainlake alert channel create NAME --kind webhook|email|sms|slack';
        END IF;
    END LOOP;
    PERFORM alerts.check_condition(NEW.dataset, NEW.condition, NEW.group_by,
                                   NEW.window_blocks IS NOT NULL);
    NEW.predicate := NEW.condition;  -- the checked text evaluation uses
    NEW.last_error := NULL;          -- a changed rule is evaluated again
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS rules_checked ON alerts.rules;
CREATE TRIGGER rules_checked
    BEFORE INSERT OR UPDATE OF dataset, condition, channels, dedup_key, group_by, window_blocks,
                               org_id
    ON alerts.rules FOR EACH ROW EXECUTE FUNCTION alerts.check_rule();

-- The per-org NOTIFY channel: LISTEN has no access control, so payloads carry only opaque ids.
CREATE OR REPLACE FUNCTION alerts.channel_name(p_org_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT 'alerts_' || replace(p_org_id::text, '-', '')
$$;

-- A firing or retraction: its NOTIFY and one delivery task per channel of its rule.
CREATE OR REPLACE FUNCTION alerts.announce(p_firing_id uuid, p_event text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    f alerts.firings;
    channel text;
    delivery uuid;
BEGIN
    SELECT * INTO f FROM alerts.firings WHERE id = p_firing_id;
    PERFORM pg_notify(alerts.channel_name(f.org_id),
                      json_build_object('firing', f.id, 'event', p_event)::text);
    IF f.backtest THEN
        RETURN;
    END IF;
    FOR channel IN SELECT unnest(r.channels) FROM alerts.rules r
                   WHERE r.org_id = f.org_id AND r.id = f.rule_id LOOP
        INSERT INTO alerts.deliveries (org_id, firing_id, channel, event)
        VALUES (f.org_id, f.id, channel, p_event)
        ON CONFLICT DO NOTHING RETURNING id INTO delivery;
        IF delivery IS NOT NULL THEN
            PERFORM pgmq.send('alert_deliveries',
                              jsonb_build_object('delivery_id', delivery, 'org_id', f.org_id));
            PERFORM pg_notify('alert_deliveries', '');  -- wakes the delivery worker
        END IF;
    END LOOP;
END
$$;

-- One rule over blocks p_from..p_to of a chain: the new firings' ids. A row rule matches rows;
-- a window rule matches groups over the window_blocks blocks ending at each block of the range.
-- p_source 'backtest' reads the session's pg_temp.backtest_<table> copies (alerts.backtest).
CREATE OR REPLACE FUNCTION alerts.evaluate_rule(
    r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean DEFAULT false,
    p_source text DEFAULT 'chain'
) RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    shape record := alerts.dataset_shape(r.dataset);
    blocks text := 'chain.blocks';
    dedup text;
    throttled text := '';
    groups text;
    group_cols text;
    ending bigint;
BEGIN
    IF p_source = 'backtest' THEN
        shape.tbl := 'pg_temp.backtest_' || split_part(shape.tbl, '.', 2);
        blocks := 'pg_temp.backtest_blocks';
    END IF;
    dedup := CASE WHEN cardinality(r.dedup_key) = 0 THEN shape.row_key
                  ELSE (SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', k), ', ')
                               || ')' FROM unnest(r.dedup_key) k) END;
    IF r.throttle_seconds > 0 THEN
        throttled := ' AND NOT EXISTS (SELECT 1 FROM alerts.firings f WHERE f.rule_id = $5 '
            'AND f.dedup_value = hit.dedup_value AND f.retracted_at IS NULL AND f.backtest = $6 '
            'AND f.fired_at > clock_timestamp() - make_interval(secs => $7))';
    END IF;
    IF r.window_blocks IS NULL THEN
        RETURN QUERY EXECUTE format(
            'INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, '
            '  block_hash, match_key, dedup_value, vals, backtest) '
            'SELECT $4, $5, $1, hit.n, hit.n, hit.block_hash, hit.match_key, hit.dedup_value, '
            '       hit.vals, $6 '
            'FROM (SELECT DISTINCT ON (dedup_value) * FROM ('
            '  SELECT t.%2$I AS n, b.hash AS block_hash, %3$s AS match_key, %4$s AS dedup_value, '
            '         to_jsonb(t) AS vals '
            '  FROM %1$s t JOIN %7$s b ON b.chain_id = t.chain_id AND b.number = t.%2$I '
            '  WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3 '
            '    AND (SELECT (%5$s)::boolean FROM (SELECT (t).*) AS t)) m '
            '  ORDER BY dedup_value, n, match_key) hit '
            'WHERE true %6$s '
            'ON CONFLICT DO NOTHING RETURNING id',
            shape.tbl, shape.num, shape.row_key, dedup, r.predicate,
            CASE WHEN r.throttle_seconds > 0 THEN throttled ELSE '' END, blocks)
        USING p_chain_id, p_from, p_to, r.org_id, r.id, p_backtest, r.throttle_seconds;
        RETURN;
    END IF;
    groups := CASE WHEN cardinality(r.group_by) = 0 THEN '''all'''
                   ELSE (SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', g), ', ')
                                || ')' FROM unnest(r.group_by) g) END;
    group_cols := CASE WHEN cardinality(r.group_by) = 0 THEN ''
                       ELSE (SELECT 'GROUP BY ' || string_agg(format('t.%I', g), ', ')
                             FROM unnest(r.group_by) g) END;
    FOR ending IN SELECT generate_series(p_from, p_to) LOOP
        RETURN QUERY EXECUTE format(
            'INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, '
            '  block_hash, match_key, dedup_value, vals, backtest) '
            'SELECT $4, $5, $1, $3 - $8 + 1, $3, b.hash, hit.dedup_value || ''@'' || $3, '
            '       hit.dedup_value, hit.vals, $6 '
            'FROM (SELECT %2$s AS dedup_value, jsonb_build_object(''rows'', count(*)) AS vals '
            '      FROM %1$s t WHERE t.chain_id = $1 AND t.%3$I BETWEEN $3 - $8 + 1 AND $3 '
            '      %7$s HAVING (%4$s)) hit '
            'JOIN %6$s b ON b.chain_id = $1 AND b.number = $3 '
            'WHERE true %5$s '
            'ON CONFLICT DO NOTHING RETURNING id',
            shape.tbl, groups, shape.num, r.predicate,
            CASE WHEN r.throttle_seconds > 0 THEN throttled ELSE '' END, blocks, group_cols)
        USING p_chain_id, NULL::bigint, ending, r.org_id, r.id, p_backtest, r.throttle_seconds,
              r.window_blocks::bigint;
    END LOOP;
END
$$;

-- Blocks at least this deep below the head count as safe.
CREATE OR REPLACE FUNCTION alerts.safe_depth() RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$ SELECT 12 $$;

-- The active rules of one level over a block range, one at a time (p_simple: those
-- alerts.evaluate_simple takes, else the others), each new firing announced. A rule that fails at
-- run time (a division by zero on some row) is set aside with its error (alerts.rules.last_error,
-- shown by `alert list`) until it is saved again; it never fails the ingest batch.
CREATE OR REPLACE FUNCTION alerts.evaluate_each(
    p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    r alerts.rules;
    fired uuid;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM alerts.rules
             WHERE enabled AND last_error IS NULL AND confirmation = p_level
               AND dataset LIKE 'chain.%' AND (chain_id IS NULL OR chain_id = p_chain_id)
               AND alerts.is_simple(rules) = p_simple LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_rule(r, p_chain_id, p_from, p_to) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            UPDATE alerts.rules SET last_error = left(SQLERRM, 500)
            WHERE org_id = r.org_id AND id = r.id;
        END;
    END LOOP;
    RETURN n;
END
$$;

-- A row rule with neither a dedup key nor a throttle: many of them are evaluated in one query.
CREATE OR REPLACE FUNCTION alerts.is_simple(r alerts.rules) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT r.window_blocks IS NULL AND r.throttle_seconds = 0 AND cardinality(r.dedup_key) = 0
$$;

-- Every simple rule of one dataset and level in one scan of the range's rows: each row gets the
-- ordinals of the rules it matches (one CASE per rule, over the row's own columns).
CREATE OR REPLACE FUNCTION alerts.evaluate_simple(
    p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text
) RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    shape record := alerts.dataset_shape(p_dataset);
    orgs uuid[];
    ids uuid[];
    cases text;
BEGIN
    SELECT array_agg(r.org_id ORDER BY r.n), array_agg(r.id ORDER BY r.n),
           string_agg(format('CASE WHEN (%s)::boolean THEN %s END', r.predicate, r.n), ', '
                      ORDER BY r.n)
    INTO orgs, ids, cases
    FROM (SELECT rl.*, row_number() OVER (ORDER BY rl.org_id, rl.id) AS n
          FROM alerts.rules rl
          WHERE rl.enabled AND rl.last_error IS NULL AND rl.confirmation = p_level
            AND rl.dataset = p_dataset AND alerts.is_simple(rl)
            AND (rl.chain_id IS NULL OR rl.chain_id = p_chain_id)) r;
    IF cases IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, '
        '  block_hash, match_key, dedup_value, vals) '
        'SELECT $4[h.i], $5[h.i], $1, t.%2$I, t.%2$I, b.hash, %3$s, %3$s, to_jsonb(t) '
        'FROM (SELECT m.r, m.i FROM (SELECT t AS r, unnest(ARRAY[%4$s]::bigint[]) AS i '
        '      FROM %1$s t WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3) m '
        '      WHERE m.i IS NOT NULL) h '
        'CROSS JOIN LATERAL (SELECT (h.r).*) t '  -- the matched rows only get to_jsonb
        'JOIN chain.blocks b ON b.chain_id = $1 AND b.number = t.%2$I '
        'ON CONFLICT DO NOTHING RETURNING id',
        shape.tbl, shape.num, shape.row_key, cases)
    USING p_chain_id, p_from, p_to, orgs, ids;
END
$$;

-- Every active rule of one level over a block range; each new firing announced. Simple rules
-- go a dataset at a time in one query; if that query fails (one rule fails on some row), they
-- go one at a time, which sets the failing rule aside.
CREATE OR REPLACE FUNCTION alerts.evaluate(
    p_chain_id bigint, p_from bigint, p_to bigint, p_level text
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    ds text;
    fired uuid;
    n integer := 0;
    fallback boolean := false;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RETURN 0;
    END IF;
    FOR ds IN SELECT DISTINCT r.dataset FROM alerts.rules r
              WHERE r.enabled AND r.last_error IS NULL AND r.confirmation = p_level
                AND r.dataset LIKE 'chain.%' AND alerts.is_simple(r) LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_simple(ds, p_chain_id, p_from, p_to,
                                                              p_level) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            fallback := true;
        END;
    END LOOP;
    IF fallback THEN
        n := n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, true);
    END IF;
    RETURN n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, false);
END
$$;

-- After an ingest batch p_from..p_to (finality moved from p_old_finalized): provisional rules
-- over the batch, safe rules over the blocks that became safe, finalized rules over the blocks
-- that became final.
CREATE OR REPLACE FUNCTION alerts.on_batch(
    p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    depth integer := alerts.safe_depth();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts.rules WHERE enabled AND dataset LIKE 'chain.%') THEN
        RETURN 0;
    END IF;
    RETURN alerts.evaluate(p_chain_id, p_from, p_to, 'provisional')
         + alerts.evaluate(p_chain_id, p_from - depth, p_to - depth, 'safe')
         + alerts.evaluate(p_chain_id,
                           least(coalesce(p_old_finalized,
                                          (SELECT start_block - 1 FROM chain.chains
                                           WHERE chain_id = p_chain_id)),
                                 p_from - 1) + 1,  -- what earlier batches could not reach
                           least(p_finalized, p_to), 'finalized');
END
$$;

-- A reorg dropped the blocks above p_fork: retract every live firing whose rows were there.
CREATE OR REPLACE FUNCTION alerts.retract_above(p_chain_id bigint, p_fork bigint)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    gone uuid;
    n integer := 0;
BEGIN
    FOR gone IN
        UPDATE alerts.firings SET retracted_at = clock_timestamp()
        WHERE chain_id = p_chain_id AND to_block > p_fork AND retracted_at IS NULL
          AND NOT backtest
        RETURNING id
    LOOP
        PERFORM alerts.announce(gone, 'retracted');
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

REVOKE EXECUTE ON FUNCTION
    alerts.announce(uuid, text),
    alerts.evaluate_rule(alerts.rules, bigint, bigint, bigint, boolean, text),
    alerts.evaluate(bigint, bigint, bigint, text),
    alerts.evaluate_each(bigint, bigint, bigint, text, boolean),
    alerts.evaluate_simple(text, bigint, bigint, bigint, text),
    alerts.on_batch(bigint, bigint, bigint, bigint, bigint),
    alerts.retract_above(bigint, bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    alerts.dataset_shape(text),
    alerts.check_condition_text(text),
    alerts.check_condition(text, text, text[], boolean),  -- runs as the caller: harmless
    alerts.amplifies(oid),
    alerts.channel_name(uuid),
    alerts.safe_depth()
TO chainlake_users, chainlake_api, chainlake_ingest;

CREATE OR REPLACE TRIGGER channels_stamp_creator BEFORE INSERT OR UPDATE ON alerts.channels
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

-- Delivery (the system org's alert-delivery job, as chainlake_alerts): take up to p_limit tasks,
-- each hidden from other workers for p_lease_seconds, with what it needs to send: the channel
-- (its secret still encrypted: the key never reaches Postgres), the rule and the firing.
CREATE OR REPLACE FUNCTION alerts.take_deliveries(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (msg_id bigint, delivery_id uuid, org text, event text, attempts integer,
               channel text, kind text, target text, config jsonb, secret_enc bytea,
               rule text, severity text, firing_id uuid, chain_id bigint, from_block bigint,
               to_block bigint, block_hash bytea, match_key text, vals jsonb, fired_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
    SELECT m.msg_id, d.id, o.name, d.event, d.attempts, c.name, c.kind, c.target, c.config,
           c.secret_enc, r.name, r.severity, f.id, f.chain_id, f.from_block, f.to_block,
           f.block_hash, f.match_key, f.vals, f.fired_at
    FROM pgmq.read('alert_deliveries', p_lease_seconds, p_limit) m
    JOIN alerts.deliveries d ON d.id = (m.message ->> 'delivery_id')::uuid
    JOIN core.orgs o ON o.id = d.org_id
    JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    LEFT JOIN alerts.channels c ON c.org_id = d.org_id AND c.name = d.channel
$$;

-- One attempt's outcome: delivered (the task is done), or failed: retried after p_retry_seconds
-- until p_max_attempts, then dead (the dead letter: state 'dead', last_error kept).
CREATE OR REPLACE FUNCTION alerts.record_attempt(
    p_msg_id bigint, p_delivery_id uuid, p_error text, p_max_attempts integer,
    p_retry_seconds integer
) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    d alerts.deliveries;
BEGIN
    UPDATE alerts.deliveries
    SET attempts = attempts + 1,
        last_error = p_error,
        state = CASE WHEN p_error IS NULL THEN 'delivered'
                     WHEN attempts + 1 >= p_max_attempts THEN 'dead' ELSE 'pending' END,
        delivered_at = CASE WHEN p_error IS NULL THEN clock_timestamp() END
    WHERE id = p_delivery_id
    RETURNING * INTO d;
    IF d.id IS NULL OR d.state <> 'pending' THEN
        PERFORM pgmq.archive('alert_deliveries', p_msg_id);
    ELSE
        PERFORM pgmq.set_vt('alert_deliveries', p_msg_id, p_retry_seconds);
    END IF;
    RETURN coalesce(d.state, 'gone');
END
$$;

REVOKE EXECUTE ON FUNCTION
    alerts.take_deliveries(integer, integer),
    alerts.record_attempt(bigint, uuid, text, integer, integer)
FROM PUBLIC;
GRANT USAGE ON SCHEMA alerts TO chainlake_alerts;
GRANT EXECUTE ON FUNCTION
    alerts.take_deliveries(integer, integer),
    alerts.record_attempt(bigint, uuid, text, integer, integer)
TO chainlake_alerts;

-- Backtest: one rule over blocks p_from..p_to as they are in this session's
-- pg_temp.backtest_blocks and pg_temp.backtest_<table> (the caller fills them from hot rows and
-- cold chunks alike, so the semantics are the live ones). The would-be firings come back; with
-- p_deliver they are live firings (announced and delivered unless live evaluation already fired
-- them), else marked backtest (the caller usually rolls them back).
CREATE OR REPLACE FUNCTION alerts.backtest(
    p_org text, p_rule text, p_chain_id bigint, p_from bigint, p_to bigint,
    p_deliver boolean DEFAULT false
) RETURNS SETOF alerts.firings
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    r alerts.rules;
    fired uuid;
BEGIN
    SELECT rl.* INTO r FROM alerts.rules rl JOIN core.orgs o ON o.id = rl.org_id
    WHERE o.name = p_org AND rl.name = p_rule
      AND (rl.org_id = ANY (core.caller_org_ids(CASE WHEN p_deliver THEN 'write' ELSE 'read' END::core.access))
           OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user));
    IF r.id IS NULL THEN
        RAISE EXCEPTION 'no alert rule "%" in org "%" that you may %', p_rule, p_org,
            CASE WHEN p_deliver THEN 'deliver' ELSE 'read' END USING ERRCODE = '42704';
    END IF;
    FOR fired IN SELECT * FROM alerts.evaluate_rule(r, p_chain_id, p_from, p_to, NOT p_deliver,
                                                    'backtest') LOOP
        IF p_deliver THEN
            PERFORM alerts.announce(fired, 'fired');
        END IF;
        RETURN QUERY SELECT * FROM alerts.firings WHERE id = fired;
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION alerts.backtest(text, text, bigint, bigint, bigint, boolean)
    TO chainlake_users;

-- System alerts: the platform's health as rows (metric, subject, value), which the system org's
-- rules on dataset platform.health watch:
--   run_failure_rate          per org: failed (or dead) over finished runs, last 15 minutes
--   runs_failed_15m           per org: failed (or dead) runs of the last 15 minutes
--   ingest_lag_seconds        per chain: seconds since its newest block was ingested
--   queue_oldest_age_seconds  per queue (run_tasks, alert_deliveries): the oldest message's age
--   deliveries_dead_1h        per org: alert deliveries that ended in the dead letter last hour
CREATE OR REPLACE FUNCTION alerts.platform_health() RETURNS SETOF alerts.platform_health_row
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT 'run_failure_rate', o.name,
           (count(*) FILTER (WHERE r.status IN ('failed', 'dead')))::double precision / count(*)
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE r.status IN ('succeeded', 'failed', 'dead')
      AND r.finished_at > now() - interval '15 minutes'
    GROUP BY o.name
    UNION ALL
    SELECT 'runs_failed_15m', o.name, count(*)::double precision
    FROM runs.runs r JOIN core.orgs o ON o.id = r.org_id
    WHERE r.status IN ('failed', 'dead') AND r.finished_at > now() - interval '15 minutes'
    GROUP BY o.name
    UNION ALL
    SELECT 'ingest_lag_seconds', c.chain_id::text,
           extract(epoch FROM now() - (SELECT max(b.ingested_at) FROM chain.blocks b
                                       WHERE b.chain_id = c.chain_id))
    FROM chain.chains c
    WHERE c.stopped_reason IS NOT NULL OR EXISTS (SELECT 1 FROM chain.blocks b
                                                  WHERE b.chain_id = c.chain_id)
    UNION ALL
    SELECT 'queue_oldest_age_seconds', q.name, coalesce(extract(epoch FROM now() - q.oldest), 0)
    FROM (SELECT 'run_tasks' AS name, (SELECT min(enqueued_at) FROM pgmq.q_run_tasks) AS oldest
          UNION ALL
          SELECT 'alert_deliveries', (SELECT min(enqueued_at) FROM pgmq.q_alert_deliveries)) q
    UNION ALL
    SELECT 'deliveries_dead_1h', o.name, count(*)::double precision
    FROM alerts.deliveries d JOIN core.orgs o ON o.id = d.org_id
    WHERE d.state = 'dead' AND d.created_at > now() - interval '1 hour'
    GROUP BY o.name
$$;

-- Evaluate the system org's platform.health rules now: a firing per matching row, at most one
-- per (rule, metric, subject) a minute, and none while the rule's throttle holds.
CREATE OR REPLACE FUNCTION alerts.evaluate_platform() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    r alerts.rules;
    fired uuid;
    n integer := 0;
    minute bigint := floor(extract(epoch FROM now()) / 60)::bigint;
BEGIN
    FOR r IN SELECT * FROM alerts.rules WHERE enabled AND dataset = 'platform.health' LOOP
        FOR fired IN EXECUTE format(
            'INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, '
            '  block_hash, match_key, dedup_value, vals) '
            'SELECT $1, $2, 0, $3, $3, ''\x'', t.metric || '':'' || t.subject || ''@'' || $3, '
            '       t.metric || '':'' || t.subject, to_jsonb(t) '
            'FROM alerts.platform_health() t '
            'WHERE (SELECT (%s)::boolean FROM (SELECT (t).*) AS t) '
            '  AND NOT EXISTS (SELECT 1 FROM alerts.firings f WHERE f.rule_id = $2 '
            '      AND f.dedup_value = t.metric || '':'' || t.subject AND NOT f.backtest '
            '      AND f.fired_at > clock_timestamp() - make_interval(secs => $4)) '
            'ON CONFLICT DO NOTHING RETURNING id', r.predicate)
            USING r.org_id, r.id, minute, greatest(r.throttle_seconds, 0)
        LOOP
            PERFORM alerts.announce(fired, 'fired');
            n := n + 1;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;

-- The built-in system rules, in the system org: disabled ones stay disabled, and a rule the
-- operator changed (its condition, channels) keeps the change.
CREATE OR REPLACE FUNCTION alerts.install_system_rules() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    org uuid := (SELECT id FROM core.orgs WHERE system LIMIT 1);
    n integer;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'no system org yet' USING ERRCODE = '55000',
            HINT = 'chainlake up makes one (core.set_system_org)';
    END IF;
    INSERT INTO alerts.rules (org_id, name, dataset, condition, severity, throttle_seconds,
                              description)
    VALUES
        (org, 'run-failure-rate', 'platform.health',
         'metric = ''run_failure_rate'' AND value >= 0.5', 'warning', 900,
         'Half or more of an org''s runs failed over the last 15 minutes.'),
        (org, 'ingest-lag', 'platform.health',
         'metric = ''ingest_lag_seconds'' AND value > 30', 'critical', 300,
         'A chain''s newest block was ingested more than 30 s ago.'),
        (org, 'queue-age', 'platform.health',
         'metric = ''queue_oldest_age_seconds'' AND value > 300', 'warning', 900,
         'A queue''s oldest message waited more than 5 minutes.'),
        (org, 'dead-deliveries', 'platform.health',
         'metric = ''deliveries_dead_1h'' AND value > 0', 'warning', 3600,
         'Alert deliveries ended in the dead letter.')
    ON CONFLICT (org_id, name) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

REVOKE EXECUTE ON FUNCTION
    alerts.platform_health(),
    alerts.evaluate_platform(),
    alerts.install_system_rules()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts.evaluate_platform() TO chainlake_alerts;
