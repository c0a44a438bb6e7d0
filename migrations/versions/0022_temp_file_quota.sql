-- The temporary files one session of a user may write (sorts and hashes spilled to disk), in
-- MB: Postgres's temp_file_limit, which only a superuser may change, set on each login role.
ALTER TABLE core.quotas
    ADD COLUMN sql_temp_file_mb integer NOT NULL DEFAULT 1024,
    ADD CONSTRAINT quotas_sql_temp_file_mb CHECK (sql_temp_file_mb BETWEEN 1 AND 1048576);
