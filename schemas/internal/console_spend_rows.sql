-- The console's spend page: the newest rows of pixel.ad_spend (FINAL: each
-- platform, account, campaign and day once, in its latest import), the most
-- recent day first, at most ? rows.
SELECT date, platform, account, campaign, utm_campaign, currency, cost_micros, clicks, impressions, imported_at
FROM ad_spend FINAL
ORDER BY date DESC, platform, account, campaign, currency
LIMIT ?;
