-- A resource's search rows were found again (to delete them when it changes) through a second
-- index on the search table, keyed by resource: 18 more entries per referral, and about one page
-- in six of every commit. The resource's row now lists the keys of its search rows instead, a
-- few hundred bytes on a page the commit writes anyway; an update deletes exactly those rows
-- by the search table's own key.
ALTER TABLE resources ADD COLUMN index_keys TEXT NOT NULL DEFAULT '[]';
UPDATE resources
SET index_keys = (
    SELECT json_group_array(json_array(s.param, s.system, s.value))
    FROM search_index s
    WHERE s.resource_type = resources.resource_type AND s.resource_id = resources.id
)
WHERE EXISTS (
    SELECT 1 FROM search_index s
    WHERE s.resource_type = resources.resource_type AND s.resource_id = resources.id
);
DROP INDEX search_index_by_resource;
