-- The console's spend page: everything pixel.ad_spend holds, per platform
-- and currency (money never added across currencies), with its first and
-- last day.
SELECT platform, currency, count() AS rows, sum(cost_micros) AS cost_micros, sum(clicks) AS clicks, sum(impressions) AS impressions,
    min(date) AS first_day, max(date) AS last_day
FROM ad_spend FINAL
GROUP BY platform, currency
ORDER BY platform, currency;
