-- Current version of every resource. Bodies are FHIR JSON with id and meta filled in.
CREATE TABLE resources (
    resource_type   TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    PRIMARY KEY (resource_type, id)
) WITHOUT ROWID;

CREATE INDEX resources_by_last_updated ON resources (resource_type, last_updated_us, id);

-- Every version ever written, current included: vread and _history read from here.
CREATE TABLE resource_versions (
    resource_type   TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    PRIMARY KEY (resource_type, id, version)
) WITHOUT ROWID;

-- Search values of the current version, so searches never scan JSON.
-- Tokens keep their system; references are stored as "Type/id" with an empty system.
CREATE TABLE search_index (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    value         TEXT NOT NULL
);

CREATE INDEX search_index_lookup ON search_index (resource_type, param, value, system, resource_id);
CREATE INDEX search_index_by_resource ON search_index (resource_type, resource_id);

-- Deliveries waiting, in flight, done or dead. Written in the same transaction as the change they announce.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    destination      TEXT    NOT NULL,
    adapter          TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    task_id          TEXT    NOT NULL,
    task_version     INTEGER NOT NULL,
    focus_id         TEXT    NOT NULL,
    focus_version    INTEGER NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    correlation_id   TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until_us   INTEGER,
    last_error       TEXT,
    created_us       INTEGER NOT NULL,
    delivered_us     INTEGER
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_us);
CREATE INDEX outbox_order ON outbox (task_id, destination, seq);
