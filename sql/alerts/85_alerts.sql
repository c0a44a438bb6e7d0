-- Alerts: rules are rows, checked when saved; each ingest batch evaluates the active rules over
-- its new rows in its own transaction; a firing is a row, a NOTIFY carrying only opaque ids and
-- a delivery task per channel; a reorg retracts the firings whose rows it removed.

-- What a rule may watch: each chain table, its block-number column and its row identity.
CREATE OR REPLACE FUNCTION alerts.dataset_shape(
    p_dataset text, OUT tbl text, OUT num text, OUT row_key text
)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
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
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
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
-- 10^9), numeric powers, huge pads, fills and format widths, aggregates that build one value of
-- a whole window). Conditions run inside every ingest batch, so a condition may not call them.
CREATE OR REPLACE FUNCTION alerts.amplifies(p_function oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_proc f
        WHERE f.oid = p_function
          AND (f.proname IN ('repeat', 'lpad', 'rpad', 'format', 'array_fill', 'factorial',
                             'numeric_fac', 'numeric_power', 'numeric_exp', 'string_agg',
                             'array_agg', 'xmlagg', 'json_agg', 'jsonb_agg', 'json_object_agg',
                             'jsonb_object_agg')
               OR f.oid::regprocedure::text IN ('power(numeric,numeric)', 'pow(numeric,numeric)',
                                               'exp(numeric)')))
$$;

-- Built-in functions whose result may be a multiple of their input's size: by a factor their
-- arguments choose (replace, regexp_replace, array_to_string, concat_ws: 'multiplying'), or by
-- a small constant (encode, quote_literal, to_json, ...). One is bounded by the row and the
-- condition's text; nested, they compound (three nested replace() made 460 MB of one row).
CREATE OR REPLACE FUNCTION alerts.growing_functions(p_multiplying boolean) RETURNS oid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(f.oid), '{}') FROM pg_catalog.pg_proc f
    WHERE f.pronamespace = 'pg_catalog'::regnamespace
      AND (f.proname IN ('replace', 'regexp_replace', 'array_to_string', 'concat_ws')
           OR NOT p_multiplying
              AND f.proname IN ('translate', 'encode', 'quote_literal', 'quote_ident',
                                'quote_nullable', 'to_json', 'to_jsonb', 'array_to_json',
                                'row_to_json', 'jsonb_pretty', 'string_to_array',
                                'regexp_split_to_array'))
$$;

-- A condition's parse tree (its nodeToString text) may hold, on any path of calls inside
-- calls, at most two growing functions, of which at most one multiplying (alerts.growing_functions):
-- replace(encode(x, 'hex'), ...) is fine, replace(replace(...)) is not. In that text a brace
-- inside a string is escaped with a backslash, so once the escapes are dropped every brace opens
-- or closes a node.
CREATE OR REPLACE FUNCTION alerts.check_growth(p_tree text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    growing constant oid[] := alerts.growing_functions(false);
    multiplying constant oid[] := alerts.growing_functions(true);
    node text[];
    depth integer := 0;
    open_at integer[] := '{}';  -- the depth of each growing call still open, innermost last
    open_fn oid[] := '{}';
    fn oid;
BEGIN
    FOR node IN
        SELECT regexp_matches(regexp_replace(p_tree, '\\.', '', 'g'),
            '(\{)(?:[A-Z_]+(?: :(?:funcid|opno [0-9]+ :opfuncid) ([0-9]+))?)?|(\})', 'g')
    LOOP
        IF node[3] IS NOT NULL THEN  -- a node closes
            IF open_at[cardinality(open_at)] = depth THEN
                open_at := trim_array(open_at, 1);
                open_fn := trim_array(open_fn, 1);
            END IF;
            depth := depth - 1;
            CONTINUE;
        END IF;
        depth := depth + 1;
        fn := node[2]::oid;
        CONTINUE WHEN fn IS NULL OR NOT fn = ANY (growing);
        IF cardinality(open_fn) >= 2 OR (fn = ANY (multiplying) AND open_fn && multiplying) THEN
            RAISE EXCEPTION 'condition: % inside %: each may multiply its input''s size',
                fn::regprocedure, open_fn[cardinality(open_fn)]::regprocedure
                USING ERRCODE = '22023',
                HINT = 'its cost compounds with each level, and conditions run in every ingest batch: at most two such functions inside each other, one of replace, regexp_replace, array_to_string and concat_ws';
        END IF;
        open_at := open_at || depth;
        open_fn := open_fn || fn;
    END LOOP;
END
$$;

-- Alert evaluation's time budgets in milliseconds (docs/alerts.md). Ingest evaluates a batch's
-- rules at once within 'batch'; when that runs out, each org's within 'org'; each rule of an org
-- that ran out within 'rule', and a rule that runs out on its own is set aside. Each is per
-- block of the batch (up to 20). 'probe': what a condition may take over the latest 100 rows of
-- its dataset when it is saved.
CREATE OR REPLACE FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint DEFAULT 1)
RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_scope WHEN 'batch' THEN 500 WHEN 'org' THEN 250 WHEN 'rule' THEN 100
                        WHEN 'probe' THEN 50 END
           * CASE WHEN p_scope = 'probe' THEN 1 ELSE least(greatest(p_blocks, 1), 20)::integer END
