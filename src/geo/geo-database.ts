/**
 * One opened MMDB file in one role (country or ASN), with the schema found in its records.
 * Every way opening can fail becomes a GeoDatabaseError whose one-line message names the
 * setting, the path, the problem and the fix, since it ends up on an operator's console.
 */
import { readFileSync } from 'node:fs';
import { Reader, type Response } from 'maxmind';
import { COUNTRY_DB_PACKAGE } from './default-paths';
import { GeoFields, GeoSchema, SCHEMA_PROVIDES, detectSchema, extractFields } from './schema-detect';
import { MmdbSearchTree } from './mmdb-search-tree';
import { MmdbDataDecoder } from './mmdb-data-decoder';
import type { Words } from '../net/address';

/** Distinct data records kept decoded per database (ASN databases have ~90k). */
const DECODED_RECORD_CACHE = 20_000;

export type GeoRole = 'country' | 'asn';

/** "Database Metadata" in the MaxMind DB spec: the last occurrence of this marker starts the metadata. */
const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');
/** The spec caps the metadata section, marker included, at 128 KiB. */
const METADATA_MAX_BYTES = 128 * 1024;
const SUPPORTED_FORMATS = 'GeoIP2/GeoLite2, DB-IP, IPinfo Lite or ip-location-db';

export class GeoDatabaseError extends Error {
  override readonly name = 'GeoDatabaseError';

  constructor(
    /** Config key the path came from: `geoip.country` or `geoip.asn`. */
    readonly setting: string,
    readonly path: string,
    problem: string,
    fix: string,
  ) {
    super(`${setting}: ${path} ${problem}: ${fix}`.replace(/\s*\n\s*/g, ' '));
  }
}

export function settingFor(role: GeoRole): string {
  return role === 'country' ? 'geoip.country' : 'geoip.asn';
}

function missingFileFix(role: GeoRole, isDefault: boolean, setting: string): string {
  if (!isDefault) {
    return setting === settingFor(role) ? `correct ${setting}, or remove it to use the bundled database` : `correct ${setting}`;
  }
  return role === 'asn'
    ? `run "npm run build-geoip" or set ${setting} to an MMDB file`
    : `run "npm install" (it ships ${COUNTRY_DB_PACKAGE}) or set ${setting} to an MMDB file`;
}

function readProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'not found';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    default:
      return `cannot be read (${err.code ?? err.message})`;
  }
}

/** Why a buffer is not a usable MaxMind DB file, or null when it looks like one. */
function formatProblem(db: Buffer): string | null {
  if (db.length === 0) return 'is empty';
  if (db[0] === 0x1f && db[1] === 0x8b) return 'is gzip-compressed';
  const tailStart = Math.max(0, db.length - METADATA_MAX_BYTES);
  if (db.lastIndexOf(METADATA_MARKER) < tailStart) {
    // Legacy GeoIP .dat files end their structure info with 0xFFFFFF instead of a marker.
    const tail = db.subarray(Math.max(0, db.length - 23));
    return tail.includes(Buffer.from([0xff, 0xff, 0xff])) ? 'is a legacy GeoIP .dat database, not an MMDB' : 'is not a MaxMind DB file (no metadata marker)';
  }
  return null;
}

export class GeoDatabase {
  readonly databaseType: string;
  /** Unix seconds. */
  readonly buildEpoch: number;
  readonly ipVersion: number;
  private readonly tree: MmdbSearchTree;
  private readonly nodeCount: number;
  private readonly data: MmdbDataDecoder;
  /** Extracted fields per data record (by record value): records are shared by many networks. */
  private readonly byRecord = new Map<number, GeoFields | null>();

  private constructor(
    readonly role: GeoRole,
    readonly path: string,
    readonly schema: GeoSchema,
    private readonly reader: Reader<Response>,
    db: Buffer,
  ) {
    this.tree = new MmdbSearchTree(db, reader.metadata.nodeCount, reader.metadata.recordSize, reader.metadata.ipVersion);
    this.nodeCount = reader.metadata.nodeCount;
    this.data = new MmdbDataDecoder(db, reader.metadata.searchTreeSize + 16);
    this.databaseType = reader.metadata.databaseType;
    this.buildEpoch = Math.floor(reader.metadata.buildEpoch.getTime() / 1000);
    this.ipVersion = reader.metadata.ipVersion;
  }

  get providesCountry(): boolean {
    return SCHEMA_PROVIDES[this.schema].country;
  }

