-- The same tables with the same meaning as on SQLite (its migrations 0005, 0007 and 0008), so one
-- write path serves both stores.
--
-- The search index is keyed by its lookup order (SQLite 0005): the index that was beside it
-- becomes the table's key, and a duplicate row could only ever have matched twice.
DELETE FROM search_index a USING search_index b
WHERE a.ctid > b.ctid
  AND a.resource_type = b.resource_type AND a.param = b.param AND a.value = b.value
  AND a.resource_id = b.resource_id AND a.system = b.system;
DROP INDEX search_index_lookup;
ALTER TABLE search_index
    ADD CONSTRAINT search_index_lookup PRIMARY KEY (resource_type, param, value, resource_id, system);

-- A resource's row lists the keys of its search rows, `[[param, system, value], ...]` (SQLite
-- 0007): an update deletes exactly those rows by the search table's key, and the second index,
-- by resource, goes.
ALTER TABLE resources ADD COLUMN index_keys JSONB NOT NULL DEFAULT '[]';
UPDATE resources r
SET index_keys = k.keys
FROM (
    SELECT resource_type, resource_id, jsonb_agg(jsonb_build_array(param, system, value)) AS keys
    FROM search_index
    GROUP BY resource_type, resource_id
) k
WHERE k.resource_type = r.resource_type AND k.resource_id = r.id;
DROP INDEX search_index_by_resource;

-- resource_versions holds only versions that have been replaced (SQLite 0008); the current
-- version lives only in resources, and resource_history is every version, for vread and _history.
DELETE FROM resource_versions v
USING resources r
WHERE r.resource_type = v.resource_type AND r.id = v.id AND r.version = v.version;
CREATE VIEW resource_history AS
    SELECT resource_type, id, version, last_updated_us, body FROM resources
    UNION ALL
    SELECT resource_type, id, version, last_updated_us, body FROM resource_versions;
