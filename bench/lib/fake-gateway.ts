/**
 * A stand-in gateway for measuring the load generator itself (`bench load --fake-gateway`): the
 * same WebSocket protocol on uWebSockets.js, but nothing behind it. Tokens are read, not verified;
 * conversation.create and message.send are answered at once from memory with the frames the real
 * server sends (conversation.created; message.sent to the sender; message.new and unread.update to
 * every other member, each with a per-user inbox seq). What the generator can drive against this
 * is its own ceiling on this machine. With `minimal` frames it leaves out unread.update: message.sent
 * and message.new are the least any server of this protocol must write, so what the generators and
 * this process together cannot keep up with is beyond the machine, whatever the server behind it.
 *
 * Run as a child process: `node --import tsx bench/lib/fake-gateway.ts <port> [full|minimal]`;
 * prints `ready <port>`.
 */
import { Packr } from 'msgpackr';
import { uwsReport, uwsRuntime } from '../../gateway/uws.js';

type Codec = 'json' | 'msgpack';
type User = { id: string; seq: number; unread: number; sockets: Set<Sock> };
type Sock = { user: User; codec: Codec; ws: import('uWebSockets.js').WebSocket<SockData> };
type SockData = { userId: string; codec: Codec; sock?: Sock };

const withUnread = process.argv[3] !== 'minimal';
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const users = new Map<string, User>();
const convs = new Map<string, { id: string; kind: string; members: string[]; seq: number }>();
let nextId = 0;

const userOf = (id: string): User => {
  let u = users.get(id);
  if (!u) users.set(id, (u = { id, seq: 0, unread: 0, sockets: new Set() }));
  return u;
};

function send(s: Sock, frame: object): void {
  if (s.codec === 'json') s.ws.send(JSON.stringify(frame), false);
  else s.ws.send(packr.pack(frame), true);
}

/** A durable frame to every socket of a user, with the user's next inbox seq; `ref` only on `only`. */
function deliver(u: User, frame: { type: string; payload: unknown }, refFor?: { sock: Sock; ref: string | undefined }): void {
  const seq = ++u.seq;
  for (const s of u.sockets) {
    const ref = refFor && refFor.sock === s && refFor.ref !== undefined ? { ref: refFor.ref } : {};
    send(s, { type: frame.type, seq, ...ref, payload: frame.payload });
  }
}

function subjectOf(authorization: string): string | undefined {
  const token = /^Bearer (.+)$/.exec(authorization)?.[1];
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).sub as string;
  } catch {
    return undefined;
  }
}

function onFrame(s: Sock, f: any): void {
  const ref = typeof f?.ref === 'string' ? f.ref : undefined;
  const p = f?.payload ?? {};
  switch (f?.type) {
    case 'conversation.create': {
      const members = p.kind === 'direct' ? [s.user.id, String(p.userId)] : [s.user.id, ...((p.members as string[]) ?? [])];
      const conv = { id: `${p.kind === 'direct' ? 'd' : 'g'}_fake${++nextId}`, kind: p.kind === 'direct' ? 'direct' : 'group', members, seq: 0 };
      convs.set(conv.id, conv);
      const conversation = { id: conv.id, kind: conv.kind, members: members.map((id, i) => ({ userId: id, role: i === 0 ? 'owner' : 'member' })), createdAt: new Date().toISOString() };
      for (const m of members) deliver(userOf(m), { type: 'conversation.created', payload: { conversation } }, m === s.user.id ? { sock: s, ref } : undefined);
      return;
    }
    case 'message.send': {
      const conv = convs.get(String(p.conversationId));
      if (!conv) {
        send(s, { type: 'error', ...(ref ? { ref } : {}), error: { code: 'conversation_not_found', message: 'no such conversation', temporary: false, tempId: p.tempId } });
        return;
      }
      const message = {
        id: `m_fake${++nextId}`,
        conversationId: conv.id,
        seq: ++conv.seq,
        senderId: s.user.id,
        sender: { id: s.user.id, name: s.user.id },
        type: 'text',
        content: p.content,
        tempId: p.tempId,
        status: 'sent',
        createdAt: new Date().toISOString(),
      };
      // JSON: the message is encoded once and spliced into every recipient's frame (cheap fan-out)
      const body = JSON.stringify({ message });
      const convJson = JSON.stringify(conv.id);
      for (const m of conv.members) {
        const u = userOf(m);
        if (m === s.user.id) {
          deliver(u, { type: 'message.sent', payload: { tempId: p.tempId, message } }, { sock: s, ref });
          continue;
        }
        u.unread++;
        const seq = ++u.seq;
        for (const o of u.sockets) {
          if (o.codec === 'json') {
            o.ws.cork(() => {
              o.ws.send(`{"type":"message.new","seq":${seq},"payload":${body}}`, false);
              if (withUnread) o.ws.send(`{"type":"unread.update","payload":{"conversationId":${convJson},"unread":${u.unread},"totalUnread":${u.unread}}}`, false);
            });
          } else {
            send(o, { type: 'message.new', seq, payload: { message } });
            if (withUnread) send(o, { type: 'unread.update', payload: { conversationId: conv.id, unread: u.unread, totalUnread: u.unread } });
          }
        }
      }
      return;
    }
    default:
      return; // ack, ping, receipts: nothing to do
  }
}

const port = Number(process.argv[2] ?? 0);
// Any build, the emulation too: the bench reads /health and refuses the emulation itself unless --allow-fallback.
const runtime = uwsRuntime();
const uWS = runtime.uws;
const app = uWS.App();
app.get('/health', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ status: 'ok', fake: true, uws: uwsReport(runtime), connections: [...users.values()].reduce((a, u) => a + u.sockets.size, 0) }));
});
app.ws<SockData>('/ws', {
  maxPayloadLength: 1 << 20,
  maxBackpressure: 64 << 20,
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    const userId = subjectOf(req.getHeader('authorization'));
    const protocols = req.getHeader('sec-websocket-protocol');
    const codec: Codec = protocols.includes('parley.v1.msgpack') ? 'msgpack' : 'json';
    if (!userId) {
      res.writeStatus('401 Unauthorized').end('no token');
      return;
    }
    res.upgrade<SockData>(
      { userId, codec },
      req.getHeader('sec-websocket-key'),
      codec === 'json' ? 'parley.v1.json' : 'parley.v1.msgpack',
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const d = ws.getUserData();
    const s: Sock = { user: userOf(d.userId), codec: d.codec, ws };
    d.sock = s;
    s.user.sockets.add(s);
    send(s, { type: 'connection.success', payload: { userId: d.userId, deviceId: 'default', connectionId: `c${++nextId}`, cursor: s.user.seq, resumed: false, serverTime: new Date().toISOString() } });
    send(s, { type: 'unread.summary', payload: { conversations: {}, totalUnread: 0 } });
  },
  message: (ws, data, isBinary) => {
    const s = ws.getUserData().sock!;
    let f: unknown;
    try {
      f = isBinary ? packr.unpack(Buffer.from(data)) : JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      return;
    }
    onFrame(s, f);
  },
  close: (ws) => {
    const s = ws.getUserData().sock;
    s?.user.sockets.delete(s);
  },
});
app.listen('127.0.0.1', port, (token) => {
  if (!token) {
    process.stderr.write(`fake gateway: cannot listen on ${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready ${uWS.us_socket_local_port(token)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
