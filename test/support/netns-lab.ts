/**
 * A two-namespace network for live tests, joined by one veth pair created inside the namespaces
 * (nothing appears in the host's own namespace):
 *
 *   gw-dev-<pid>                         gw-net-<pid>  (the gateway and "the internet")
 *   gwd<pid> 192.0.2.10/24  <── veth ──> gwn<pid> 192.0.2.1/24, 198.51.100.1/24, 203.0.113.1/24
 *   routes to 198.51.100.0/24 and        lo: 198.51.100.20 (DE in the fixture DB),
 *   203.0.113.0/24 via 192.0.2.1             203.0.113.20 (CN); dnsmasq on 192.0.2.1:53
 *
 * Only documentation ranges (RFC 5737) are used, the device namespace has no default route, and
 * every process the lab starts runs inside one of its namespaces. destroy() kills those processes
 * and deletes both namespaces (which deletes the veth pair) and never throws, so `after` hooks can
 * always call it.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');
const SUPPORT = path.join(PROJECT_ROOT, 'dist', 'test', 'support');

export const DEVICE_IP = '192.0.2.10';
export const GATEWAY_IP = '192.0.2.1';
/** 198.51.100.0/25 is DE in test/support/fixture-geo.ts. */
export const ALLOWED_IP = '198.51.100.20';
/** 203.0.113.0/25 is CN in test/support/fixture-geo.ts. */
export const DENIED_IP = '203.0.113.20';
export const SERVICE_PORT = 443;

/**
 * `node dist/test/...` arguments that run a support script's main(args). The scripts only export
 * main, because `node --test dist/test/` also loads every file under test/ as a test file.
 */
export function nodeScript(name: string, args: string[]): [string, string[]] {
  return [process.execPath, ['-e', 'require(process.argv[1]).main(process.argv.slice(2))', path.join(SUPPORT, `${name}.js`), ...args]];
}

/** Every command the lab runs is bounded by this. */
const COMMAND_TIMEOUT_MS = 15_000;

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS }).status === 0;
}

