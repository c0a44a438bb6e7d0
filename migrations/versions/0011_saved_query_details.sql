-- Saved queries carry a description, their parameters ({name: default}) and when they changed.
ALTER TABLE catalog.saved_queries
    ADD COLUMN description text NOT NULL DEFAULT '',
    ADD COLUMN params      jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT saved_queries_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    ADD CONSTRAINT saved_queries_params_object CHECK (jsonb_typeof(params) = 'object');
