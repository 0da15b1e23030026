/**
 * Alerting under a violation storm, and what alerting costs a replay. Not a test: prints figures.
 *
 *   node dist/bench/alert-storm.js [--flows 10000] [--devices 50] [--runs 5] [--capture FILE]
 *
 * 1. Storm: 10,000 violating flows over one minute of capture time from 50 devices to three
 *    denied countries, fed to the alert service as the daemon runs it (SQLite outbox and history
 *    in a temporary directory on disk), with a Slack sink (its default rate limit) and a webhook
 *    sink, both a local HTTP receiver. Reports the messages each sink gets (grouping bounds them),
 *    the time spent on the pipeline's thread, and how fast the outbox drains.
 * 2. Replay: the benchmark gateway capture (bench-out/, generated if missing) replayed with
 *    alerting off and on, each in its own process (bench/alert-replay-child.ts), median of runs.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { AlertService } from '../src/alerts/alert-service';
import { defaultAlertsConfig, HISTORY_DEFAULTS } from '../src/config/load';
import type { AlertGroupField, AlertSinkConfig } from '../src/config/types';
import type { JudgedFlow } from '../src/policy/types';
import { median, PROJECT_ROOT as root, runChild } from './bench-support';
import { generateGatewayCapture } from './gateway-capture';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const FLOWS = Number(flag('--flows', '10000'));
const DEVICES = Number(flag('--devices', '50'));
const RUNS = Number(flag('--runs', '5'));
const COUNTRIES = ['CN', 'RU', 'IR'];
const START = Date.parse('2024-06-01T08:00:00Z');

/** Deterministic pseudo-random numbers (mulberry32), so every run feeds the same storm. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stormFlows(): JudgedFlow[] {
  const rnd = random(42);
  const flows: JudgedFlow[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const d = Math.floor(rnd() * DEVICES);
    const country = COUNTRIES[Math.floor(rnd() * COUNTRIES.length)]!;
    const at = START + Math.floor((i * 60_000) / FLOWS);
    const host = Math.floor(rnd() * 500);
    flows.push({
      flow: {
        proto: 'tcp',
        protocolNumber: 6,
        device: { ip: `192.168.1.${10 + d}`, mac: `02:00:00:00:10:${d.toString(16).padStart(2, '0')}`, hostname: `device-${d}`, group: null },
        localPort: 40000 + (i % 20000),
        remoteIp: `203.0.${113 + (host % 3)}.${host % 250}`,
        remotePort: 443,
        bothInternal: false,
        names: [`h${host}.telemetry.example`],
        sni: `h${host}.telemetry.example`,
        httpHost: null,
        bytesOut: 1000 + Math.floor(rnd() * 50_000),
        bytesIn: 500 + Math.floor(rnd() * 5000),
        packetsOut: 20,
        packetsIn: 10,
        firstSeenUs: (at - 2000) * 1000,
        lastSeenUs: at * 1000,
        endReason: 'fin',
      },
      geo: { country, registeredCountry: country, asn: 64500 + (host % 10), asOrg: 'Example Transit', special: false },
      verdict: { verdict: 'violation', reason: `deny_countries: ${country} (policy "default")`, policy: 'default' },
    });
  }
  return flows;
}

async function receiver(): Promise<{ url: string; counts: Map<string, number>; close: () => Promise<void> }> {
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const sink = (req.url ?? '/').split('/')[1] ?? '';
      counts.set(sink, (counts.get(sink) ?? 0) + 1);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, counts, close: () => new Promise((r) => server.close(() => r())) };
}

const sink = (name: string, type: AlertSinkConfig['type'], url: string, rateLimit: AlertSinkConfig['rateLimit']): AlertSinkConfig => ({
  name,
  type,
  url: { value: `${url}/${name}` },
  secret: null,
  headers: {},
  path: null,
  minSeverity: 'info',
  rateLimit,
  template: null,
  resendIntervalS: 60,
});

async function storm(groupBy: AlertGroupField[]): Promise<string[]> {
  const dir = mkdtempSync(path.join(root, 'bench-out', 'alert-storm-'));
  const rx = await receiver();
  let now = START;
  const alerts = defaultAlertsConfig();
  alerts.database = path.join(dir, 'alerts.db');
  alerts.groupBy = groupBy;
  // The chat sink keeps its default rate limit (Slack: about one message a second).
  alerts.sinks = [sink('slack', 'slack', rx.url, { intervalS: 1, burst: 5 }), sink('hook', 'webhook', rx.url, null)];
  const log = { info: () => undefined, warn: () => undefined, error: (m: string) => process.stderr.write(`${m}\n`) };
  const service = AlertService.create({ instance: 'bench', alerts, history: HISTORY_DEFAULTS, jurisdictionsFile: null, log, registry: new Registry(), now: () => now });
  service.start();
  const flows = stormFlows();
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const f of flows) {
    now = Math.floor(f.flow.lastSeenUs / 1000);
    service.sink.onFlow(f);
  }
  service.flush();
  const feedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000;
  const written = service.outbox.list({ limit: 1_000_000 });
  const perSink = (s: string) => written.filter((d) => d.sink === s).length;
  // The webhook is not rate limited: how long until its deliveries are all done.
  const t1 = Date.now();
  while (service.outbox.list({ state: 'pending', limit: 1_000_000 }).some((d) => d.sink === 'hook')) await new Promise((r) => setTimeout(r, 5));
  const hookDrainMs = Date.now() - t1;
  const slackPending = service.outbox.list({ state: 'pending', limit: 1_000_000 }).filter((d) => d.sink === 'slack').length;
  // Then the minute ends and the devices go quiet: 31 minutes later everything resolves.
  now += 31 * 60_000;
  service.engine.advance();
  service.flush();
  const resolved = service.outbox.list({ limit: 1_000_000 }).filter((d) => d.event === 'resolved' && d.sink === 'hook').length;
  await service.stop();
  await rx.close();
  rmSync(dir, { recursive: true, force: true });
  const slackMs = Math.max(0, perSink('slack') - 5) * 1000;
  return [
    `  group_by [${groupBy.join(', ')}]: ${perSink('hook')} alerts from ${FLOWS.toLocaleString('en-US')} violating flows → ${perSink('slack')} Slack messages, ${perSink('hook')} webhook posts (+${resolved} resolved after the quiet period)`,
    `    on the pipeline's thread: ${feedMs.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU for the minute's flows (${((cpuMs * 1000) / FLOWS).toFixed(1)} µs/flow), history rows ${FLOWS.toLocaleString('en-US')}`,
    `    outbox: webhook drained ${hookDrainMs} ms after the last flow; Slack at 1 msg/s (burst 5): ${slackPending} still queued then, done after ~${(slackMs / 1000).toFixed(0)} s, none dropped`,
  ];
}

interface ChildFigures {
  mode: string;
  seconds: number;
  cpuSeconds: number;
  packets: number;
  flows: number;
  violations: number;
  alertsSent: number;
  historyRows: number;
  drainMs: number;
  maxRssMiB: number;
}

function measure(mode: 'on' | 'off', file: string, deny: string): ChildFigures {
  return runChild<ChildFigures>('alert-replay-child.js', [mode, file, deny]);
}

async function replayComparison(): Promise<string[]> {
  const dir = path.join(root, 'bench-out');
  mkdirSync(dir, { recursive: true });
  let file = flag('--capture', path.join(dir, 'gateway-1000000.pcap'));
  if (!existsSync(file)) {
    file = path.join(dir, 'alert-gateway-1000000.pcap');
    if (!existsSync(file)) {
      process.stderr.write(`generating ${path.relative(root, file)} ...\n`);
      await generateGatewayCapture(file, { packets: 1_000_000 });
    }
  }
  const deny = 'CN,RU,IR,KP,BY,VN';
  const on: ChildFigures[] = [];
  const off: ChildFigures[] = [];
  for (let i = 0; i < RUNS; i++) {
    off.push(measure('off', file, deny));
    on.push(measure('on', file, deny));
  }
  const o = on[0]!;
  const pps = (rows: ChildFigures[]) => rows[0]!.packets / median(rows.map((r) => r.seconds));
  const cpuOff = median(off.map((r) => r.cpuSeconds));
  const cpuOn = median(on.map((r) => r.cpuSeconds));
  return [
    `  ${path.relative(root, file)}: ${o.packets.toLocaleString('en-US')} packets, ${o.flows.toLocaleString('en-US')} flows, ${o.violations.toLocaleString('en-US')} violations with --deny-countries ${deny}`,
    `  alerting off: ${(pps(off) / 1e6).toFixed(2)} M packets/s, ${cpuOff.toFixed(2)} s CPU, peak RSS ${Math.max(...off.map((r) => r.maxRssMiB)).toFixed(0)} MiB`,
    `  alerting on:  ${(pps(on) / 1e6).toFixed(2)} M packets/s, ${cpuOn.toFixed(2)} s CPU, peak RSS ${Math.max(...on.map((r) => r.maxRssMiB)).toFixed(0)} MiB; ${o.alertsSent} alerts, ${o.historyRows.toLocaleString('en-US')} history rows, outbox drained ${median(on.map((r) => r.drainMs))} ms after the end`,
    `  cost of alerting: ${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)}% CPU, ${(((pps(off) - pps(on)) / pps(off)) * 100).toFixed(1)}% throughput (median of ${RUNS}; target <= 10%)`,
  ];
}

async function main(): Promise<void> {
  mkdirSync(path.join(root, 'bench-out'), { recursive: true });
  const lines = [`Geowarden alert benchmark (${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} CPUs, node ${process.versions.node})`];
  lines.push(`Storm: ${FLOWS.toLocaleString('en-US')} violating flows in one minute of capture time, ${DEVICES} devices, ${COUNTRIES.length} denied countries`);
  lines.push(...(await storm(['device', 'country'])));
  lines.push(...(await storm(['device'])));
  lines.push('Replay with alerting off and on (engine, history and outbox in SQLite, a JSON-lines sink):');
  lines.push(...(await replayComparison()));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
