-- Read models projected from the event log. Every row is derived from events; `parley projections
-- rebuild` drops and replays them. Tables live in the schema named by PARLEY_PG_SCHEMA (default
-- "parley"); the migrator sets search_path before running this file.

CREATE TABLE conversations (
  id                   text PRIMARY KEY,
  kind                 text NOT NULL CHECK (kind IN ('direct', 'group')),
  title                text,
  created_by           text NOT NULL,
  created_at           timestamptz NOT NULL,
  message_count        integer NOT NULL DEFAULT 0,
  last_message_id      text,
  last_message_seq     integer NOT NULL DEFAULT 0,
  last_message_sender  text,
  last_message_preview text,
  last_message_at      timestamptz,
  last_activity_at     timestamptz NOT NULL,
  log_seq              bigint NOT NULL            -- stream sequence of the last event applied
);

-- Current members only (a leaver's row is deleted), with their receipt watermarks and unread count.
CREATE TABLE conversation_members (
  conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         text NOT NULL,
  role            text NOT NULL CHECK (role IN ('owner', 'member')),
  joined_at       timestamptz NOT NULL,
  delivered_seq   integer NOT NULL DEFAULT 0,
  read_seq        integer NOT NULL DEFAULT 0,
  unread          integer NOT NULL DEFAULT 0,     -- messages from others after read_seq
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_by_user ON conversation_members (user_id);

CREATE TABLE messages (
  id              text PRIMARY KEY,
  conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq             integer NOT NULL,               -- per-conversation message number
  sender_id       text NOT NULL,
  sender_name     text,
  sender_avatar   text,
  type            text NOT NULL,
  content         text,
  media           jsonb,
  reply_to_id     text,
  mentions        jsonb,
  temp_id         text NOT NULL,
  edited_at       timestamptz,
  deleted_at      timestamptz,
  created_at      timestamptz NOT NULL,
  log_seq         bigint NOT NULL,                -- stream sequence of MessageSent
  UNIQUE (conversation_id, seq)
);

CREATE TABLE blocks (
  blocker_id text NOT NULL,
  blocked_id text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id)
);

-- Where each projector is in the log, written in the same transaction as the rows it produced.
CREATE TABLE projector_checkpoints (
  name       text PRIMARY KEY,
  log_seq    bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
