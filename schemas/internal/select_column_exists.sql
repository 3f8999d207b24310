-- Whether a column exists in a table of the current database: Migrate's
-- ADD COLUMN IF NOT EXISTS on servers that do not know that clause (18.16).
SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = ? AND name = ?;
