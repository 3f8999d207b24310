-- The replicas of a cluster (remote_servers), shard by shard: Migrate runs a
-- backfill on one replica of each shard.
SELECT shard_num, host_address, port
FROM system.clusters
WHERE cluster = ?
ORDER BY shard_num, replica_num;
