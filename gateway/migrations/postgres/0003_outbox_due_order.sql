-- Claims take due rows in (next_attempt_us, seq) order. With seq outside the index, every claim
-- read and sorted the whole due backlog, so claiming slowed as the backlog grew and the backlog
-- grew as claiming slowed. With seq in the index a claim reads only the rows it takes (and the
-- few leased ones before them).
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, next_attempt_us, seq);
