/**
 * Every violating flow, kept for `history.retention` in the alert database: what `geowarden
 * report` and `GET /api/v1/violations` answer from, and what the daily digest sums up. Rows are
 * buffered and written in one transaction per flush (about a second), so a storm of violations
 * costs one fsync a second rather than one per flow.
 */
import type { AlertDatabase } from '../alerts/alert-database';
import { parseDuration } from '../config/duration';
import { checkTimestamp } from '../config/schema';
import type { DigestDevice } from '../alerts/types';
import type { JudgedFlow } from '../policy/types';

/** One violating flow as the API and `report --json` give it. */
export interface ViolationRecord {
  first_seen: string;
  last_seen: string;
  device: { name: string | null; mac: string | null; ip: string; group: string | null };
  proto: string;
  local_port: number | null;
  remote: { ip: string; port: number | null; country: string | null; asn: number | null; as_org: string | null };
  names: string[];
  sni: string | null;
  http_host: string | null;
  bytes_out: number;
  bytes_in: number;
  policy: string;
  reason: string;
  /** The alert it counted towards, or null (silenced, or alerting off). */
  alert_id: string | null;
  silenced_by: string | null;
}

export interface ViolationQuery {
  sinceMs: number;
  untilMs?: number;
  /** Device name (case-insensitive), IP or MAC. */
  device?: string | null;
  /** At most this many rows, newest first (default 1,000). */
  limit?: number;
}

export type ViolationRow = [
  number,
  number,
  string,
  string | null,
  string | null,
  string | null,
  string,
  number | null,
  string,
  number | null,
  string | null,
  number | null,
  string | null,
  string,
  string | null,
  string | null,
  number,
  number,
  string,
  string,
  string | null,
  string | null,
];

interface RawViolation {
  first_seen: number;
  last_seen: number;
  device_ip: string;
  device_mac: string | null;
  device_name: string | null;
  device_group: string | null;
  proto: string;
  local_port: number | null;
  remote_ip: string;
  remote_port: number | null;
  country: string | null;
  asn: number | null;
  as_org: string | null;
  names: string;
  sni: string | null;
  http_host: string | null;
  bytes_out: number;
  bytes_in: number;
  policy: string;
  reason: string;
  alert_id: string | null;
  silenced_by: string | null;
}

