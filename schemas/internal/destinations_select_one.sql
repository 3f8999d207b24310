-- One destination in its newest version; the ? is its id. A deleted one is
-- returned too (status deleted): the Store treats it as missing.
SELECT destination_id, pixel_id, name, kind, status, events, min_value, settings, sealed, created_at, updated_at, version
FROM destinations FINAL
WHERE destination_id = ?;
