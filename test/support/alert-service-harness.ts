/**
 * Builds an AlertService the way the daemon does (config file → loadConfig → AlertService),
 * with a temporary database, a manual or real clock, and a logger the test can read.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { AlertService, type AlertServiceOptions } from '../../src/alerts/alert-service';
import { loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

export class TestLog {
  readonly lines: LogLine[] = [];
  info = (msg: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'info', msg, fields });
  warn = (msg: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'warn', msg, fields });
  error = (msg: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'error', msg, fields });
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields ?? {})}`).join('\n');
  }
}

export class AlertWorkspace {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'geowarden-alerts-'));
  readonly db = path.join(this.dir, 'state', 'alerts.db');

  /** Writes `yaml` (with `{db}` and `{dir}` filled in) as a config file and loads it. */
  config(yaml: string): Config {
    const file = path.join(this.dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml.replaceAll('{db}', this.db).replaceAll('{dir}', this.dir));
    return loadConfig(file);
  }

  service(config: Config, extra: Partial<AlertServiceOptions> = {}): { service: AlertService; log: TestLog; registry: Registry } {
    if (!config.alerts) throw new Error('the config has no alerts: section');
    const log = new TestLog();
    const registry = new Registry();
    const service = AlertService.create({ ...AlertService.optionsFrom({ ...config, alerts: config.alerts }), log, registry, tickMs: 50, ...extra });
    return { service, log, registry };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The value of one sample in the registry, 0 when absent. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>;
  return values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)).reduce((n, v) => n + v.value, 0);
}
