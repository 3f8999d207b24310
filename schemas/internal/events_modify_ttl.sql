-- Retention with TTL (ClickHouse 19.6 and later): the server removes rows
-- received more than ? months ago by itself, in its merges.
ALTER TABLE events MODIFY TTL received_at + INTERVAL ? MONTH;