$$;

-- What a condition costs on real rows, as whoever saves it: the compiled condition
-- (p_compiled, made by alerts.check_condition) over the latest rows of its
-- dataset, refused once they took more than the probe's budget. An error on some row is left to
-- evaluation, which sets the rule aside with it.
DROP FUNCTION IF EXISTS alerts.probe_condition(text);
CREATE OR REPLACE FUNCTION alerts.probe_condition(p_dataset text, p_compiled regprocedure)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record := alerts.dataset_shape(p_dataset);
    budget constant integer := alerts.time_budget_ms('probe');
    started constant timestamptz := clock_timestamp();
    took integer;
    probed integer := 0;
    latest record;
BEGIN
    IF shape.num IS NULL THEN
        RETURN;  -- platform.health: the system org's rules over the platform's own rows
    END IF;
    FOR latest IN EXECUTE format('SELECT t FROM %s t ORDER BY t.chain_id DESC, t.%I DESC LIMIT 100',
                                 shape.tbl, shape.num) LOOP
        BEGIN
            EXECUTE format('SELECT %s($1)', p_compiled::oid::regproc) USING latest.t;
        EXCEPTION WHEN others THEN
            NULL;
        END;
        probed := probed + 1;
        took := (extract(epoch FROM clock_timestamp() - started) * 1000)::integer;
        IF took > budget THEN
            RAISE EXCEPTION 'condition: took % ms over the latest % row(s) of %, at most % ms',
                took, probed, p_dataset, budget USING ERRCODE = '22023',
                HINT = 'it runs in every ingest batch over every new row: keep it cheap (docs/alerts.md, "What a condition may cost")';
        END IF;
    END LOOP;
END
$$;

-- Parse and check a rule's condition with Postgres itself: compile it as a temporary function
-- of the dataset's row (never visible to another session), then read its parse tree. It may
-- name only the dataset's columns, call only immutable functions (no side effects, no clock, no
-- settings), read no table, and use aggregates only in a window rule.
CREATE OR REPLACE FUNCTION alerts.check_condition(
    p_dataset text, p_condition text, p_group_by text[], p_windowed boolean
) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record;
    body text;
    -- a name nobody can guess or plant beforehand (the session's temp schema is the caller's),
    -- and the function found by its exact signature, never by name alone
    compiled constant text := 'chainlake_condition_' || md5(gen_random_uuid()::text);
    fn regprocedure;
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
            'CREATE FUNCTION pg_temp.%I(t %s) RETURNS boolean LANGUAGE sql '
            'STABLE RETURN (SELECT (%s)::boolean FROM (SELECT (t).*) AS t%s)',
            compiled, shape.tbl, p_condition, grouping);
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
    fn := pg_catalog.to_regprocedure(format('pg_temp.%I(%s)', compiled, shape.tbl));
    SELECT p.prosqlbody::text INTO body FROM pg_catalog.pg_proc p
    WHERE p.oid = fn AND p.pronamespace = pg_catalog.pg_my_temp_schema();
    IF body IS NULL THEN
        RAISE EXCEPTION 'condition: could not be compiled for checking' USING ERRCODE = '22023';
    END IF;
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
    PERFORM alerts.check_growth(body);
    PERFORM alerts.probe_condition(p_dataset, fn);
    -- (a refusal above drops the function with everything else the statement did)
    EXECUTE format('DROP FUNCTION %s', fn);
END
$$;

-- A rule's definition: its dataset, columns, channels and condition.
CREATE OR REPLACE FUNCTION alerts.check_definition(r alerts.rules) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$  -- compiles as whoever saves
DECLARE
    shape record;
    col text;
BEGIN
    shape := alerts.dataset_shape(r.dataset);
    IF r.dataset = 'platform.health' AND NOT coalesce(
        (SELECT system FROM core.orgs WHERE id = r.org_id), false) THEN
        RAISE EXCEPTION 'dataset: platform.health rules belong to the system org'
            USING ERRCODE = '42501';
    END IF;
    IF r.dataset = 'platform.health' AND r.window_blocks IS NOT NULL THEN
        RAISE EXCEPTION 'window_blocks: platform.health rules are row rules'
            USING ERRCODE = '22023';
    END IF;
    FOREACH col IN ARRAY r.dedup_key || r.group_by LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                       WHERE attrelid = shape.tbl::regclass AND attname = col AND attnum > 0
                         AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of dedup_key or group_by is not a column of %', col,
                r.dataset USING ERRCODE = '22023';
        END IF;
    END LOOP;
    FOREACH col IN ARRAY r.channels LOOP
        IF NOT EXISTS (SELECT 1 FROM alerts.channels
                       WHERE org_id = r.org_id AND name = col) THEN
            RAISE EXCEPTION 'channels: "%" is not a channel of this org', col
                USING ERRCODE = '22023',
                HINT = 'create it first: chainlake alert channel create NAME --kind webhook|email|sms|slack';
        END IF;
    END LOOP;
    PERFORM alerts.check_condition(r.dataset, r.condition, r.group_by,
                                   r.window_blocks IS NOT NULL);
