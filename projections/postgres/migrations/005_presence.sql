-- Presence: when each user was last online, as the presence service announced it
-- (projections/presence/). Not projected from the log: written by the presence service on each
-- online/offline transition (the KV bucket <PREFIX>_PRESENCE holds the same), and carried over by
-- a rebuild's swap (rebuild.ts). last_seen: while online, when they came online; offline, when they left.
CREATE TABLE presence (
  user_id    text PRIMARY KEY,
  is_online  boolean NOT NULL,
  last_seen  timestamptz NOT NULL
);
