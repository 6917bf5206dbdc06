import t from 'tap';
import { readFileSync } from 'node:fs';
import { closeCodes, closeForToken, closes } from '../../lib/errors.js';

/** The close table is what docs/protocol.md promises: every code and reason there, and no code outside closeCodes. */
t.test('every close the gateway sends is documented with its reason, in the row of its code', async (t) => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((line) => /^\| \d{4} \|/.test(line));
  const known = new Set<number>(Object.values(closeCodes));
  for (const [name, close] of Object.entries(closes)) {
    t.ok(known.has(close.code), `${name}: ${close.code} is one of closeCodes`);
    const documented = rows.some((line) => line.startsWith(`| ${close.code} |`) && line.includes(`\`${close.reason}\``));
    t.ok(documented, `${name}: a ${close.code} row of docs/protocol.md names \`${close.reason}\``);
  }
});

t.test('a refused token closes with its error code as the reason', async (t) => {
  t.strictSame(closeForToken('token_expired'), { code: 4001, reason: 'token_expired' });
  t.strictSame(closeForToken('unauthorized'), { code: 4001, reason: 'unauthorized' });
});
