/**
 * Keeps the GeoIP databases current while the daemon runs: downloads them on a cron schedule,
 * checks each download before it replaces anything, swaps it in with an atomic rename and tells
 * the daemon to reopen its GeoResolver. It also notices when another program (MaxMind's
 * geoipupdate) replaces a configured database file and has it reopened after the same checks.
 *
 * On any failure the database in use stays: the updater never touches the live file before the
 * new one has passed every check, and a rename within one directory is atomic, so a reader sees
 * either the old file or the new one.
 */
import { existsSync, type FSWatcher, type Stats, watch } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { createTask, type ScheduledTask } from 'node-cron';
import type { GeoipConfig, GeoipSourceConfig, GeoipUpdateConfig } from '../../config/types';
import { GeoDatabase, type GeoRole } from '../geo-database';
import { type DownloadOutcome, downloadToFile, HttpStatusError } from './download';
import { downloadRequests } from './providers';
import { unpackDatabase } from './unpack';
import { DEFAULT_PROBE_ADDRESSES, verifyDatabase } from './verify';

export type GeoipLogValue = string | number | boolean | null;

/** The part of the daemon's logger the updater uses. */
export interface GeoipUpdaterLog {
  info(msg: string, fields?: Readonly<Record<string, GeoipLogValue | undefined>>): void;
  warn(msg: string, fields?: Readonly<Record<string, GeoipLogValue | undefined>>): void;
}

export type GeoipUpdateTrigger = 'start' | 'schedule' | 'retry' | 'manual' | 'watch';

export interface GeoipUpdateOutcome {
  role: GeoRole;
  ok: boolean;
  /** The live file was replaced (or found replaced) and onSwap was called. */
  swapped: boolean;
  /** The file the outcome is about: the live download target, or the watched file. */
  path: string;
  /** "replaced", "not modified", "already current" or the failure reason. */
  detail: string;
}

export interface GeoipUpdaterOptions {
  update: GeoipUpdateConfig;
  /**
   * geoip.country / geoip.asn as configured (null: the bundled database). They are used until a
   * download for their role lands, and are the files watched for outside replacement.
   */
  configured: { country: string | null; asn: string | null };
  /**
   * A verified database is now at `path` for `role`. The daemon reopens its GeoResolver here, with
   * databasePaths() for both roles. A throw is logged and counted as a failed update.
   */
  onSwap: (role: GeoRole, path: string) => void | Promise<void>;
  /**
   * Every attempt's result, for metrics (GeowardenMetrics.recordGeoipUpdate). At start, a
   * database downloaded earlier is reported once as a success at the time it was installed,
   * so "last success" survives a restart.
   */
  onResult?: (role: GeoRole, ok: boolean, when: Date, error?: string) => void;
  log?: GeoipUpdaterLog;
  /** Delays of the retries after a failed run; then the next scheduled run. Default 5m, 15m, 1h. */
  retryDelaysMs?: readonly number[];
  /** Quiet time after the last change event of a watched file before it is read. Default 2s. */
  watchDebounceMs?: number;
  /** Default: public resolvers every real database covers; tests use their fixture's ranges. */
  probeAddresses?: readonly string[];
  /** Oldest database build accepted. Default 400 days. */
  maxAgeDays?: number;
  now?: () => Date;
}

const ROLES: readonly GeoRole[] = ['country', 'asn'];
const TEMP_SUFFIX = '.geowarden-tmp';
const TEMP_FILE = /^\.(country|asn)\..+\.geowarden-tmp$/;
const DEFAULT_RETRY_DELAYS_MS = [5 * 60_000, 15 * 60_000, 60 * 60_000];
const SILENT_LOG: GeoipUpdaterLog = { info: () => undefined, warn: () => undefined };

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

/** Changes when a file is replaced or rewritten, not when it is only read or touched alike. */
function identity(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** Makes a finished rename durable; a power cut could otherwise bring the old name back. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself has still happened.
  }
}

function describeSource(source: GeoipSourceConfig): string {
  return source.kind === 'maxmind' ? `maxmind ${source.editionId}` : source.kind;
}

/** Identifies a source's configuration, secrets left out. */
function sourceKey(source: GeoipSourceConfig): string {
  switch (source.kind) {
    case 'maxmind':
      return `maxmind ${source.editionId} ${source.accountId} ${source.baseUrl ?? ''}`;
    case 'dbip':
    case 'ipinfo':
      return `${source.kind} ${source.baseUrl ?? ''}`;
    case 'url':
      return `url ${source.url}`;
  }
}

