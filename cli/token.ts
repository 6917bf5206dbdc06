/** `parley token --sub alice [--name Alice] [--picture URL] [--scope S] [--ttl 3600]`: one HS256 JWT on stdout. */
import { parseArgs } from 'node:util';
import { signDevToken } from '../lib/dev-token.js';
import { DEV_JWT_SECRET } from '../lib/config.js';
import type { Cli } from './main.js';

export const usage = `Usage: parley token --sub <user-id> [--name <display name>] [--picture <url>] [--scope <scopes>] [--ttl <seconds>]

Prints one HS256 JWT for the user, signed with PARLEY_JWT_SECRET, or with the development secret
that \`parley start\` uses when no secret is configured (stderr says which). PARLEY_JWT_ISSUER and
PARLEY_JWT_AUDIENCE are put in the token when set.

Options:
  --sub <id>        user id (the JWT's sub): letters, digits, _ and -, up to 128 (required)
  --name <name>     display name (the JWT's name claim)
  --picture <url>   avatar URL (the JWT's picture claim)
  --scope <scopes>  the JWT's scope claim, space-separated; parley:admin opens /v1/admin
  --ttl <seconds>   lifetime, default 3600
  -h, --help        this help

Examples:
  npx parley token --sub alice --name Alice
  npx parley token --sub ops --scope parley:admin --ttl 600
`;

/** The HS256 signing configuration a token should use: the configured secret, else the dev one. */
export function tokenSigning(env: NodeJS.ProcessEnv = process.env): { secret: string; dev: boolean; issuer?: string; audience?: string } {
  const nonEmpty = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const secret = nonEmpty('PARLEY_JWT_SECRET');
  const issuer = nonEmpty('PARLEY_JWT_ISSUER');
  const audience = nonEmpty('PARLEY_JWT_AUDIENCE');
  return {
    secret: secret ?? DEV_JWT_SECRET,
    dev: secret === undefined,
    ...(issuer !== undefined ? { issuer } : {}),
    ...(audience !== undefined ? { audience } : {}),
  };
}

export async function run(args: string[], cli: Cli): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      sub: { type: 'string' },
      name: { type: 'string' },
      picture: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.sub === undefined) cli.usageError('--sub is required');
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(values.sub)) cli.usageError('--sub must be letters, digits, _ or -, 1–128 characters');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) cli.usageError(`--ttl must be a positive whole number of seconds, got ${JSON.stringify(values.ttl)}`);

  const signing = tokenSigning();
  if (signing.dev) {
    process.stderr.write('parley token: signed with the DEVELOPMENT secret (PARLEY_JWT_SECRET is not set); only a dev server accepts it\n');
  } else {
    process.stderr.write('parley token: signed with PARLEY_JWT_SECRET\n');
  }
  if (process.env.PARLEY_JWKS_URL) {
    process.stderr.write('parley token: note PARLEY_JWKS_URL is set; a server verifying with a JWKS will not accept an HS256 token\n');
  }
  const { dev: _dev, ...config } = signing;
  const token = await signDevToken(
    config,
    {
      sub: values.sub,
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.picture !== undefined ? { picture: values.picture } : {}),
      ...(values.scope !== undefined ? { scope: values.scope } : {}),
    },
    ttl,
  );
  process.stdout.write(`${token}\n`);
  return 0;
}
