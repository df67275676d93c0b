-- The web console's people: accounts per organisation and role, single-use invitations and
-- sign-in sessions. Tokens and session ids are kept only as SHA-256 hashes.
CREATE TABLE console_accounts (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_us BIGINT NOT NULL
);
CREATE TABLE console_invitations (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES console_accounts(id),
    expires_us BIGINT NOT NULL
);
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT REFERENCES console_accounts(id),
    csrf TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL
);
