-- The console's install check: the first browser hit of a pixel (the ?)
-- received since the second ? (now minus the live window). The collector
-- stores browser hits from the pixel's allowed domains only, so any such
-- row proves the snippet is on a page of the site.
SELECT url, received_at
FROM events
WHERE pixel_id = ? AND received_at >= ? AND channel != 'server'
ORDER BY received_at, event_id
LIMIT 1;
