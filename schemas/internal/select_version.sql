-- The server's release, e.g. 18.16.1; migrations marked "-- requires: X.Y"
-- are applied only when it is at least X.Y.
SELECT version();
