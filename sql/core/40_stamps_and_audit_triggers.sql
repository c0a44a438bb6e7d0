-- Who-did-it columns cannot be forged, and changes to who may see what are always audited.
--
-- core.stamp_actor(column): on INSERT by a user (direct SQL or the API's path) the named column
-- (created_by, owner_id, initiated_by) is set to the caller; on UPDATE it keeps its old value.
-- The operator's own connection (no caller) may set it freely.
CREATE OR REPLACE FUNCTION core.stamp_actor() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col constant text := TG_ARGV[0];
    caller uuid := core.caller_user_id();
    kept jsonb;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        kept := jsonb_build_object(col, to_jsonb(OLD) -> col);
    ELSIF caller IS NOT NULL THEN
        kept := jsonb_build_object(col, caller);
    ELSE
        RETURN NEW;
    END IF;
    NEW := jsonb_populate_record(NEW, kept);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER datasets_stamp_owner BEFORE INSERT OR UPDATE ON catalog.datasets
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('owner_id');
CREATE OR REPLACE TRIGGER definitions_stamp_creator BEFORE INSERT OR UPDATE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');
CREATE OR REPLACE TRIGGER runs_stamp_initiator BEFORE INSERT OR UPDATE ON runs.runs
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('initiated_by');
CREATE OR REPLACE TRIGGER rules_stamp_creator BEFORE INSERT OR UPDATE ON alerts.rules
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');
CREATE OR REPLACE TRIGGER org_grants_stamp_creator BEFORE INSERT OR UPDATE ON core.org_grants
    FOR EACH ROW EXECUTE FUNCTION core.stamp_actor('created_by');

-- Every change to memberships and grants is an audit event, whoever makes it and however.
CREATE OR REPLACE FUNCTION core.audit_access_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    action text := CASE TG_TABLE_NAME WHEN 'memberships' THEN 'member.' ELSE 'grant.' END
                   || CASE TG_OP WHEN 'INSERT' THEN 'add' WHEN 'UPDATE' THEN 'change'
                                 ELSE 'remove' END;
    -- a grant names its grantee org by name: the grantor's admins read this event, and an
    -- org's id is not theirs to learn
    grantee text := (SELECT o.name FROM core.orgs o
                     WHERE o.id = core.try_uuid(changed ->> 'grantee_org_id'));
    target text := coalesce(changed ->> 'user_id', grantee);
BEGIN
    PERFORM audit.record((changed ->> 'org_id')::uuid, action, target,
                         changed - 'org_id' - 'created_at' - 'grantee_org_id'
                         || CASE WHEN grantee IS NULL THEN '{}'::jsonb
                                 ELSE jsonb_build_object('grantee', grantee) END);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER memberships_audited AFTER INSERT OR UPDATE OR DELETE ON core.memberships
    FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();
CREATE OR REPLACE TRIGGER org_grants_audited AFTER INSERT OR UPDATE OR DELETE ON core.org_grants
    FOR EACH ROW EXECUTE FUNCTION core.audit_access_change();

-- Every configuration change is an audit event, whoever makes it and however: job definitions,
-- alert rules and channels, job secrets (never their values) and quotas. An update that changes
-- only bookkeeping (timestamps, a rule's last error) is not one.
CREATE OR REPLACE FUNCTION core.audit_config_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    noise constant text[] := ARRAY['updated_at', 'created_at', 'applied_at', 'last_error',
                                   'predicate', 'value_enc', 'secret_enc'];
    new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
    changed jsonb := coalesce(new_row, old_row);
    -- a secret's new value is a change worth recording (that it changed, never the value)
    rotated boolean := TG_OP = 'UPDATE' AND (
        (new_row -> 'value_enc') IS DISTINCT FROM (old_row -> 'value_enc')
        OR (new_row -> 'secret_enc') IS DISTINCT FROM (old_row -> 'secret_enc'));
BEGIN
    IF TG_OP = 'UPDATE' AND (new_row - noise) = (old_row - noise) AND NOT rotated THEN
        RETURN NULL;
    END IF;
    PERFORM audit.record(
        (changed ->> 'org_id')::uuid,
        TG_ARGV[0] || CASE TG_OP WHEN 'INSERT' THEN '.add' WHEN 'UPDATE' THEN '.change'
                                 ELSE '.remove' END,
        coalesce(changed ->> TG_ARGV[1], ''),
        (changed - noise) - 'org_id'
            || CASE WHEN rotated THEN '{"value_changed": true}'::jsonb ELSE '{}' END);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER definitions_audited AFTER INSERT OR UPDATE OR DELETE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('job.definition', 'name');
CREATE OR REPLACE TRIGGER rules_audited AFTER INSERT OR UPDATE OR DELETE ON alerts.rules
    FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('alert.rule', 'name');
CREATE OR REPLACE TRIGGER channels_audited AFTER INSERT OR UPDATE OR DELETE ON alerts.channels
    FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('alert.channel', 'name');
CREATE OR REPLACE TRIGGER secrets_audited AFTER INSERT OR UPDATE OR DELETE ON jobs.secrets
    FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('secret', 'name');
DROP TRIGGER IF EXISTS quotas_audited ON core.quotas;  -- a new org's row is part of org.create
CREATE TRIGGER quotas_audited AFTER UPDATE ON core.quotas
    FOR EACH ROW EXECUTE FUNCTION core.audit_config_change('quota', 'org_id');
