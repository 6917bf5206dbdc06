import { isErrorCode } from '../lib/errors.js';
import type { CommandOutcome } from '../schemas/index.js';
import type { Connection } from './connection.js';

/**
 * A command's outcome, as the socket that sent it should hear it. Accepted commands need nothing
 * here: their events reach the socket through the inbox (with its `ref`). Rejections become errors;
 * a repeated command gets its original result; a no-op gets the confirmation it would have had.
 */
export function renderOutcome(conn: Connection, o: CommandOutcome): void {
  const ref = o.ref !== undefined ? { ref: o.ref } : {};
  switch (o.outcome) {
    case 'accepted':
      return;
    case 'rejected': {
      const code = o.error?.code;
      conn.sendError(isErrorCode(code) ? code : 'internal', o.error?.message ?? 'rejected', {
        ...ref,
        ...(o.tempId !== undefined ? { tempId: o.tempId } : {}),
      });
      return;
    }
    case 'duplicate':
      if (!o.result) return;
      if (o.commandType === 'message.send') conn.send({ type: 'message.sent', ...ref, payload: { tempId: o.tempId, message: o.result } });
      // A repeated edit (same editId) or a second delete: the frame the first one made.
      if (o.commandType === 'message.edit') conn.send({ type: 'message.edited', ...ref, payload: o.result as never });
      if (o.commandType === 'message.delete') conn.send({ type: 'message.deleted', ...ref, payload: o.result as never });
      if (o.commandType === 'reaction.add') conn.send({ type: 'reaction.added', ...ref, payload: o.result as never });
      if (o.commandType === 'reaction.remove') conn.send({ type: 'reaction.removed', ...ref, payload: o.result as never });
      if (o.commandType === 'conversation.create') conn.send({ type: 'conversation.created', ...ref, payload: { conversation: o.result } });
      if (o.commandType === 'conversation.update' || o.commandType === 'conversation.set_role') conn.send({ type: 'conversation.updated', ...ref, payload: o.result as never });
      if (o.commandType === 'conversation.add_members') conn.send({ type: 'conversation.member_joined', ...ref, payload: o.result as never });
      if (o.commandType === 'conversation.remove_member') conn.send({ type: 'conversation.member_left', ...ref, payload: o.result as never });
      return;
    case 'noop':
      // Blocking someone already blocked (or unblocking someone who is not) is already true.
      if (o.commandType === 'block.add' || o.commandType === 'block.remove') {
        conn.send({ type: o.commandType === 'block.add' ? 'block.added' : 'block.removed', ...ref, payload: o.result });
      }
      return;
  }
}