/** Why live tests cannot run here, or null when they can. */
export function netnsSkipReason(extraCommands: readonly string[] = []): string | null {
  if (process.getuid?.() !== 0) return 'needs root: creates network namespaces and a veth pair (run the tests as root, as CI does)';
  for (const cmd of ['ip', ...extraCommands]) {
    if (!commandExists(cmd)) return `needs "${cmd}" (${cmd === 'ip' ? 'Debian iproute2' : cmd === 'dnsmasq' ? 'Debian dnsmasq-base' : cmd})`;
  }
  const probe = `gw-probe-${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (r.status !== 0) return `cannot create network namespaces here: ${(r.stderr || String(r.error)).trim()}`;
  spawnSync('ip', ['netns', 'del', probe], { timeout: COMMAND_TIMEOUT_MS });
  return null;
}

/** Polls `probe` every `intervalMs` until it returns a value, at most `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | null | undefined | Promise<T | null | undefined>, timeoutMs = 10_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A child's output, kept as lines, for waiting on a log line and for assertion messages. */
export class OutputLines {
  readonly lines: string[] = [];
  private partial = '';

  constructor(stream: NodeJS.ReadableStream | null) {
    stream?.setEncoding?.('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    });
  }

  text(): string {
    return [...this.lines, this.partial].join('\n');
  }
}

export class NetnsLab {
  private readonly workDirs: string[] = [];
  readonly dev = `gw-dev-${process.pid}`;
  readonly net = `gw-net-${process.pid}`;
  readonly devIf = `gwd${process.pid}`;
  readonly netIf = `gwn${process.pid}`;
  private readonly children: ChildProcess[] = [];

  /** Builds the topology; on failure the partial setup is left for destroy(). */
  create(): void {
    this.ip(['netns', 'add', this.dev]);
    this.ip(['netns', 'add', this.net]);
    // Created inside the device namespace with the peer moved straight into the other one.
    this.ip(['-n', this.dev, 'link', 'add', this.devIf, 'type', 'veth', 'peer', 'name', this.netIf, 'netns', this.net]);
    this.ip(['-n', this.dev, 'addr', 'add', `${DEVICE_IP}/24`, 'dev', this.devIf]);
    this.ip(['-n', this.net, 'addr', 'add', `${GATEWAY_IP}/24`, 'dev', this.netIf]);
    this.ip(['-n', this.net, 'addr', 'add', '198.51.100.1/24', 'dev', this.netIf]);
    this.ip(['-n', this.net, 'addr', 'add', '203.0.113.1/24', 'dev', this.netIf]);
    this.ip(['-n', this.net, 'addr', 'add', `${ALLOWED_IP}/32`, 'dev', 'lo']);
    this.ip(['-n', this.net, 'addr', 'add', `${DENIED_IP}/32`, 'dev', 'lo']);
    for (const ns of [this.dev, this.net]) this.ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    this.ip(['-n', this.dev, 'link', 'set', this.devIf, 'up']);
    this.ip(['-n', this.net, 'link', 'set', this.netIf, 'up']);
    // Only the two "internet" ranges are reachable from the device: no default route.
    this.ip(['-n', this.dev, 'route', 'add', '198.51.100.0/24', 'via', GATEWAY_IP]);
    this.ip(['-n', this.dev, 'route', 'add', '203.0.113.0/24', 'via', GATEWAY_IP]);
  }

  private ip(args: string[]): void {
    const r = spawnSync('ip', args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || String(r.error)).trim()}`);
  }

  /** Runs a command in a namespace to completion (bounded). */
  run(ns: string, cmd: string, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): SpawnSyncReturns<string> {
    return spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  }

  /**
   * Starts a long-running command in a namespace. `ip netns exec` execs the command without
   * forking, so the child's pid is the command's own (signals reach it directly).
   */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** dnsmasq answering for the test names only: no upstream servers, no hosts file, no config file. */
  async startDns(pidFile: string): Promise<OutputLines> {
    const child = this.spawn(this.net, 'dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      `--listen-address=${GATEWAY_IP}`,
      '--bind-interfaces',
      '--port=53',
      '--user=root',
      `--pid-file=${pidFile}`,
      '--log-facility=-',
      '--log-queries',
      `--host-record=allowed.example,${ALLOWED_IP},300`,
      `--host-record=denied.example,${DENIED_IP},300`,
      // A CNAME chain, as CDNs answer: the flow's name must be the one the device asked for.
      '--cname=cdn.denied.example,denied.example,300',
    ]);
    const out = new OutputLines(child.stderr);
    await waitFor('dnsmasq to start', () => (/started, version/.test(out.text()) ? true : child.exitCode !== null ? fail(`dnsmasq exited: ${out.text()}`) : null));
    return out;
  }

  /** TCP services on 198.51.100.20:443 and 203.0.113.20:443 (test/support/netns-peer.ts). */
  async startPeers(): Promise<void> {
    const child = this.spawn(this.net, ...nodeScript('netns-peer', [`${ALLOWED_IP}:${SERVICE_PORT}`, `${DENIED_IP}:${SERVICE_PORT}`]));
    const out = new OutputLines(child.stdout);
    const err = new OutputLines(child.stderr);
    await waitFor('TCP peers to listen', () => (out.lines.includes('ready') ? true : child.exitCode !== null ? fail(`peer exited: ${err.text()}`) : null));
  }

  /** Runs test/support/netns-client.ts in the device namespace with a plan; returns its JSON report. */
  client(plan: ClientPlan): ClientReport {
    const r = this.run(this.dev, ...nodeScript('netns-client', [JSON.stringify(plan)]), 30_000);
    if (r.status !== 0) throw new Error(`netns client failed (exit ${r.status}): ${r.stderr || String(r.error)}`);
    return JSON.parse(r.stdout) as ClientReport;
  }

  /** HTTP GET from inside a namespace (the daemon listens on that namespace's loopback). */
  httpGet(ns: string, url: string): { status: number; body: string } {
    const script =
      'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stderr.write(String(e)); process.exit(1); })';
    const r = this.run(ns, process.execPath, ['-e', script, url], 10_000);
    if (r.status !== 0) return { status: 0, body: r.stderr };
    return JSON.parse(r.stdout) as { status: number; body: string };
  }

  /**
   * What every lab test's `before` does: a work directory the daemon (possibly after dropping
   * root) can read, the topology, the peers, and dnsmasq unless `dns` is false. Returns the directory.
   */
  async setUp(tmpPrefix: string, o: { dns?: boolean } = {}): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), tmpPrefix));
    chmodSync(dir, 0o755);
    this.workDirs.push(dir);
    this.create();
    if (o.dns !== false) await this.startDns(path.join(dir, 'dnsmasq.pid'));
    await this.startPeers();
    return dir;
  }

  /** destroy(), then removes the work directories setUp() made. */
  tearDown(): void {
    this.destroy();
    for (const dir of this.workDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  /** Kills what the lab started (by pid), then anything else left in its namespaces, then deletes them. */
  destroy(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    deleteNamespaces([this.dev, this.net]);
  }
}

function fail(message: string): never {
  throw new Error(message);
}

export type ClientStep =
  | { query: string }
  /** `host` is an address or a name queried earlier in the plan. */
  | { connect: string; port: number; send: number };

export interface ClientPlan {
  dns: string;
  steps: ClientStep[];
}

export interface ClientReport {
  answers: Record<string, { rcode: string; addresses: string[]; cnames: string[] }>;
  connections: Array<{ host: string; address: string; port: number; sent: number; received: number }>;
}

/** Kills every process still in each namespace, then deletes it; each command bounded in time. */
export function deleteNamespaces(names: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): void {
  for (const ns of names) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: timeoutMs });
    for (const pid of (pids.stdout ?? '').split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    spawnSync('ip', ['netns', 'del', ns], { timeout: timeoutMs });
  }
}
