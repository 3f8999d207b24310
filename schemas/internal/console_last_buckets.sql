-- The console's pixel list, for pixels without a hit in the live window:
-- the newest 15-minute bucket (of event time) of each pixel in daily_stats,
-- the small rollup, so that an old pixel shows the day of its last hit.
SELECT pixel_id, max(bucket)
FROM daily_stats
GROUP BY pixel_id;
