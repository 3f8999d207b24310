-- The keys of every erasure request (pixel.erasures), for the forwarder's
-- gate: a visitor id or an email's hex SHA-256 that asked to be forgotten is
-- never forwarded to an ad platform again, even from events read again
-- from Kafka. DISTINCT: a key asked for twice is one key.
SELECT DISTINCT key_kind, key
FROM erasures;
