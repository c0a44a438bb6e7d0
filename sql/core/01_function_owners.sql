-- Who SECURITY DEFINER functions run as (SECURITY.md items 5 and 21). A definer function runs
-- with its owner's rights, so no owner is a superuser, and neither can become more than it is:
--   chainlake_definer    NOLOGIN  owns the platform's definer functions: reads and writes every
--                                 tenant table (an RLS policy `TO chainlake_definer USING (true)`
--                                 on each, added by core.force_rls), uses the queues, calls our
--                                 functions; no BYPASSRLS, CREATEROLE, CREATEDB, no login, no
--                                 member of any role, owns no table
--   chainlake_evaluator  NOLOGIN  owns the alert-evaluation functions that run a tenant's checked
--                                 condition (alerts.match_*): reads chain.blocks, transactions
--                                 and logs (rls_policies/alerts.sql), nothing else
-- Identity functions read session_user and claims, so ownership does not change who the caller
-- is. core.settle_function_owners (run by `chainlake migrate` after it applied anything) hands
-- every definer function to its owner.
DO $roles$
DECLARE
    owner text;
BEGIN
    FOREACH owner IN ARRAY ARRAY['chainlake_definer', 'chainlake_evaluator'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', owner);
        END IF;
        EXECUTE format('ALTER ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION',
                       owner);
    END LOOP;
END
$roles$;

-- The queues the operator creates later are chainlake_definer's to use as well.
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chainlake_definer;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT USAGE, SELECT ON SEQUENCES TO chainlake_definer;

-- The definer functions read and write every row of a tenant table: a policy for their owner
-- alone (nobody can become chainlake_definer; only its functions run as it).
CREATE OR REPLACE PROCEDURE core.admit_definer(tbl regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO chainlake_definer', tbl);
    EXECUTE format('DROP POLICY IF EXISTS "the platform''s definer functions" ON %s', tbl);
    EXECUTE format('CREATE POLICY "the platform''s definer functions" ON %s FOR ALL TO chainlake_definer USING (true) WITH CHECK (true)', tbl);
END
$$;

-- Every SECURITY DEFINER function of chainlake's schemas to its owner (the evaluation functions
-- to chainlake_evaluator, the watchdog to chainlake_watchdog, the rest to chainlake_definer), and what the definer functions use:
-- each tenant table's policy (for tables whose policies were applied before it existed), our
-- schemas, routines and sequences, the queues.
CREATE OR REPLACE PROCEDURE core.settle_function_owners()
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    schemas constant text[] := ARRAY['core', 'catalog', 'jobs', 'runs', 'chain', 'alerts',
                                     'audit', 'pii'];
    evaluation constant text[] := ARRAY['alerts.match_rows', 'alerts.match_window',
                                        'alerts.match_simple', 'alerts.match_health'];
    -- ends overdue user sessions (sql/core/31_blocking.sql): pg_signal_backend, nothing else
    watchdog constant text[] := ARRAY['core.end_overdue_sessions'];
    fn record;
    tbl regclass;
    s text;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure AS signature, p.proowner::regrole::text AS owner,
               CASE WHEN n.nspname || '.' || p.proname = ANY (evaluation)
                    THEN 'chainlake_evaluator'
                    WHEN n.nspname || '.' || p.proname = ANY (watchdog)
                    THEN 'chainlake_watchdog' ELSE 'chainlake_definer' END AS wanted
        FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname = ANY (schemas)
    LOOP
        IF fn.owner <> fn.wanted THEN
            EXECUTE format('ALTER ROUTINE %s OWNER TO %I', fn.signature, fn.wanted);
        END IF;
    END LOOP;
    FOR tbl IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND n.nspname = ANY (schemas)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                          WHERE p.polrelid = c.oid
                            AND p.polname = 'the platform''s definer functions')
    LOOP
        CALL core.admit_definer(tbl);
    END LOOP;
    FOREACH s IN ARRAY schemas || 'pgmq'::text LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO chainlake_definer', s);
        EXECUTE format('GRANT EXECUTE ON ALL ROUTINES IN SCHEMA %I TO chainlake_definer', s);
        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO chainlake_definer', s);
    END LOOP;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgmq TO chainlake_definer;
END
$$;
