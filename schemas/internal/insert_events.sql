-- The consumer's columnar insert; values arrive through the driver's batch.
INSERT INTO events (event_id, pixel_id, visitor_id, session_id, event, ts, received_at, url, referrer, value, currency, order_id, content_ids, ip, user_agent, props);
