-- The mutations of pixel.events and whether each finished (an erasure waits
-- for the ones its ALTER ... DELETE created).
SELECT mutation_id, is_done
FROM system.mutations
WHERE database = currentDatabase() AND table = 'events';
