-- PII: personal data about a subject (an address), private to a user or shared with their org
-- (pii.address_labels; `kind` says which enrichment a row is, `label` is its value).
--
-- People never SELECT it: every read is pii.labels, which writes exactly one audit event
-- (`pii.read`: who, the filters, the subjects and the row count) in the same transaction, so a
-- rolled-back read leaves no event and a failed audit fails the read. Writes stay under RLS
-- (INSERT through pii.set_label or directly) and every row change is an audit event (a trigger,
-- never the value). Deleting or redacting a subject (pii.delete_subject, pii.redact_subject)
-- is audited too and marks for rebuild every asset version derived from PII (docs/tenancy.md).

-- A subject's address from its text form, or a clear error.
CREATE OR REPLACE FUNCTION pii.subject(p_address text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_address IS NULL OR p_address !~ '^0[xX][0-9a-fA-F]{40}$' THEN
        RAISE EXCEPTION 'malformed address "%": expected 0x followed by 40 hex digits',
            coalesce(p_address, '') USING ERRCODE = '22023',
            HINT = 'for example 0x00000000000000000000000000000000000000ab';
    END IF;
    RETURN decode(substr(p_address, 3), 'hex');
END
$$;

CREATE OR REPLACE FUNCTION pii.address_text(p_address bytea) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT '0x' || encode(p_address, 'hex')
$$;

-- The audited read: the labels of one org the caller may see (their own, and those shared with
-- the org), optionally about one subject, at most p_limit (1..1000) of them.
CREATE OR REPLACE FUNCTION pii.labels(
    p_org text, p_subject text DEFAULT NULL, p_limit integer DEFAULT 1000
) RETURNS TABLE (org text, subject text, kind text, label text, visibility catalog.visibility,
                 owner text, created_at timestamptz, redacted boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_org uuid := core.member_org(p_org);
    v_subject bytea := CASE WHEN p_subject IS NOT NULL THEN pii.subject(p_subject) END;
    v_me uuid := core.caller_user_id();
    found pii.address_labels[];
BEGIN
    SELECT coalesce(array_agg(l.a ORDER BY l.n), '{}') INTO found
    FROM (SELECT a, row_number() OVER (ORDER BY a.address, a.kind, a.label, a.id) AS n
          FROM pii.address_labels a
          WHERE a.org_id = v_org AND (a.visibility = 'org' OR a.owner_id = v_me)
            AND (v_subject IS NULL OR a.address = v_subject)
          ORDER BY n
          LIMIT least(greatest(coalesce(p_limit, 1000), 1), 1000)) l;
    -- exactly one event, in this transaction: fail closed
    PERFORM audit.record(
        v_org, 'pii.read', coalesce(pii.address_text(v_subject), ''),
        jsonb_build_object(
            'filters', jsonb_build_object('subject', pii.address_text(v_subject),
                                          'limit', p_limit),
            'rows', cardinality(found),
            'subjects', (SELECT coalesce(jsonb_agg(DISTINCT pii.address_text(f.address)), '[]')
                         FROM unnest(found) f)));
    RETURN QUERY
        SELECT p_org, pii.address_text(f.address), f.kind, f.label, f.visibility, u.email,
               f.created_at, f.redacted_at IS NOT NULL
        FROM unnest(found) WITH ORDINALITY AS f
        LEFT JOIN core.users u ON u.id = f.owner_id
        ORDER BY f.ordinality;
END
$$;

-- A label (or another kind of enrichment) of the caller's about a subject: private, or shared
-- with the org (writers and admins). Runs as the caller, so RLS checks the row. Returns 1, or 0
-- when the caller already has that label.
CREATE OR REPLACE FUNCTION pii.set_label(
    p_org text, p_subject text, p_label text, p_kind text DEFAULT 'label',
    p_visibility catalog.visibility DEFAULT 'private'
) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_org uuid := CASE WHEN p_visibility = 'org'
                       THEN core.writable_org(p_org, 'share labels with the org')
                       ELSE core.member_org(p_org) END;
    v_subject bytea := pii.subject(p_subject);
BEGIN
    IF coalesce(btrim(p_label), '') = '' OR length(p_label) > 1000 THEN
        RAISE EXCEPTION 'a label needs 1 to 1000 characters' USING ERRCODE = '22023';
    END IF;
    IF coalesce(p_kind, '') !~ '^[a-z][a-z0-9_]{0,31}$' THEN
        RAISE EXCEPTION 'invalid kind "%": use up to 32 lowercase letters, digits or "_", starting with a letter',
            coalesce(p_kind, '') USING ERRCODE = '22023', HINT = 'the default is label';
    END IF;
    -- (not ON CONFLICT: its arbiter needs SELECT on the columns, which people do not have)
    INSERT INTO pii.address_labels (org_id, owner_id, address, kind, label, visibility)
    VALUES (v_org, core.caller_user_id(), v_subject, p_kind, p_label, p_visibility);
    RETURN 1;
EXCEPTION WHEN unique_violation THEN  -- the caller's own label: the key leads with org, owner
    RETURN 0;
END
$$;

-- Every row change is an audit event: the subject, the row's id, owner, kind and visibility,
-- whether it is redacted; never the value.
CREATE OR REPLACE FUNCTION pii.audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed pii.address_labels := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM audit.record(
        changed.org_id,
        'pii.label.' || CASE TG_OP WHEN 'INSERT' THEN 'add' WHEN 'UPDATE' THEN 'change'
                                   ELSE 'remove' END,
        pii.address_text(changed.address),
        jsonb_build_object('id', changed.id, 'owner_id', changed.owner_id, 'kind', changed.kind,
                           'visibility', changed.visibility,
                           'redacted', changed.redacted_at IS NOT NULL));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER address_labels_audited
    AFTER INSERT OR UPDATE OR DELETE ON pii.address_labels
    FOR EACH ROW EXECUTE FUNCTION pii.audit_change();

-- The asset versions of an org derived from PII that existed at p_since: versions written by a
-- run of a job whose definition declares `reads_pii: true`, created at or after p_since, and
-- every version built from one of those (runs.run_inputs, transitively).
CREATE OR REPLACE FUNCTION pii.derived_versions(p_org uuid, p_since timestamptz)
RETURNS TABLE (dataset_id uuid, version integer)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE derived AS (
        SELECT v.dataset_id, v.version
        FROM catalog.asset_versions v
        JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id
        JOIN jobs.definitions d
          ON d.org_id = r.org_id AND d.name = r.job_name AND d.version = r.job_version
        WHERE v.org_id = p_org AND v.created_at >= p_since
          AND (d.spec -> 'reads_pii') = 'true'::jsonb
        UNION
        SELECT v.dataset_id, v.version
        FROM derived h
        JOIN runs.run_inputs i
          ON i.org_id = p_org AND i.dataset_id = h.dataset_id AND i.version = h.version
        JOIN catalog.asset_versions v ON v.org_id = i.org_id AND v.run_id = i.run_id
    )
    SELECT dataset_id, version FROM derived
$$;

-- Delete or redact the rows about p_subject in one org (p_org NULL: every org): the rows of
-- p_owner, plus the org-visible ones when p_shared, or everyone's when p_owner is NULL. One
-- `pii.delete` / `pii.redact` event per org (rows, versions marked; none for an org with
-- nothing in scope, but at least one event); the derived versions are marked for rebuild.
CREATE OR REPLACE FUNCTION pii.remove_subject(
    p_org uuid, p_subject bytea, p_owner uuid, p_shared boolean, p_redact boolean
) RETURNS TABLE (org text, rows integer, versions_marked integer)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    what constant text := CASE WHEN p_redact THEN 'redact' ELSE 'delete' END;
    target record;
    n_rows integer;
    n_versions integer;
    events integer := 0;
BEGIN
    FOR target IN
        SELECT l.org_id, o.name, min(l.created_at) AS since
        FROM pii.address_labels l JOIN core.orgs o ON o.id = l.org_id
        WHERE l.address = p_subject AND (p_org IS NULL OR l.org_id = p_org)
          AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'))
          AND NOT (p_redact AND l.redacted_at IS NOT NULL)
        GROUP BY l.org_id, o.name ORDER BY o.name
    LOOP
        IF p_redact THEN
            UPDATE pii.address_labels l SET label = '[REDACTED]', redacted_at = now()
            WHERE l.org_id = target.org_id AND l.address = p_subject AND l.redacted_at IS NULL
              AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'));
        ELSE
            DELETE FROM pii.address_labels l
            WHERE l.org_id = target.org_id AND l.address = p_subject
              AND (p_owner IS NULL OR l.owner_id = p_owner OR (p_shared AND l.visibility = 'org'));
        END IF;
        GET DIAGNOSTICS n_rows = ROW_COUNT;
        UPDATE catalog.asset_versions v
        SET needs_rebuild_at = now(),
            rebuild_reason = format('built from PII that was %s at %s (audit action pii.%s)',
                                    CASE WHEN p_redact THEN 'redacted' ELSE 'deleted' END,
                                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                                    what)
        FROM pii.derived_versions(target.org_id, target.since) d
        WHERE v.org_id = target.org_id AND v.dataset_id = d.dataset_id AND v.version = d.version;
        GET DIAGNOSTICS n_versions = ROW_COUNT;
        PERFORM audit.record(target.org_id, 'pii.' || what, pii.address_text(p_subject),
                             jsonb_build_object('rows', n_rows, 'versions_marked', n_versions,
                                                'scope', CASE WHEN p_owner IS NULL THEN 'all'
                                                              WHEN p_shared THEN 'own+org'
                                                              ELSE 'own' END));
        events := events + 1;
        RETURN QUERY SELECT target.name, n_rows, n_versions;
    END LOOP;
    IF events = 0 THEN  -- nothing in scope: the request is still recorded
        PERFORM audit.record(p_org, 'pii.' || what, pii.address_text(p_subject),
                             jsonb_build_object('rows', 0, 'versions_marked', 0));
        RETURN QUERY SELECT (SELECT o.name FROM core.orgs o WHERE o.id = p_org), 0, 0;
    END IF;
END
$$;

-- A user's delete and redact: in one org they belong to, their own rows, and the rows shared
-- with the org when they are its admin.
CREATE OR REPLACE FUNCTION pii.remove_in_scope(p_org text, p_subject text, p_redact boolean)
RETURNS TABLE (org text, rows integer, versions_marked integer)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.* FROM (SELECT core.member_org(p_org) AS id, pii.subject(p_subject) AS subject) c,
        pii.remove_subject(c.id, c.subject, core.caller_user_id(),
                           c.id = ANY (core.caller_org_ids('admin')), p_redact) r
$$;
REVOKE EXECUTE ON FUNCTION pii.remove_in_scope(text, text, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION pii.delete_subject(p_org text, p_subject text)
RETURNS TABLE (org text, rows integer, versions_marked integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM pii.remove_in_scope(p_org, p_subject, false)
$$;

CREATE OR REPLACE FUNCTION pii.redact_subject(p_org text, p_subject text)
RETURNS TABLE (org text, rows integer, versions_marked integer)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM pii.remove_in_scope(p_org, p_subject, true)
$$;

-- The operator's erasure: every row about the subject, whoever's, in one org or all of them.
-- Executable only by the operator's admin connection (granted to no role).
CREATE OR REPLACE FUNCTION pii.erase_subject(
    p_subject text, p_org text DEFAULT NULL, p_redact boolean DEFAULT false
) RETURNS TABLE (org text, rows integer, versions_marked integer)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.* FROM pii.remove_subject(
        CASE WHEN p_org IS NOT NULL THEN (core.org_by_name(p_org)).id END,
        pii.subject(p_subject), NULL, true, p_redact) r
$$;

GRANT USAGE ON SCHEMA pii TO chainlake_users;
GRANT EXECUTE ON FUNCTION
    pii.subject(text),
    pii.address_text(bytea),
    pii.labels(text, text, integer),
    pii.set_label(text, text, text, text, catalog.visibility),
    pii.delete_subject(text, text),
    pii.redact_subject(text, text)
TO chainlake_users;
