-- Issue 26: the report projection. One compact row of facts per ServiceRequest and Task (no
-- NHS number, no name: see workflow/reports/facts.rs), kept up to date from the resources that
-- changed since each type's watermark, so a report reads these rows instead of every resource's
-- history, and intake's transaction does no extra work.
CREATE TABLE report_facts (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    fact          TEXT NOT NULL,
    PRIMARY KEY (resource_type, id)
);
-- How far each type's facts are up to date: the (last_updated_us, id) of the last resource read.
CREATE TABLE report_watermarks (
    resource_type   TEXT    PRIMARY KEY,
    last_updated_us INTEGER NOT NULL,
    id              TEXT    NOT NULL
);
