-- One version of a destination (pkg/destination); values arrive through the driver's batch.
INSERT INTO destinations (destination_id, pixel_id, name, kind, status, events, min_value, settings, sealed, created_at, updated_at, version);
