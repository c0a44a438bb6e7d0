-- Key rotation (`chainlake secret rotate-key`): every encrypted value the platform keeps, and
-- its replacement by the same value encrypted with the new key. The operator's only.

CREATE OR REPLACE FUNCTION core.encrypted_values()
RETURNS TABLE (kind text, org_id uuid, org text, name text, value bytea)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'job secret', s.org_id, o.name, s.name, s.value_enc
    FROM jobs.secrets s JOIN core.orgs o ON o.id = s.org_id
    UNION ALL
    SELECT 'webhook secret', w.org_id, o.name, w.job_name, w.secret_enc
    FROM jobs.webhook_secrets w JOIN core.orgs o ON o.id = w.org_id
    UNION ALL
    SELECT 'channel secret', c.org_id, o.name, c.name, c.secret_enc
    FROM alerts.channels c JOIN core.orgs o ON o.id = c.org_id
    WHERE c.secret_enc IS NOT NULL
$$;

-- One value rewrapped, if it is still the one read (false when it changed meanwhile).
CREATE OR REPLACE FUNCTION core.rewrap_encrypted(
    p_kind text, p_org_id uuid, p_name text, p_old bytea, p_new bytea
) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    CASE p_kind
        WHEN 'job secret' THEN
            UPDATE jobs.secrets SET value_enc = p_new
            WHERE org_id = p_org_id AND name = p_name AND value_enc = p_old;
        WHEN 'webhook secret' THEN
            UPDATE jobs.webhook_secrets SET secret_enc = p_new
            WHERE org_id = p_org_id AND job_name = p_name AND secret_enc = p_old;
        WHEN 'channel secret' THEN
            UPDATE alerts.channels SET secret_enc = p_new
            WHERE org_id = p_org_id AND name = p_name AND secret_enc = p_old;
        ELSE
            RAISE EXCEPTION 'unknown kind of encrypted value "%"', p_kind USING ERRCODE = '22023';
    END CASE;
    RETURN FOUND;
END
$$;
REVOKE EXECUTE ON FUNCTION core.encrypted_values(),
    core.rewrap_encrypted(text, uuid, text, bytea, bytea) FROM PUBLIC;
