-- Erasure: daily_stats's rows of some groups ('pixel|unix time' of the
-- bucket) computed again from the events left, after the person's events
-- were deleted: daily_stats_mv's SELECT (schemas/clickhouse/0008) for those
-- buckets only; keep the two equal. Every state is idempotent, so events
-- inserted meanwhile, which the view adds too, are counted once.
INSERT INTO daily_stats (pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency, events, visitors, revenue)
SELECT
    pixel_id,
    toStartOfFifteenMinutes(ts) AS bucket,
    event,
    is_bot,
    utm_source,
    utm_medium,
    utm_campaign,
    currency,
    uniqExactState(event_id) AS events,
    uniqExactState(visitor_id) AS visitors,
    groupUniqArrayArrayState(arraySlice([tuple(event_id, toUInt8(channel = 'server'), value)], 1, value != 0)) AS revenue
FROM events
WHERE event != 'PageEngagement' AND has(?, concat(pixel_id, '|', toString(toUInt32(toStartOfFifteenMinutes(ts)))))
GROUP BY pixel_id, bucket, event, is_bot, utm_source, utm_medium, utm_campaign, currency;
