-- Retention without TTL (ClickHouse before 19.6): removes one month of
-- daily_stats (toYYYYMM(bucket)) at once. The ? is the partition, YYYYMM as
-- a number.
ALTER TABLE daily_stats DROP PARTITION ?;
