-- One version of an account (pkg/users); values arrive through the driver's batch.
INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at, version);
