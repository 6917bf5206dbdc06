import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';

/**
 * Where Parley may POST a push: a subscription's endpoint is whatever a client sent, so without
 * these checks any user could make the push projector call the machine's own services or the
 * private network behind it (SSRF). An endpoint is checked when it is registered (its URL) and
 * again at every send (the addresses its name resolves to then: a name may point anywhere later).
 */

/** Addresses that are not the public internet: IANA special-purpose registries, v4 and v6. */
const notPublic = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) notPublic.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) notPublic.addSubnet(net, bits, 'ipv6');

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** IPv4 carried in an IPv6 address (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96): judged as that IPv4. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(lower);
  if (!m) return undefined;
  if (m[1]) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** Whether an IP address is on the public internet (not loopback, private, link-local, documentation, multicast …). */
export function isPublicAddress(address: string): boolean {
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) return isPublicAddress(v4);
  const f = family(address);
  return f !== undefined && !notPublic.check(address, f);
}

export function isLoopbackAddress(address: string): boolean {
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) return isLoopbackAddress(v4);
  const f = family(address);
  return f !== undefined && loopback.check(address, f);
}

/**
 * What is wrong with a push endpoint, or undefined when Parley may POST to it. `allowInsecure`
 * (PARLEY_PUSH_ALLOW_INSECURE, development and tests) also lets plain http and loopback hosts in.
 */
export function endpointProblem(endpoint: string, allowInsecure: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'endpoint is not a URL';
  }
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) return 'endpoint must be an https URL';
  if (url.username !== '' || url.password !== '') return 'endpoint must not carry credentials';
  if (url.hash !== '') return 'endpoint must not have a fragment';
  // URL has already turned 0x7f.1, 2130706433 and the like into dotted IPv4; IPv6 comes bracketed.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  if (allowInsecure && (host === 'localhost' || isLoopbackAddress(host))) return undefined;
  if (family(host) !== undefined) return isPublicAddress(host) ? undefined : 'endpoint must be a public address';
  if (host === 'localhost' || host.endsWith('.localhost') || !host.includes('.')) return 'endpoint must be a public host name';
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s) agents that refuses a name resolving to any address that is not public
 * (unless `allowLoopback` and it is loopback): the send-time half of the SSRF check.
 */
export function publicOnlyLookup(allowLoopback: boolean) {
  const allowed = (address: string) => isPublicAddress(address) || (allowLoopback && isLoopbackAddress(address));
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !allowed(a.address));
      if (refused || list.length === 0) {
        const e: NodeJS.ErrnoException = new Error(`push endpoint ${hostname} resolves to ${refused?.address ?? 'nothing'}, which is not a public address`);
        e.code = 'EPUSHADDRESS';
        return callback(e, '');
      }
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
