-- Runs once, on the first start of an empty postgres volume.
-- The event store lives in schema "tradehooks" (?schema=tradehooks in the URL).
CREATE SCHEMA IF NOT EXISTS tradehooks AUTHORIZATION tradehooks;
