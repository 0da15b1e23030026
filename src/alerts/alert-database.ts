/**
 * The SQLite file behind alerting: the outbox (notifications and one delivery row per sink), the
 * open alerts, silences set through the API, and the violation history. One file, one writer
 * (the daemon); `geowarden report` reads it concurrently, which WAL allows.
 *
 * Durability: WAL, with synchronous=FULL for the commits that create alerts and NORMAL for the
 * rest. In WAL mode NORMAL survives a process crash but may lose the last commits on power loss
 * or a kernel panic (https://www.sqlite.org/pragma.html#pragma_synchronous,
 * https://www.sqlite.org/wal.html). An alert that was "written before it was sent" must survive
 * exactly that reboot, so those commits fsync. Losing a later "sent" mark only means the
 * message goes out once more after the reboot (at-least-once, same idempotency key), and losing
 * the last second of history rows loses diagnostics, not alerts: neither is worth an fsync, which
 * matters on the SD cards and eMMC many gateways run on. A FULL commit syncs the whole WAL, so
 * it also makes every NORMAL commit before it durable.
 *
 * A database that cannot be used (read-only directory, full disk, a broken file) must not stop
 * the capture: the store falls back to an in-memory database, says so once in the log and in
 * geowarden_alert_store_durable, and alerts keep going out, just without surviving a restart.
 */
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';

export type Statement = Database.Statement;

export interface AlertDatabaseEvents {
  /** A storage error (counted per operation in the metrics). */
  onError?: (operation: string, message: string) => void;
  /** The file could not be used and the in-memory fallback took over; `message` says why. */
  onDegraded?: (message: string) => void;
}

