/**
 * `geowarden report [--since 24h] [--device X] [--json] [--dead-letters]`: reads the alert
 * database the daemon writes (read-only, while it runs) and prints the violation history per
 * device, or the deliveries that were given up.
 */
import { AlertDatabase } from '../alerts/alert-database';
import { Outbox, type DeliveryRow } from '../alerts/outbox';
import { defaultAlertsConfig, loadConfig } from '../config/load';
import { parseSince, ViolationHistory, type ViolationRecord } from '../history/violation-history';
import { bytes } from '../sinks/device-report';
import { FdLineWriter } from '../sinks/line-writer';
import { CliError } from './exit-codes';

export interface ReportOptions {
  config?: string;
  /** The database file; default: alerts.database of the config. */
  database?: string;
  since?: string;
  device?: string;
  json?: boolean;
  deadLetters?: boolean;
  limit?: string;
}

export function reportCommand(opts: ReportOptions, now: number = Date.now()): number {
  const file = opts.database ?? (opts.config ? loadConfig(opts.config).alerts?.database : undefined) ?? defaultAlertsConfig().database;
  const since = parseSince(opts.since ?? '24h', now);
  if (since === null) throw new CliError(`--since: ${JSON.stringify(opts.since)} is not a duration (24h, 90m, 7d) or a time (2030-01-31T18:00:00Z)`);
  const limit = opts.limit === undefined ? 1000 : Number(opts.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CliError(`--limit: ${JSON.stringify(opts.limit)} is not a positive integer`);
  const db = openDatabase(file);
  const out = new FdLineWriter(1);
  try {
    if (opts.deadLetters) printDeadLetters(new Outbox(db).list({ state: 'dead', limit }), opts.json === true, out);
    else {
      const { violations, truncated } = new ViolationHistory(db).query({ sinceMs: since, device: opts.device ?? null, limit });
      if (opts.json) for (const v of violations) out.write(JSON.stringify(v));
      else printViolations(violations, { since, device: opts.device ?? null, truncated, limit, file }, out);
    }
  } finally {
    out.flush();
    db.close();
  }
  return 0;
}

function openDatabase(file: string): AlertDatabase {
  try {
    return AlertDatabase.openReadOnly(file);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_CANTOPEN') {
      throw new CliError(`no alert database at ${file}: alerting has not run here yet (set alerts: in the config and start geowarden run), or pass --database FILE`);
    }
    throw new CliError(`cannot read the alert database ${file}: ${(err as Error).message}`);
  }
}

function utc(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

function printViolations(
  violations: readonly ViolationRecord[],
  q: { since: number; device: string | null; truncated: boolean; limit: number; file: string },
  out: FdLineWriter,
): void {
  const scope = q.device ? ` for ${q.device}` : '';
  out.write(`Violations since ${utc(new Date(q.since).toISOString())} UTC${scope}: ${violations.length}${q.truncated ? ` (the newest ${q.limit}; raise --limit for more)` : ''}`);
  out.write(`(from ${q.file})`);
  const byDevice = new Map<string, ViolationRecord[]>();
  for (const v of violations) {
    const key = v.device.mac ?? v.device.ip;
    byDevice.set(key, [...(byDevice.get(key) ?? []), v]);
  }
  const total = (rows: readonly ViolationRecord[]) => rows.reduce((n, v) => n + v.bytes_out + v.bytes_in, 0);
  for (const rows of [...byDevice.values()].sort((a, b) => total(b) - total(a))) {
    const d = rows[0]!.device;
    const up = rows.reduce((n, v) => n + v.bytes_out, 0);
    const down = rows.reduce((n, v) => n + v.bytes_in, 0);
    const countries = [...new Set(rows.map((v) => v.remote.country ?? '??'))].join(', ');
    out.write('');
    out.write(`${[d.name, d.ip, d.mac, d.group ? `group ${d.group}` : null].filter((x) => x !== null).join('  ')}`);
    out.write(`  ${rows.length} flow${rows.length === 1 ? '' : 's'} to ${countries}: up ${bytes(up)}, down ${bytes(down)}`);
    for (const v of rows) {
      const port = v.remote.port === null ? `(${v.proto})` : `:${v.remote.port}/${v.proto}`;
      const as = v.remote.asn === null ? '' : `  AS${v.remote.asn}${v.remote.as_org ? ` ${v.remote.as_org}` : ''}`;
      out.write(`  ${utc(v.last_seen)}  ${v.remote.country ?? '??'}  ${v.remote.ip}${port}${as}  up ${bytes(v.bytes_out)}, down ${bytes(v.bytes_in)}`);
      const names = [...v.names, ...(v.sni && !v.names.includes(v.sni) ? [`SNI ${v.sni}`] : []), ...(v.http_host && !v.names.includes(v.http_host) ? [`Host ${v.http_host}`] : [])];
      const tail = v.silenced_by ? `; silenced (${v.silenced_by})` : v.alert_id ? `; alert ${v.alert_id}` : '';
      out.write(`      ${names.length ? `names: ${names.join(' -> ')}; ` : ''}rule: ${v.reason}${tail}`);
    }
  }
}

function printDeadLetters(rows: readonly DeliveryRow[], json: boolean, out: FdLineWriter): void {
  if (json) {
    for (const r of rows) out.write(JSON.stringify(r));
    return;
  }
  out.write(`Dead letters (deliveries given up): ${rows.length}`);
  for (const r of rows) {
    const what = r.kind === 'alert' ? `${r.event} alert ${r.alertId}` : r.kind;
    out.write(`  ${utc(r.doneAt ?? r.createdAt)}  ${r.sink}  ${what}  after ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}: ${r.lastError ?? 'unknown error'}`);
    out.write(`      idempotency key ${r.idempotencyKey}, written ${utc(r.createdAt)}`);
  }
}
