-- Every destination in its newest version (FINAL: before a merge, the table
-- may hold older versions too), deleted ones included: the Store leaves them
-- out after FINAL has picked the newest version (a WHERE on status could be
-- moved before FINAL and return an older, undeleted version).
SELECT destination_id, pixel_id, name, kind, status, events, min_value, settings, sealed, created_at, updated_at, version
FROM destinations FINAL
ORDER BY pixel_id, name, destination_id;
