-- The consumer's columnar insert; values arrive through the driver's batch.
-- The column order is pkg/chstore's Insert order (the tracking columns last,
-- in event.TrackingColumns order).
INSERT INTO events (event_id, pixel_id, visitor_id, session_id, event, ts, received_at, url, referrer, value, currency, order_id, content_ids, ip, user_agent, props, ts_ms, engaged_ms, click_ts_ms, gpc, dnt, is_bot, page_view_id, referrer_host, utm_source, utm_medium, utm_campaign, utm_term, utm_content, gclid, gbraid, wbraid, fbclid, msclkid, ttclid, external_id, action_source, channel, consent, ad_storage, analytics_storage, ad_user_data, ad_personalization, email_sha256, email_google_sha256, phone_sha256, phone_google_sha256, cookieless_id);
