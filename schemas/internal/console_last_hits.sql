-- The console's pixel list: each pixel's newest hit received since the ?
-- (now minus the live window). The bound on received_at, the partition key,
-- keeps the read to the newest parts however big the table grows.
SELECT pixel_id, max(received_at)
FROM events
WHERE received_at >= ?
GROUP BY pixel_id;