END
$$;

-- Every insert and every change of a rule passes here, whoever makes it and however, whatever
-- columns change (SECURITY.md item 21): a new or changed definition is checked, and the text
-- evaluation runs (predicate, which no user or platform role may write) is recomputed from the
-- checked condition every time. A change of bookkeeping alone (enabled, severity, the platform
-- setting a rule aside) keeps the condition, which was checked when it was stored.
CREATE OR REPLACE FUNCTION alerts.check_rule() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean := TG_OP = 'INSERT';
BEGIN
    IF NOT changed THEN
        changed := (NEW.dataset, NEW.condition, NEW.channels, NEW.dedup_key, NEW.group_by,
                    NEW.window_blocks, NEW.org_id)
                   IS DISTINCT FROM (OLD.dataset, OLD.condition, OLD.channels, OLD.dedup_key,
                                     OLD.group_by, OLD.window_blocks, OLD.org_id);
    END IF;
    IF changed THEN
        PERFORM alerts.check_definition(NEW);
        NEW.last_error := NULL;  -- a changed rule is evaluated again
        NEW.updated_at := now();
    END IF;
    NEW.predicate := NEW.condition;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS rules_checked ON alerts.rules;
CREATE TRIGGER rules_checked BEFORE INSERT OR UPDATE ON alerts.rules
    FOR EACH ROW EXECUTE FUNCTION alerts.check_rule();

-- The per-org NOTIFY channel: LISTEN has no access control, so payloads carry only opaque ids.
CREATE OR REPLACE FUNCTION alerts.channel_name(p_org_id uuid) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'alerts_' || replace(p_org_id::text, '-', '')
$$;

-- A firing or retraction: its NOTIFY and one delivery task per channel of its rule.
CREATE OR REPLACE FUNCTION alerts.announce(p_firing_id uuid, p_event text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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

-- Evaluation runs a tenant's checked condition (alerts.rules.predicate) in the alerts.match_*
-- functions only: SECURITY DEFINER functions owned by chainlake_evaluator
-- (core.settle_function_owners), which reads chain.blocks, transactions and logs and nothing
-- else: no core, pii or other org's rows, no function of ours but the shapes below. They return
-- what matched; the platform's functions (owned by chainlake_definer) record the firings.

-- Where evaluation reads: the live chain tables, or for a backtest this session's
-- pg_temp.backtest_<table> copies (alerts.backtest).
CREATE OR REPLACE FUNCTION alerts.evaluated_shape(
    p_dataset text, p_source text, OUT tbl text, OUT num text, OUT row_key text, OUT blocks text
)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record := alerts.dataset_shape(p_dataset);
BEGIN
    tbl := shape.tbl;
    num := shape.num;
    row_key := shape.row_key;
    blocks := 'chain.blocks';
    IF p_source = 'backtest' THEN
        tbl := 'pg_temp.backtest_' || split_part(shape.tbl, '.', 2);
        blocks := 'pg_temp.backtest_blocks';
    ELSIF p_source IS DISTINCT FROM 'chain' THEN
        RAISE EXCEPTION 'source: chain or backtest, not "%"', p_source USING ERRCODE = '22023';
    END IF;
END
$$;

-- A row rule's matches over blocks p_from..p_to: each row its predicate holds for, with its
-- block's hash, its key, its dedup value (the dedup_key columns, or the row's key) and values.
CREATE OR REPLACE FUNCTION alerts.match_rows(
    p_dataset text, p_predicate text, p_dedup_key text[], p_chain_id bigint, p_from bigint,
    p_to bigint, p_source text
) RETURNS TABLE (n bigint, block_hash bytea, match_key text, dedup_value text, vals jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, p_source);
    dedup text := shape.row_key;
BEGIN
    IF cardinality(p_dedup_key) > 0 THEN
        dedup := (SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', k), ', ') || ')'
                  FROM unnest(p_dedup_key) k);
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT t.%2$I, b.hash, %3$s, %4$s, to_jsonb(t) '
        'FROM %1$s t JOIN %6$s b ON b.chain_id = t.chain_id AND b.number = t.%2$I '
        'WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3 '
        '  AND (SELECT (%5$s)::boolean FROM (SELECT (t).*) AS t)',
        shape.tbl, shape.num, shape.row_key, dedup, p_predicate, shape.blocks)
    USING p_chain_id, p_from, p_to;
END
$$;

