import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One direction of dependencies (issue 13): each layer imports only the layers below it.
 *
 *   app/                         composes the roles (the only place that knows every part)
 *   engine/  projections/  gateway/    never import each other
 *   lib/                         imports only schemas/
 *   schemas/                     imports nothing of ours
 *   sdk/                         the client SDK: imports nothing of ours either (published alone)
 *
 * cli/, bench/ and test/ sit on top and are not checked here.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const allowed: Record<string, string[]> = {
  schemas: ['schemas'],
  lib: ['lib', 'schemas'],
  engine: ['engine', 'lib', 'schemas'],
  projections: ['projections', 'lib', 'schemas'],
  gateway: ['gateway', 'lib', 'schemas'],
  app: ['app', 'engine', 'projections', 'gateway', 'lib', 'schemas'],
  /** The client SDK is published alone (issue 19): it imports nothing of the server, not even schemas/. */
  sdk: ['sdk'],
};

/**
 * Imports that break the rule and are known, each to be moved away. Empty since issue 13 moved the
 * conversation model the delivery projector shares with the engine (its state, aggregate store and
 * snapshots) down to lib/. The list may only shrink: an entry that no longer occurs fails the test
 * too, so it is removed with the move.
 */
const knownUpward = new Set<string>();

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative module a file imports or re-exports (static or dynamic), as a path from the root. */
export function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((s) => relative(root, resolve(root, dirname(file), s)).replace(/\.js$/, '.ts').split(sep).join('/'));
}

export function violations(files: { file: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { file, text } of files) {
    const layer = file.split('/')[0]!;
    for (const target of importsOf(file, text)) {
      const targetLayer = target.split('/')[0]!;
      if (!allowed[layer]!.includes(targetLayer)) found.push(`${file} -> ${target}`);
    }
  }
  return found;
}

t.test('no layer imports a layer above it or beside it', async (t) => {
  const files = Object.keys(allowed).flatMap(sourceFiles).map((file) => ({ file: file.split(sep).join('/'), text: readFileSync(join(root, file), 'utf8') }));
  t.ok(files.length > 50, `read ${files.length} source files`);
  const found = violations(files);
  t.strictSame(
    found.filter((v) => !knownUpward.has(v)),
    [],
    'imports against the layering (move shared code down to lib/ or schemas/, or compose in app/)',
  );
  t.strictSame(
    [...knownUpward].filter((v) => !found.includes(v)),
    [],
    'known exceptions that no longer occur (remove them from the list)',
  );
});

t.test('the check sees what it must', async (t) => {
  const seen = (file: string, text: string) => violations([{ file, text }]);
  t.strictSame(seen('lib/x.ts', "import { startGateway } from '../gateway/gateway.js';"), ['lib/x.ts -> gateway/gateway.ts'], 'lib importing the gateway');
  t.strictSame(seen('gateway/x.ts', "import type { A } from '../projections/delivery/inbox-entry.js';"), ['gateway/x.ts -> projections/delivery/inbox-entry.ts'], 'a type import counts');
  t.strictSame(seen('schemas/x.ts', "export * from '../lib/json.js';"), ['schemas/x.ts -> lib/json.ts'], 'a re-export counts');
  t.strictSame(seen('engine/x.ts', "const m = await import('../app/roles.js');"), ['engine/x.ts -> app/roles.ts'], 'a dynamic import counts');
  t.strictSame(seen('gateway/rest/x.ts', "import { a } from '../../lib/json.js'; import { b } from '../auth.js';"), [], 'imports downward and within the layer are fine');
});
