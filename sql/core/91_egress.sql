-- Outbound calls on a tenant's behalf (SECURITY.md item 24): the rule for where they may go,
-- checked here when a channel or a job definition is saved (literal addresses, schemes, ports)
-- and by the guarded client (chainlake/outbound.py) when the call is made, with the ranges,
-- allow-list and platform addresses it reads from core.egress_policy().
--
-- A destination host:port is refused when it is one of the platform's own services (always);
-- else it passes when the operator allows exactly that host:port (core.egress_addresses);
-- else it is refused when its address lies in one of core.egress_ranges() (loopback, private,
-- link-local, metadata, multicast, unspecified, reserved), or its name is a loopback name or
-- not a host name at all.

-- The ranges no outbound call reaches unless the operator allows the exact host:port, most
-- specific first (the metadata address is named as such, not as link-local or private).
CREATE OR REPLACE FUNCTION core.egress_ranges()
RETURNS TABLE (range cidr, reason text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT v.r::cidr, v.reason FROM (VALUES
        ('169.254.169.254/32', 'the cloud metadata address'),
        ('fd00:ec2::254/128', 'the cloud metadata address'),
        ('0.0.0.0/8', 'an unspecified address'),
        ('10.0.0.0/8', 'a private address'),
        ('100.64.0.0/10', 'a shared (carrier-grade NAT) address'),
        ('127.0.0.0/8', 'a loopback address'),
        ('169.254.0.0/16', 'a link-local address'),
        ('172.16.0.0/12', 'a private address'),
        ('192.0.0.0/24', 'a reserved address'),
        ('192.0.2.0/24', 'a reserved (documentation) address'),
        ('192.88.99.0/24', 'a reserved (6to4 relay) address'),
        ('192.168.0.0/16', 'a private address'),
        ('198.18.0.0/15', 'a reserved (benchmarking) address'),
        ('198.51.100.0/24', 'a reserved (documentation) address'),
        ('203.0.113.0/24', 'a reserved (documentation) address'),
        ('224.0.0.0/4', 'a multicast address'),
        ('240.0.0.0/4', 'a reserved address'),
        ('::/128', 'an unspecified address'),
        ('::1/128', 'a loopback address'),
        ('::/96', 'a reserved (IPv4-compatible) address'),
        ('::ffff:0:0/96', 'an IPv4-mapped address'),
        ('64:ff9b::/96', 'a translated (NAT64) address'),
        ('64:ff9b:1::/48', 'a translated (NAT64) address'),
        ('100::/64', 'a reserved (discard) address'),
        ('2001::/23', 'a reserved (IETF protocol) address'),
        ('2001:db8::/32', 'a reserved (documentation) address'),
        ('2002::/16', 'a reserved (6to4) address'),
        ('fc00::/7', 'a private (unique local) address'),
        ('fe80::/10', 'a link-local address'),
        ('fec0::/10', 'a reserved (site-local) address'),
        ('ff00::/8', 'a multicast address')
    ) AS v (r, reason)
    ORDER BY masklen(v.r::cidr) DESC, v.r
$$;

-- A literal IP address, or NULL for anything else (a name, a network, junk).
CREATE OR REPLACE FUNCTION core.literal_address(p_host text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_host IS NULL OR p_host !~ '^[0-9a-fA-F:.]+$' OR p_host !~ '[.:]' THEN
        RETURN NULL;
    END IF;
    RETURN p_host::inet;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$$;

-- A host as the rules compare it: lower case, no brackets or final dot, an address in its
-- canonical text ('0:0:0:0:0:0:0:1' is '::1').
CREATE OR REPLACE FUNCTION core.normal_host(p_host text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(pg_catalog.host(core.literal_address(h)), h)
    FROM (SELECT rtrim(btrim(lower(p_host), '[]'), '.') AS h) n
$$;

-- 'host:port' or '[v6 address]:port' split; host NULL when it is neither.
CREATE OR REPLACE FUNCTION core.split_address(p_address text, OUT host text, OUT port integer)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m text[] := coalesce(regexp_match(p_address, '^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$'),
                         regexp_match(p_address, '^([A-Za-z0-9.-]+):([0-9]{1,5})$'));
BEGIN
    IF m IS NOT NULL THEN
        host := core.normal_host(m[1]);
        port := m[2]::integer;
    END IF;
END
$$;

-- An http(s) URL's scheme, host and port (80 or 443 unless given), or the problem with it.
CREATE OR REPLACE FUNCTION core.split_url(
    p_url text, OUT scheme text, OUT host text, OUT port integer, OUT problem text
)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m text[] := regexp_match(coalesce(p_url, ''), '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)');
    authority text;
    hp text[];
BEGIN
    scheme := lower(m[1]);
    authority := m[2];
    IF m IS NULL OR scheme NOT IN ('http', 'https') THEN
        problem := 'not an http:// or https:// URL';
    ELSIF authority LIKE '%@%' THEN
        problem := 'a URL here may not hold a user name or password (before "@")';
    ELSE
        hp := coalesce(regexp_match(authority, '^\[([^]]*)\](?::([0-9]*))?$'),
                       regexp_match(authority, '^([^:]*)(?::([0-9]*))?$'));
        IF hp IS NULL OR hp[1] = '' THEN
            problem := 'no host in the URL';
        ELSIF hp[2] IS NOT NULL AND hp[2] !~ '^[0-9]{1,5}$' THEN
            problem := format('port "%s" is not a port (1 to 65535)', hp[2]);
        ELSE
            host := core.normal_host(hp[1]);
            port := coalesce(hp[2]::integer, CASE scheme WHEN 'https' THEN 443 ELSE 80 END);
        END IF;
    END IF;
END
$$;

-- 'localhost' and the addresses that mean "this machine" in a platform address.
CREATE OR REPLACE FUNCTION core.is_this_machine(p_host text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_host IN ('localhost', '127.0.0.1', '::1', '0.0.0.0', '::')
$$;

-- The platform's own services: what the operator (or `chainlake up`) registered, Postgres
-- itself (its port on this machine), and the chain nodes the system org's jobs ingest from.
CREATE OR REPLACE FUNCTION core.platform_addresses()
RETURNS TABLE (host text, port integer, note text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.host, a.port, a.note FROM core.egress_addresses a WHERE a.rule = 'platform'
    UNION
    SELECT 'localhost', pg_catalog.current_setting('port')::integer, 'Postgres'
    UNION
    SELECT u.host, u.port, 'chain node'
    FROM jobs.definitions d
    JOIN core.orgs o ON o.id = d.org_id AND o.system
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(d.spec #> '{config,chain,rpc_urls}') = 'array'
             THEN d.spec #> '{config,chain,rpc_urls}' ELSE '[]' END) r
    CROSS JOIN LATERAL core.split_url(r) u
    WHERE u.host IS NOT NULL
$$;

-- Why an outbound call to p_host:p_port is refused, or NULL when it may go (as far as a literal
-- can tell: a name is resolved and its addresses checked when it is used).
CREATE OR REPLACE FUNCTION core.egress_refusal(p_host text, p_port integer) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h text := core.normal_host(p_host);
    addr inet := core.literal_address(h);
    shown text;
    why text;
BEGIN
    IF p_port IS NULL OR p_port NOT BETWEEN 1 AND 65535 THEN
        RETURN format('port %s is not a port (1 to 65535)', coalesce(p_port::text, '(none)'));
    ELSIF coalesce(h, '') = '' THEN
        RETURN 'no host';
    END IF;
    shown := CASE WHEN family(addr) = 6 THEN format('[%s]:%s', h, p_port)
                  ELSE format('%s:%s', h, p_port) END;
    IF EXISTS (SELECT 1 FROM core.platform_addresses() p
               WHERE p.port = p_port
                 AND (p.host = h OR (core.is_this_machine(p.host) AND (
                      core.is_this_machine(h) OR addr << '127.0.0.0/8'::inet)))) THEN
        RETURN format('%s is one of the platform''s own services', shown);
    END IF;
    IF EXISTS (SELECT 1 FROM core.egress_addresses a
               WHERE a.rule = 'allowed' AND a.host = h AND a.port = p_port) THEN
        RETURN NULL;
    END IF;
    IF addr IS NOT NULL THEN
        SELECT r.reason INTO why FROM core.egress_ranges() r WHERE addr <<= r.range
        ORDER BY masklen(r.range) DESC LIMIT 1;
        RETURN CASE WHEN why IS NOT NULL THEN format('%s is %s', h, why) END;
    ELSIF h = 'localhost' OR h LIKE '%.localhost' THEN
        RETURN format('%s is a loopback name', h);
    ELSIF h !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
          OR h ~ '(^|\.)([0-9]+|0x[0-9a-f]*)$' THEN
        RETURN format('"%s" is neither a host name nor an IP address in standard form', h);
    END IF;
    RETURN NULL;
END
$$;

-- An http(s) URL checked the same way: the problem with it, or NULL.
CREATE OR REPLACE FUNCTION core.egress_url_refusal(p_url text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(u.problem, core.egress_refusal(u.host, u.port)) FROM core.split_url(p_url) u
$$;

-- What the platform's outbound client needs: the refused ranges, the operator's allow-list
-- and the platform's own addresses (rule 'refused' | 'allowed' | 'platform').
CREATE OR REPLACE FUNCTION core.egress_policy()
RETURNS TABLE (rule text, host text, port integer, note text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'refused', r.range::text, NULL::integer, r.reason FROM core.egress_ranges() r
    UNION ALL
    SELECT 'allowed', a.host, a.port, a.note FROM core.egress_addresses a WHERE a.rule = 'allowed'
    UNION ALL
    SELECT 'platform', p.host, p.port, p.note FROM core.platform_addresses() p
$$;

-- The operator allows one exact host:port (a test receiver, a mail relay on this machine).
CREATE OR REPLACE FUNCTION core.allow_egress(p_address text, p_note text DEFAULT 'operator')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM core.set_egress_addresses('allowed', p_note, ARRAY[p_address], false);
END
$$;

-- The operator no longer allows p_address (whoever added it).
CREATE OR REPLACE FUNCTION core.forget_egress(p_address text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a record := core.split_address(p_address);
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator sets egress addresses' USING ERRCODE = '42501';
    END IF;
    DELETE FROM core.egress_addresses e
    WHERE e.rule = 'allowed' AND e.host = a.host AND e.port = a.port;
    RETURN FOUND;
END
$$;

-- The operator's list of p_rule ('allowed' | 'platform') addresses with note p_note: with
-- p_replace, exactly p_addresses (others with that note are dropped), else added to it.
CREATE OR REPLACE FUNCTION core.set_egress_addresses(
    p_rule text, p_note text, p_addresses text[], p_replace boolean DEFAULT true
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    item text;
    a record;
BEGIN
    IF NOT core.caller_is_operator() THEN
        RAISE EXCEPTION 'only the operator sets egress addresses' USING ERRCODE = '42501';
    END IF;
    IF p_replace THEN
        DELETE FROM core.egress_addresses WHERE rule = p_rule AND note = p_note;
    END IF;
    FOREACH item IN ARRAY coalesce(p_addresses, '{}') LOOP
        a := core.split_address(item);
        IF a.host IS NULL THEN
            RAISE EXCEPTION 'egress address "%" is not host:port (e.g. 127.0.0.1:8080, [::1]:25)', item
                USING ERRCODE = '22023';
        END IF;
        INSERT INTO core.egress_addresses (rule, host, port, note)
        VALUES (p_rule, a.host, a.port, p_note)
        ON CONFLICT (rule, host, port) DO UPDATE SET note = excluded.note;
    END LOOP;
    RETURN cardinality(coalesce(p_addresses, '{}'));
END
$$;

-- Read by the stored functions above (as their owner) and the operator; granted to nobody.
CALL core.force_rls('core.egress_addresses');
DROP POLICY IF EXISTS "the operator reads egress addresses" ON core.egress_addresses;
CREATE POLICY "the operator reads egress addresses" ON core.egress_addresses
    FOR SELECT USING ((SELECT core.caller_is_operator()));
REVOKE EXECUTE ON FUNCTION
    core.platform_addresses(),
    core.egress_refusal(text, integer),
    core.egress_url_refusal(text),
    core.egress_policy(),
    core.allow_egress(text, text),
    core.forget_egress(text),
    core.set_egress_addresses(text, text, text[], boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    core.egress_ranges(),
    core.literal_address(text),
    core.normal_host(text),
    core.split_address(text),
    core.split_url(text),
    core.is_this_machine(text),
    core.egress_refusal(text, integer),
    core.egress_url_refusal(text)
TO chainlake_users, chainlake_api, chainlake_runner, chainlake_alerts;
GRANT USAGE ON SCHEMA core TO chainlake_alerts;
GRANT EXECUTE ON FUNCTION core.egress_policy()
TO chainlake_api, chainlake_runner, chainlake_alerts;


-- Where a channel sends (field, host, port), or the problem with a field: webhook and slack
-- to their target URL, sms to config.base_url, email to config.host:port (127.0.0.1:25 unless
-- set, which the operator must allow).
CREATE OR REPLACE FUNCTION alerts.channel_destinations(p_kind text, p_target text, p_config jsonb)
RETURNS TABLE (field text, host text, port integer, problem text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'target', u.host, u.port, u.problem
    FROM core.split_url(p_target) u WHERE p_kind IN ('webhook', 'slack')
    UNION ALL
    SELECT 'config.base_url', u.host, u.port, u.problem
    FROM core.split_url(p_config ->> 'base_url') u
    WHERE p_kind = 'sms' AND p_config ? 'base_url'
    UNION ALL
    SELECT 'config.host', core.normal_host(coalesce(p_config ->> 'host', '127.0.0.1')),
           CASE WHEN coalesce(p_config ->> 'port', '25') ~ '^[0-9]{1,5}$'
                THEN coalesce(p_config ->> 'port', '25')::integer END,
           CASE WHEN coalesce(p_config ->> 'port', '25') !~ '^[0-9]{1,5}$'
                THEN format('config.port "%s" is not a port (1 to 65535)', p_config ->> 'port') END
    WHERE p_kind = 'email'
$$;

-- Every insert and update of a channel, whoever makes it: each destination must pass.
CREATE OR REPLACE FUNCTION alerts.check_channel_destinations() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    why text;
BEGIN
    FOR d IN SELECT * FROM alerts.channel_destinations(NEW.kind, NEW.target, NEW.config) LOOP
        why := coalesce(d.problem, core.egress_refusal(d.host, d.port));
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'channel "%": %: refused: %', NEW.name, d.field, why
                USING ERRCODE = '22023',
                HINT = 'a channel reaches public addresses only, never the platform''s own services; the operator may allow an exact host:port (docs/alerts.md)';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER channels_destinations_checked
    BEFORE INSERT OR UPDATE ON alerts.channels
    FOR EACH ROW EXECUTE FUNCTION alerts.check_channel_destinations();
GRANT EXECUTE ON FUNCTION alerts.channel_destinations(text, text, jsonb)
TO chainlake_users, chainlake_api, chainlake_alerts;


-- A definition's outbound destinations, on every insert and update: each `network` item is
-- host:port and may be reached ("*", any destination on the host's network, is for the system
-- org's own jobs only), and a service launcher's endpoint passes like a channel's URL.
CREATE OR REPLACE FUNCTION jobs.check_definition_egress() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    network jsonb := coalesce(NEW.spec -> 'network', '[]');
    item record;
    a record;
    why text;
BEGIN
    IF jsonb_typeof(network) <> 'array' THEN
        RAISE EXCEPTION 'job "%": network must be a list of "host:port"', NEW.spec ->> 'name'
            USING ERRCODE = '22023';
    END IF;
    FOR item IN SELECT e.value, e.ordinality - 1 AS n
                FROM jsonb_array_elements(network) WITH ORDINALITY e LOOP
        IF item.value = '"*"' THEN
            IF NOT coalesce((SELECT o.system FROM core.orgs o WHERE o.id = NEW.org_id), false) THEN
                RAISE EXCEPTION 'job "%": network[%]: "*" (any destination) is for the platform''s own jobs', NEW.spec ->> 'name', item.n
                    USING ERRCODE = '22023', HINT = 'name each destination as host:port, e.g. api.example.com:443';
            END IF;
            CONTINUE;
        END IF;
        a := core.split_address(item.value #>> '{}');
        why := CASE WHEN jsonb_typeof(item.value) <> 'string' OR a.host IS NULL
                    THEN format('%s is not host:port (e.g. api.example.com:443, [2001:db8::1]:443)', item.value)
                    ELSE core.egress_refusal(a.host, a.port) END;
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'job "%": network[%]: refused: %', NEW.spec ->> 'name', item.n, why
                USING ERRCODE = '22023',
                HINT = 'a job reaches public addresses only, never the platform''s own services; the operator may allow an exact host:port (docs/job-contract.md)';
        END IF;
    END LOOP;
    IF NEW.spec #>> '{launcher,kind}' = 'service' THEN
        why := core.egress_url_refusal(NEW.spec #>> '{launcher,endpoint}');
        IF why IS NOT NULL THEN
            RAISE EXCEPTION 'job "%": launcher.endpoint: refused: %', NEW.spec ->> 'name', why
                USING ERRCODE = '22023',
                HINT = 'a service job''s endpoint is a public address, never the platform''s own services; the operator may allow an exact host:port (docs/job-contract.md)';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

REVOKE EXECUTE ON FUNCTION jobs.check_definition_egress() FROM PUBLIC;
CREATE OR REPLACE TRIGGER definitions_egress_checked
    BEFORE INSERT OR UPDATE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION jobs.check_definition_egress();


-- Fair delivery (SECURITY.md item 22): up to p_limit tasks, at most p_per_org of any one org
-- counting the p_busy ones it has in flight already ({"<org id>": n}), each org's oldest first
-- and the orgs in turn; each hidden from other workers for p_lease_seconds. So one org's flood
-- of tasks, or its endpoint that never answers, never stands before another org's task.
CREATE OR REPLACE FUNCTION alerts.take_fair_deliveries(
    p_limit integer, p_per_org integer, p_lease_seconds integer, p_busy jsonb DEFAULT '{}'
)
RETURNS TABLE (msg_id bigint, delivery_id uuid, org_id uuid, org text, event text,
               attempts integer, channel text, kind text, target text, config jsonb,
               secret_enc bytea, rule text, severity text, firing_id uuid, chain_id bigint,
               from_block bigint, to_block bigint, block_hash bytea, match_key text, vals jsonb,
               fired_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH heads AS (
        SELECT t.msg_id, row_number() OVER (PARTITION BY o.id ORDER BY t.msg_id) AS turn
        FROM core.orgs o
        CROSS JOIN LATERAL (
            SELECT q.msg_id FROM pgmq.q_alert_deliveries q
            WHERE q.message ->> 'org_id' = o.id::text AND q.vt <= clock_timestamp()
            ORDER BY q.msg_id
            LIMIT greatest(p_per_org - coalesce((p_busy ->> o.id::text)::integer, 0), 0)
            FOR UPDATE SKIP LOCKED
        ) t
    ), chosen AS (
        SELECT h.msg_id FROM heads h ORDER BY h.turn, h.msg_id LIMIT greatest(p_limit, 0)
    ), taken AS (
        UPDATE pgmq.q_alert_deliveries q
        SET vt = clock_timestamp() + make_interval(secs => p_lease_seconds),
            read_ct = q.read_ct + 1
        FROM chosen c
        WHERE q.msg_id = c.msg_id
        RETURNING q.msg_id, q.message
    )
    SELECT m.msg_id, d.id, d.org_id, o.name, d.event, d.attempts, c.name, c.kind, c.target,
           c.config, c.secret_enc, r.name, r.severity, f.id, f.chain_id, f.from_block,
           f.to_block, f.block_hash, f.match_key, f.vals, f.fired_at
    FROM taken m
    JOIN alerts.deliveries d ON d.id = (m.message ->> 'delivery_id')::uuid
    JOIN core.orgs o ON o.id = d.org_id
    JOIN alerts.firings f ON f.org_id = d.org_id AND f.id = d.firing_id
    LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id
    LEFT JOIN alerts.channels c ON c.org_id = d.org_id AND c.name = d.channel
    ORDER BY m.msg_id
$$;
REVOKE EXECUTE ON FUNCTION alerts.take_fair_deliveries(integer, integer, integer, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts.take_fair_deliveries(integer, integer, integer, jsonb)
TO chainlake_alerts;
