-- The tracking columns (issue 10): page views and engaged time, campaigns and
-- click ids, server-side events, consent and privacy signals, hashed
-- identifiers. Every column has a default, so rows written before this
-- migration read as "not known" (empty, 0), and older writers stay valid.
--
-- ts_ms is the event time in Unix milliseconds next to ts, its second.
-- ClickHouse 18.16 has no DateTime64, and current ClickHouse would need a
-- different type on each version; a UInt64 of milliseconds works on both
-- (fromUnixTimestamp64Milli(toInt64(ts_ms)) gives a DateTime64 on current
-- servers, intDiv(ts_ms, 1000) the second on any), while ts stays the
-- DateTime the partition, the sorting key and every date function use. The
-- consumer writes ts * 1000 for an event that came without milliseconds.
--
-- engaged_ms is the cumulative engaged time of the page view so far (the
-- tag's heartbeats carry it: the largest per page_view_id is the page's).
-- consent is "granted" or "denied" (recorded cookieless); ad_storage,
-- analytics_storage, ad_user_data and ad_personalization are Google's consent
-- signals as the site gave them ("" when it gave none). The *_sha256 columns
-- are hex SHA-256 of normalised identifiers, one per ad platform's
-- normalisation where they differ; raw email and phone are never stored.
-- Column meanings: schemas/event-format.md.
--
-- One column per ALTER: 18.16 knows no ADD COLUMN IF NOT EXISTS, so
-- pkg/chstore's Migrate skips such a statement itself when the column exists
-- (a migration interrupted half-way is simply repeated).
ALTER TABLE events ADD COLUMN IF NOT EXISTS ts_ms UInt64 DEFAULT toUInt64(ts) * 1000;
ALTER TABLE events ADD COLUMN IF NOT EXISTS engaged_ms UInt32;
ALTER TABLE events ADD COLUMN IF NOT EXISTS click_ts_ms UInt64;
ALTER TABLE events ADD COLUMN IF NOT EXISTS gpc UInt8;
ALTER TABLE events ADD COLUMN IF NOT EXISTS dnt UInt8;
ALTER TABLE events ADD COLUMN IF NOT EXISTS is_bot UInt8;
ALTER TABLE events ADD COLUMN IF NOT EXISTS page_view_id String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS referrer_host String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_source String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_medium String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_campaign String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_term String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS utm_content String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS gclid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS gbraid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS wbraid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS fbclid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS msclkid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ttclid String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS external_id String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS action_source String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS channel String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS consent String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ad_storage String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS analytics_storage String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ad_user_data String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ad_personalization String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS email_sha256 String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS email_google_sha256 String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS phone_sha256 String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS phone_google_sha256 String;
ALTER TABLE events ADD COLUMN IF NOT EXISTS cookieless_id String;


-- events_unique keeps the column list of its creation: recreate it. One row
-- per event_id and event name, as the ad platforms de-duplicate; of a browser
-- and a server copy of one conversion (the same event_id), the server's: the
-- backend's value, currency, order id and user data are authoritative, and
-- it is the copy a merge of this ReplacingMergeTree keeps (both copies share
-- the sorting key, and a merge keeps the row inserted last: the backend's,
-- which is sent after the page's in all but rare cases).
DROP TABLE IF EXISTS events_unique;

CREATE VIEW IF NOT EXISTS events_unique AS
SELECT *
FROM events
ORDER BY channel = 'server' DESC
LIMIT 1 BY event_id, event;