const INSERT = `INSERT INTO violations (first_seen, last_seen, device_ip, device_mac, device_name, device_group, proto, local_port,
  remote_ip, remote_port, country, asn, as_org, names, sni, http_host, bytes_out, bytes_in, policy, reason, alert_id, silenced_by)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Rows beyond this wait for the next flush are dropped (and counted): memory stays bounded when the disk is slow. */
const MAX_BUFFERED = 50_000;

export class ViolationHistory {
  private buffer: ViolationRow[] = [];
  private droppedRows = 0;

  constructor(private readonly db: AlertDatabase) {}

  /** Buffers one violating flow; the owner flushes (alone, or in its own transaction with takeRows). */
  record({ flow, geo, verdict }: JudgedFlow, alertId: string | null, silencedBy: string | null): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.droppedRows++;
      return;
    }
    const d = flow.device;
    this.buffer.push([
      Math.floor(flow.firstSeenUs / 1000),
      Math.floor(flow.lastSeenUs / 1000),
      d.ip,
      d.mac,
      d.hostname,
      d.group,
      flow.proto,
      flow.localPort,
      flow.remoteIp,
      flow.remotePort,
      geo.country,
      geo.asn,
      geo.asOrg,
      JSON.stringify(flow.names),
      flow.sni,
      flow.httpHost,
      flow.bytesOut,
      flow.bytesIn,
      verdict.policy,
      verdict.reason,
      alertId,
      silencedBy,
    ]);
  }

  /** Rows waiting to be written. */
  get pendingRows(): number {
    return this.buffer.length;
  }

  /** Hands the waiting rows to a caller that writes them with writeRows inside its own transaction. */
  takeRows(): readonly ViolationRow[] {
    const rows = this.buffer;
    this.buffer = [];
    return rows;
  }

  /** Inserts rows taken with takeRows; call inside a transaction. */
  writeRows(rows: readonly ViolationRow[]): void {
    const insert = this.db.stmt(INSERT);
    for (const row of rows) insert.run(...row);
  }

  /** Rows dropped because the buffer was full. */
  get dropped(): number {
    return this.droppedRows;
  }

  /** Writes the buffered rows in one transaction. */
  flush(): void {
    if (this.buffer.length === 0) return;
    const rows = this.takeRows();
    this.db.run('history', (db) => db.transaction(() => this.writeRows(rows)));
  }

  query(q: ViolationQuery): { violations: ViolationRecord[]; truncated: boolean } {
    this.flush();
    const limit = q.limit ?? 1000;
    const args: Array<string | number> = [q.sinceMs, q.untilMs ?? Number.MAX_SAFE_INTEGER];
    let where = 'last_seen >= ? AND last_seen <= ?';
    if (q.device) {
      where += ' AND (device_name = ? COLLATE NOCASE OR device_ip = ? OR device_mac = ?)';
      args.push(q.device, q.device, q.device.toLowerCase().replace(/-/g, ':'));
    }
    const rows = this.db.run('history', (db) =>
      db.stmt(`SELECT * FROM violations WHERE ${where} ORDER BY last_seen DESC, id DESC LIMIT ?`).all(...args, limit + 1),
    ) as RawViolation[];
    return { violations: rows.slice(0, limit).map(toRecord), truncated: rows.length > limit };
  }

  /** Per device totals in (sinceMs, untilMs], most bytes first: the digest's body. */
  deviceSummary(sinceMs: number, untilMs: number, maxDevices = 50): DigestDevice[] {
    this.flush();
    const rows = this.db.run('history', (db) =>
      db
        .stmt(
          `SELECT COALESCE(device_mac, device_ip) AS id, device_ip, device_mac, device_name, device_group, country,
                  COUNT(*) AS flows, SUM(bytes_out) AS bytes_out, SUM(bytes_in) AS bytes_in
             FROM violations WHERE last_seen > ? AND last_seen <= ? AND silenced_by IS NULL
            GROUP BY id, country`,
        )
        .all(sinceMs, untilMs),
    ) as Array<{ id: string; device_ip: string; device_mac: string | null; device_name: string | null; device_group: string | null; country: string | null; flows: number; bytes_out: number; bytes_in: number }>;
    const devices = new Map<string, DigestDevice>();
    for (const r of rows) {
      let d = devices.get(r.id);
      if (!d) {
        d = { device: { name: r.device_name, mac: r.device_mac, ip: r.device_ip, group: r.device_group }, flows: 0, bytes_out: 0, bytes_in: 0, countries: [], names: [] };
        devices.set(r.id, d);
      }
      d.device.name ??= r.device_name;
      d.flows += r.flows;
      d.bytes_out += r.bytes_out;
      d.bytes_in += r.bytes_in;
      d.countries.push({ country: r.country, flows: r.flows, bytes: r.bytes_out + r.bytes_in });
    }
    const top = [...devices.entries()].sort((a, b) => b[1].bytes_out + b[1].bytes_in - (a[1].bytes_out + a[1].bytes_in)).slice(0, maxDevices);
    const names = this.db.run('history', (db) =>
      db.stmt(
        `SELECT COALESCE(sni, http_host, json_extract(names, '$[0]')) AS name, COUNT(*) AS n FROM violations
          WHERE COALESCE(device_mac, device_ip) = ? AND last_seen > ? AND last_seen <= ? AND silenced_by IS NULL AND name IS NOT NULL
          GROUP BY name ORDER BY n DESC LIMIT 5`,
      ),
    );
    for (const [id, d] of top) {
      d.countries.sort((a, b) => b.bytes - a.bytes);
      d.names = (names.all(id, sinceMs, untilMs) as Array<{ name: string }>).map((r) => r.name);
    }
    return top.map(([, d]) => d);
  }

  /** Deletes violations older than `cutoffMs`; returns how many. */
  prune(cutoffMs: number): number {
    this.flush();
    return this.db.run('prune', (db) => db.stmt('DELETE FROM violations WHERE last_seen < ?').run(cutoffMs).changes);
  }
}

function toRecord(r: RawViolation): ViolationRecord {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    device: { name: r.device_name, mac: r.device_mac, ip: r.device_ip, group: r.device_group },
    proto: r.proto,
    local_port: r.local_port,
    remote: { ip: r.remote_ip, port: r.remote_port, country: r.country, asn: r.asn, as_org: r.as_org },
    names: JSON.parse(r.names) as string[],
    sni: r.sni,
    http_host: r.http_host,
    bytes_out: r.bytes_out,
    bytes_in: r.bytes_in,
    policy: r.policy,
    reason: r.reason,
    alert_id: r.alert_id,
    silenced_by: r.silenced_by,
  };
}

/**
 * `--since` and `?since=`: a duration back from now (24h, 90m, 7d, 1h30m) or a time
 * (2030-01-31T18:00:00Z, 2030-01-31). Null when it is neither.
 */
export function parseSince(text: string, nowMs: number): number | null {
  const t = text.trim();
  // Units required: a bare number could be seconds or an epoch, and guessing wrong hides rows.
  if (/^(\d+[smhd])+$/.test(t)) return nowMs - (parseDuration(t) ?? 0) * 1000;
  const at = checkTimestamp(t);
  return at.ok ? at.value : null;
}
