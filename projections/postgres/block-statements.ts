import type { UserBlocked, UserUnblocked } from '../../schemas/index.js';
import type { LoggedEvent, Statement } from './statement.js';

/** Blocks between users (user events: no conversation, no log_seq to move). */

export function blockedStatements({ event: e }: LoggedEvent<UserBlocked>): Statement[] {
  return [
    {
      text: `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3::timestamptz)
             ON CONFLICT (blocker_id, blocked_id) DO NOTHING`,
      values: [e.userId, e.data.blockedUserId, e.at],
    },
  ];
}

export function unblockedStatements({ event: e }: LoggedEvent<UserUnblocked>): Statement[] {
  return [{ text: 'DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2', values: [e.userId, e.data.blockedUserId] }];
}
