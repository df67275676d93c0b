-- A search criterion is an EXISTS probe for one resource: (type, param, value, resource).
-- With the resource after the optional system, the probe scanned every resource holding the
-- same value (every Task of one owner, say), so a search grew with the square of the store.
-- The resource before the system makes each probe one seek; lookups by value alone still
-- have the same prefix.
DROP INDEX search_index_lookup;
CREATE INDEX search_index_lookup ON search_index (resource_type, param, value, resource_id, system);