-- A window rule's matches at block p_ending: each group (group_by columns, or 'all') of the
-- p_window blocks ending there that the predicate (an aggregate) holds for.
CREATE OR REPLACE FUNCTION alerts.match_window(
    p_dataset text, p_predicate text, p_group_by text[], p_window integer, p_chain_id bigint,
    p_ending bigint, p_source text
) RETURNS TABLE (block_hash bytea, dedup_value text, vals jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, p_source);
    groups text := '''all''';
    group_cols text := '';
BEGIN
    IF cardinality(p_group_by) > 0 THEN
        SELECT 'concat_ws(''|'', ' || string_agg(format('t.%I::text', g), ', ') || ')',
               'GROUP BY ' || string_agg(format('t.%I', g), ', ')
        INTO groups, group_cols FROM unnest(p_group_by) g;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT b.hash, hit.dedup_value, hit.vals '
        'FROM (SELECT %2$s AS dedup_value, jsonb_build_object(''rows'', count(*)) AS vals '
        '      FROM %1$s t WHERE t.chain_id = $1 AND t.%3$I BETWEEN $2 - $3 + 1 AND $2 '
        '      %5$s HAVING (%4$s)) hit '
        'JOIN %6$s b ON b.chain_id = $1 AND b.number = $2',
        shape.tbl, groups, shape.num, p_predicate, group_cols, shape.blocks)
    USING p_chain_id, p_ending, p_window::bigint;
END
$$;

-- Many simple rules' matches in one scan of the range's rows: each row gets the ordinals (in
-- p_predicates) of the predicates it matches, one CASE per predicate over its own columns.
CREATE OR REPLACE FUNCTION alerts.match_simple(
    p_dataset text, p_predicates text[], p_chain_id bigint, p_from bigint, p_to bigint
) RETURNS TABLE (i integer, n bigint, block_hash bytea, match_key text, vals jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    shape record := alerts.evaluated_shape(p_dataset, 'chain');
    cases text := (SELECT string_agg(format('CASE WHEN (%s)::boolean THEN %s END', p, k), ', '
                                     ORDER BY k)
                   FROM unnest(p_predicates) WITH ORDINALITY AS u (p, k));
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT h.i::integer, t.%2$I, b.hash, %3$s, to_jsonb(t) '
        'FROM (SELECT m.r, m.i FROM (SELECT t AS r, unnest(ARRAY[%4$s]::bigint[]) AS i '
        '      FROM %1$s t WHERE t.chain_id = $1 AND t.%2$I BETWEEN $2 AND $3) m '
        '      WHERE m.i IS NOT NULL) h '
        'CROSS JOIN LATERAL (SELECT (h.r).*) t '  -- the matched rows only get to_jsonb
        'JOIN chain.blocks b ON b.chain_id = $1 AND b.number = t.%2$I',
        shape.tbl, shape.num, shape.row_key, cases)
    USING p_chain_id, p_from, p_to;
END
$$;

-- A platform.health rule's matches among the platform's health rows (alerts.platform_health).
CREATE OR REPLACE FUNCTION alerts.match_health(
    p_predicate text, p_rows alerts.platform_health_row[]
) RETURNS SETOF alerts.platform_health_row
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT t.metric, t.subject, t.value FROM unnest($1) AS t '
        'WHERE (SELECT (%s)::boolean FROM (SELECT (t).*) AS t)', p_predicate)
    USING p_rows;
END
$$;

-- Has rule r (with a throttle) fired for p_dedup_value within its throttle window?
CREATE OR REPLACE FUNCTION alerts.throttled(r alerts.rules, p_dedup_value text, p_backtest boolean)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.throttle_seconds > 0 AND EXISTS (
        SELECT 1 FROM alerts.firings f
        WHERE f.rule_id = r.id AND f.dedup_value = p_dedup_value AND f.retracted_at IS NULL
          AND f.backtest = p_backtest
          AND f.fired_at > clock_timestamp() - make_interval(secs => r.throttle_seconds))
$$;

-- One rule over blocks p_from..p_to of a chain: the new firings' ids. A row rule matches rows;
-- a window rule matches groups over the window_blocks blocks ending at each block of the range.
-- p_source 'backtest' reads the session's pg_temp.backtest_<table> copies (alerts.backtest).
CREATE OR REPLACE FUNCTION alerts.evaluate_rule(
    r alerts.rules, p_chain_id bigint, p_from bigint, p_to bigint, p_backtest boolean DEFAULT false,
    p_source text DEFAULT 'chain'
) RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ending bigint;
    fired uuid;
