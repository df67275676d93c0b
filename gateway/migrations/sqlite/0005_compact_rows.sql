-- Resource bodies are one to two kilobytes. A WITHOUT ROWID table keeps at most about 1,000 bytes
-- of a row on its b-tree page and moves the rest to an overflow page of its own, so each body took
-- two or three pages, the tables were twice the size of their content, and every referral's
-- commit wrote several pages more than it needed. Rowid tables keep rows of up to about 4 KB on
-- the page, packed; the key becomes a unique index beside them.
CREATE TABLE resources_packed (
    resource_type   TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    PRIMARY KEY (resource_type, id)
);
INSERT INTO resources_packed (resource_type, id, version, last_updated_us, body)
    SELECT resource_type, id, version, last_updated_us, body FROM resources;
DROP TABLE resources;
ALTER TABLE resources_packed RENAME TO resources;
CREATE INDEX resources_by_last_updated ON resources (resource_type, last_updated_us, id);

CREATE TABLE resource_versions_packed (
    resource_type   TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    last_updated_us INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    PRIMARY KEY (resource_type, id, version)
);
INSERT INTO resource_versions_packed (resource_type, id, version, last_updated_us, body)
    SELECT resource_type, id, version, last_updated_us, body FROM resource_versions;
DROP TABLE resource_versions;
ALTER TABLE resource_versions_packed RENAME TO resource_versions;

-- The search index is the opposite case: small rows, only ever read in lookup order. That order
-- becomes the table itself, instead of a rowid table plus a full copy of it as an index.
CREATE TABLE search_index_packed (
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    param         TEXT NOT NULL,
    system        TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (resource_type, param, value, resource_id, system)
) WITHOUT ROWID;
INSERT OR IGNORE INTO search_index_packed (resource_type, resource_id, param, system, value)
    SELECT resource_type, resource_id, param, system, value FROM search_index;
DROP TABLE search_index;
ALTER TABLE search_index_packed RENAME TO search_index;
CREATE INDEX search_index_by_resource ON search_index (resource_type, resource_id);
