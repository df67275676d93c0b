-- Every version was written to resource_versions, the current one too, so each new resource's
-- body went into two tables and two of their indexes in the same commit. resource_versions now
-- holds only versions that have been replaced (an update moves the old one there); the current
-- version lives only in resources, and resource_history is every version, for vread and
-- _history.
DELETE FROM resource_versions
WHERE EXISTS (
    SELECT 1 FROM resources r
    WHERE r.resource_type = resource_versions.resource_type
      AND r.id = resource_versions.id
      AND r.version = resource_versions.version
);
CREATE VIEW resource_history AS
    SELECT resource_type, id, version, last_updated_us, body FROM resources
    UNION ALL
    SELECT resource_type, id, version, last_updated_us, body FROM resource_versions;
