-- Tenancy reads the requester, performer and owner index rows a resource already has; the
-- separate `_party` rows repeated them, 4 of a referral's 18 index rows, each in a page of its
-- own in every commit.
DELETE FROM search_index WHERE param = '_party';
