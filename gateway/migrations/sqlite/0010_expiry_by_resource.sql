-- A capacity's expiry is tested for each candidate service of a directory search. The lookup key
-- (type, param, value, resource) cannot reach one resource's row under a range of values; this
-- index reaches it directly. Partial, so the other search rows cost no extra write.
CREATE INDEX search_index_expiry ON search_index (resource_type, resource_id, value)
    WHERE param = 'capacity-until';
