-- pixel.events_unique: pixel.events with one row per event_id, for questions
-- asked by hand ("SELECT count() FROM pixel.events_unique WHERE ..."). Kafka
-- replays and retried inserts can store an event more than once until
-- ReplacingMergeTree merges the copies (and a browser and a server sending the
-- same eid may differ in a column, so those never merge); this view never
-- shows more than one. Which copy it shows is unspecified; a replay's copies
-- are identical.
--
-- It de-duplicates the whole table before any WHERE outside it applies, so
-- it reads everything. The shipped queries (schemas/queries/) filter first
-- and then de-duplicate with the same LIMIT 1 BY event_id; copy them for
-- anything large. Runs on ClickHouse 18.16 and current.
--
-- A view keeps the column list of its creation: a migration that adds a
-- column to events drops and recreates this view.
CREATE VIEW IF NOT EXISTS events_unique AS
SELECT *
FROM events
LIMIT 1 BY event_id;
