-- Issue 26: the report projection (as SQLite's 0011). One compact row of facts per
-- ServiceRequest and Task, kept up to date from the resources changed since each type's
-- watermark, so a report reads these rows and intake's transaction does no extra work.
CREATE TABLE report_facts (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    fact          TEXT NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE TABLE report_watermarks (
    resource_type   TEXT   PRIMARY KEY,
    last_updated_us BIGINT NOT NULL,
    id              TEXT   NOT NULL
);
