/**
 * Who talks to whom in a load run. Connections (one user each) are split into contiguous shares,
 * one per generator process, and every conversation is made of the users of one share, so a
 * generator sees every frame about its own messages (latency and loss are measured in one process,
 * on one clock). With the default number of conversations they partition the users; with more, a
 * user is in several (round r pairs member k with a stride of r + 1, so no pair repeats).
 * Generator w sends message i of its schedule to its conversation i mod M, from member
 * floor(i / M) mod size: an even spread over conversations and senders.
 */

export type PlanOptions = {
  connections: number;
  /** Members per conversation: 2 = direct (1:1), more = a group. */
  members: number;
  /** Conversations in all (default: connections / members, each user in one). */
  conversations?: number;
  workers: number;
  /** Total target send rate, messages per second. */
  rate: number;
  /** Short [a-z0-9] tag of this run, part of every user id and message id. */
  runTag: string;
};

export type WorkerPlan = {
  worker: number;
  /** User ids of this generator's connections. */
  users: string[];
  /** Each conversation as indexes into `users`; the first member creates it. */
  conversations: number[][];
  /** This generator's share of the send rate. */
  rate: number;
};

export function userId(runTag: string, index: number): string {
  return `${runTag}u${index}`;
}

export function planLoad(o: PlanOptions): WorkerPlan[] {
  if (o.members < 2) throw new Error('a conversation needs at least 2 members');
  if (o.workers < 1) throw new Error('at least one generator');
  if (o.connections < o.members * o.workers) {
    throw new Error(`${o.connections} connections cannot make a conversation of ${o.members} in each of ${o.workers} generator(s)`);
  }
  const shares: number[] = [];
  for (let w = 0; w < o.workers; w++) shares.push(Math.floor(((w + 1) * o.connections) / o.workers) - Math.floor((w * o.connections) / o.workers));
  const defaultConvs = shares.map((n) => Math.floor(n / o.members));
  const totalDefault = defaultConvs.reduce((a, b) => a + b, 0);
  const total = o.conversations ?? totalDefault;
  if (total < o.workers) throw new Error(`${total} conversation(s) cannot be spread over ${o.workers} generators: use fewer --workers`);
  // conversations per worker, proportional to its users
  const convs = shares.map((n, w) => Math.floor(((w + 1) * total) / o.workers) - Math.floor((w * total) / o.workers));

  const plans: WorkerPlan[] = [];
  let first = 0;
  for (let w = 0; w < o.workers; w++) {
    const n = shares[w]!;
    const users = Array.from({ length: n }, (_, i) => userId(o.runTag, first + i));
    first += n;
    const perRound = Math.floor(n / o.members);
    const conversations: number[][] = [];
    const pairs = new Set<string>();
    for (let j = 0; j < convs[w]!; j++) {
      const r = Math.floor(j / perRound);
      const q = j % perRound;
      if ((o.members - 1) * (r + 1) >= n) {
        throw new Error(`too many conversations (${total}) for ${o.connections} connections in groups of ${o.members}`);
      }
      const members = Array.from({ length: o.members }, (_, k) => (q * o.members + k * (r + 1)) % n);
      if (new Set(members).size !== members.length) throw new Error(`too many conversations (${total}) for ${o.connections} connections`);
      if (o.members === 2) {
        const key = [...members].sort((a, b) => a - b).join(',');
        if (pairs.has(key)) throw new Error(`too many direct conversations (${total}) for ${o.connections} connections: a pair would repeat`);
        pairs.add(key);
      }
      conversations.push(members);
    }
    plans.push({ worker: w, users, conversations, rate: 0 });
  }
  const allConvs = plans.reduce((a, p) => a + p.conversations.length, 0);
  for (const p of plans) p.rate = (o.rate * p.conversations.length) / allConvs;
  return plans;
}

/** Message i of a generator with `m` conversations of `size`: its conversation and sending member. */
export function messageTarget(i: number, m: number, size: number): { conversation: number; sender: number } {
  return { conversation: i % m, sender: Math.floor(i / m) % size };
}
