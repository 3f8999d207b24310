-- The daily_stats groups (pixel and 15-minute bucket, as 'pixel|unix time')
-- that hold events of some visitors, before an erasure deletes those events:
-- their uniqExact states hold the visitors' hashed ids, so Forget rebuilds
-- them from the events left (daily_stats_rebuild_groups.sql). The ? is the
-- array of visitor ids.
SELECT DISTINCT concat(pixel_id, '|', toString(toUInt32(toStartOfFifteenMinutes(ts))))
FROM events
WHERE event != 'PageEngagement' AND has(?, visitor_id);
