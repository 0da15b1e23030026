/**
 * Decides whether a file may replace the database in use. It has to pass what GeoResolver.open
 * checks (a MaxMind DB 2.x whose records carry the data of its role), and also what a well-formed
 * but wrong file fails: an empty tree, a build date in the future or from long ago (a stale
 * mirror), and lookups of addresses every real database covers coming back empty (a partial
 * extract, a test file).
 */
import { readFileSync } from 'node:fs';
import { Reader, type Response } from 'maxmind';
import { GeoDatabase, GeoDatabaseError, type GeoRole } from '../geo-database';
import type { GeoSchema } from '../schema-detect';

export interface VerifyOptions {
  now: Date;
  /** Oldest build accepted. */
  maxAgeDays: number;
  /** Addresses whose lookup must return the role's data; at least half of them must. */
  probeAddresses: readonly string[];
}

/** Public resolvers of Google, Cloudflare and Quad9: located and announced in every complete database. */
export const DEFAULT_PROBE_ADDRESSES: readonly string[] = ['8.8.8.8', '1.1.1.1', '9.9.9.9', '2001:4860:4860::8888', '2606:4700:4700::1111'];

/** Clocks of the builder and of this machine may disagree by a little. */
const FUTURE_TOLERANCE_S = 86_400;

export interface VerifiedDatabase {
  databaseType: string;
  schema: GeoSchema;
  /** Unix seconds. */
  buildEpoch: number;
  nodeCount: number;
}

/**
 * The problem part of a GeoDatabaseError ("has no ASN data (its records are geoip2)"), without
 * the setting, the temp path and the config fix, which would mislead in an update's log line.
 */
function problemOf(err: GeoDatabaseError): string {
  const rest = err.message.startsWith(`${err.setting}: ${err.path} `) ? err.message.slice(err.setting.length + err.path.length + 3) : err.message;
  let depth = 0;
  for (let i = 0; i < rest.length - 1; i++) {
    const c = rest[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ':' && rest[i + 1] === ' ' && depth === 0) return rest.slice(0, i);
  }
  return rest;
}

function isoDate(epochS: number): string {
  return new Date(epochS * 1000).toISOString().slice(0, 10);
}

/** Throws an Error whose message is the reason the file was refused. */
export function verifyDatabase(path: string, role: GeoRole, options: VerifyOptions): VerifiedDatabase {
  let database: GeoDatabase;
  try {
    database = GeoDatabase.open(role, path, false);
  } catch (err) {
    if (err instanceof GeoDatabaseError) throw new Error(`the file ${problemOf(err)}`);
    throw err;
  }
  // GeoDatabase keeps its reader to itself; the metadata is cheap to read again.
  const { nodeCount } = new Reader<Response>(readFileSync(path)).metadata;
  if (!(nodeCount > 0)) throw new Error('the database has an empty search tree (node_count 0)');

  const nowS = options.now.getTime() / 1000;
  if (database.buildEpoch > nowS + FUTURE_TOLERANCE_S) {
    throw new Error(`the database claims to be built on ${isoDate(database.buildEpoch)}, in the future`);
  }
  if (database.buildEpoch < nowS - options.maxAgeDays * 86_400) {
    throw new Error(`the database was built on ${isoDate(database.buildEpoch)}, more than ${options.maxAgeDays} days ago (a stale source?)`);
  }

  const probes = options.probeAddresses.filter((a) => database.ipVersion === 6 || !a.includes(':'));
  const answered = probes.filter((address) => {
    const fields = database.fields(address.includes(':') ? null : address, address);
    if (!fields) return false;
    return role === 'country' ? (fields.country ?? fields.registeredCountry) !== null : fields.asn !== null;
  });
  if (probes.length > 0 && answered.length * 2 < probes.length) {
    const what = role === 'country' ? 'a country' : 'an AS number';
    throw new Error(`only ${answered.length} of ${probes.length} sample addresses (${probes.join(', ')}) have ${what}; the database looks incomplete`);
  }
  return { databaseType: database.databaseType, schema: database.schema, buildEpoch: database.buildEpoch, nodeCount };
}
