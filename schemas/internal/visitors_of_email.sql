-- The visitor ids one email was seen with, for its erasure: in events (either
-- hash) and in the visitors rollup (a profile's latest hashes, which outlive
-- the events that retention dropped). The ? are the Meta hash and the Google
-- hash, twice. An empty visitor_id is left out: it is no one's, and erasing
-- it would erase every event without a visitor id.
SELECT DISTINCT visitor_id
FROM (SELECT visitor_id FROM events WHERE email_sha256 = ? OR email_google_sha256 = ?
      UNION ALL
      SELECT visitor_id FROM visitors GROUP BY pixel_id, visitor_id
      HAVING argMaxMerge(email_sha256) = ? OR argMaxMerge(email_google_sha256) = ?)
WHERE visitor_id != ''
ORDER BY visitor_id;
