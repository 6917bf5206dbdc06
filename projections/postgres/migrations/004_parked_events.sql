-- Events Postgres refused to store (issue 12: no input takes Parley down).
--
-- An event that passes its schema but holds a value Postgres will not take (a number beyond an
-- integer column, a timestamp outside Postgres' range, …) used to fail its batch forever, and with
-- it every user's REST reads. The projector now finds that one event, records it here and moves the
-- checkpoint past it in the same transaction (park.ts, isolate.ts): its effects are MISSING from the
-- read models until `parley projections retry-parked` (or a rebuild) applies it.
--
-- One row per event still parked; a retry that applies it deletes the row, one that fails again
-- keeps it with the new error.
CREATE TABLE parked_events (
  log_seq     bigint PRIMARY KEY,                 -- stream sequence of the event in the log
  subject     text NOT NULL,
  event_type  text NOT NULL,
  error_code  text NOT NULL,                      -- SQLSTATE of Postgres' refusal
  error       text NOT NULL,                      -- its message (and detail), as Postgres gave it
  parked_at   timestamptz NOT NULL DEFAULT now(),
  retried_at  timestamptz,                        -- the last retry that failed (NULL: never retried)
  retries     integer NOT NULL DEFAULT 0
);
