-- Sign-ins: a bearer token's first request at the API is its sign-in (core.note_sign_in), and
-- the one `auth.login` audit event of that token. Only the token's SHA-256 is kept, until it
-- expires.
CREATE TABLE core.sign_ins (
    token_sha256  bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES core.users (id) ON DELETE CASCADE,
    issuer        text NOT NULL,
    signed_in_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT sign_ins_token_length CHECK (length(token_sha256) = 32)
);
CREATE INDEX sign_ins_user_idx ON core.sign_ins (user_id, expires_at);
COMMENT ON TABLE core.sign_ins IS '@tenancy platform: token sign-ins per user, written only by core.note_sign_in';
