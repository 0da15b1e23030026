/**
 * Runs `geowarden run` inside a NetnsLab namespace and talks to it the way an admin does: JSON log
 * lines on stderr, /metrics and /api/v1/devices over HTTP, signals, exit code.
 */
import type { ChildProcess } from 'node:child_process';
import { CLI, OutputLines, waitFor, type NetnsLab } from './netns-lab';

export interface LogRecord {
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  [field: string]: unknown;
}

/** The default listen address; each lab namespace has its own loopback, so runs cannot collide. */
export const DAEMON_URL = 'http://127.0.0.1:9847';

export class RunningDaemon {
  readonly stderr: OutputLines;
  readonly stdout: OutputLines;
  private exit: Promise<{ code: number | null; signal: string | null }>;

  constructor(
    readonly lab: NetnsLab,
    readonly child: ChildProcess,
  ) {
    this.stderr = new OutputLines(child.stderr);
    this.stdout = new OutputLines(child.stdout);
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Every JSON log line so far; other stderr lines are skipped (asserted on separately). */
  logs(): LogRecord[] {
    const out: LogRecord[] = [];
    for (const line of this.stderr.lines) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogRecord);
      } catch {
        // A line cut by a crash; the assertion messages show the raw text.
      }
    }
    return out;
  }

  /** Waits for a log record matching `predicate`, failing early if the daemon exits. */
  waitForLog(what: string, predicate: (r: LogRecord) => boolean, timeoutMs = 10_000): Promise<LogRecord> {
    return waitFor(
      `${what} in the daemon's log`,
      () => {
        const found = this.logs().find(predicate);
        if (found) return found;
        if (!this.running) throw new Error(`the daemon exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}:\n${this.stderr.text()}`);
        return null;
      },
      timeoutMs,
    );
  }

  get(path: string): { status: number; body: string } {
    return this.lab.httpGet(this.lab.net, `${DAEMON_URL}${path}`);
  }

  metrics(): MetricSamples {
    const r = this.get('/metrics');
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
    return new MetricSamples(r.body);
  }

  /** Sends `signal` and waits for the exit; the time is from the signal to the exit event. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: string | null; ms: number }> {
    const started = Date.now();
    if (this.running) this.child.kill(signal);
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref());
    const result = await Promise.race([this.exit, timeout]);
    if (!result) throw new Error(`the daemon did not exit within ${timeoutMs} ms of ${signal}`);
    return { ...result, ms: Date.now() - started };
  }
}

/** Starts the daemon in the lab's gateway namespace and waits for its "started" log line. */
export async function startDaemon(lab: NetnsLab, args: string[], options: { runAs?: string[] } = {}): Promise<RunningDaemon> {
  const command = [...(options.runAs ?? []), process.execPath, CLI, 'run', ...args];
  const daemon = new RunningDaemon(lab, lab.spawn(lab.net, command[0]!, command.slice(1)));
  await daemon.waitForLog('"started"', (r) => r.msg === 'started', 15_000);
  return daemon;
}

/** Prometheus text exposition, parsed just enough to read sample values by name and labels. */
export class MetricSamples {
  private readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** Sum of the samples of `name` whose labels include `labels` (0 when none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);
  }
}
