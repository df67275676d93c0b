-- The W3C traceparent of the request that queued a delivery, so the delivery continues its trace.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
