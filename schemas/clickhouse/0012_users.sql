-- pixel.users and pixel.api_tokens: the web console's accounts and the API
-- tokens scripts use instead of a password (pkg/users). As pixel.pixels
-- (0005): every change inserts the whole row again with a higher version;
-- the ReplacingMergeTree keeps the highest version of each key on merge, and
-- every read uses FINAL, so that the newest version wins before a merge too.
-- Runs on ClickHouse 18.16 and current.
--
-- password_hash is an argon2id PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash),
-- never the password. disabled and revoked are 0 or 1.
CREATE TABLE IF NOT EXISTS users
(
    name          String,
    role          String,
    password_hash String,
    disabled      UInt8,
    created_at    DateTime,
    updated_at    DateTime,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name;

-- secret_sha256 is the hex SHA-256 of the whole token (pxt_ID_SECRET): the
-- token itself is printed once when it is made and never stored.
CREATE TABLE IF NOT EXISTS api_tokens
(
    id            String,
    `user`        String,
    label         String,
    secret_sha256 String,
    revoked       UInt8,
    created_at    DateTime,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
