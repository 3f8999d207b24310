-- The audit row of one erasure request (pkg/privacy); values arrive through the driver's batch.
INSERT INTO erasures (requested_at, finished_at, key_kind, key, rows_before, requested_by);