export class GeoipUpdater {
  private readonly sources = new Map<GeoRole, GeoipSourceConfig>();
  private readonly log: GeoipUpdaterLog;
  private readonly now: () => Date;
  private readonly retryDelaysMs: readonly number[];
  private readonly stopping = new AbortController();
  /** Every download and reload runs on this chain, one at a time, so two never race for a file. */
  private chain: Promise<unknown> = Promise.resolve();
  private task: ScheduledTask | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly watchers: FSWatcher[] = [];
  private readonly debounce = new Map<GeoRole, NodeJS.Timeout>();
  /**
   * Which source the live file of each role came from in this process. If-Modified-Since is only
   * sent for the same source: after a switch from DB-IP to MaxMind, say, MaxMind's older file
   * date must not keep the DB-IP download in place.
   */
  private readonly installedFrom = new Map<GeoRole, string>();
  /** Last identity seen of each watched file, so one replacement is handled once. */
  private readonly seen = new Map<string, string>();
  private started = false;

  constructor(private readonly options: GeoipUpdaterOptions) {
    for (const source of options.update.sources) this.sources.set(source.role, source);
    this.log = options.log ?? SILENT_LOG;
    this.now = options.now ?? (() => new Date());
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  }

  /** Null when geoip.update is absent: no downloads, no watching. */
  static fromConfig(geoip: GeoipConfig, hooks: Omit<GeoipUpdaterOptions, 'update' | 'configured'>): GeoipUpdater | null {
    if (!geoip.update) return null;
    return new GeoipUpdater({ ...hooks, update: geoip.update, configured: { country: geoip.country, asn: geoip.asn } });
  }

  /** Where downloads for `role` are installed. */
  livePath(role: GeoRole): string {
    return join(this.options.update.directory, `${role}.mmdb`);
  }

  /**
   * The files to open the GeoResolver with: a role's download once it exists, otherwise what the
   * config names (null: the bundled database).
   */
  databasePaths(): { country: string | null; asn: string | null } {
    const pick = (role: GeoRole): string | null => {
      const live = this.livePath(role);
      return this.sources.has(role) && existsSync(live) ? live : this.options.configured[role];
    };
    return { country: pick('country'), asn: pick('asn') };
  }

