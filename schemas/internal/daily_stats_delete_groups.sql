-- Erasure: deletes the daily_stats rows of some groups ('pixel|unix time' of
-- the bucket), which daily_stats_rebuild_groups.sql inserts again from the
-- events left. A mutation applies to the parts that exist when it is
-- created, so the rebuilt rows inserted after it are not deleted.
ALTER TABLE daily_stats DELETE WHERE has(?, concat(pixel_id, '|', toString(toUInt32(bucket))));
