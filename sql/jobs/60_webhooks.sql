-- Webhook activation. The API verifies a delivery's HMAC with the job's secret (decrypted with a
-- key Postgres never sees), then calls jobs.receive_webhook, which queues one run per delivery.

CREATE OR REPLACE FUNCTION jobs.set_webhook_secret(p_org_id uuid, p_job text, p_secret_enc bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    def jobs.definitions;
BEGIN
    IF NOT (p_org_id = ANY (core.caller_org_ids('admin')) OR core.caller_is_operator()) THEN
        RAISE EXCEPTION 'only an org admin may set a webhook secret' USING ERRCODE = '42501';
    END IF;
    def := jobs.current_definition(p_org_id, p_job);
    IF def.id IS NULL OR def.spec ->> 'activation' IS DISTINCT FROM 'webhook' THEN
        RAISE EXCEPTION 'job "%" is not a webhook job', p_job USING ERRCODE = '22023',
            HINT = 'its definition needs kind: source and activation: webhook';
    END IF;
    INSERT INTO jobs.webhook_secrets (org_id, job_name, secret_enc, created_by)
    VALUES (p_org_id, p_job, p_secret_enc, core.caller_user_id())
    ON CONFLICT (org_id, job_name) DO UPDATE
        SET secret_enc = excluded.secret_enc, created_at = now(), created_by = excluded.created_by;
    PERFORM audit.record(p_org_id, 'webhook.secret', p_job);
END
$$;

-- The API's own path (session_user chainlake_api): the encrypted secret of a webhook job.
CREATE OR REPLACE FUNCTION jobs.webhook_secret(p_org_id uuid, p_job text) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.secret_enc FROM jobs.webhook_secrets w
    WHERE session_user = 'chainlake_api' AND w.org_id = p_org_id AND w.job_name = p_job
$$;

-- Queue the run for a verified delivery. Each delivery id queues one run per job, ever: the id
-- is kept as the run's idempotency key (unique per org), and a delivery id received before is
-- refused (23505), so a captured request replays into nothing (the signature covers the id).
-- Held to the org's queue quota like every run a person asks for.
CREATE OR REPLACE FUNCTION jobs.receive_webhook(
    p_org_id uuid, p_job text, p_payload jsonb, p_delivery text
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fired runs.runs;
    v_key text := format('webhook:%s:%s', p_job, p_delivery);
BEGIN
    IF session_user <> 'chainlake_api' THEN
        RAISE EXCEPTION 'only the API receives webhooks' USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM runs.runs r WHERE r.org_id = p_org_id AND r.idempotency_key = v_key)
    THEN
        RAISE EXCEPTION 'delivery "%" was already received: it queues no second run', p_delivery
            USING ERRCODE = '23505', HINT = 'send each new delivery with a new X-Chainlake-Delivery';
    END IF;
    PERFORM runs.check_queue_quota(p_org_id);
    fired := runs.enqueue(p_org_id, p_job, jsonb_build_object('payload', p_payload),
                          jsonb_build_object('kind', 'webhook', 'delivery', p_delivery),
                          '[]'::jsonb, v_key);
    RETURN fired.id;
END
$$;

GRANT EXECUTE ON FUNCTION jobs.set_webhook_secret(uuid, text, bytea) TO chainlake_users;
GRANT EXECUTE ON FUNCTION jobs.webhook_secret(uuid, text), jobs.receive_webhook(uuid, text, jsonb, text)
    TO chainlake_api;
GRANT USAGE ON SCHEMA jobs TO chainlake_api;
