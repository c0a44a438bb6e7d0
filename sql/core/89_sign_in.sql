-- Sign-in: who an OIDC token is, and the audit of each token's first request (its login).

-- The claims a verified OIDC token's request runs under: the chainlake user with this e-mail
-- (NULL when there is none, or they are disabled) and, when the API's configuration maps org
-- roles from the token, those roles by org id (`*`: every org). An org the token names that
-- does not exist is left out. Called by the API before the request has an identity.
CREATE OR REPLACE FUNCTION core.oidc_identity(p_email text, p_org_roles jsonb) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('sub', u.id)
        || CASE WHEN p_org_roles IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('org_roles', coalesce((
                    SELECT jsonb_object_agg(coalesce(o.id::text, '*'), r.value)
                    FROM jsonb_each_text(p_org_roles) r
                    LEFT JOIN core.orgs o ON o.name = r.key
                    WHERE r.key = '*' OR o.id IS NOT NULL), '{}'::jsonb))
           END
    FROM core.users u
    WHERE u.email = lower(p_email) AND u.disabled_at IS NULL
$$;
REVOKE EXECUTE ON FUNCTION core.oidc_identity(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.oidc_identity(text, jsonb) TO chainlake_api;

-- The request's token, by its SHA-256: 'new' on its first request (a sign-in: one `auth.login`
-- event in each org the caller acts in, or one platform-level event), 'seen' after that, and
-- 'unknown' when the token's subject is no enabled user (the API refuses it, 401). Expired
-- sign-ins of the caller are dropped on the way.
CREATE OR REPLACE FUNCTION core.note_sign_in(
    p_token_sha256 bytea, p_issuer text, p_expires_at timestamptz, p_detail jsonb
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller uuid := core.caller_user_id();
    org uuid;
    detail jsonb := coalesce(p_detail, '{}') || jsonb_build_object('expires_at', p_expires_at);
    n integer := 0;
BEGIN
    IF caller IS NULL THEN
        RETURN 'unknown';
    END IF;
    INSERT INTO core.sign_ins (token_sha256, user_id, issuer, expires_at)
    VALUES (p_token_sha256, caller, p_issuer, p_expires_at)
    ON CONFLICT (token_sha256) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'seen';
    END IF;
    DELETE FROM core.sign_ins WHERE user_id = caller AND expires_at < now() - interval '1 hour';
    FOREACH org IN ARRAY core.caller_org_ids('member') LOOP
        PERFORM audit.record(org, 'auth.login', p_issuer, detail);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        PERFORM audit.record(NULL, 'auth.login', p_issuer, detail);
    END IF;
    RETURN 'new';
END
$$;
REVOKE EXECUTE ON FUNCTION core.note_sign_in(bytea, text, timestamptz, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.note_sign_in(bytea, text, timestamptz, jsonb) TO chainlake_authenticated;