  /**
   * Schedules the runs, starts watching, and downloads at once for roles that have a source but
   * no downloaded file yet. Returns without waiting for that download.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { update } = this.options;
    await this.removeStaleTempFiles();
    const missing: GeoRole[] = [];
    for (const role of this.sources.keys()) {
      const live = await statOrNull(this.livePath(role));
      if (live) this.options.onResult?.(role, true, live.mtime);
      else missing.push(role);
    }
    if (this.sources.size > 0) {
      this.task = createTask(update.schedule, () => this.runScheduled(), {
        name: 'geoip-update',
        noOverlap: true,
        logger: {
          info: () => undefined,
          debug: () => undefined,
          warn: (msg) => this.log.warn(`geoip update scheduler: ${msg}`),
          error: (msg) => this.log.warn(`geoip update scheduler: ${message(msg)}`),
        },
      });
      await this.task.start();
      this.log.info('geoip updates scheduled', {
        schedule: update.schedule,
        next_run: this.task.getNextRun()?.toISOString() ?? null,
        sources: [...this.sources.values()].map((s) => `${s.role}=${describeSource(s)}`).join(' '),
      });
    }
    if (update.watchFiles) await this.watchConfiguredFiles();
    if (missing.length > 0) void this.runWithRetries(missing, 'start', 0);
  }

  /** Stops the schedule, the retries and the watchers, aborts a download and waits for it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.task) await this.task.destroy();
    this.task = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const timer of this.debounce.values()) clearTimeout(timer);
    this.debounce.clear();
    for (const watcher of this.watchers.splice(0)) watcher.close();
    await this.chain.catch(() => undefined);
  }

  /** Downloads for the given roles (default: all with a source) now; no retries. */
  updateNow(roles: readonly GeoRole[] = [...this.sources.keys()]): Promise<GeoipUpdateOutcome[]> {
    return this.enqueue(() => this.runSources(roles, 'manual', null));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private runScheduled(): Promise<void> {
    // A scheduled run starts a fresh retry sequence; retries of the last one are moot.
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    return this.runWithRetries([...this.sources.keys()], 'schedule', 0).then(() => undefined);
  }

  /** Runs, then re-runs the roles that failed after each delay in turn; no elaborate policy. */
  private async runWithRetries(roles: readonly GeoRole[], trigger: GeoipUpdateTrigger, attempt: number): Promise<GeoipUpdateOutcome[]> {
    const delay = this.retryDelaysMs[attempt] ?? null;
    const outcomes = await this.enqueue(() => this.runSources(roles, trigger, delay));
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.role);
    if (failed.length > 0 && delay !== null && !this.stopping.signal.aborted) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.runWithRetries(failed, 'retry', attempt + 1);
      }, delay);
      this.retryTimer.unref();
    }
    return outcomes;
  }

  private async runSources(roles: readonly GeoRole[], trigger: GeoipUpdateTrigger, retryInMs: number | null): Promise<GeoipUpdateOutcome[]> {
    const outcomes: GeoipUpdateOutcome[] = [];
    for (const role of roles) {
      const source = this.sources.get(role);
      if (!source || this.stopping.signal.aborted) continue;
      outcomes.push(await this.updateSource(source, trigger, retryInMs));
    }
    return outcomes;
  }

  private async updateSource(source: GeoipSourceConfig, trigger: GeoipUpdateTrigger, retryInMs: number | null): Promise<GeoipUpdateOutcome> {
    const { role } = source;
    const { directory, timeoutS, maxSizeBytes } = this.options.update;
    const when = this.now();
    const live = this.livePath(role);
    const nonce = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const temps: string[] = [];
    const workFile = (step: string): string => {
      const path = join(directory, `.${role}.${nonce}.${step}${TEMP_SUFFIX}`);
      temps.push(path);
      return path;
    };
    let shownUrl = describeSource(source);
    const fields = { role, source: describeSource(source), trigger };
    try {
      await mkdir(directory, { recursive: true });
      const requests = downloadRequests(source, when);
      const installed = await statOrNull(live);
      const download = workFile('download');
      let outcome: DownloadOutcome | null = null;
      for (const [i, request] of requests.entries()) {
        shownUrl = request.shownUrl;
        try {
          outcome = await downloadToFile(request, download, {
            timeoutMs: timeoutS * 1000,
            maxBytes: maxSizeBytes,
            signal: this.stopping.signal,
            ifModifiedSince: installed && this.installedFrom.get(role) === sourceKey(source) ? installed.mtime : null,
          });
          break;
        } catch (err) {
          if (err instanceof HttpStatusError && err.status === 404 && i < requests.length - 1) {
            await rm(download, { force: true });
            continue;
          }
          throw err;
        }
      }
      if (outcome === 'not-modified') {
        this.installedFrom.set(role, sourceKey(source));
        return this.succeeded(role, live, when, false, 'not modified', { ...fields, url: shownUrl });
      }

      const unpacked = await unpackDatabase(download, workFile, maxSizeBytes);
      const verified = verifyDatabase(unpacked.path, role, {
        now: when,
        maxAgeDays: this.options.maxAgeDays ?? 400,
        probeAddresses: this.options.probeAddresses ?? DEFAULT_PROBE_ADDRESSES,
      });
      const inUse = installed ? this.buildEpochOf(role, live) : null;
      if (inUse !== null && verified.buildEpoch < inUse) {
        throw new Error(`the download was built ${new Date(verified.buildEpoch * 1000).toISOString().slice(0, 10)}, before the database in use (${new Date(inUse * 1000).toISOString().slice(0, 10)})`);
      }
      if (inUse === verified.buildEpoch) {
        this.installedFrom.set(role, sourceKey(source));
        return this.succeeded(role, live, when, false, 'already current', { ...fields, url: shownUrl });
      }

      await rename(unpacked.path, live);
      await syncDirectory(directory);
      this.installedFrom.set(role, sourceKey(source));
      try {
        await this.options.onSwap(role, live);
      } catch (err) {
        throw new Error(`the new file is in place but reopening it failed: ${message(err)}`);
      }
      return this.succeeded(role, live, when, true, 'replaced', {
        ...fields,
        url: shownUrl,
        database_type: verified.databaseType,
        schema: verified.schema,
        build: new Date(verified.buildEpoch * 1000).toISOString(),
        unpacked: unpacked.layers.join(', ') || 'none',
      });
    } catch (err) {
      const reason = message(err);
      this.options.onResult?.(role, false, when, reason);
      const kept = (await statOrNull(live)) ? live : (this.options.configured[role] ?? 'the bundled database');
      this.log.warn(`geoip update of the ${role} database from ${shownUrl} failed: ${reason}; keeping ${kept}`, {
        ...fields,
        url: shownUrl,
        reason,
        kept,
        retry_in_s: retryInMs === null ? null : retryInMs / 1000,
      });
      return { role, ok: false, swapped: false, path: live, detail: reason };
    } finally {
      await Promise.all(temps.map((t) => rm(t, { force: true })));
    }
  }

  private succeeded(
    role: GeoRole,
    path: string,
    when: Date,
    swapped: boolean,
    detail: string,
    fields: Record<string, GeoipLogValue>,
  ): GeoipUpdateOutcome {
    this.options.onResult?.(role, true, when);
    this.log.info(swapped ? `geoip ${role} database replaced` : `geoip ${role} database is current (${detail})`, { ...fields, path });
    return { role, ok: true, swapped, path, detail };
  }

  private buildEpochOf(role: GeoRole, path: string): number | null {
    try {
      return GeoDatabase.open(role, path, false).buildEpoch;
    } catch {
      // A damaged file in use is replaced by anything that verifies.
      return null;
    }
  }

  /** Temp files of a run that was killed (power cut, SIGKILL) would otherwise pile up. */
  private async removeStaleTempFiles(): Promise<void> {
    if (this.sources.size === 0) return;
    let names: string[];
    try {
      names = await readdir(this.options.update.directory);
    } catch {
      return;
    }
    await Promise.all(names.filter((n) => TEMP_FILE.test(n)).map((n) => rm(join(this.options.update.directory, n), { force: true })));
  }

  /**
   * Watches the directory rather than the file: replacing a file by rename (what geoipupdate
   * does) leaves a watch on the file itself attached to the old, deleted inode.
   */
  private async watchConfiguredFiles(): Promise<void> {
    for (const role of ROLES) {
      const path = this.options.configured[role];
      // A role with a source is served from the download directory; its configured file is only
      // the fallback until then.
      if (path === null || this.sources.has(role)) continue;
      const current = await statOrNull(path);
      if (current) this.seen.set(path, identity(current));
      const name = basename(path);
      try {
        const watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
          if (filename === null || filename === name) this.fileChanged(role, path);
        });
        watcher.on('error', (err) => this.log.warn(`stopped watching ${path}: ${err.message}`, { role, path }));
        this.watchers.push(watcher);
      } catch (err) {
        this.log.warn(`cannot watch ${path} for replacement: ${message(err)}`, { role, path });
      }
    }
  }

  /** Writers produce several events per replacement; the file is read once they settle. */
  private fileChanged(role: GeoRole, path: string): void {
    if (this.stopping.signal.aborted) return;
    const pending = this.debounce.get(role);
    if (pending) clearTimeout(pending);
    const timer = setTimeout(() => {
      this.debounce.delete(role);
      void this.enqueue(() => this.reloadWatched(role, path));
    }, this.options.watchDebounceMs ?? 2000);
    timer.unref();
    this.debounce.set(role, timer);
  }

  private async reloadWatched(role: GeoRole, path: string): Promise<GeoipUpdateOutcome | null> {
    const current = await statOrNull(path);
    // Gone for now (mid-replacement by delete and create): the create brings another event.
    if (!current || this.stopping.signal.aborted) return null;
    if (this.seen.get(path) === identity(current)) return null;
    this.seen.set(path, identity(current));
    const when = this.now();
    const fields = { role, trigger: 'watch' as const, path };
    try {
      const verified = verifyDatabase(path, role, {
        now: when,
        maxAgeDays: this.options.maxAgeDays ?? 400,
        probeAddresses: this.options.probeAddresses ?? DEFAULT_PROBE_ADDRESSES,
      });
      await this.options.onSwap(role, path);
      this.options.onResult?.(role, true, when);
      this.log.info(`geoip ${role} database file was replaced on disk and reopened`, {
        ...fields,
        database_type: verified.databaseType,
        build: new Date(verified.buildEpoch * 1000).toISOString(),
      });
      return { role, ok: true, swapped: true, path, detail: 'replaced' };
    } catch (err) {
      const reason = message(err);
      this.options.onResult?.(role, false, when, reason);
      this.log.warn(`geoip ${role} database file ${path} changed on disk but is not usable: ${reason}; keeping the database loaded before`, { ...fields, reason });
      return { role, ok: false, swapped: false, path, detail: reason };
    }
  }
}
