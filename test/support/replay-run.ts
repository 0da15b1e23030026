/**
 * Runs the real CLI (`node dist/src/main.js replay ...`) on a scenario capture with the fixture
 * geo databases, and parses its JSON lines. Integration tests go through the same entry point a
 * user does, exit code and stderr included.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildFixtureGeo, type FixtureSchema } from './fixture-geo';
import { writeScenario, type ScenarioFrame } from './scenarios';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');

export interface DnsLine {
  type: 'dns';
  ts: string;
  client: string;
  server: string;
  transport: 'udp' | 'tcp';
  qname: string | null;
  qtype: string | null;
  rcode: string;
  answers: Array<{ name: string; type: string; data: string; ttl: number }>;
}

export interface FlowLine {
  type: 'flow';
  proto: string;
  device: { ip: string; mac: string | null; hostname: string | null };
  local_port: number | null;
  remote: {
    ip: string;
    port: number | null;
    country: string | null;
    asn: number | null;
    as_org: string | null;
    geo_sources: Array<{ database: string; country: string | null; registered_country: string | null; built: string; primary: boolean; decided: boolean }>;
    geo_override: { match: string; country: string; note: string } | null;
    anycast: boolean;
  };
  names: string[];
  sni: string | null;
  http_host: string | null;
  bytes_out: number;
  bytes_in: number;
  packets_out: number;
  packets_in: number;
  first_seen: string;
  last_seen: string;
  verdict: 'violation' | 'allowed' | 'local' | 'unknown' | 'anycast';
  reason: string;
  app_protocol?: 'quic' | null;
  encrypted_dns?: 'doh' | 'dot' | 'doq' | null;
  encrypted_dns_resolver?: string | null;
  unattributed?: boolean;
}

export interface DeviceLine {
  type: 'device';
  ip: string;
  ips: string[];
  mac: string | null;
  hostname: string | null;
  flows: number;
  bytes_out: number;
  bytes_in: number;
  doh: boolean;
  dot: boolean;
  doq: boolean;
  encrypted_dns: Array<{ kind: 'doh' | 'dot' | 'doq'; resolver: string; flows: number }>;
  unattributed: { bytes_out: number; bytes_in: number; flows: number };
}

export interface SummaryLine {
  type: 'summary';
  packets: number;
  bytes: number;
  flows: number;
  devices: number;
  violations: number;
  decode_errors: Record<string, number>;
  unsupported_linktype: number;
}

export interface ReplayOutput {
  status: number | null;
  stdout: string;
  stderr: string;
  dns: DnsLine[];
  flows: FlowLine[];
  summary: SummaryLine | null;
  devices?: DeviceLine[];
}

export function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function parseJsonLines(stdout: string): Pick<ReplayOutput, 'dns' | 'flows' | 'summary' | 'devices'> {
  const out: Pick<ReplayOutput, 'dns' | 'flows' | 'summary'> & { devices: DeviceLine[] } = { dns: [], flows: [], summary: null, devices: [] };
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line) as DnsLine | FlowLine | SummaryLine | DeviceLine;
    if (rec.type === 'dns') out.dns.push(rec);
    else if (rec.type === 'flow') out.flows.push(rec);
    else if (rec.type === 'device') out.devices.push(rec);
    else out.summary = rec;
  }
  return out;
}

/** A temporary directory with fixture databases; call cleanup() when done. */
export class ReplayWorkspace {
  readonly dir: string;
  readonly countryDb: string;
  readonly asnDb: string | null;

  constructor(schema: FixtureSchema = 'dbip') {
    this.dir = mkdtempSync(path.join(tmpdir(), 'geowarden-test-'));
    const dbs = buildFixtureGeo(path.join(this.dir, 'geo'), schema);
    this.countryDb = dbs.countryDb;
    this.asnDb = dbs.asnDb;
  }

  geoArgs(): string[] {
    return ['--geoip-country', this.countryDb, ...(this.asnDb ? ['--geoip-asn', this.asnDb] : [])];
  }

  writeCapture(name: string, s: { linkType: number; frames: ScenarioFrame[] }, format: 'pcap' | 'pcapng' = 'pcap'): string {
    const file = path.join(this.dir, name);
    writeScenario(s, file, format);
    return file;
  }

  replayJson(file: string, extra: string[] = []): ReplayOutput {
    const r = runCli(['replay', file, '--json', ...this.geoArgs(), ...extra]);
    return { ...r, ...parseJsonLines(r.status === 0 ? r.stdout : '') };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
