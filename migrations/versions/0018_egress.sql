-- Egress: where outbound calls made on a tenant's behalf (alert channels, service endpoints, a
-- job's declared network) may go besides public addresses. 'allowed': an exact host:port the
-- operator allows although it is loopback, private or otherwise refused; 'platform': one of the
-- platform's own services (Postgres, the API, the object store, the chain node), never reached
-- on a tenant's behalf. Written by the operator only (core.allow_egress,
-- core.set_egress_addresses; `chainlake up` registers the stack's own addresses).
CREATE TABLE core.egress_addresses (
    rule  text NOT NULL,
    host  text NOT NULL,
    port  integer NOT NULL,
    note  text NOT NULL DEFAULT '',
    PRIMARY KEY (rule, host, port),
    CONSTRAINT egress_addresses_rule CHECK (rule IN ('allowed', 'platform')),
    CONSTRAINT egress_addresses_port CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT egress_addresses_host CHECK (host <> '' AND host = lower(host))
);
COMMENT ON TABLE core.egress_addresses IS '@tenancy platform: the operator''s egress allow-list and the platform''s own addresses, written only by the operator';

-- Fair delivery takes each org's oldest tasks (alerts.take_fair_deliveries).
CREATE INDEX IF NOT EXISTS q_alert_deliveries_org_idx
    ON pgmq.q_alert_deliveries ((message ->> 'org_id'), msg_id);
