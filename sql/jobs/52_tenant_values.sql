-- Tenant values that reach paths and command lines (SECURITY.md items 19 and 20). A job's name,
-- version, datasets, secrets, launcher folder, program and image, and its output path template,
-- become directory names, mount sources, environment variable names and podman arguments on the
-- runner's machine. Each is checked here, on every row written to jobs.definitions by any client
-- (`jobs.apply_definition` called directly, or an INSERT under RLS), with the same rules as the
-- contract's schema (chainlake/contract/job_definition.schema.json: its `pattern`, `x-field` and
-- `x-rule` beside each; tests/security/test_c1_path_traversal.py holds the two to each other).
-- The runner checks them again where it uses them (chainlake/paths.py, runner/launchers.py).

-- field: how a refusal names it; path: where it is in a spec; pattern and max_length: what it
-- may hold; rule: the same in words.
CREATE OR REPLACE FUNCTION jobs.value_rules()
RETURNS TABLE (field text, path jsonpath, pattern text, max_length integer, rule text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT field, path::jsonpath, pattern, max_length::integer, rule FROM (VALUES
        ('name', '$.name', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('version', '$.version', '\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z', NULL,
         'may hold only letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 100 characters'),
        ('input_datasets', '$.input_datasets[*]', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('output_datasets', '$.output_datasets[*]', '\A[a-z0-9][a-z0-9_.-]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits, ''.'', ''_'' and ''-'', start with a letter or digit, and have at most 63 characters'),
        ('secrets', '$.secrets[*]', '\A[a-z][a-z0-9_]{0,62}\Z', NULL,
         'may hold only lowercase letters, digits and ''_'', start with a letter, and have at most 63 characters (each becomes the variable CHAINLAKE_SECRET_<NAME>)'),
        ('launcher.command[0]', '$.launcher.command[0]', '\A[^-]', NULL,
         '(the program) may not be empty or start with ''-'''),
        ('launcher.workdir', '$.launcher.workdir',
         '\A(?:/(?!\.\.?(?:/|\Z))[^/\u0000-\u001f\u007f]+)+\Z', 4096,
         'must be an absolute path without ''.'' or ''..'' components, empty components or control characters'),
        ('launcher.image', '$.launcher.image',
         '\A(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?\Z',
         255,
         'must be an image reference, [registry[:port]/]name[:tag][@sha256:digest] with lowercase name components of letters, digits, ''.'', ''_'' and ''-'' (never starting with ''-''), of at most 255 characters')
    ) AS r (field, path, pattern, max_length, rule)
$$;

-- The first value of a spec that breaks its rule, as "field rule (got value)"; NULL when none.
CREATE OR REPLACE FUNCTION jobs.definition_value_problem(p_spec jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%s %s (got %s)', r.field, r.rule, v::text)
    FROM jobs.value_rules() r, jsonb_path_query(p_spec, r.path) v
    WHERE jsonb_typeof(v) <> 'string'
       OR (v #>> '{}') !~ r.pattern
       OR length(v #>> '{}') > coalesce(r.max_length, length(v #>> '{}'))
    LIMIT 1
$$;

-- chainlake/paths.py's check_template, for every client: the template must keep the run in its
-- org's tree ({org_id}/ first, no '..') and apart from every other run ({run_id}); braces only
-- around the fields {org_id}, {job}, {job_version} and {run_id}. NULL when it holds.
CREATE OR REPLACE FUNCTION jobs.output_path_template_problem(p_template text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('output_path_template %s: %s', quote_literal(p_template),
                  string_agg(problem, '; ' ORDER BY n))
    FROM (
        SELECT 1 AS n, 'use only letters, digits, ''_'', ''.'', ''-'', ''/'' and {fields}; no ''..'''
            AS problem
        WHERE p_template !~ '\A[A-Za-z0-9_.{}/-]+\Z' OR '..' = ANY (string_to_array(p_template, '/'))
        UNION ALL
        SELECT 2, format('unknown field(s) %s; use {job, job_version, org_id, run_id}',
                         array_agg(DISTINCT f[1] ORDER BY f[1]))
        FROM regexp_matches(p_template, '\{([^{}]*)\}', 'g') f
        WHERE f[1] NOT IN ('org_id', 'job', 'job_version', 'run_id')
        HAVING count(*) > 0
        UNION ALL
        SELECT 3, 'a brace may only surround a field (no ''{{'', ''}}'' or unknown field)'
        WHERE regexp_replace(p_template, '\{[^{}]*\}', '', 'g') ~ '[{}]'
        UNION ALL
        SELECT 4, 'it must start with {org_id}/ (an org writes only in its own tree)'
        WHERE left(p_template, 9) <> '{org_id}/'
        UNION ALL
        SELECT 5, 'it must contain {run_id} (otherwise runs, and datasets, could collide)'
        WHERE position('{run_id}' IN p_template) = 0
    ) found
    WHERE p_template IS NOT NULL
    HAVING count(*) > 0
$$;

CREATE OR REPLACE FUNCTION jobs.check_definition_values() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problem text := coalesce(
        jobs.definition_value_problem(jsonb_build_object('name', NEW.name, 'version', NEW.version)),
        jobs.definition_value_problem(NEW.spec),
        jobs.output_path_template_problem(NEW.spec ->> 'output_path_template'));
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid job definition: %', problem USING ERRCODE = '22023',
            HINT = 'these values become paths and command-line arguments on the runner: see "What values may hold" in docs/job-contract.md';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER definitions_values_checked BEFORE INSERT OR UPDATE ON jobs.definitions
    FOR EACH ROW EXECUTE FUNCTION jobs.check_definition_values();

GRANT EXECUTE ON FUNCTION
    jobs.value_rules(),
    jobs.definition_value_problem(jsonb),
    jobs.output_path_template_problem(text)
TO chainlake_users;
