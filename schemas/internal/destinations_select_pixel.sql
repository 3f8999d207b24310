-- The destinations of one pixel in their newest version; the ? is the pixel
-- id (a destination never moves to another pixel, so every version of it
-- matches or none does). Deleted ones are included, as in destinations_select.
SELECT destination_id, pixel_id, name, kind, status, events, min_value, settings, sealed, created_at, updated_at, version
FROM destinations FINAL
WHERE pixel_id = ?
ORDER BY pixel_id, name, destination_id;
