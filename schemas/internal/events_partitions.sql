-- The partitions of pixel.events (toYYYYMM(received_at): '202612'), for
-- retention on servers without TTL.
SELECT DISTINCT partition
FROM system.parts
WHERE database = currentDatabase() AND table = 'events' AND active
ORDER BY partition;
