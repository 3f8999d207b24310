-- Retention without TTL (ClickHouse before 19.6): removes one month of
-- events at once. The ? is the partition, YYYYMM as a number.
ALTER TABLE events DROP PARTITION ?;