  get providesAsn(): boolean {
    return SCHEMA_PROVIDES[this.schema].asn;
  }

  /**
   * Opens synchronously; `isDefault` only changes the fix suggested when the file is missing.
   * `setting` is the config key named in errors (`geoip.databases[1].country` for one of several).
   */
  static open(role: GeoRole, path: string, isDefault: boolean, setting: string = settingFor(role)): GeoDatabase {
    const fix = `set ${setting} to an MMDB file (${SUPPORTED_FORMATS})`;
    let db: Buffer;
    try {
      db = readFileSync(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new GeoDatabaseError(setting, path, readProblem(e), e.code === 'ENOENT' ? missingFileFix(role, isDefault, setting) : fix);
    }
    const problem = formatProblem(db);
    if (problem) throw new GeoDatabaseError(setting, path, problem, problem === 'is gzip-compressed' ? `gunzip it, or ${fix}` : fix);
    let reader: Reader<Response>;
    try {
      reader = new Reader<Response>(db);
    } catch (err) {
      throw new GeoDatabaseError(setting, path, `is a damaged MaxMind DB file (${(err as Error).message})`, `download or rebuild it, or ${fix}`);
    }
    if (reader.metadata.binaryFormatMajorVersion !== 2) {
      throw new GeoDatabaseError(setting, path, `uses MaxMind DB format ${reader.metadata.binaryFormatMajorVersion}.x, not 2.x`, fix);
    }
    let detection: ReturnType<typeof detectSchema>;
    try {
      detection = detectSchema(db, reader);
    } catch (err) {
      throw new GeoDatabaseError(setting, path, `is a damaged MaxMind DB file (${(err as Error).message})`, `download or rebuild it, or ${fix}`);
    }
    if (!detection) {
      throw new GeoDatabaseError(setting, path, `has records of no known layout (database_type "${reader.metadata.databaseType}")`, `use a ${SUPPORTED_FORMATS} MMDB`);
    }
    const database = new GeoDatabase(role, path, detection.schema, reader, db);
    if (role === 'country' && !database.providesCountry) {
      throw new GeoDatabaseError(setting, path, `has no country data (its records are ${detection.schema})`, setting === settingFor(role) ? `set ${setting} to a country database and geoip.asn to this one` : `set ${setting} to a country database and put this one under asn`);
    }
    if (role === 'asn' && !database.providesAsn) {
      throw new GeoDatabaseError(setting, path, `has no ASN data (its records are ${detection.schema})`, `set ${setting} to an ASN database (GeoLite2-ASN layout or IPinfo Lite)`);
    }
    return database;
  }

  /**
   * Fields for one address. `v4` is the dotted form for IPv4 (also IPv4-mapped input, since many
   * databases do not alias ::ffff:0:0/96), null for IPv6.
   */
  fields(v4: string | null, v6: string): GeoFields | null {
    if (v4 === null && this.ipVersion === 4) return null;
    const record: unknown = this.reader.get(v4 ?? v6);
    return record === null || record === undefined ? null : extractFields(this.schema, record);
  }

  /**
   * The same as fields(), from address words: walks the tree directly and decodes a record only
   * the first time any address leads to it. `text` is the address as fields() would take it.
   */
  fieldsForWords(w: Words, isV4: boolean, text: string): GeoFields | null {
    if (!isV4 && this.ipVersion === 4) return null;
    return this.fieldsForRecord(this.tree.find(w, isV4), isV4, text);
  }

  /** The search tree, for walking several databases' trees together (MmdbSearchTree.findV4InEach). */
  get searchTree(): MmdbSearchTree {
    return this.tree;
  }

  /** fieldsForWords() once the tree has been walked: `value` is the record the address led to. */
  fieldsForRecord(value: number, isV4: boolean, text: string): GeoFields | null {
    if (value <= this.nodeCount) return null;
    const known = this.byRecord.get(value);
    if (known !== undefined) return known;
    // Records are few and cheap to decode again: start over when full instead of keeping LRU
    // order, whose re-insertion on every hit cost more than the decoding it saved.
    if (this.byRecord.size >= DECODED_RECORD_CACHE) this.byRecord.clear();
    let fields: GeoFields | null;
    try {
      fields = extractFields(this.schema, this.data.decodeRecord(value, this.nodeCount));
    } catch {
      // A record this decoder rejects: let the reference reader decide.
      fields = this.fields(isV4 ? text : null, text);
    }
    this.byRecord.set(value, fields);
    return fields;
  }
}
