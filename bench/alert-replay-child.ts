/**
 * One measured replay for bench/alert-storm.ts, in its own process:
 *   node dist/bench/alert-replay-child.js off|on FILE DENY_COUNTRIES
 * `off` is `geowarden replay FILE` in report mode; `on` adds alerting as the daemon runs it (the
 * engine, the violation history and the outbox in a SQLite file with synchronous=FULL, a JSON-lines
 * sink), on capture time. Prints one JSON line with the figures on stderr.
 */
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { AlertService } from '../src/alerts/alert-service';
import { CaptureFileSource } from '../src/capture/capture-file-source';
import { applyOverrides, defaultAlertsConfig, defaultConfig, HISTORY_DEFAULTS } from '../src/config/load';
import { attributionLines } from '../src/geo/attribution';
import { buildPipeline } from '../src/pipeline/build';
import { DeviceReportSink } from '../src/sinks/device-report';
import type { PipelineSink } from '../src/sinks/types';

const [mode, file, deny] = process.argv.slice(2);
if ((mode !== 'on' && mode !== 'off') || !file || !deny) {
  process.stderr.write('usage: alert-replay-child.js on|off FILE DENY_COUNTRIES\n');
  process.exit(2);
}

async function main(): Promise<void> {
  const config = applyOverrides(defaultConfig(), { denyCountries: deny!.split(',') });
  const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-bench-'));
  const report = new DeviceReportSink();
  const sinks: PipelineSink[] = [report];
  let captureMs = (): number => 0;
  let service: AlertService | null = null;
  if (mode === 'on') {
    const alerts = defaultAlertsConfig();
    alerts.database = path.join(dir, 'alerts.db');
    alerts.sinks = [{ name: 'siem', type: 'jsonl', url: null, secret: null, headers: {}, path: path.join(dir, 'alerts.jsonl'), minSeverity: 'info', rateLimit: null, template: null, resendIntervalS: 60 }];
    const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => process.stderr.write(`${m}\n`) };
    service = AlertService.create({ instance: 'bench', alerts, history: HISTORY_DEFAULTS, jurisdictionsFile: null, log: quiet, registry: new Registry(), now: () => captureMs() });
    service.start();
    sinks.push(service.sink);
  }
  const { pipeline, geo } = buildPipeline(config, sinks);
  captureMs = () => Math.floor((pipeline.summary().lastTimestampUs ?? 0) / 1000);
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  new CaptureFileSource(file!).run(pipeline.handleFrame);
  const summary = pipeline.finish('end-of-capture');
  report.render(file!, attributionLines(geo.databases()));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  let drainMs = 0;
  let alertsSent = 0;
  let historyRows = 0;
  if (service) {
    const t = Date.now();
    await service.drained(60_000);
    drainMs = Date.now() - t;
    alertsSent = service.outbox.list({ state: 'sent', limit: 1_000_000 }).length;
    historyRows = service.history.query({ sinceMs: 0, limit: 10_000_000 }).violations.length;
    await service.stop();
  }
  rmSync(dir, { recursive: true, force: true });
  const figures = {
    mode,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    packets: summary.packets,
    flows: summary.flows,
    violations: summary.violations,
    alertsSent,
    historyRows,
    drainMs,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  writeSync(2, `${JSON.stringify(figures)}\n`);
}

void main();