BEGIN
    IF r.window_blocks IS NULL THEN
        FOR fired IN
            INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                        block_hash, match_key, dedup_value, vals, backtest)
            SELECT r.org_id, r.id, p_chain_id, hit.n, hit.n, hit.block_hash, hit.match_key,
                   hit.dedup_value, hit.vals, p_backtest
            FROM (SELECT DISTINCT ON (m.dedup_value) m.*
                  FROM alerts.match_rows(r.dataset, r.predicate, r.dedup_key, p_chain_id, p_from,
                                         p_to, p_source) m
                  ORDER BY m.dedup_value, m.n, m.match_key) hit
            WHERE NOT alerts.throttled(r, hit.dedup_value, p_backtest)
            ON CONFLICT DO NOTHING RETURNING id
        LOOP
            RETURN NEXT fired;
        END LOOP;
        RETURN;
    END IF;
    FOR ending IN SELECT generate_series(p_from, p_to) LOOP
        FOR fired IN
            INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                        block_hash, match_key, dedup_value, vals, backtest)
            SELECT r.org_id, r.id, p_chain_id, ending - r.window_blocks + 1, ending,
                   hit.block_hash, hit.dedup_value || '@' || ending, hit.dedup_value, hit.vals,
                   p_backtest
            FROM alerts.match_window(r.dataset, r.predicate, r.group_by, r.window_blocks,
                                     p_chain_id, ending, p_source) hit
            WHERE NOT alerts.throttled(r, hit.dedup_value, p_backtest)
            ON CONFLICT DO NOTHING RETURNING id
        LOOP
            RETURN NEXT fired;
        END LOOP;
    END LOOP;
END
$$;

-- Blocks at least this deep below the head count as safe.
CREATE OR REPLACE FUNCTION alerts.safe_depth() RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT 12 $$;

-- Set rule p_rule of org p_org aside until it is saved again; last_error says why: p_error, or
-- that on a batch of p_blocks blocks it took p_took_ms, the most of its org's rules, which
-- together ran out of the org's budget, or else that it ran out of its own. A rule whose row is
-- locked (its writer is saving it, or holds it in a transaction kept open) is never waited for:
-- this version of it is set aside in alerts.held_aside, which no tenant can lock, and its
-- last_error follows once the row is free (alerts.settle_set_aside).
CREATE OR REPLACE FUNCTION alerts.set_aside(
    p_org uuid, p_rule uuid, p_blocks bigint, p_error text DEFAULT NULL,
    p_took_ms integer DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    reason constant text := CASE
        WHEN p_error IS NOT NULL THEN left(p_error, 500)
        WHEN p_took_ms IS NOT NULL THEN format(
            'took %s ms on one batch of %s block(s), the most of its org''s rules, which together '
            'took more than their %s ms; fix the condition and save it again',
            p_took_ms, greatest(p_blocks, 1), alerts.time_budget_ms('org', p_blocks))
        ELSE format(
            'took more than %s ms on one batch of %s block(s); fix the condition and save it again',
            alerts.time_budget_ms('rule', p_blocks), greatest(p_blocks, 1)) END;
BEGIN
    UPDATE alerts.rules r SET last_error = reason
    FROM (SELECT id FROM alerts.rules WHERE org_id = p_org AND id = p_rule
          FOR UPDATE SKIP LOCKED) mine
    WHERE r.org_id = p_org AND r.id = mine.id;
    IF NOT FOUND THEN
        INSERT INTO alerts.held_aside (rule_id, rule_updated_at, reason)
        SELECT id, updated_at, reason FROM alerts.rules WHERE org_id = p_org AND id = p_rule;
    END IF;
    RETURN FOUND;
END
$$;

-- The rules set aside while their row was locked (alerts.held_aside), as long as they are the
-- version that was set aside: evaluation leaves them out (read once per query, as
-- `id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])`).
CREATE OR REPLACE FUNCTION alerts.held_aside_ids() RETURNS uuid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(DISTINCT h.rule_id), '{}') FROM alerts.held_aside h
    JOIN alerts.rules r ON r.id = h.rule_id AND r.updated_at = h.rule_updated_at
$$;

-- Once a rule set aside while locked is free, its last_error says why (where its writers see
-- it) and its mark goes; a mark whose rule was saved again or removed goes too. Ingest calls it
-- once per batch; it waits for no lock (what is locked now is settled at a later batch).
CREATE OR REPLACE FUNCTION alerts.settle_set_aside() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    settled integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts.held_aside) THEN
        RETURN 0;
    END IF;
    WITH free AS (
        SELECT r.org_id, r.id, r.updated_at FROM alerts.rules r
        WHERE r.last_error IS NULL
          AND r.id IN (SELECT h.rule_id FROM alerts.held_aside h
                       WHERE h.rule_updated_at = r.updated_at)
        FOR UPDATE SKIP LOCKED
    )
    UPDATE alerts.rules r
    SET last_error = (SELECT h.reason FROM alerts.held_aside h
                      WHERE h.rule_id = free.id AND h.rule_updated_at = free.updated_at
                      ORDER BY h.set_at DESC LIMIT 1)
    FROM free WHERE r.org_id = free.org_id AND r.id = free.id;
    GET DIAGNOSTICS settled = ROW_COUNT;
    DELETE FROM alerts.held_aside h
    WHERE h.ctid IN (SELECT d.ctid FROM alerts.held_aside d
                     WHERE NOT EXISTS (SELECT 1 FROM alerts.rules r
                                       WHERE r.id = d.rule_id AND r.last_error IS NULL
                                         AND r.updated_at = d.rule_updated_at)
                     FOR UPDATE SKIP LOCKED);
    RETURN settled;
