-- {database} is replaced by the configured database name after it was checked
-- to be a plain identifier ([A-Za-z_][A-Za-z0-9_]*); it is never user input.
CREATE DATABASE IF NOT EXISTS {database};
