-- Retention with TTL (ClickHouse 19.6 and later): the server removes
-- daily_stats rows whose 15-minute bucket is more than ? months old by
-- itself, in its merges.
ALTER TABLE daily_stats MODIFY TTL bucket + INTERVAL ? MONTH;
