-- One import's rows of ad spend (pkg/spend); values arrive by column through the driver's batch.
INSERT INTO ad_spend (date, platform, account, campaign, campaign_id, utm_campaign, currency, cost_micros, clicks, impressions, source_sha256, source_line, imported_at, version);
