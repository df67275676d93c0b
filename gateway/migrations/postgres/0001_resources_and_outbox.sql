-- Current version of every resource; the FHIR JSON as jsonb.
CREATE TABLE resources (
    resource_type   TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    version         BIGINT NOT NULL,
    last_updated_us BIGINT NOT NULL,
    body            JSONB  NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX resources_by_last_updated ON resources (resource_type, last_updated_us, id);

-- Every version ever written: vread and _history.
CREATE TABLE resource_versions (
    resource_type   TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    version         BIGINT NOT NULL,
    last_updated_us BIGINT NOT NULL,
    body            JSONB  NOT NULL,
    PRIMARY KEY (resource_type, id, version)
);

-- Search values of the current version.
CREATE TABLE search_index (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    value         TEXT NOT NULL
);
CREATE INDEX search_index_lookup ON search_index (resource_type, param, value, system, resource_id);
CREATE INDEX search_index_by_resource ON search_index (resource_type, resource_id);

-- Deliveries; claimed with FOR UPDATE SKIP LOCKED so replicas share them.
CREATE TABLE outbox (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    destination      TEXT    NOT NULL,
    adapter          TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    task_id          TEXT    NOT NULL,
    task_version     BIGINT  NOT NULL,
    focus_id         TEXT    NOT NULL,
    focus_version    BIGINT  NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    correlation_id   TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending',
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT  NOT NULL,
    lease_owner      TEXT,
    lease_until_us   BIGINT,
    last_error       TEXT,
    created_us       BIGINT  NOT NULL,
    delivered_us     BIGINT,
    traceparent      TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_us);
CREATE INDEX outbox_order ON outbox (task_id, destination, seq);

-- One-time values (assertion jti, BaRS request ids, webhook ids) until they expire.
CREATE TABLE used_jtis (
    client_id  TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_us);
