-- Client assertion ids already accepted, kept until the assertion expires (SMART Backend Services replay protection).
CREATE TABLE used_jtis (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;

CREATE INDEX used_jtis_expiry ON used_jtis (expires_us);
