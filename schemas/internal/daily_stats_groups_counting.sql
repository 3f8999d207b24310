-- The daily_stats groups (pixel and 15-minute bucket, as 'pixel|unix time')
-- whose visitors state counts one of some visitor ids, found in daily_stats
-- itself: a state holds 128-bit hashes of the ids, and merging an id's own
-- state into a row's leaves its count unchanged exactly when the row holds
-- it (joined subqueries have aliases, which current ClickHouse requires).
-- This finds the buckets of events that are gone from events but not
-- from daily_stats (retention works by received_at there, by ts here). The
-- ? are the array of visitor ids, twice.
SELECT DISTINCT concat(pixel_id, '|', toString(toUInt32(bucket)))
FROM (SELECT pixel_id, bucket, uniqExactMerge(s) AS with_it, uniqExactMergeIf(s, own = 0) AS without_it
      FROM (SELECT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, id, visitors AS s, 0 AS own
            FROM daily_stats ARRAY JOIN ? AS id
            UNION ALL
            SELECT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, id, state AS s, 1 AS own
            FROM (SELECT DISTINCT pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency FROM daily_stats) AS keys
            CROSS JOIN (SELECT id, uniqExactState(id) AS state FROM (SELECT arrayJoin(?) AS id) GROUP BY id) AS states)
      GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, id)
WHERE with_it = without_it;