END
$$;

-- The active rules of one level over a block range (of org p_org, or only rule p_rule, when
-- given), one at a time (p_simple: those alerts.evaluate_simple takes, else the others), each
-- new firing announced. A rule that fails at run time (a division by zero on some row) is set
-- aside with its error (alerts.rules.last_error, shown by `alert list`) until it is saved again;
-- it never fails the ingest batch. (Running out of time is the caller's to handle: a timeout is
-- no error a function can catch.)
DROP FUNCTION IF EXISTS alerts.evaluate_each(bigint, bigint, bigint, text, boolean);  -- gained p_org, p_rule
CREATE OR REPLACE FUNCTION alerts.evaluate_each(
    p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_simple boolean,
    p_org uuid DEFAULT NULL, p_rule uuid DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r alerts.rules;
    fired uuid;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM alerts.rules
             WHERE enabled AND last_error IS NULL AND confirmation = p_level
               AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
               AND dataset LIKE 'chain.%' AND (chain_id IS NULL OR chain_id = p_chain_id)
               AND alerts.is_simple(rules) = p_simple
               AND (p_org IS NULL OR org_id = p_org) AND (p_rule IS NULL OR id = p_rule) LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_rule(r, p_chain_id, p_from, p_to) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            PERFORM alerts.set_aside(r.org_id, r.id, p_to - p_from + 1, SQLERRM);
        END;
    END LOOP;
    RETURN n;
END
$$;

-- A row rule with neither a dedup key nor a throttle: many of them are evaluated in one query.
-- (No SET clause, so that the planner inlines it into the queries over every rule: it names
-- nothing but the row's fields and built-in operators, resolved where it is inlined.)
CREATE OR REPLACE FUNCTION alerts.is_simple(r alerts.rules) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT r.window_blocks IS NULL AND r.throttle_seconds = 0 AND cardinality(r.dedup_key) = 0
$$;

-- Every simple rule of one dataset and level (of org p_org, or only rule p_rule, when given) in
-- one scan of the range's rows (alerts.match_simple).
DROP FUNCTION IF EXISTS alerts.evaluate_simple(text, bigint, bigint, bigint, text);  -- gained p_org, p_rule
CREATE OR REPLACE FUNCTION alerts.evaluate_simple(
    p_dataset text, p_chain_id bigint, p_from bigint, p_to bigint, p_level text,
    p_org uuid DEFAULT NULL, p_rule uuid DEFAULT NULL
) RETURNS SETOF uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    orgs uuid[];
    ids uuid[];
    predicates text[];
    fired uuid;
BEGIN
    SELECT array_agg(rl.org_id ORDER BY rl.org_id, rl.id), array_agg(rl.id ORDER BY rl.org_id, rl.id),
           array_agg(rl.predicate ORDER BY rl.org_id, rl.id)
    INTO orgs, ids, predicates
    FROM alerts.rules rl
    WHERE rl.enabled AND rl.last_error IS NULL AND rl.confirmation = p_level
      AND rl.id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
      AND rl.dataset = p_dataset AND alerts.is_simple(rl)
      AND (rl.chain_id IS NULL OR rl.chain_id = p_chain_id)
      AND (p_org IS NULL OR rl.org_id = p_org) AND (p_rule IS NULL OR rl.id = p_rule);
    IF ids IS NULL THEN
        RETURN;
    END IF;
    FOR fired IN
        INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, block_hash,
                                    match_key, dedup_value, vals)
        SELECT orgs[m.i], ids[m.i], p_chain_id, m.n, m.n, m.block_hash, m.match_key, m.match_key,
               m.vals
        FROM alerts.match_simple(p_dataset, predicates, p_chain_id, p_from, p_to) m
        ON CONFLICT DO NOTHING RETURNING id
    LOOP
        RETURN NEXT fired;
    END LOOP;
END
$$;

-- Every active rule of one level over a block range (of org p_org, or only rule p_rule, when
-- given); each new firing announced. Simple rules go a dataset at a time in one query; if that
-- query fails (one rule fails on some row), they go one at a time, which sets the failing rule
-- aside.
DROP FUNCTION IF EXISTS alerts.evaluate(bigint, bigint, bigint, text);  -- gained p_org, p_rule
CREATE OR REPLACE FUNCTION alerts.evaluate(
    p_chain_id bigint, p_from bigint, p_to bigint, p_level text, p_org uuid DEFAULT NULL,
    p_rule uuid DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
                AND r.id <> ALL ((SELECT alerts.held_aside_ids())::uuid[])
                AND r.dataset LIKE 'chain.%' AND alerts.is_simple(r)
                AND (p_org IS NULL OR r.org_id = p_org) AND (p_rule IS NULL OR r.id = p_rule) LOOP
        BEGIN
            FOR fired IN SELECT * FROM alerts.evaluate_simple(ds, p_chain_id, p_from, p_to,
                                                              p_level, p_org, p_rule) LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN others THEN
            fallback := true;
        END;
    END LOOP;
    IF fallback THEN
        n := n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, true, p_org, p_rule);
    END IF;
    RETURN n + alerts.evaluate_each(p_chain_id, p_from, p_to, p_level, false, p_org, p_rule);
END
$$;

-- After an ingest batch p_from..p_to (finality moved from p_old_finalized to p_finalized):
-- provisional rules over the batch, safe rules over the blocks that became safe, finalized
-- rules over the blocks that became final; all active rules, or those of org p_org, or rule
-- p_rule. Ingest calls it in the batch's transaction, as a statement of its own under a time
-- budget (chainlake.alerts.evaluate).
DROP FUNCTION IF EXISTS alerts.on_batch(bigint, bigint, bigint, bigint, bigint);  -- gained p_org, p_rule
CREATE OR REPLACE FUNCTION alerts.on_batch(
    p_chain_id bigint, p_from bigint, p_to bigint, p_old_finalized bigint, p_finalized bigint,
    p_org uuid DEFAULT NULL, p_rule uuid DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    depth integer := alerts.safe_depth();
    finalized bigint := greatest(p_old_finalized, p_finalized);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts.rules WHERE enabled AND dataset LIKE 'chain.%'
                   AND (p_org IS NULL OR org_id = p_org) AND (p_rule IS NULL OR id = p_rule)) THEN
        RETURN 0;
    END IF;
    RETURN alerts.evaluate(p_chain_id, p_from, p_to, 'provisional', p_org, p_rule)
         + alerts.evaluate(p_chain_id, p_from - depth, p_to - depth, 'safe', p_org, p_rule)
         + alerts.evaluate(p_chain_id,
                           least(coalesce(p_old_finalized,
                                          (SELECT start_block - 1 FROM chain.chains
                                           WHERE chain_id = p_chain_id)),
                                 p_from - 1) + 1,  -- what earlier batches could not reach
                           least(finalized, p_to), 'finalized', p_org, p_rule);
END
$$;

-- What ingest evaluates one at a time when evaluating all at once ran out of time: the orgs
-- with active chain rules, and one org's active chain rules.
CREATE OR REPLACE FUNCTION alerts.active_orgs() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT org_id FROM alerts.rules
    WHERE enabled AND last_error IS NULL AND dataset LIKE 'chain.%'
      AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) ORDER BY 1
