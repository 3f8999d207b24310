-- The partitions of one table (events: toYYYYMM(received_at), daily_stats:
-- toYYYYMM(bucket); '202612'), for retention on servers without TTL. The ?
-- is the table's name.
SELECT DISTINCT partition
FROM system.parts
WHERE database = currentDatabase() AND table = ? AND active
ORDER BY partition;