/** Bumped with every schema change; migrate() upgrades step by step. */
const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS notifications (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  alert_id    TEXT,
  event       TEXT,
  created_at  INTEGER NOT NULL,
  payload     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  id               INTEGER PRIMARY KEY,
  notification_id  TEXT NOT NULL REFERENCES notifications(id),
  sink             TEXT NOT NULL,
  idempotency_key  TEXT NOT NULL UNIQUE,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  next_attempt_at  INTEGER NOT NULL,
  last_attempt_at  INTEGER,
  last_status      INTEGER,
  last_error       TEXT,
  done_at          INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (sink, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (state, done_at);
CREATE TABLE IF NOT EXISTS alert_groups (
  key         TEXT PRIMARY KEY,
  state       TEXT NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS silences (
  id          TEXT PRIMARY KEY,
  device      TEXT,
  country     TEXT,
  domain      TEXT,
  until       INTEGER NOT NULL,
  comment     TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS violations (
  id            INTEGER PRIMARY KEY,
  first_seen    INTEGER NOT NULL,
  last_seen     INTEGER NOT NULL,
  device_ip     TEXT NOT NULL,
  device_mac    TEXT,
  device_name   TEXT,
  device_group  TEXT,
  proto         TEXT NOT NULL,
  local_port    INTEGER,
  remote_ip     TEXT NOT NULL,
  remote_port   INTEGER,
  country       TEXT,
  asn           INTEGER,
  as_org        TEXT,
  names         TEXT NOT NULL,
  sni           TEXT,
  http_host     TEXT,
  bytes_out     INTEGER NOT NULL,
  bytes_in      INTEGER NOT NULL,
  policy        TEXT NOT NULL,
  reason        TEXT NOT NULL,
  alert_id      TEXT,
  silenced_by   TEXT
);
CREATE INDEX IF NOT EXISTS violations_last_seen ON violations (last_seen);
`;

/** SQLite result codes that mean "this storage is unusable", as opposed to a bug in a query. */
const STORAGE_ERRORS = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/;
const FS_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EIO', 'ENOENT']);
/** A file written by a newer Geowarden: usable by that version only. */
const NEWER_SCHEMA = 'GEOWARDEN_SCHEMA_NEWER';

export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (STORAGE_ERRORS.test(code) || FS_ERRORS.has(code) || code === NEWER_SCHEMA);
}

/** One line for the admin: what is wrong with the file and what to do. */
export function describeStorageError(file: string, err: unknown): string {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  let reason: string;
  if (code.startsWith('SQLITE_FULL') || code === 'ENOSPC' || code === 'EDQUOT') reason = 'the disk is full';
  else if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code.startsWith('SQLITE_PERM')) {
    reason = 'it is read-only (file system or permissions)';
  } else if (code === 'ENOENT' || code === 'ENOTDIR') reason = 'its directory cannot be created';
  else if (code.startsWith('SQLITE_CANTOPEN')) reason = 'it cannot be opened (does the directory exist, and may this user write to it?)';
  else if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) reason = 'it is not a valid SQLite database';
  else reason = (err as Error).message;
  return `alert database ${file}: ${reason} [${code || 'error'}]`;
}

/**
 * SQLite says only CANTOPEN when it cannot create the file; the directory itself tells why
 * (read-only file system, permissions), which is what the admin needs to read.
 */
function explainOpenError(file: string, err: unknown): unknown {
  if (!String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_CANTOPEN')) return err;
  try {
    accessSync(path.dirname(file), constants.W_OK);
    return err;
  } catch (probe) {
    return probe;
  }
}

export function openSqlite(file: string, options: Database.Options = {}): Database.Database {
  const db = new Database(file, options);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  // The report command may read while the daemon commits; wait briefly instead of failing.
  db.pragma('busy_timeout = 5000');
  return db;
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw Object.assign(new Error(`it was written by a newer Geowarden (schema ${version}; this one knows ${SCHEMA_VERSION})`), { code: NEWER_SCHEMA });
  }
  if (version < 1) {
    db.exec(SCHEMA_V1);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }
}

export class AlertDatabase {
  private db: Database.Database;
  private statements = new Map<string, Statement>();
  private durableFile: boolean;
  private problem: string | null = null;

  private constructor(
    readonly file: string,
    private readonly events: AlertDatabaseEvents,
    db: Database.Database,
    durable: boolean,
  ) {
    this.db = db;
    this.durableFile = durable;
  }

  /** Never throws for storage problems: an unusable file gives the in-memory fallback. `:memory:` is allowed. */
  static open(file: string, events: AlertDatabaseEvents = {}): AlertDatabase {
    if (file === ':memory:') return new AlertDatabase(file, events, memoryDatabase(), false);
    let db: Database.Database | null = null;
    try {
      ensureDirectory(path.dirname(file));
      db = openSqlite(file);
      migrate(db);
      return new AlertDatabase(file, events, db, true);
    } catch (err) {
      try {
        db?.close();
      } catch {
        // Closing a half-opened handle can fail the same way; the fallback matters, not this.
      }
      if (!isStorageError(err) && !(err as { code?: string }).code?.startsWith('SQLITE_')) throw err;
      const store = new AlertDatabase(file, events, memoryDatabase(), false);
      store.degrade('open', explainOpenError(file, err));
      return store;
    }
  }

  /**
   * For readers (`geowarden report`): the existing file, read-only, never a fallback. Throws
   * with a one-line reason when it is missing or unreadable.
   */
  static openReadOnly(file: string): AlertDatabase {
    const db = openSqlite(file, { readonly: true, fileMustExist: true });
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      db.close();
      throw new Error(`alert database ${file}: schema version ${version}, this Geowarden reads version ${SCHEMA_VERSION}`);
    }
    return new AlertDatabase(file, {}, db, true);
  }

  /** True while the file is in use; false on the in-memory fallback. */
  get durable(): boolean {
    return this.durableFile;
  }

  /** Why the file is not in use, or null. */
  get error(): string | null {
    return this.problem;
  }

  /** A prepared statement of the current connection (prepared once per connection). */
  stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * Runs `fn` (usually a transaction) on the current connection. A storage error switches to
   * the in-memory fallback and runs `fn` once more there; other errors are bugs and propagate.
   */
  run<T>(operation: string, fn: (db: AlertDatabase) => T): T {
    try {
      return fn(this);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.events.onError?.(operation, describeStorageError(this.file, err));
      if (!this.durableFile) throw err;
      this.degrade(operation, err);
      return fn(this);
    }
  }

  /** Runs `fn` in a transaction; `durable`: the commit is fsynced (synchronous=FULL) before this returns. */
  transaction<T>(fn: () => T, options: { durable?: boolean } = {}): T {
    if (!options.durable) return this.db.transaction(fn)();
    // The pragma cannot change inside a transaction; it applies to the next commit.
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  close(): void {
    try {
      this.db.close();
    } catch {
      // Already closed, or the file vanished: nothing left to protect.
    }
  }

  private degrade(operation: string, err: unknown): void {
    if (this.durableFile) this.close();
    this.db = this.durableFile ? memoryDatabase() : this.db;
    this.statements = new Map();
    this.durableFile = false;
    this.problem = describeStorageError(this.file, err);
    if (operation === 'open') this.events.onError?.(operation, this.problem);
    this.events.onDegraded?.(`${this.problem}; alerts continue from memory and will not survive a restart until this is fixed`);
  }
}

function memoryDatabase(): Database.Database {
  const db = new Database(':memory:');
  migrate(db);
  return db;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns on a path under
 * /proc (it retries the ENOENT there forever), and a wrong alerts.database must fail, not hang.
 */
export function ensureDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) mkdirSync(d);
}
