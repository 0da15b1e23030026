/**
 * Builds geoip/asn.mmdb (GeoLite2-ASN record layout) from the CSVs of the npm package
 * @ip-location-db/asn, and geoip/asn.mmdb.stamp holding the package version it came from.
 * Run with `npm run build-geoip`; scripts/ensure-geoip.ts runs it when the stamp is stale.
 */
import { createReadStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultAsnDbPath } from '../src/geo/default-paths';
import { MmdbValue, MmdbWriter } from '../src/geo/mmdb-writer';

export const ASN_SOURCE_PACKAGE = '@ip-location-db/asn';
const SOURCE_FILES = ['asn-ipv4.csv', 'asn-ipv6.csv'] as const;

export interface AsnSource {
  dir: string;
  version: string;
}

export interface AsnBuildReport {
  path: string;
  bytes: number;
  ranges: number;
  records: number;
  seconds: number;
  sourceVersion: string;
}

/** Throws an Error with the fix when the package is not installed. */
export function asnSource(): AsnSource {
  let manifest: string;
  try {
    manifest = require.resolve(`${ASN_SOURCE_PACKAGE}/package.json`);
  } catch {
    throw new Error(`${ASN_SOURCE_PACKAGE} is not installed: run "npm install"`);
  }
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${manifest} has no version`);
  return { dir: dirname(manifest), version };
}

export function stampPath(mmdbPath: string): string {
  return `${mmdbPath}.stamp`;
}

/**
 * Splits one line of the source CSV (RFC 4180 quoting: fields with commas are quoted and quotes
 * inside are doubled, e.g. `"LLC ""SPUTNIK"""`). Quoted line breaks do not occur in this data.
 */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34 /* " */) {
      let value = '';
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) throw new Error('unterminated quoted field');
        value += line.slice(i, quote);
        if (line.charCodeAt(quote + 1) === 34) {
          value += '"';
          i = quote + 2;
        } else {
          i = quote + 1;
          break;
        }
      }
      fields.push(value);
      if (i >= line.length) return fields;
      if (line.charCodeAt(i) !== 44 /* , */) throw new Error(`text after a closing quote at column ${i + 1}`);
      i++;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

/** The package version ends in YYYYMMDDHH; using it as build_epoch makes rebuilds byte-identical. */
function epochFromVersion(version: string): number | undefined {
  const m = /(\d{4})(\d{2})(\d{2})(\d{2})$/.exec(version);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

async function insertCsv(writer: MmdbWriter, file: string): Promise<number> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  // The writer deduplicates by bytes anyway; reusing objects only saves re-encoding work.
  const records = new Map<string, MmdbValue>();
  let lineNo = 0;
  let ranges = 0;
  for await (const line of lines) {
    lineNo++;
    if (line === '') continue;
    let fields: string[];
    try {
      fields = parseCsvLine(line);
    } catch (err) {
      throw new Error(`${file}:${lineNo}: ${(err as Error).message}`);
    }
    if (fields.length !== 4) throw new Error(`${file}:${lineNo}: expected 4 fields, found ${fields.length}`);
    const [first, last, asnText, org] = fields as [string, string, string, string];
    const asn = Number(asnText);
    if (!/^\d+$/.test(asnText) || asn > 0xffffffff) throw new Error(`${file}:${lineNo}: "${asnText}" is not an AS number`);
    const key = `${asnText}\t${org}`;
    let record = records.get(key);
    if (!record) {
      record = org === '' ? { autonomous_system_number: asn } : { autonomous_system_number: asn, autonomous_system_organization: org };
      records.set(key, record);
    }
    try {
      writer.insertRange(first, last, record);
    } catch (err) {
      throw new Error(`${file}:${lineNo}: ${(err as Error).message}`);
    }
    ranges++;
  }
  return ranges;
}

export async function buildAsnMmdb(outPath: string = defaultAsnDbPath()): Promise<AsnBuildReport> {
  const started = process.hrtime.bigint();
  const source = asnSource();
  const writer = new MmdbWriter({
    databaseType: 'Geowarden-ASN',
    description: {
      en:
        `IP to ASN from the ip-location-db asn package (${ASN_SOURCE_PACKAGE} ${source.version}): ` +
        'RouteViews, the five RIRs (NRO) and DB-IP IP to ASN Lite, CC BY 4.0. IP Geolocation by DB-IP (https://db-ip.com).',
    },
    languages: ['en'],
    ipVersion: 6,
    buildEpoch: epochFromVersion(source.version),
  });
  let ranges = 0;
  for (const name of SOURCE_FILES) ranges += await insertCsv(writer, join(source.dir, name));
  mkdirSync(dirname(outPath), { recursive: true });
  writer.writeFile(outPath);
  // Written last: a stamp next to a stale or half-built database would hide the problem.
  writeFileSync(stampPath(outPath), `${source.version}\n`);
  return {
    path: outPath,
    bytes: statSync(outPath).size,
    ranges,
    records: writer.recordCount,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    sourceVersion: source.version,
  };
}

export function describeBuild(report: AsnBuildReport): string {
  const mib = (report.bytes / 1024 / 1024).toFixed(1);
  return (
    `built ${report.path} from ${ASN_SOURCE_PACKAGE} ${report.sourceVersion}: ${report.ranges} ranges, ` +
    `${report.records} distinct records, ${mib} MiB in ${report.seconds.toFixed(1)} s`
  );
}

if (require.main === module) {
  buildAsnMmdb().then(
    (report) => console.log(describeBuild(report)),
    (err: unknown) => {
      console.error(`build-asn-mmdb: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