$$;

CREATE OR REPLACE FUNCTION alerts.active_rules(p_org uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT id FROM alerts.rules
    WHERE org_id = p_org AND enabled AND last_error IS NULL AND dataset LIKE 'chain.%'
      AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) ORDER BY 1
$$;

-- A reorg dropped the blocks above p_fork: retract every live firing whose rows were there.
CREATE OR REPLACE FUNCTION alerts.retract_above(p_chain_id bigint, p_fork bigint)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    alerts.match_rows(text, text, text[], bigint, bigint, bigint, text),
    alerts.match_window(text, text, text[], integer, bigint, bigint, text),
    alerts.match_simple(text, text[], bigint, bigint, bigint),
    alerts.match_health(text, alerts.platform_health_row[]),
    alerts.evaluate_rule(alerts.rules, bigint, bigint, bigint, boolean, text),
    alerts.evaluate(bigint, bigint, bigint, text, uuid, uuid),
    alerts.evaluate_each(bigint, bigint, bigint, text, boolean, uuid, uuid),
    alerts.evaluate_simple(text, bigint, bigint, bigint, text, uuid, uuid),
    alerts.on_batch(bigint, bigint, bigint, bigint, bigint, uuid, uuid),
    alerts.active_orgs(),
    alerts.active_rules(uuid),
    alerts.set_aside(uuid, uuid, bigint, text, integer),
    alerts.settle_set_aside(),
    alerts.held_aside_ids(),
    alerts.retract_above(bigint, bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    alerts.dataset_shape(text),
    alerts.check_condition_text(text),
    alerts.check_condition(text, text, text[], boolean),  -- runs as the caller: harmless
    alerts.check_definition(alerts.rules),
    alerts.amplifies(oid),
    alerts.growing_functions(boolean),
    alerts.check_growth(text),
    alerts.probe_condition(text, regprocedure),
    alerts.time_budget_ms(text, bigint),
    alerts.channel_name(uuid),
    alerts.safe_depth()
TO chainlake_users, chainlake_api, chainlake_ingest;
-- Ingest evaluates each batch's rules, under time budgets (chainlake.alerts.evaluate).
GRANT USAGE ON SCHEMA alerts TO chainlake_ingest;
GRANT EXECUTE ON FUNCTION
    alerts.on_batch(bigint, bigint, bigint, bigint, bigint, uuid, uuid),
    alerts.active_orgs(),
    alerts.active_rules(uuid),
    alerts.set_aside(uuid, uuid, bigint, text, integer),
    alerts.settle_set_aside()
TO chainlake_ingest;
-- The evaluation functions' owner (sql/core/01_function_owners.sql) reads where it evaluates (rls_policies/alerts.sql).
GRANT USAGE ON SCHEMA alerts TO chainlake_evaluator;
GRANT EXECUTE ON FUNCTION alerts.dataset_shape(text), alerts.evaluated_shape(text, text)
    TO chainlake_evaluator;

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
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    UNION ALL
    -- an endpoint live ingest fails over from, while its ingest still reports (a stopped ingest
    -- is ingest-lag's)
    SELECT 'rpc_endpoint_down_seconds',
           'chain ' || h.chain_id || ' endpoint ' || h.position || ' (' || h.address || ')',
           extract(epoch FROM now() - h.down_since)
    FROM chain.rpc_health h
    WHERE h.down_since IS NOT NULL AND h.reported_at > now() - interval '2 minutes'
    UNION ALL
    -- the last scheduled integrity check of a chain, while it is recent
    SELECT 'chain_check_problems', k.chain_id::text, k.problems::double precision
    FROM chain.check_reports k WHERE k.checked_at > now() - interval '1 day'
$$;

-- Evaluate the system org's platform.health rules now: a firing per matching row, at most one
-- per (rule, metric, subject) a minute, and none while the rule's throttle holds. A rule that
-- fails is set aside with its error, as chain rules are.
CREATE OR REPLACE FUNCTION alerts.evaluate_platform() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    health constant alerts.platform_health_row[] := ARRAY(SELECT h FROM alerts.platform_health() h);
    r alerts.rules;
    fired uuid;
    n integer := 0;
    minute bigint := floor(extract(epoch FROM now()) / 60)::bigint;
BEGIN
    FOR r IN SELECT * FROM alerts.rules
             WHERE enabled AND last_error IS NULL AND dataset = 'platform.health'
               AND id <> ALL ((SELECT alerts.held_aside_ids())::uuid[]) LOOP
        BEGIN
            FOR fired IN
                INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block,
                                            block_hash, match_key, dedup_value, vals)
                SELECT r.org_id, r.id, 0, minute, minute, '\x'::bytea,
                       t.metric || ':' || t.subject || '@' || minute, t.metric || ':' || t.subject,
                       to_jsonb(t)
                FROM alerts.match_health(r.predicate, health) t
                WHERE NOT EXISTS (
                    SELECT 1 FROM alerts.firings f
                    WHERE f.rule_id = r.id AND f.dedup_value = t.metric || ':' || t.subject
                      AND NOT f.backtest AND f.cleared_at IS NULL
                      AND f.fired_at > clock_timestamp() - make_interval(secs => greatest(r.throttle_seconds, 0)))
                ON CONFLICT DO NOTHING RETURNING id
            LOOP
                PERFORM alerts.announce(fired, 'fired');
                n := n + 1;
            END LOOP;
            -- what no longer holds is cleared: its open firings closed, the latest announced
            FOR fired IN
                WITH cleared AS (
                    UPDATE alerts.firings f SET cleared_at = clock_timestamp()
                    WHERE f.org_id = r.org_id AND f.rule_id = r.id AND f.cleared_at IS NULL
                      AND NOT f.backtest AND f.retracted_at IS NULL
                      AND f.dedup_value <> ALL (ARRAY(
                          SELECT t.metric || ':' || t.subject
                          FROM alerts.match_health(r.predicate, health) t))
                    RETURNING f.id, f.dedup_value, f.fired_at)
                SELECT DISTINCT ON (c.dedup_value) c.id FROM cleared c
                ORDER BY c.dedup_value, c.fired_at DESC
            LOOP
                PERFORM alerts.announce(fired, 'cleared');
            END LOOP;
        EXCEPTION WHEN others THEN
            PERFORM alerts.set_aside(r.org_id, r.id, 1, SQLERRM);
        END;
    END LOOP;
    RETURN n;
END
$$;

-- The built-in system rules, in the system org: disabled ones stay disabled, and a rule the
-- operator changed (its condition, channels) keeps the change.
CREATE OR REPLACE FUNCTION alerts.install_system_rules() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
         'Alert deliveries ended in the dead letter.'),
        (org, 'rpc-endpoint-down', 'platform.health',
         'metric = ''rpc_endpoint_down_seconds'' AND value >= 15', 'warning', 3600,
         'Live ingest has failed over from an RPC endpoint for 15 s or more; cleared when it answers again.'),
        (org, 'chain-check', 'platform.health',
         'metric = ''chain_check_problems'' AND value > 0', 'critical', 3600,
         'The scheduled chain check found a gap, a broken hash link or an altered chunk; cleared when a later check is clean (chainlake chain repair).')
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
