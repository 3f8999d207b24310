SELECT version, any(name), any(checksum)
FROM schema_migrations
GROUP BY version
ORDER BY version;
