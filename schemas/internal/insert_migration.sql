INSERT INTO schema_migrations (version, name, checksum, applied_at);
