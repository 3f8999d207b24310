-- The mutations of the tables pkg/privacy deletes from and whether each
-- finished: a forget or a retention run waits for the ones its ALTER ...
-- DELETE statements created. The ? is the array of table names.
SELECT table, mutation_id, is_done
FROM system.mutations
WHERE database = currentDatabase() AND has(?, table);
